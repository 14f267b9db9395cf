package asl

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// choiceRule is a compiled Choice rule: a boolean combination (And, Or, Not) or a
// comparison of Variable against a literal or, for the *Path operators, another
// path.
type choiceRule struct {
	next     string
	op       string // And, Or, Not, or the comparison operator (without "Path")
	subs     []*choiceRule
	variable *path
	value    any   // literal operand
	operand  *path // operand of the *Path variants
	ts       time.Time
}

var comparisonKinds = map[string]string{
	"StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string",
	"StringLessThanEquals": "string", "StringGreaterThanEquals": "string", "StringMatches": "string",
	"NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number",
	"NumericLessThanEquals": "number", "NumericGreaterThanEquals": "number",
	"BooleanEquals":   "boolean",
	"TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
	"TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
	"IsNull": "boolean", "IsPresent": "boolean", "IsNumeric": "boolean", "IsString": "boolean",
	"IsBoolean": "boolean", "IsTimestamp": "boolean",
}

// compileChoice compiles one rule; top says whether it is a top-level rule (which
// must have Next) or nested in And/Or/Not (which must not).
func compileChoice(raw json.RawMessage, field string, top bool) (*choiceRule, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, defErr(field, "a Choice rule must be an object")
	}
	r := &choiceRule{}
	if nx, ok := m["Next"]; ok {
		if !top {
			return nil, defErr(field+".Next", "a rule nested in And, Or or Not must not have Next")
		}
		if err := json.Unmarshal(nx, &r.next); err != nil || r.next == "" {
			return nil, defErr(field+".Next", "must be a non-empty string")
		}
	} else if top {
		return nil, defErr(field+".Next", "a top-level Choice rule must have Next")
	}
	var ops []string
	for k := range m {
		switch k {
		case "Next", "Comment", "Variable":
			continue
		case "And", "Or", "Not":
			ops = append(ops, k)
			continue
		}
		if _, ok := comparisonKinds[strings.TrimSuffix(k, "Path")]; ok {
			if strings.HasSuffix(k, "Path") && (strings.HasPrefix(k, "Is") || k == "StringMatchesPath") {
				return nil, defErr(field+"."+k, "unknown field")
			}
			ops = append(ops, k)
			continue
		}
		if k == "Condition" || k == "Assign" {
			return nil, defErr(field+"."+k, "JSONata rules and variables are not supported")
		}
		return nil, defErr(field+"."+k, "unknown field")
	}
	sort.Strings(ops)
	if len(ops) != 1 {
		if len(ops) == 0 {
			return nil, defErr(field, "a Choice rule needs one comparison operator, And, Or or Not")
		}
		return nil, defErr(field, "a Choice rule must have exactly one operator, found "+strings.Join(ops, ", "))
	}
	op := ops[0]
	val := m[op]
	switch op {
	case "And", "Or":
		if _, ok := m["Variable"]; ok {
			return nil, defErr(field+".Variable", "not allowed with "+op)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(val, &list); err != nil || len(list) == 0 {
			return nil, defErr(field+"."+op, "must be a non-empty array of rules")
		}
		r.op = op
		for i, sub := range list {
			s, err := compileChoice(sub, fmt.Sprintf("%s.%s[%d]", field, op, i), false)
			if err != nil {
				return nil, err
			}
			r.subs = append(r.subs, s)
		}
		return r, nil
	case "Not":
		if _, ok := m["Variable"]; ok {
			return nil, defErr(field+".Variable", "not allowed with Not")
		}
		s, err := compileChoice(val, field+".Not", false)
		if err != nil {
			return nil, err
		}
		r.op, r.subs = op, []*choiceRule{s}
		return r, nil
	}
	vraw, ok := m["Variable"]
	if !ok {
		return nil, defErr(field+".Variable", "a comparison needs Variable")
	}
	var vs string
	if err := json.Unmarshal(vraw, &vs); err != nil {
		return nil, defErr(field+".Variable", "must be a string")
	}
	p, err := compilePath(vs)
	if err != nil {
		return nil, defErr(field+".Variable", err.Error())
	}
	r.variable = p
	if base, isPath := strings.CutSuffix(op, "Path"); isPath {
		var s string
		if err := json.Unmarshal(val, &s); err != nil {
			return nil, defErr(field+"."+op, "must be a path string")
		}
		q, err := compilePath(s)
		if err != nil {
			return nil, defErr(field+"."+op, err.Error())
		}
		r.op, r.operand = base, q
		return r, nil
	}
	r.op = op
	lit, err := decodeJSON(val)
	if err != nil {
		return nil, defErr(field+"."+op, err.Error())
	}
	switch comparisonKinds[op] {
	case "string":
		if _, ok := lit.(string); !ok {
			return nil, defErr(field+"."+op, "must be a string")
		}
	case "number":
		if !isNumber(lit) {
			return nil, defErr(field+"."+op, "must be a number")
		}
	case "boolean":
		if _, ok := lit.(bool); !ok {
			return nil, defErr(field+"."+op, "must be a boolean")
		}
	case "timestamp":
		s, ok := lit.(string)
		t, tok := parseTimestamp(s)
		if !ok || !tok {
			return nil, defErr(field+"."+op, "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
		}
		r.ts = t
	}
	r.value = lit
	return r, nil
}

// defErr builds a DefinitionError whose State is filled in by the caller.
func defErr(field, msg string) *DefinitionError { return &DefinitionError{Field: field, Message: msg} }

// parseTimestamp parses the RFC 3339 profile Step Functions accepts (uppercase T
// and Z).
func parseTimestamp(s string) (time.Time, bool) {
	if strings.ContainsAny(s, "tz") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// eval evaluates the rule against the (InputPath-processed) state input.
func (r *choiceRule) eval(data any, sc *stateCtx) (bool, error) {
	switch r.op {
	case "And":
		for _, s := range r.subs {
			ok, err := s.eval(data, sc)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "Or":
		for _, s := range r.subs {
			ok, err := s.eval(data, sc)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case "Not":
		ok, err := r.subs[0].eval(data, sc)
		return !ok, err
	}
	v, err := r.variable.get(data, sc)
	if r.op == "IsPresent" {
		return (err == nil) == r.value.(bool), nil
	}
	if err != nil {
		return false, runtimeErr(fmt.Sprintf("invalid path %s: the choice state's condition path references an invalid value", r.variable.src))
	}
	operand, ts := r.value, r.ts
	if r.operand != nil {
		operand, err = r.operand.get(data, sc)
		if err != nil {
			return false, runtimeErr(fmt.Sprintf("invalid path %s: the choice state's condition path references an invalid value", r.operand.src))
		}
		if comparisonKinds[r.op] == "timestamp" {
			s, _ := operand.(string)
			var ok bool
			if ts, ok = parseTimestamp(s); !ok {
				return false, nil
			}
		}
	}
	switch r.op {
	case "IsNull":
		return (v == nil) == operand.(bool), nil
	case "IsNumeric":
		return isNumber(v) == operand.(bool), nil
	case "IsString":
		_, ok := v.(string)
		return ok == operand.(bool), nil
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == operand.(bool), nil
	case "IsTimestamp":
		s, ok := v.(string)
		if ok {
			_, ok = parseTimestamp(s)
		}
		return ok == operand.(bool), nil
	case "BooleanEquals":
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	case "StringMatches":
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		return ok1 && ok2 && matchPattern(b, a), nil
	}
	switch comparisonKinds[r.op] {
	case "string":
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		return compareResult(r.op, strings.Compare(a, b)), nil
	case "number":
		c, ok := compareNumbers(v, operand)
		if !ok {
			return false, nil
		}
		return compareResult(r.op, c), nil
	case "timestamp":
		s, ok := v.(string)
		if !ok {
			return false, nil
		}
		t, ok := parseTimestamp(s)
		if !ok {
			return false, nil
		}
		return compareResult(r.op, t.Compare(ts)), nil
	}
	return false, nil
}

func compareResult(op string, c int) bool {
	switch {
	case strings.HasSuffix(op, "LessThanEquals"):
		return c <= 0
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return c >= 0
	case strings.HasSuffix(op, "LessThan"):
		return c < 0
	case strings.HasSuffix(op, "GreaterThan"):
		return c > 0
	}
	return c == 0
}

// matchPattern reports whether s matches the StringMatches pattern p: '*' matches
// any run of characters, "\\*" a literal star and "\\\\" a literal backslash.
func matchPattern(p, s string) bool {
	// Split p into literal segments separated by unescaped stars.
	var segs []string
	var lit strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p): // "\\*" is a literal star, "\\\\" a backslash
			lit.WriteByte(p[i+1])
			i++
		case c == '*':
			segs = append(segs, lit.String())
			lit.Reset()
		default:
			lit.WriteByte(c)
		}
	}
	segs = append(segs, lit.String())
	if len(segs) == 1 {
		return s == segs[0]
	}
	// With '*' the only wildcard, matching the first segment as a prefix, the last
	// as a suffix and each middle one at its leftmost place is exact.
	first, last := segs[0], segs[len(segs)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, seg := range segs[1 : len(segs)-1] {
		i := strings.Index(s, seg)
		if i < 0 {
			return false
		}
		s = s[i+len(seg):]
	}
	return true
}
