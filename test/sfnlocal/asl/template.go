package asl

import (
	"fmt"
	"strings"
)

// template is a compiled payload template (Parameters, ResultSelector,
// ItemSelector): a JSON value whose object fields named "key.$" take their value
// from a path, a context path or an intrinsic function call.
type template struct {
	literal any // when the template has no dynamic part anywhere
	fields  []templateField
	items   []*template
	kind    byte // 'l' literal, 'o' object, 'a' array
}

type templateField struct {
	key  string // output key, without ".$"
	src  string // the key as written
	path *path
	call *compiledCall
	sub  *template
}

// compileTemplate compiles a payload template; field names the definition field for
// error messages.
func compileTemplate(v any, field string) (*template, error) {
	switch t := v.(type) {
	case map[string]any:
		tp := &template{kind: 'o'}
		dynamic := false
		for k, val := range t {
			if !strings.HasSuffix(k, ".$") {
				sub, err := compileTemplate(val, field+"."+k)
				if err != nil {
					return nil, err
				}
				if sub.kind != 'l' {
					dynamic = true
				}
				tp.fields = append(tp.fields, templateField{key: k, src: k, sub: sub})
				continue
			}
			dynamic = true
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("%s.%s: the value of a field ending in .$ must be a string", field, k)
			}
			f := templateField{key: strings.TrimSuffix(k, ".$"), src: k}
			if isIntrinsic(s) {
				c, err := compileIntrinsic(s)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", field, k, err)
				}
				f.call = c
			} else {
				p, err := compilePath(s)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", field, k, err)
				}
				f.path = p
			}
			tp.fields = append(tp.fields, f)
		}
		if !dynamic {
			return &template{kind: 'l', literal: v}, nil
		}
		for k := range t {
			if strings.HasSuffix(k, ".$") {
				if _, dup := t[strings.TrimSuffix(k, ".$")]; dup {
					return nil, fmt.Errorf("%s: both %q and %q are set", field, strings.TrimSuffix(k, ".$"), k)
				}
			}
		}
		return tp, nil
	case []any:
		tp := &template{kind: 'a'}
		dynamic := false
		for i, val := range t {
			sub, err := compileTemplate(val, fmt.Sprintf("%s[%d]", field, i))
			if err != nil {
				return nil, err
			}
			if sub.kind != 'l' {
				dynamic = true
			}
			tp.items = append(tp.items, sub)
		}
		if !dynamic {
			return &template{kind: 'l', literal: v}, nil
		}
		return tp, nil
	}
	return &template{kind: 'l', literal: v}, nil
}

// eval instantiates the template against data and the context object. A path that
// matches nothing fails with States.Runtime, as Step Functions does.
func (t *template) eval(data any, sc *stateCtx) (any, error) {
	switch t.kind {
	case 'o':
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			var v any
			var err error
			switch {
			case f.sub != nil:
				v, err = f.sub.eval(data, sc)
			case f.call != nil:
				v, err = f.call.eval(data, sc)
			default:
				v, err = f.path.get(data, sc)
				if err != nil {
					where := "input"
					if f.path.context {
						where = "context object"
					}
					err = runtimeErr(fmt.Sprintf("the JSONPath %s specified for the field %s could not be found in the %s %s",
						f.path.src, f.src, where, truncate(mustEncode(pick(f.path.context, data, sc)))))
				}
			}
			if err != nil {
				return nil, err
			}
			out[f.key] = v
		}
		return out, nil
	case 'a':
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := it.eval(data, sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return t.literal, nil
}

func pick(context bool, data any, sc *stateCtx) any {
	if context && sc != nil {
		return sc.object()
	}
	return data
}

// truncate shortens a payload quoted in an error cause.
func truncate(b []byte) string {
	const max = 1024
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
