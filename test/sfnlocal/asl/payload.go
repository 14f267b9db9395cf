package asl

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/ohler55/ojg/oj"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// decodeJSON decodes one JSON document into map[string]any, []any, string, bool,
// nil, int64, float64 (json.Number for integers beyond int64).
func decodeJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty document")
	}
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	return oj.Parse(b)
}

// encodeJSON encodes v without HTML escaping.
func encodeJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return json.RawMessage(b[:len(b)-1]), nil
}

// mustEncode encodes a value that came from decodeJSON or a template; such values
// always encode.
func mustEncode(v any) json.RawMessage {
	b, err := encodeJSON(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}

// checkSize fails with States.DataLimitExceeded when a payload exceeds the quota.
func checkSize(b []byte, what string) error {
	if len(b) > statemachines.MaxPayloadBytes {
		return fail(errname.DataLimitExceeded, fmt.Sprintf("the %s of %d bytes exceeds the maximum of %d bytes", what, len(b), statemachines.MaxPayloadBytes))
	}
	return nil
}

// toFloat returns v as a float64 when it is a JSON number.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// isNumber reports whether v is a JSON number.
func isNumber(v any) bool {
	_, ok := toFloat(v)
	return ok
}

// toNonNegativeInt returns v as an int when it is a non-negative integral number.
func toNonNegativeInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, n >= 0
	case int:
		return int64(n), n >= 0
	case float64:
		if n >= 0 && n == math.Trunc(n) && n < 1<<53 {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil && i >= 0
	}
	return 0, false
}

// compareNumbers returns -1, 0 or 1; exact for two integers.
func compareNumbers(a, b any) (int, bool) {
	ai, aok := a.(int64)
	bi, bok := b.(int64)
	if aok && bok {
		return cmp.Compare(ai, bi), true
	}
	af, ok1 := toFloat(a)
	bf, ok2 := toFloat(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	return cmp.Compare(af, bf), true
}
