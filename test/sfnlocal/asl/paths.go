package asl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ohler55/ojg/jp"
)

// path is a compiled JSONPath: "$..." over the state's data, or "$$..." over the
// context object.
type path struct {
	src      string
	expr     jp.Expr
	context  bool // "$$..."
	definite bool // selects at most one node: no wildcard, filter, slice, union or descent
}

// compilePath compiles a Path (or context path). Dot-notation names may contain any
// character but '.', '[' and ']' (as "$.my-key" in Step Functions); they are handed
// to the JSONPath library in bracket notation.
func compilePath(src string) (*path, error) {
	norm, ctx, err := normalizePath(src)
	if err != nil {
		return nil, err
	}
	x, err := jp.ParseString(norm)
	if err != nil {
		return nil, fmt.Errorf("invalid JSONPath %q: %w", src, err)
	}
	if len(x) == 0 {
		return nil, fmt.Errorf("invalid JSONPath %q", src)
	}
	if _, ok := x[0].(jp.Root); !ok {
		return nil, fmt.Errorf("invalid JSONPath %q: must start with $", src)
	}
	p := &path{src: src, expr: x, context: ctx, definite: true}
	for _, f := range x[1:] {
		switch f.(type) {
		case jp.Child, jp.Nth, jp.Bracket:
		default:
			p.definite = false
		}
	}
	return p, nil
}

// compileRefPath compiles a Reference Path: one that can only identify a single node
// (names and non-negative indexes only), as ResultPath and ItemsPath require.
func compileRefPath(src string) (*path, error) {
	p, err := compilePath(src)
	if err != nil {
		return nil, err
	}
	for _, f := range p.expr[1:] {
		switch f := f.(type) {
		case jp.Child, jp.Bracket:
		case jp.Nth:
			if f < 0 {
				return nil, fmt.Errorf("invalid reference path %q: negative index", src)
			}
		default:
			return nil, fmt.Errorf("invalid reference path %q: only names and indexes are allowed", src)
		}
	}
	return p, nil
}

// normalizePath rewrites src into the JSONPath library's syntax: "$$" becomes "$"
// (ctx reports it), dot-notation names become bracket notation.
func normalizePath(src string) (norm string, ctx bool, err error) {
	if !strings.HasPrefix(src, "$") {
		return "", false, fmt.Errorf("invalid JSONPath %q: must start with $", src)
	}
	i := 1
	if strings.HasPrefix(src, "$$") {
		ctx = true
		i = 2
	}
	var b strings.Builder
	b.Grow(len(src) + 8)
	b.WriteByte('$')
	for i < len(src) {
		switch src[i] {
		case '.':
			i++
			if i < len(src) && src[i] == '.' {
				b.WriteString("..")
				i++
				if i < len(src) && src[i] == '[' {
					continue
				}
			}
			j := i
			for j < len(src) && src[j] != '.' && src[j] != '[' && src[j] != ']' {
				j++
			}
			name := src[i:j]
			if name == "" {
				return "", ctx, fmt.Errorf("invalid JSONPath %q: empty name at offset %d", src, i)
			}
			if name != "*" && strings.ContainsAny(name, " \t\r\n()'\",?@*") {
				return "", ctx, fmt.Errorf("invalid JSONPath %q: name %q needs bracket notation", src, name)
			}
			if name == "*" {
				if !strings.HasSuffix(b.String(), "..") {
					b.WriteByte('.')
				}
				b.WriteByte('*')
			} else {
				b.WriteString("['")
				b.WriteString(quoteName.Replace(name))
				b.WriteString("']")
			}
			i = j
		case '[':
			j, err := closingBracket(src, i)
			if err != nil {
				return "", ctx, err
			}
			b.WriteString(src[i : j+1])
			i = j + 1
		default:
			return "", ctx, fmt.Errorf("invalid JSONPath %q: unexpected %q at offset %d", src, src[i], i)
		}
	}
	return b.String(), ctx, nil
}

// closingBracket returns the index of the ']' closing the '[' at open, skipping
// quoted strings and nested brackets and parentheses.
func closingBracket(src string, open int) (int, error) {
	depth := 0
	var quoteCh byte
	for i := open; i < len(src); i++ {
		c := src[i]
		if quoteCh != 0 {
			switch c {
			case '\\':
				i++
			case quoteCh:
				quoteCh = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quoteCh = c
		case '[', '(':
			depth++
		case ']', ')':
			depth--
			if depth == 0 {
				if c != ']' {
					return 0, fmt.Errorf("invalid JSONPath %q: unbalanced brackets", src)
				}
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("invalid JSONPath %q: unterminated bracket", src)
}

// quoteName escapes a name for a single-quoted bracket segment.
var quoteName = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// errNoMatch reports a path that selects nothing.
var errNoMatch = errors.New("path matched nothing")

// get evaluates the path against data (or the context object for "$$" paths). A
// definite path yields the node; an indefinite one yields an array of the matches.
func (p *path) get(data any, sc *stateCtx) (v any, err error) {
	// The JSONPath library panics on some filters it compiled
	// ("$[?$][?0]", found by FuzzPath): such a path is an error of the
	// definition, not a crash of the service.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("the path %s cannot be evaluated: %v", p.src, r)
		}
	}()
	if p.context {
		if sc == nil {
			return nil, errNoMatch
		}
		data = sc.object()
	}
	if len(p.expr) == 1 {
		return data, nil
	}
	if p.definite {
		v, ok := p.expr.FirstFound(data)
		if !ok {
			return nil, errNoMatch
		}
		return v, nil
	}
	res := p.expr.Get(data)
	if res == nil {
		res = []any{}
	}
	return res, nil
}

// set returns a copy of data with value placed at the reference path p, creating
// intermediate objects as needed. data itself is never modified.
func (p *path) set(data, value any) (any, error) {
	return setAt(data, p.expr[1:], value, p.src)
}

func setAt(data any, frags []jp.Frag, value any, src string) (any, error) {
	if len(frags) == 0 {
		return value, nil
	}
	switch f := frags[0].(type) {
	case jp.Bracket:
		return setAt(data, frags[1:], value, src)
	case jp.Child:
		var m map[string]any
		switch d := data.(type) {
		case nil:
			m = map[string]any{}
		case map[string]any:
			m = make(map[string]any, len(d)+1)
			for k, v := range d {
				m[k] = v
			}
		default:
			return nil, fmt.Errorf("cannot set %q: %s is not an object", src, describe(data))
		}
		child, err := setAt(m[string(f)], frags[1:], value, src)
		if err != nil {
			return nil, err
		}
		m[string(f)] = child
		return m, nil
	case jp.Nth:
		a, ok := data.([]any)
		if !ok {
			return nil, fmt.Errorf("cannot set %q: %s is not an array", src, describe(data))
		}
		i := int(f)
		if i < 0 || i >= len(a) {
			return nil, fmt.Errorf("cannot set %q: index %d out of range", src, i)
		}
		c := make([]any, len(a))
		copy(c, a)
		child, err := setAt(a[i], frags[1:], value, src)
		if err != nil {
			return nil, err
		}
		c[i] = child
		return c, nil
	}
	return nil, fmt.Errorf("cannot set %q: not a reference path", src)
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	if isNumber(v) {
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
