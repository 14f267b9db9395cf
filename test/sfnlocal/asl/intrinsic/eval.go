package intrinsic

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	mrand "math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// Resolver evaluates a path argument: "$…" against the state input, "$$…"
// against the context object. It returns the selected JSON value, or an error
// when the path selects nothing.
type Resolver func(path string) (any, error)

// Eval parses expr and evaluates it. See the package documentation for the
// value representation and the errors returned.
func Eval(expr string, resolve func(path string) (any, error)) (any, error) {
	c, err := Parse(expr)
	if err != nil {
		return nil, &Error{Name: errname.IntrinsicFailure, Cause: err.Error(), Err: err}
	}
	return c.Eval(resolve)
}

// Eval evaluates a parsed invocation.
func (c *Call) Eval(resolve func(path string) (any, error)) (any, error) {
	args := make([]any, len(c.Args))
	for i, a := range c.Args {
		v, err := a.eval(resolve)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	spec := functions[c.Name]
	if spec == nil {
		return nil, &Error{Name: errname.IntrinsicFailure, Cause: fmt.Sprintf("unknown intrinsic function %q", c.Name)}
	}
	if n := len(args); n < spec.minArgs || (spec.maxArgs >= 0 && n > spec.maxArgs) {
		return nil, c.fail("it takes %s, got %d", spec.arity(), n)
	}
	v, err := spec.fn(c, args)
	if err != nil {
		var ie *Error
		if errors.As(err, &ie) {
			return nil, ie
		}
		return nil, c.fail("%s", err.Error())
	}
	return v, nil
}

func (a Arg) eval(resolve func(string) (any, error)) (any, error) {
	switch a.Kind {
	case ArgString:
		return a.Str, nil
	case ArgNumber:
		return a.Num, nil
	case ArgBool:
		return a.Bool, nil
	case ArgNull:
		return nil, nil
	case ArgCall:
		return a.Call.Eval(resolve)
	case ArgPath:
		if resolve == nil {
			return nil, &Error{Name: errname.Runtime, Cause: fmt.Sprintf("the path %s cannot be resolved: no input", a.Str)}
		}
		v, err := resolve(a.Str)
		if err != nil {
			var ie *Error
			if errors.As(err, &ie) {
				return nil, err
			}
			return nil, &Error{Name: errname.Runtime, Cause: fmt.Sprintf("The JsonPath argument for the field %s could not be resolved: %v", a.Str, err), Err: err}
		}
		return normalize(v)
	}
	return nil, &Error{Name: errname.IntrinsicFailure, Cause: fmt.Sprintf("invalid argument kind %d", a.Kind)}
}

// fail returns a States.Runtime error naming the invocation, worded like the
// cause Step Functions gives.
func (c *Call) fail(format string, args ...any) *Error {
	return &Error{
		Name:  errname.Runtime,
		Cause: fmt.Sprintf("The function '%s' had the following error: %s", c.String(), fmt.Sprintf(format, args...)),
	}
}

// normalize converts a resolved value to the default encoding/json shape.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, float64, string:
		return x, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, &Error{Name: errname.Runtime, Cause: fmt.Sprintf("number %s is out of range", x)}
		}
		return f, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case float32:
		return float64(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case json.RawMessage:
		var out any
		if err := json.Unmarshal(x, &out); err != nil {
			return nil, &Error{Name: errname.Runtime, Cause: "invalid JSON: " + err.Error()}
		}
		return out, nil
	default:
		// Anything else: round-trip through encoding/json.
		b, err := json.Marshal(x)
		if err != nil {
			return nil, &Error{Name: errname.Runtime, Cause: fmt.Sprintf("value of type %T is not JSON: %v", v, err)}
		}
		var out any
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, &Error{Name: errname.Runtime, Cause: err.Error()}
		}
		return out, nil
	}
}

type funcSpec struct {
	minArgs, maxArgs int // maxArgs < 0: no limit
	// pathOnly reports whether argument i must be written as a path.
	pathOnly func(i int) bool
	fn       func(c *Call, args []any) (any, error)
}

func (s *funcSpec) arity() string {
	switch {
	case s.maxArgs < 0:
		return fmt.Sprintf("at least %d argument%s", s.minArgs, plural(s.minArgs))
	case s.minArgs == s.maxArgs:
		return fmt.Sprintf("exactly %d argument%s", s.minArgs, plural(s.minArgs))
	default:
		return fmt.Sprintf("%d to %d arguments", s.minArgs, s.maxArgs)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

var functions map[string]*funcSpec

func init() {
	functions = map[string]*funcSpec{
		"States.Format":         {minArgs: 1, maxArgs: -1, fn: fnFormat},
		"States.StringToJson":   {minArgs: 1, maxArgs: 1, fn: fnStringToJSON},
		"States.JsonToString":   {minArgs: 1, maxArgs: 1, pathOnly: func(int) bool { return true }, fn: fnJSONToString},
		"States.Array":          {minArgs: 0, maxArgs: -1, fn: fnArray},
		"States.ArrayPartition": {minArgs: 2, maxArgs: 2, fn: fnArrayPartition},
		"States.ArrayContains":  {minArgs: 2, maxArgs: 2, fn: fnArrayContains},
		"States.ArrayRange":     {minArgs: 3, maxArgs: 3, fn: fnArrayRange},
		"States.ArrayGetItem":   {minArgs: 2, maxArgs: 2, fn: fnArrayGetItem},
		"States.ArrayLength":    {minArgs: 1, maxArgs: 1, fn: fnArrayLength},
		"States.ArrayUnique":    {minArgs: 1, maxArgs: 1, fn: fnArrayUnique},
		"States.Base64Encode":   {minArgs: 1, maxArgs: 1, fn: fnBase64Encode},
		"States.Base64Decode":   {minArgs: 1, maxArgs: 1, fn: fnBase64Decode},
		"States.Hash":           {minArgs: 2, maxArgs: 2, fn: fnHash},
		"States.JsonMerge":      {minArgs: 3, maxArgs: 3, fn: fnJSONMerge},
		"States.MathRandom":     {minArgs: 2, maxArgs: 3, fn: fnMathRandom},
		"States.MathAdd":        {minArgs: 2, maxArgs: 2, fn: fnMathAdd},
		"States.StringSplit":    {minArgs: 2, maxArgs: 2, fn: fnStringSplit},
		"States.UUID":           {minArgs: 0, maxArgs: 0, fn: fnUUID},
	}
}

// Functions returns the names of all supported intrinsic functions, sorted.
func Functions() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// maxChars is the input limit AWS documents for Base64Encode, Base64Decode and
// Hash.
const maxChars = 10000

// maxRange is the largest array States.ArrayRange may produce.
const maxRange = 1000

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func argString(args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("argument %d must be a string, got %s", i+1, typeName(args[i]))
	}
	return s, nil
}

func argArray(args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, fmt.Errorf("argument %d must be an array, got %s", i+1, typeName(args[i]))
	}
	return a, nil
}

func argNumber(args []any, i int) (float64, error) {
	f, ok := args[i].(float64)
	if !ok {
		return 0, fmt.Errorf("argument %d must be a number, got %s", i+1, typeName(args[i]))
	}
	return f, nil
}

func argInteger(args []any, i int) (int64, error) {
	f, err := argNumber(args, i)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("argument %d must be an integer, got %s", i+1, formatNumber(f))
	}
	return int64(f), nil
}

// roundJava rounds like Java's Math.round (half up), which is how Step
// Functions rounds non-integer arguments of MathAdd and MathRandom.
func roundJava(f float64) float64 { return math.Floor(f + 0.5) }

func formatNumber(f float64) string {
	b, err := json.Marshal(f)
	if err != nil {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return string(b)
}

// States.Format: the first argument is the template; each "{}" is replaced by
// the next argument. In a string-literal template, escaped braces (\{ \}) are
// literal text, not placeholders.
func fnFormat(c *Call, args []any) (any, error) {
	tmpl, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	type piece struct {
		text        string
		placeholder bool
	}
	var pieces []piece
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			pieces = append(pieces, piece{text: cur.String()})
			cur.Reset()
		}
	}
	if c.Args[0].Kind == ArgString && (c.Args[0].Raw != "" || tmpl == "") {
		raw := c.Args[0].Raw
		for i := 0; i < len(raw); i++ {
			switch {
			case raw[i] == '\\' && i+1 < len(raw):
				cur.WriteByte(raw[i+1])
				i++
			case raw[i] == '{' && i+1 < len(raw) && raw[i+1] == '}':
				flush()
				pieces = append(pieces, piece{placeholder: true})
				i++
			default:
				cur.WriteByte(raw[i])
			}
		}
	} else {
		for i := 0; i < len(tmpl); i++ {
			if tmpl[i] == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
				flush()
				pieces = append(pieces, piece{placeholder: true})
				i++
				continue
			}
			cur.WriteByte(tmpl[i])
		}
	}
	flush()
	n := 0
	for _, p := range pieces {
		if p.placeholder {
			n++
		}
	}
	if n != len(args)-1 {
		return nil, fmt.Errorf("the template has %d placeholder%s ({}) but %d value%s were given", n, plural(n), len(args)-1, plural(len(args)-1))
	}
	var b strings.Builder
	next := 1
	for _, p := range pieces {
		if !p.placeholder {
			b.WriteString(p.text)
			continue
		}
		b.WriteString(formatValue(args[next]))
		next++
	}
	return b.String(), nil
}

// formatValue renders a value for States.Format: strings as they are, numbers,
// booleans and null as JSON. AWS documents no rendering for arrays and objects;
// Step Functions (a Java service) prints them Java-style, [a, b] and
// {k=v, k2=v2}, and so do we (object keys sorted).
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return formatNumber(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + formatValue(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fnStringToJSON(_ *Call, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the string is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the string is not valid JSON: unexpected data after the JSON value")
	}
	return v, nil
}

func fnJSONToString(_ *Call, args []any) (any, error) {
	s, err := marshal(args[0])
	if err != nil {
		return nil, err
	}
	return s, nil
}

// marshal writes compact JSON without HTML escaping (encoding/json escapes <,
// > and & by default; Step Functions does not).
func marshal(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func fnArray(_ *Call, args []any) (any, error) {
	out := make([]any, len(args))
	copy(out, args)
	return out, nil
}

func fnArrayPartition(_ *Call, args []any) (any, error) {
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	size, err := argInteger(args, 1)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fmt.Errorf("the chunk size must be a positive integer, got %d", size)
	}
	out := []any{}
	for i := 0; i < len(arr); i += int(size) {
		end := min(i+int(size), len(arr))
		chunk := make([]any, end-i)
		copy(chunk, arr[i:end])
		out = append(out, chunk)
	}
	return out, nil
}

func fnArrayContains(_ *Call, args []any) (any, error) {
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range arr {
		if reflect.DeepEqual(e, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

func fnArrayRange(_ *Call, args []any) (any, error) {
	var n [3]int64
	for i := range n {
		v, err := argInteger(args, i)
		if err != nil {
			return nil, err
		}
		n[i] = v
	}
	start, end, step := n[0], n[1], n[2]
	if step == 0 {
		return nil, errors.New("the step (argument 3) must not be zero")
	}
	if (step > 0 && end < start) || (step < 0 && end > start) {
		return []any{}, nil
	}
	count := (end-start)/step + 1
	if count > maxRange {
		return nil, fmt.Errorf("the range would have %d items; at most %d are allowed", count, maxRange)
	}
	out := make([]any, 0, count)
	for i := int64(0); i < count; i++ {
		out = append(out, float64(start+i*step))
	}
	return out, nil
}

func fnArrayGetItem(_ *Call, args []any) (any, error) {
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	idx, err := argInteger(args, 1)
	if err != nil {
		return nil, err
	}
	if idx < 0 || idx >= int64(len(arr)) {
		return nil, fmt.Errorf("the index %d is out of bounds for an array of length %d", idx, len(arr))
	}
	return arr[idx], nil
}

func fnArrayLength(_ *Call, args []any) (any, error) {
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	return float64(len(arr)), nil
}

func fnArrayUnique(_ *Call, args []any) (any, error) {
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	out := []any{}
outer:
	for _, e := range arr {
		for _, seen := range out {
			if reflect.DeepEqual(e, seen) {
				continue outer
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func checkLen(s string, what string) error {
	if n := utf8.RuneCountInString(s); n > maxChars {
		return fmt.Errorf("the %s has %d characters; at most %d are allowed", what, n, maxChars)
	}
	return nil
}

func fnBase64Encode(_ *Call, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	if err := checkLen(s, "input string"); err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnBase64Decode(_ *Call, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	if err := checkLen(s, "input string"); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("the input is not valid Base64: %v", err)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("the decoded data is not valid UTF-8 text")
	}
	return string(b), nil
}

var hashes = map[string]func() hash.Hash{
	"MD5":     md5.New,
	"SHA-1":   sha1.New,
	"SHA-256": sha256.New,
	"SHA-384": sha512.New384,
	"SHA-512": sha512.New,
}

func fnHash(_ *Call, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	alg, err := argString(args, 1)
	if err != nil {
		return nil, err
	}
	newHash, ok := hashes[alg]
	if !ok {
		return nil, fmt.Errorf("unsupported hash algorithm %q; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512", alg)
	}
	if err := checkLen(s, "input data"); err != nil {
		return nil, err
	}
	h := newHash()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fnJSONMerge(_ *Call, args []any) (any, error) {
	a, ok := args[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("argument 1 must be an object, got %s", typeName(args[0]))
	}
	b, ok := args[1].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("argument 2 must be an object, got %s", typeName(args[1]))
	}
	deep, ok := args[2].(bool)
	if !ok {
		return nil, fmt.Errorf("argument 3 must be a boolean, got %s", typeName(args[2]))
	}
	if deep {
		return nil, errors.New("deep merge is not supported: argument 3 must be false")
	}
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out, nil
}

// States.MathRandom(start, end[, seed]): a random integer with
// start <= n < end. Non-integer bounds are rounded, as AWS documents.
func fnMathRandom(_ *Call, args []any) (any, error) {
	lo, err := argNumber(args, 0)
	if err != nil {
		return nil, err
	}
	hi, err := argNumber(args, 1)
	if err != nil {
		return nil, err
	}
	lo, hi = roundJava(lo), roundJava(hi)
	if math.Abs(lo) > 1<<53 || math.Abs(hi) > 1<<53 {
		return nil, errors.New("start and end must be integers between -2^53 and 2^53")
	}
	if hi <= lo {
		return nil, fmt.Errorf("the end (%s) must be greater than the start (%s)", formatNumber(hi), formatNumber(lo))
	}
	var r *mrand.Rand
	if len(args) == 3 {
		seed, err := argNumber(args, 2)
		if err != nil {
			return nil, err
		}
		s := uint64(int64(roundJava(seed)))
		r = mrand.New(mrand.NewPCG(s, s^0x9e3779b97f4a7c15))
	} else {
		var b [16]byte
		_, _ = rand.Read(b[:])
		r = mrand.New(mrand.NewPCG(leUint64(b[:8]), leUint64(b[8:])))
	}
	span := uint64(int64(hi) - int64(lo))
	return float64(int64(lo) + int64(r.Uint64N(span))), nil
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// States.MathAdd(a, b): non-integers are rounded to the nearest integer and
// both must lie in the 32-bit signed integer range, as AWS documents.
func fnMathAdd(_ *Call, args []any) (any, error) {
	var sum float64
	for i := 0; i < 2; i++ {
		f, err := argNumber(args, i)
		if err != nil {
			return nil, err
		}
		f = roundJava(f)
		if f < math.MinInt32 || f > math.MaxInt32 {
			return nil, fmt.Errorf("argument %d (%s) is outside the range %d to %d", i+1, formatNumber(f), math.MinInt32, math.MaxInt32)
		}
		sum += f
	}
	return sum, nil
}

// States.StringSplit(s, delimiters): every character of the second argument is
// a delimiter (AWS's example splits "This.is+a,test=string" on ".+,="); empty
// pieces are dropped.
func fnStringSplit(_ *Call, args []any) (any, error) {
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	delims, err := argString(args, 1)
	if err != nil {
		return nil, err
	}
	if delims == "" {
		return nil, errors.New("the delimiter (argument 2) must not be empty")
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

// States.UUID(): a version 4 UUID.
func fnUUID(_ *Call, _ []any) (any, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, err
	}
	return id.String(), nil
}
