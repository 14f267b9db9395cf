// Package intrinsic parses and evaluates the Amazon States Language intrinsic
// functions (States.Format, States.Array, States.Hash, …) that JSONPath states
// may use in Parameters, ResultSelector, ItemSelector and the Fail state's
// ErrorPath/CausePath fields.
//
// # Values
//
// Values are JSON values in the shape encoding/json produces when it decodes
// into an `any` with default settings: nil, bool, float64, string, []any and
// map[string]any. Values handed in by a resolver may also use json.Number (a
// decoder with UseNumber) or Go integer types; they are converted to float64
// first. Results always use the default shape (numbers are float64).
//
// Because map[string]any has no key order, States.JsonToString writes object
// keys in sorted order (Step Functions keeps the input order).
//
// # Errors
//
// Evaluation failures are returned as *Error, whose Name is the Step Functions
// error name the state fails with:
//
//   - States.Runtime: an argument has the wrong type or value (AWS Step Functions
//     reports failed intrinsic invocations this way, and like every
//     States.Runtime error it is not retried and not caught by States.ALL), or a
//     path argument does not resolve (a resolver error that is not already an
//     *Error is wrapped as States.Runtime).
//   - States.IntrinsicFailure: the expression handed to Eval is not a valid
//     intrinsic invocation at all (the Amazon States Language specification's
//     name for "the attempt to invoke an Intrinsic Function failed"). An
//     interpreter should call Parse when it loads a definition and reject such
//     expressions there, so this is only seen by callers that skip that step.
package intrinsic

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxNesting is how many intrinsic functions may be nested inside one field
// (AWS documents a limit of 10 nested functions).
const MaxNesting = 10

// Error is an evaluation or syntax failure with its Step Functions error name.
type Error struct {
	Name  string // e.g. "States.Runtime"
	Cause string // human-readable explanation
	Err   error  // underlying error, if any (e.g. the resolver's)
}

func (e *Error) Error() string { return e.Name + ": " + e.Cause }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// SyntaxError is returned by Parse for a malformed expression. Offset is the
// byte offset in the expression where the problem was found.
type SyntaxError struct {
	Expr   string
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid intrinsic function %q at offset %d: %s", e.Expr, e.Offset, e.Msg)
}

// ArgKind says what an argument of a Call is.
type ArgKind int

// Argument kinds.
const (
	ArgString ArgKind = iota // a quoted string literal
	ArgNumber                // a JSON number literal
	ArgBool                  // true or false
	ArgNull                  // null
	ArgPath                  // a path: "$…" (state input) or "$$…" (context object)
	ArgCall                  // a nested intrinsic function
)

// Arg is one argument of a Call.
type Arg struct {
	Kind ArgKind
	// Str is the unescaped value of a string literal, or the text of a path.
	Str string
	// Raw is the string literal's text between the quotes, still escaped; it
	// keeps "\{" apart from "{" so that States.Format can tell a literal brace
	// from a placeholder.
	Raw  string
	Num  float64
	Bool bool
	Call *Call
}

// Call is a parsed intrinsic function invocation.
type Call struct {
	Name string // e.g. "States.Format"
	Args []Arg
}

// IsIntrinsic reports whether s looks like an intrinsic function invocation
// ("States.<Name>(" after optional leading spaces) rather than a path. It does
// not validate the expression; use Parse for that.
func IsIntrinsic(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	if !strings.HasPrefix(s, "States.") {
		return false
	}
	i := len("States.")
	for i < len(s) && isIdentChar(s[i]) {
		i++
	}
	return i > len("States.") && i < len(s) && s[i] == '('
}

// Parse parses an intrinsic function invocation. It checks the syntax, that
// the function exists and that it gets an acceptable number of arguments;
// argument types are checked when it is evaluated.
func Parse(expr string) (*Call, error) {
	p := &parser{src: expr}
	p.skipSpace()
	c, err := p.call(1)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, p.errorf("unexpected %q after the closing parenthesis", p.rest(10))
	}
	return c, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Expr: p.src, Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) rest(n int) string {
	r := p.src[p.pos:]
	if len(r) > n {
		r = r[:n] + "…"
	}
	return r
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}

func isIdentChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}

func (p *parser) call(depth int) (*Call, error) {
	if depth > MaxNesting+1 {
		return nil, p.errorf("more than %d nested intrinsic functions", MaxNesting)
	}
	start := p.pos
	if !strings.HasPrefix(p.src[p.pos:], "States.") {
		return nil, p.errorf("expected an intrinsic function (States.<Name>(…))")
	}
	p.pos += len("States.")
	for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	spec, ok := functions[name]
	if !ok {
		p.pos = start
		return nil, p.errorf("unknown intrinsic function %q", name)
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return nil, p.errorf("expected '(' after %s", name)
	}
	p.pos++
	c := &Call{Name: name}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			a, err := p.arg(depth)
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, a)
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, p.errorf("missing ')' to close %s", name)
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, p.errorf("expected ',' or ')' in the arguments of %s, found %q", name, p.rest(10))
		}
	}
	if n := len(c.Args); n < spec.minArgs || (spec.maxArgs >= 0 && n > spec.maxArgs) {
		p.pos = start
		return nil, p.errorf("%s takes %s, got %d", name, spec.arity(), n)
	}
	if spec.pathOnly != nil {
		for i, a := range c.Args {
			if spec.pathOnly(i) && a.Kind != ArgPath {
				p.pos = start
				return nil, p.errorf("argument %d of %s must be a path", i+1, name)
			}
		}
	}
	return c, nil
}

func (p *parser) arg(depth int) (Arg, error) {
	if p.pos >= len(p.src) {
		return Arg{}, p.errorf("missing argument")
	}
	switch ch := p.src[p.pos]; {
	case ch == '\'':
		return p.stringLit()
	case ch == '$':
		return p.path()
	case ch == '-' || ch >= '0' && ch <= '9':
		return p.number()
	case strings.HasPrefix(p.src[p.pos:], "States."):
		c, err := p.call(depth + 1)
		if err != nil {
			return Arg{}, err
		}
		return Arg{Kind: ArgCall, Call: c}, nil
	default:
		for _, kw := range []string{"true", "false", "null"} {
			if strings.HasPrefix(p.src[p.pos:], kw) && (p.pos+len(kw) == len(p.src) || !isIdentChar(p.src[p.pos+len(kw)])) {
				p.pos += len(kw)
				switch kw {
				case "true":
					return Arg{Kind: ArgBool, Bool: true}, nil
				case "false":
					return Arg{Kind: ArgBool}, nil
				default:
					return Arg{Kind: ArgNull}, nil
				}
			}
		}
		return Arg{}, p.errorf("unexpected %q: an argument is a 'string', a number, true, false, null, a $path or an intrinsic function", p.rest(10))
	}
}

// stringLit reads '…' with the escapes \' \{ \} \\ . Any other backslash is an
// error, as AWS documents ("an open escape backslash").
func (p *parser) stringLit() (Arg, error) {
	p.pos++ // opening quote
	start := p.pos
	var b strings.Builder
	for p.pos < len(p.src) {
		ch := p.src[p.pos]
		switch ch {
		case '\'':
			raw := p.src[start:p.pos]
			p.pos++
			return Arg{Kind: ArgString, Str: b.String(), Raw: raw}, nil
		case '\\':
			if p.pos+1 >= len(p.src) {
				return Arg{}, p.errorf("open escape backslash at the end of a string literal")
			}
			switch n := p.src[p.pos+1]; n {
			case '\'', '{', '}', '\\':
				b.WriteByte(n)
				p.pos += 2
			default:
				return Arg{}, p.errorf("open escape backslash before %q: only \\' \\{ \\} and \\\\ are escapes", n)
			}
		default:
			b.WriteByte(ch)
			p.pos++
		}
	}
	return Arg{}, p.errorf("unterminated string literal")
}

// path reads a JSONPath up to the ',' or ')' that ends the argument, skipping
// over brackets, parentheses and quoted names inside it (e.g. $.a['x,y'] or
// $.items[?(@.n > 1)]).
func (p *parser) path() (Arg, error) {
	start := p.pos
	depth := 0
	var quote byte
	for p.pos < len(p.src) {
		ch := p.src[p.pos]
		if quote != 0 {
			if ch == '\\' && p.pos+1 < len(p.src) {
				p.pos += 2
				continue
			}
			if ch == quote {
				quote = 0
			}
			p.pos++
			continue
		}
		switch ch {
		case '\'', '"':
			if depth > 0 {
				quote = ch
			}
		case '[', '(':
			depth++
		case ']':
			depth--
		case ')':
			if depth == 0 {
				return p.endPath(start)
			}
			depth--
		case ',':
			if depth == 0 {
				return p.endPath(start)
			}
		}
		if depth < 0 {
			return Arg{}, p.errorf("unbalanced ']' in path")
		}
		p.pos++
	}
	if quote != 0 || depth != 0 {
		return Arg{}, p.errorf("unterminated path %q", p.src[start:])
	}
	return p.endPath(start)
}

func (p *parser) endPath(start int) (Arg, error) {
	text := strings.TrimRight(p.src[start:p.pos], " \t\r\n")
	if strings.ContainsAny(text, " \t\r\n") && !strings.ContainsAny(text, "[(") {
		return Arg{}, p.errorf("path %q contains spaces", text)
	}
	return Arg{Kind: ArgPath, Str: text}, nil
}

// number reads a JSON number.
func (p *parser) number() (Arg, error) {
	start := p.pos
	s := p.src
	i := p.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	intStart := i
	if digits() == 0 {
		p.pos = i
		return Arg{}, p.errorf("invalid number")
	}
	if s[intStart] == '0' && i-intStart > 1 {
		p.pos = intStart
		return Arg{}, p.errorf("invalid number: leading zero")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return Arg{}, p.errorf("invalid number: no digits after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return Arg{}, p.errorf("invalid number: no digits in the exponent")
		}
	}
	if i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
		p.pos = i
		return Arg{}, p.errorf("invalid number")
	}
	f, err := strconv.ParseFloat(s[start:i], 64)
	if err != nil || math.IsInf(f, 0) {
		p.pos = start
		return Arg{}, p.errorf("number %s is out of range", s[start:i])
	}
	p.pos = i
	return Arg{Kind: ArgNumber, Num: f}, nil
}

// String returns the invocation in canonical form; Parse(c.String()) yields a
// Call equal to c.
func (c *Call) String() string {
	var b strings.Builder
	c.write(&b)
	return b.String()
}

func (c *Call) write(b *strings.Builder) {
	b.WriteString(c.Name)
	b.WriteByte('(')
	for i, a := range c.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		a.write(b)
	}
	b.WriteByte(')')
}

// String returns the argument as it is written in an invocation.
func (a Arg) String() string {
	var b strings.Builder
	a.write(&b)
	return b.String()
}

func (a Arg) write(b *strings.Builder) {
	switch a.Kind {
	case ArgString:
		b.WriteByte('\'')
		if a.Raw != "" || a.Str == "" {
			b.WriteString(a.Raw)
		} else {
			b.WriteString(escape(a.Str))
		}
		b.WriteByte('\'')
	case ArgNumber:
		b.WriteString(strconv.FormatFloat(a.Num, 'g', -1, 64))
	case ArgBool:
		b.WriteString(strconv.FormatBool(a.Bool))
	case ArgNull:
		b.WriteString("null")
	case ArgPath:
		b.WriteString(a.Str)
	case ArgCall:
		a.Call.write(b)
	}
}

// escape writes s as the inside of a string literal.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'', '{', '}', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
