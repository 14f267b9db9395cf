package intrinsic

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// testInput is the state input the test resolver reads "$…" paths from;
// "$$…" paths read testContext.
const testInput = `{
  "name": "Arnav",
  "template": "Hello, my name is {}.",
  "escapedJsonString": "{\"foo\": \"bar\"}",
  "badJson": "{\"foo\": ",
  "unescapedJson": {"foo": "bar"},
  "html": {"a": "<b>&</b>"},
  "Id": 123456,
  "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9],
  "dupes": [1, 2, 3, 3, 3, 3, 3, 3, 4, {"a": 1}, {"a": 1}, [1], [1], "1"],
  "index": 5,
  "lookingFor": 5,
  "objectToFind": {"a": 1},
  "value1": 111,
  "step": -1,
  "start": 1,
  "end": 999,
  "input": "Data to encode",
  "base64": "RGF0YSB0byBlbmNvZGU=",
  "Data": "input data",
  "Algorithm": "SHA-1",
  "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
  "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
  "inputString": "This.is+a,test=string",
  "splitter": ".+,=",
  "csv": "1,2,3,4,5",
  "nested": {"arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.0"},
  "long": "%s",
  "num": 1.5,
  "neg": -2.5,
  "big": 3000000000,
  "t": true,
  "nil": null,
  "emptyArray": [],
  "weird key": "w"
}`

const testContext = `{"Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:sm:exec-1", "Name": "exec-1"}, "State": {"Name": "S"}}`

func testResolver(t testing.TB) Resolver {
	t.Helper()
	var in, ctx any
	if err := json.Unmarshal(fmt.Appendf(nil, testInput, strings.Repeat("x", 10001)), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(testContext), &ctx); err != nil {
		t.Fatal(err)
	}
	return func(path string) (any, error) {
		root := in
		p := path
		if strings.HasPrefix(p, "$$") {
			root, p = ctx, p[1:]
		}
		if p == "$" {
			return root, nil
		}
		// A tiny dotted-path resolver, enough for these tests.
		if !strings.HasPrefix(p, "$.") {
			return nil, fmt.Errorf("unsupported path %s", path)
		}
		cur := root
		for _, seg := range strings.Split(p[2:], ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("path %s: not an object at %q", path, seg)
			}
			v, ok := m[seg]
			if !ok {
				return nil, fmt.Errorf("path %s: no field %q", path, seg)
			}
			cur = v
		}
		return cur, nil
	}
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test table %q: %v", s, err)
	}
	return v
}

func TestEval(t *testing.T) {
	resolve := testResolver(t)
	tests := []struct {
		expr string
		want string // JSON
	}{
		// States.Format (examples from the AWS documentation)
		{`States.Format('Hello, my name is {}.', $.name)`, `"Hello, my name is Arnav."`},
		{`States.Format($.template, $.name)`, `"Hello, my name is Arnav."`},
		{`States.Format('no placeholders')`, `"no placeholders"`},
		{`States.Format('{} {} {} {} {}', 'a', 1.5, true, null, $.Id)`, `"a 1.5 true null 123456"`},
		{`States.Format('{}', $.inputArray)`, `"[1, 2, 3, 4, 5, 6, 7, 8, 9]"`},
		{`States.Format('{}', $.json1)`, `"{a={a1=1, a2=2}, b=2}"`},
		{`States.Format('literal \{\} and {}', 'x')`, `"literal {} and x"`},
		{`States.Format('it\'s {}', 'quoted')`, `"it's quoted"`},
		{`States.Format('back\\slash {}', 'x')`, `"back\\slash x"`},
		{`States.Format('{}{}', 'a', 'b')`, `"ab"`},
		{`States.Format('{}', $$.Execution.Name)`, `"exec-1"`},
		{`States.Format('')`, `""`},
		// States.StringToJson / States.JsonToString
		{`States.StringToJson($.escapedJsonString)`, `{"foo": "bar"}`},
		{`States.StringToJson('[1, 2]')`, `[1, 2]`},
		{`States.StringToJson('"s"')`, `"s"`},
		{`States.StringToJson('null')`, `null`},
		{`States.JsonToString($.unescapedJson)`, `"{\"foo\":\"bar\"}"`},
		{`States.JsonToString($.html)`, `"{\"a\":\"<b>&</b>\"}"`},
		{`States.JsonToString($.Id)`, `"123456"`},
		{`States.JsonToString($$.Execution)`, `"{\"Id\":\"arn:aws:states:us-east-1:123456789012:execution:sm:exec-1\",\"Name\":\"exec-1\"}"`},
		// States.Array
		{`States.Array($.Id)`, `[123456]`},
		{`States.Array()`, `[]`},
		{`States.Array('a', 1, -2.5e2, true, false, null, $.unescapedJson, States.Array(1))`, `["a", 1, -250, true, false, null, {"foo": "bar"}, [1]]`},
		// States.ArrayPartition
		{`States.ArrayPartition($.inputArray, 4)`, `[[1,2,3,4],[5,6,7,8],[9]]`},
		{`States.ArrayPartition($.inputArray, 9)`, `[[1,2,3,4,5,6,7,8,9]]`},
		{`States.ArrayPartition($.inputArray, 20)`, `[[1,2,3,4,5,6,7,8,9]]`},
		{`States.ArrayPartition($.emptyArray, 2)`, `[]`},
		// States.ArrayContains
		{`States.ArrayContains($.inputArray, $.lookingFor)`, `true`},
		{`States.ArrayContains($.inputArray, 10)`, `false`},
		{`States.ArrayContains($.inputArray, '5')`, `false`},
		{`States.ArrayContains($.dupes, $.objectToFind)`, `true`},
		{`States.ArrayContains($.emptyArray, null)`, `false`},
		// States.ArrayRange
		{`States.ArrayRange(1, 9, 2)`, `[1,3,5,7,9]`},
		{`States.ArrayRange(1, 10, 2)`, `[1,3,5,7,9]`},
		{`States.ArrayRange(5, 1, -2)`, `[5,3,1]`},
		{`States.ArrayRange(1, 1, 5)`, `[1]`},
		{`States.ArrayRange(1, 0, 2)`, `[]`},
		{`States.ArrayRange(0, 999, 1)`, `[` + rangeJSON(0, 999) + `]`},
		// States.ArrayGetItem
		{`States.ArrayGetItem($.inputArray, $.index)`, `6`},
		{`States.ArrayGetItem($.inputArray, 0)`, `1`},
		{`States.ArrayGetItem($.inputArray, 8)`, `9`},
		// States.ArrayLength
		{`States.ArrayLength($.inputArray)`, `9`},
		{`States.ArrayLength($.emptyArray)`, `0`},
		// States.ArrayUnique
		{`States.ArrayUnique($.dupes)`, `[1, 2, 3, 4, {"a": 1}, [1], "1"]`},
		{`States.ArrayUnique($.emptyArray)`, `[]`},
		// States.Base64Encode / Decode
		{`States.Base64Encode($.input)`, `"RGF0YSB0byBlbmNvZGU="`},
		{`States.Base64Decode($.base64)`, `"Data to encode"`},
		{`States.Base64Encode('')`, `""`},
		{`States.Base64Encode('héllo')`, `"aMOpbGxv"`},
		{`States.Base64Decode(States.Base64Encode('round trip'))`, `"round trip"`},
		// States.Hash
		{`States.Hash($.Data, $.Algorithm)`, `"aaff4a450a104cd177d28d18d74485e8cae074b7"`},
		{`States.Hash('input data', 'MD5')`, `"812f45842bc6d66ee14572ce20db8e86"`},
		{`States.Hash('input data', 'SHA-256')`, `"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"`},
		{`States.Hash('', 'SHA-384')`, `"38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"`},
		{`States.Hash('', 'SHA-512')`, `"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"`},
		// States.JsonMerge (shallow: json2's "a" replaces json1's)
		{`States.JsonMerge($.json1, $.json2, false)`, `{"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}`},
		{`States.JsonMerge(States.StringToJson('{}'), $.json2, false)`, `{"a": {"a3": 1, "a4": 2}, "c": 3}`},
		// States.MathAdd
		{`States.MathAdd($.value1, $.step)`, `110`},
		{`States.MathAdd(1.5, 1)`, `3`},
		{`States.MathAdd($.neg, 0)`, `-2`},
		{`States.MathAdd(2147483647, -2147483648)`, `-1`},
		// States.MathRandom with a seed is deterministic
		{`States.MathRandom(7, 8)`, `7`},
		{`States.MathRandom(7, 8, 1234)`, `7`},
		// States.StringSplit
		{`States.StringSplit($.inputString, $.splitter)`, `["This","is","a","test","string"]`},
		{`States.StringSplit($.csv, ',')`, `["1","2","3","4","5"]`},
		{`States.StringSplit(',,a,,b,', ',')`, `["a","b"]`},
		{`States.StringSplit('', ',')`, `[]`},
		{`States.StringSplit('abc', ',')`, `["abc"]`},
		// Nesting, as in the AWS documentation's nine-deep example
		{`States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.nested.arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.nested.arn, '/'), 2), '.'), 1), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.nested.arn, '/'), 2), '.'), 2))`, `"1.0.0"`},
		{`  States.ArrayLength( States.Array( 1 , 2 ) )  `, `2`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := Eval(tt.expr, resolve)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			want := mustJSON(t, tt.want)
			if !reflect.DeepEqual(got, want) {
				gb, _ := json.Marshal(got)
				t.Errorf("got %s, want %s", gb, tt.want)
			}
		})
	}
}

func rangeJSON(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if i > from {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, i)
	}
	return b.String()
}

func TestEvalErrors(t *testing.T) {
	resolve := testResolver(t)
	tests := []struct {
		expr  string
		name  string // error name
		cause string // substring of the cause
	}{
		// syntax problems reaching Eval
		{`States.Nope(1)`, errname.IntrinsicFailure, "unknown intrinsic function"},
		{`States.Format('x'`, errname.IntrinsicFailure, "missing ')'"},
		{`States.Format('open \n escape')`, errname.IntrinsicFailure, "open escape backslash"},
		{`States.Format()`, errname.IntrinsicFailure, "at least 1 argument"},
		{`States.MathAdd(1, 2, 3)`, errname.IntrinsicFailure, "exactly 2 arguments"},
		{`States.UUID(1)`, errname.IntrinsicFailure, "exactly 0 arguments"},
		{`States.JsonToString('{}')`, errname.IntrinsicFailure, "must be a path"},
		// paths that do not resolve
		{`States.Format('{}', $.missing)`, errname.Runtime, "$.missing"},
		{`States.Array($$.Nope)`, errname.Runtime, "$$.Nope"},
		// States.Format
		{`States.Format('{} {}', 'a')`, errname.Runtime, "2 placeholders ({}) but 1 value"},
		{`States.Format('{}', 'a', 'b')`, errname.Runtime, "1 placeholder ({}) but 2 values"},
		{`States.Format(1)`, errname.Runtime, "argument 1 must be a string"},
		{`States.Format('\{\}', 'a')`, errname.Runtime, "0 placeholders"},
		// States.StringToJson
		{`States.StringToJson($.badJson)`, errname.Runtime, "not valid JSON"},
		{`States.StringToJson('{} {}')`, errname.Runtime, "not valid JSON"},
		{`States.StringToJson(1)`, errname.Runtime, "must be a string"},
		// States.ArrayPartition
		{`States.ArrayPartition($.inputArray, 0)`, errname.Runtime, "positive integer"},
		{`States.ArrayPartition($.inputArray, -1)`, errname.Runtime, "positive integer"},
		{`States.ArrayPartition($.inputArray, 1.5)`, errname.Runtime, "must be an integer"},
		{`States.ArrayPartition($.name, 2)`, errname.Runtime, "argument 1 must be an array, got string"},
		// States.ArrayContains
		{`States.ArrayContains($.unescapedJson, 1)`, errname.Runtime, "must be an array, got object"},
		// States.ArrayRange
		{`States.ArrayRange(1, 9, 0)`, errname.Runtime, "must not be zero"},
		{`States.ArrayRange(1.5, 9, 1)`, errname.Runtime, "must be an integer"},
		{`States.ArrayRange(0, 1000, 1)`, errname.Runtime, "1001 items"},
		{`States.ArrayRange('1', 9, 1)`, errname.Runtime, "must be a number"},
		// States.ArrayGetItem
		{`States.ArrayGetItem($.inputArray, 9)`, errname.Runtime, "out of bounds"},
		{`States.ArrayGetItem($.inputArray, -1)`, errname.Runtime, "out of bounds"},
		{`States.ArrayGetItem($.inputArray, 0.5)`, errname.Runtime, "must be an integer"},
		{`States.ArrayGetItem($.unescapedJson, 0)`, errname.Runtime, "must be an array"},
		// States.ArrayLength / ArrayUnique
		{`States.ArrayLength($.name)`, errname.Runtime, "must be an array"},
		{`States.ArrayUnique(null)`, errname.Runtime, "must be an array, got null"},
		// States.Base64Encode / Decode
		{`States.Base64Encode($.long)`, errname.Runtime, "10001 characters"},
		{`States.Base64Encode($.Id)`, errname.Runtime, "must be a string"},
		{`States.Base64Decode('not base64!')`, errname.Runtime, "not valid Base64"},
		{`States.Base64Decode('/w==')`, errname.Runtime, "not valid UTF-8"},
		{`States.Base64Decode($.long)`, errname.Runtime, "10001 characters"},
		// States.Hash
		{`States.Hash('x', 'SHA-3')`, errname.Runtime, "unsupported hash algorithm"},
		{`States.Hash('x', 'sha-1')`, errname.Runtime, "unsupported hash algorithm"},
		{`States.Hash($.long, 'MD5')`, errname.Runtime, "10001 characters"},
		{`States.Hash($.Id, 'MD5')`, errname.Runtime, "must be a string"},
		// States.JsonMerge
		{`States.JsonMerge($.json1, $.json2, true)`, errname.Runtime, "deep merge is not supported"},
		{`States.JsonMerge($.json1, $.inputArray, false)`, errname.Runtime, "argument 2 must be an object"},
		{`States.JsonMerge($.json1, $.json2, 'false')`, errname.Runtime, "argument 3 must be a boolean"},
		// States.MathRandom
		{`States.MathRandom(5, 5)`, errname.Runtime, "must be greater than the start"},
		{`States.MathRandom('1', 5)`, errname.Runtime, "must be a number"},
		{`States.MathRandom(1, 5, 'seed')`, errname.Runtime, "must be a number"},
		// States.MathAdd
		{`States.MathAdd($.big, 1)`, errname.Runtime, "outside the range"},
		{`States.MathAdd('1', 1)`, errname.Runtime, "must be a number"},
		{`States.MathAdd(1, $.t)`, errname.Runtime, "argument 2 must be a number, got boolean"},
		// States.StringSplit
		{`States.StringSplit($.Id, ',')`, errname.Runtime, "must be a string"},
		{`States.StringSplit('a', '')`, errname.Runtime, "must not be empty"},
		// errors in nested calls propagate unchanged
		{`States.Array(States.ArrayGetItem($.inputArray, 100))`, errname.Runtime, "States.ArrayGetItem($.inputArray, 100)"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := Eval(tt.expr, resolve)
			if err == nil {
				t.Fatalf("Eval = %v, want error %s", got, tt.name)
			}
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not *Error", err, err)
			}
			if ie.Name != tt.name {
				t.Errorf("error name %q, want %q (cause %q)", ie.Name, tt.name, ie.Cause)
			}
			if !strings.Contains(ie.Cause, tt.cause) {
				t.Errorf("cause %q does not contain %q", ie.Cause, tt.cause)
			}
		})
	}
}

func TestResolverErrorPassesThrough(t *testing.T) {
	want := &Error{Name: "States.Runtime", Cause: "custom"}
	_, err := Eval(`States.Array($.x)`, func(string) (any, error) { return nil, want })
	if err != want {
		t.Fatalf("got %v, want the resolver's *Error unchanged", err)
	}
	base := errors.New("boom")
	_, err = Eval(`States.Array($.x)`, func(string) (any, error) { return nil, base })
	if !errors.Is(err, base) {
		t.Fatalf("got %v, want it to wrap the resolver error", err)
	}
}

func TestResolverValueShapes(t *testing.T) {
	// json.Number (UseNumber), ints and RawMessage are accepted and normalised.
	vals := map[string]any{
		"$.n":   json.Number("41"),
		"$.i":   1,
		"$.arr": []any{json.Number("1"), int64(2)},
		"$.raw": json.RawMessage(`{"k": [1]}`),
	}
	resolve := func(p string) (any, error) { return vals[p], nil }
	got, err := Eval(`States.Array(States.MathAdd($.n, $.i), $.arr, $.raw)`, resolve)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{42.0, []any{1.0, 2.0}, map[string]any{"k": []any{1.0}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestMathRandom(t *testing.T) {
	resolve := testResolver(t)
	seen := map[float64]bool{}
	for range 300 {
		v, err := Eval(`States.MathRandom($.start, $.end)`, resolve)
		if err != nil {
			t.Fatal(err)
		}
		f := v.(float64)
		if f < 1 || f >= 999 || f != float64(int(f)) {
			t.Fatalf("MathRandom(1, 999) = %v, want an integer in [1, 999)", f)
		}
		seen[f] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct values in 300 draws", len(seen))
	}
	a, _ := Eval(`States.MathRandom(0, 1000000, 42)`, nil)
	b, _ := Eval(`States.MathRandom(0, 1000000, 42)`, nil)
	c, _ := Eval(`States.MathRandom(0, 1000000, 43)`, nil)
	if a != b {
		t.Errorf("same seed gave %v and %v", a, b)
	}
	if a == c {
		t.Errorf("seeds 42 and 43 both gave %v", a)
	}
	// Non-integer bounds are rounded: [0.6, 1.4] -> [1, 1) is empty -> error;
	// [0.4, 1.4] -> [0, 1) -> 0.
	if v, err := Eval(`States.MathRandom(0.4, 1.4)`, nil); err != nil || v != 0.0 {
		t.Errorf("MathRandom(0.4, 1.4) = %v, %v; want 0", v, err)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		v, err := Eval(`States.UUID()`, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := v.(string)
		if !uuidV4.MatchString(s) {
			t.Fatalf("%q is not a version 4 UUID", s)
		}
		if seen[s] {
			t.Fatalf("duplicate UUID %s", s)
		}
		seen[s] = true
	}
}

func TestIsIntrinsic(t *testing.T) {
	tests := map[string]bool{
		"States.Format('x')":   true,
		"  States.UUID()":      true,
		"States.Anything(":     true,
		"$.a":                  false,
		"$$.Execution.Id":      false,
		"States.Format":        false,
		"States.(":             false,
		"states.Format('x')":   false,
		"":                     false,
		"States.Format ('x')":  false,
		"Stat":                 false,
		"States.Array($.a, 1)": true,
	}
	for in, want := range tests {
		if got := IsIntrinsic(in); got != want {
			t.Errorf("IsIntrinsic(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(`States.Format('a\'b\{\}\\', $.x[0], $$.Execution.Id, -1.5e3, true, false, null, States.UUID(), $.a['b,c)'], $.items[?(@.n > 1)])`)
	if err != nil {
		t.Fatal(err)
	}
	want := &Call{Name: "States.Format", Args: []Arg{
		{Kind: ArgString, Str: `a'b{}\`, Raw: `a\'b\{\}\\`},
		{Kind: ArgPath, Str: "$.x[0]"},
		{Kind: ArgPath, Str: "$$.Execution.Id"},
		{Kind: ArgNumber, Num: -1500},
		{Kind: ArgBool, Bool: true},
		{Kind: ArgBool},
		{Kind: ArgNull},
		{Kind: ArgCall, Call: &Call{Name: "States.UUID"}},
		{Kind: ArgPath, Str: "$.a['b,c)']"},
		{Kind: ArgPath, Str: "$.items[?(@.n > 1)]"},
	}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Parse:\n got %#v\nwant %#v", c, want)
	}
	again, err := Parse(c.String())
	if err != nil || !reflect.DeepEqual(again, c) {
		t.Fatalf("round trip of %s: %#v, %v", c.String(), again, err)
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("States.Array(", MaxNesting+2) + strings.Repeat(")", MaxNesting+2)
	okDeep := strings.Repeat("States.Array(", MaxNesting+1) + strings.Repeat(")", MaxNesting+1)
	if _, err := Parse(okDeep); err != nil {
		t.Errorf("%d nested functions: %v", MaxNesting, err)
	}
	for _, expr := range []string{
		"", "States", "States.", "States.Format", "States.Format(", "States.Format('a'",
		"States.Format('a') x", "States.Format('a',)", "States.Format(,'a')", "States.Format('a' 'b')",
		"States.Format('unterminated)", `States.Format('bad \x escape')`, `States.Format('\`,
		"States.Array(01)", "States.Array(1.)", "States.Array(1e)", "States.Array(-)", "States.Array(1e999)",
		"States.Array(1x)", "States.Array(truex)", "States.Array(True)", "States.Array(undefined)",
		"States.Array($.a[0)", "States.Array($.a])", "States.Array($.a b)", `States.Array("double")`,
		"States.NoSuch()", "Other.Format('x')", "States.ArrayLength()", "States.JsonMerge($.a, $.b)",
		"States.StringToJson('a', 'b')", "States.JsonToString(States.Array())", deep,
	} {
		if c, err := Parse(expr); err == nil {
			t.Errorf("Parse(%q) = %s, want an error", expr, c)
		} else if _, ok := err.(*SyntaxError); !ok {
			t.Errorf("Parse(%q) error %T, want *SyntaxError", expr, err)
		}
	}
}

func TestFunctionsListed(t *testing.T) {
	want := []string{
		"States.Array", "States.ArrayContains", "States.ArrayGetItem", "States.ArrayLength",
		"States.ArrayPartition", "States.ArrayRange", "States.ArrayUnique", "States.Base64Decode",
		"States.Base64Encode", "States.Format", "States.Hash", "States.JsonMerge", "States.JsonToString",
		"States.MathAdd", "States.MathRandom", "States.StringSplit", "States.StringToJson", "States.UUID",
	}
	if got := Functions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Functions() = %v", got)
	}
}
