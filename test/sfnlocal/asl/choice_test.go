package asl

import (
	"encoding/json"
	"testing"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

func TestChoiceRules(t *testing.T) {
	input := `{"s":"beta","s2":"alpha","n":5,"f":2.5,"big":10,"b":true,"t":"2026-01-02T03:04:05Z","t2":"2026-01-02T03:04:06.5Z","nul":null,"obj":{},"bad":"2026-01-02 03:04:05","star":"a*b","bs":"a\\b"}`
	tests := []struct {
		name, rule string
		want       bool
		runtimeErr bool
	}{
		{"StringEquals", `{"Variable":"$.s","StringEquals":"beta"}`, true, false},
		{"StringEquals other type", `{"Variable":"$.n","StringEquals":"5"}`, false, false},
		{"StringLessThan", `{"Variable":"$.s2","StringLessThan":"beta"}`, true, false},
		{"StringGreaterThan", `{"Variable":"$.s","StringGreaterThan":"alpha"}`, true, false},
		{"StringLessThanEquals", `{"Variable":"$.s","StringLessThanEquals":"beta"}`, true, false},
		{"StringGreaterThanEquals", `{"Variable":"$.s","StringGreaterThanEquals":"gamma"}`, false, false},
		{"StringEqualsPath", `{"Variable":"$.s","StringEqualsPath":"$.s2"}`, false, false},
		{"StringLessThanPath", `{"Variable":"$.s2","StringLessThanPath":"$.s"}`, true, false},
		{"StringMatches prefix", `{"Variable":"$.s","StringMatches":"be*"}`, true, false},
		{"StringMatches middle", `{"Variable":"$.s","StringMatches":"b*t*"}`, true, false},
		{"StringMatches no", `{"Variable":"$.s","StringMatches":"*x*"}`, false, false},
		{"StringMatches escaped star", `{"Variable":"$.star","StringMatches":"a\\*b"}`, true, false},
		{"StringMatches escaped star no", `{"Variable":"$.s","StringMatches":"b\\*"}`, false, false},
		{"StringMatches backslash", `{"Variable":"$.bs","StringMatches":"a\\\\b"}`, true, false},
		{"NumericEquals", `{"Variable":"$.n","NumericEquals":5}`, true, false},
		{"NumericEquals float", `{"Variable":"$.n","NumericEquals":5.0}`, true, false},
		{"NumericEquals string", `{"Variable":"$.s","NumericEquals":5}`, false, false},
		{"NumericLessThan", `{"Variable":"$.f","NumericLessThan":3}`, true, false},
		{"NumericGreaterThan", `{"Variable":"$.f","NumericGreaterThan":3}`, false, false},
		{"NumericLessThanEquals", `{"Variable":"$.n","NumericLessThanEquals":5}`, true, false},
		{"NumericGreaterThanEquals", `{"Variable":"$.n","NumericGreaterThanEquals":6}`, false, false},
		{"NumericEqualsPath", `{"Variable":"$.n","NumericEqualsPath":"$.n"}`, true, false},
		{"NumericLessThanPath", `{"Variable":"$.n","NumericLessThanPath":"$.big"}`, true, false},
		{"NumericGreaterThanPath", `{"Variable":"$.n","NumericGreaterThanPath":"$.f"}`, true, false},
		{"NumericLessThanEqualsPath", `{"Variable":"$.n","NumericLessThanEqualsPath":"$.f"}`, false, false},
		{"NumericGreaterThanEqualsPath", `{"Variable":"$.n","NumericGreaterThanEqualsPath":"$.n"}`, true, false},
		{"BooleanEquals", `{"Variable":"$.b","BooleanEquals":true}`, true, false},
		{"BooleanEquals string", `{"Variable":"$.s","BooleanEquals":true}`, false, false},
		{"BooleanEqualsPath", `{"Variable":"$.b","BooleanEqualsPath":"$.b"}`, true, false},
		{"TimestampEquals", `{"Variable":"$.t","TimestampEquals":"2026-01-02T03:04:05Z"}`, true, false},
		{"TimestampEquals offset", `{"Variable":"$.t","TimestampEquals":"2026-01-02T04:04:05+01:00"}`, true, false},
		{"TimestampLessThan", `{"Variable":"$.t","TimestampLessThan":"2026-01-02T03:04:06Z"}`, true, false},
		{"TimestampGreaterThan", `{"Variable":"$.t","TimestampGreaterThan":"2026-01-02T03:04:06Z"}`, false, false},
		{"TimestampLessThanEquals", `{"Variable":"$.t","TimestampLessThanEquals":"2026-01-02T03:04:05Z"}`, true, false},
		{"TimestampGreaterThanEquals", `{"Variable":"$.t","TimestampGreaterThanEquals":"2026-01-02T03:04:05Z"}`, true, false},
		{"TimestampLessThanPath", `{"Variable":"$.t","TimestampLessThanPath":"$.t2"}`, true, false},
		{"TimestampEqualsPath not a timestamp", `{"Variable":"$.t","TimestampEqualsPath":"$.bad"}`, false, false},
		{"TimestampGreaterThanPath", `{"Variable":"$.t2","TimestampGreaterThanPath":"$.t"}`, true, false},
		{"TimestampLessThanEqualsPath", `{"Variable":"$.t","TimestampLessThanEqualsPath":"$.t"}`, true, false},
		{"TimestampGreaterThanEqualsPath", `{"Variable":"$.t","TimestampGreaterThanEqualsPath":"$.t2"}`, false, false},
		{"Timestamp on bad value", `{"Variable":"$.bad","TimestampEquals":"2026-01-02T03:04:05Z"}`, false, false},
		{"IsNull", `{"Variable":"$.nul","IsNull":true}`, true, false},
		{"IsNull false", `{"Variable":"$.s","IsNull":false}`, true, false},
		{"IsPresent", `{"Variable":"$.s","IsPresent":true}`, true, false},
		{"IsPresent missing", `{"Variable":"$.zzz","IsPresent":true}`, false, false},
		{"IsPresent false missing", `{"Variable":"$.zzz","IsPresent":false}`, true, false},
		{"IsPresent null", `{"Variable":"$.nul","IsPresent":true}`, true, false},
		{"IsNumeric", `{"Variable":"$.f","IsNumeric":true}`, true, false},
		{"IsNumeric string", `{"Variable":"$.s","IsNumeric":true}`, false, false},
		{"IsString", `{"Variable":"$.s","IsString":true}`, true, false},
		{"IsBoolean", `{"Variable":"$.b","IsBoolean":true}`, true, false},
		{"IsBoolean false", `{"Variable":"$.obj","IsBoolean":false}`, true, false},
		{"IsTimestamp", `{"Variable":"$.t","IsTimestamp":true}`, true, false},
		{"IsTimestamp bad", `{"Variable":"$.bad","IsTimestamp":true}`, false, false},
		{"And", `{"And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":true}]}`, true, false},
		{"And false", `{"And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":false}]}`, false, false},
		{"Or", `{"Or":[{"Variable":"$.n","NumericEquals":6},{"Variable":"$.b","BooleanEquals":true}]}`, true, false},
		{"Not", `{"Not":{"Variable":"$.n","NumericEquals":6}}`, true, false},
		{"nested", `{"Not":{"Or":[{"Variable":"$.s","StringEquals":"x"},{"And":[{"Variable":"$.n","IsNumeric":true},{"Variable":"$.n","NumericGreaterThan":1}]}]}}`, false, false},
		{"missing variable", `{"Variable":"$.zzz","StringEquals":"x"}`, false, true},
		{"missing operand path", `{"Variable":"$.s","StringEqualsPath":"$.zzz"}`, false, true},
		{"IsNull missing", `{"Variable":"$.zzz","IsNull":true}`, false, true},
		{"context variable", `{"Variable":"$$.State.Name","StringEquals":"C"}`, true, false},
	}
	doc, _ := decodeJSON([]byte(input))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal([]byte(tt.rule), &m); err != nil {
				t.Fatal(err)
			}
			m["Next"] = "X"
			raw, _ := json.Marshal(m)
			r, err := compileChoice(raw, "Choices[0]", true)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			sc := &stateCtx{x: &Execution{}, state: "C"}
			got, err := r.eval(doc, sc)
			if tt.runtimeErr {
				sf, ok := err.(*stateFailure)
				if !ok || sf.name != errname.Runtime {
					t.Fatalf("eval error = %v, want States.Runtime", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"log-*.txt", "log-2026.txt", true},
		{"log-*.txt", "log-2026.csv", false},
		{"*.txt", "a.txt.txt", true},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{`a\\b`, `a\b`, true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.s, func(t *testing.T) {
			if got := matchPattern(tt.pattern, tt.s); got != tt.want {
				t.Errorf("matchPattern(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}
