package asl

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	defs := map[string]string{
		"pass end":       chain("A", `"A":{"Type":"Pass","End":true}`),
		"all types":      chain("A", `"A":{"Type":"Pass","Next":"T"},"T":{"Type":"Task","Resource":"arn:x","Next":"C","TimeoutSeconds":10,"HeartbeatSeconds":5,"Retry":[{"ErrorEquals":["E"]},{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"F"}]},"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true,"Next":"W"}],"Default":"S"},"W":{"Type":"Wait","Seconds":1,"Next":"P"},"P":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Succeed"}}}],"Next":"M"},"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true},"S":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"E","Cause":"c"}`),
		"top-level keys": `{"Comment":"c","Version":"1.0","TimeoutSeconds":5,"QueryLanguage":"JSONPath","StartAt":"A","States":{"A":{"Type":"Succeed"}}}`,
		"legacy map":     chain("M", `"M":{"Type":"Map","Parameters":{"x.$":"$$.Map.Item.Value"},"Iterator":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}`),
		"end false":      chain("A", `"A":{"Type":"Pass","Next":"B","End":false},"B":{"Type":"Succeed"}`),
		"dashed path":    chain("A", `"A":{"Type":"Pass","InputPath":"$.my-key","End":true}`),
		"fail paths":     chain("F", `"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"States.Format('x {}', $.c)"}`),
	}
	for name, def := range defs {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(def)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, def, state, field string
	}{
		{"not json", `{`, "", ""},
		{"no StartAt", `{"States":{"A":{"Type":"Succeed"}}}`, "", "StartAt"},
		{"StartAt missing state", chain("X", `"A":{"Type":"Succeed"}`), "", "StartAt"},
		{"no States", `{"StartAt":"A"}`, "", "States"},
		{"unknown top field", `{"StartAt":"A","States":{"A":{"Type":"Succeed"}},"Foo":1}`, "", "Foo"},
		{"JSONata", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Succeed"}}}`, "", "QueryLanguage"},
		{"bad type", chain("A", `"A":{"Type":"Nope","End":true}`), "A", "Type"},
		{"no type", chain("A", `"A":{"End":true}`), "A", "Type"},
		{"next and end", chain("A", `"A":{"Type":"Pass","Next":"A","End":true}`), "A", "End"},
		{"no next nor end", chain("A", `"A":{"Type":"Pass"}`), "A", "Next"},
		{"next missing", chain("A", `"A":{"Type":"Pass","Next":"B"}`), "A", "Next"},
		{"unreachable", chain("A", `"A":{"Type":"Succeed"},"B":{"Type":"Succeed"}`), "B", ""},
		{"unknown field", chain("A", `"A":{"Type":"Pass","End":true,"Foo":1}`), "A", "Foo"},
		{"field of other type", chain("A", `"A":{"Type":"Pass","End":true,"Resource":"x"}`), "A", "Resource"},
		{"succeed with next", chain("A", `"A":{"Type":"Succeed","Next":"A"}`), "A", "Next"},
		{"task without resource", chain("A", `"A":{"Type":"Task","End":true}`), "A", "Resource"},
		{"timeout and path", chain("A", `"A":{"Type":"Task","Resource":"x","TimeoutSeconds":1,"TimeoutSecondsPath":"$.t","End":true}`), "A", "TimeoutSecondsPath"},
		{"timeout zero", chain("A", `"A":{"Type":"Task","Resource":"x","TimeoutSeconds":0,"End":true}`), "A", "TimeoutSeconds"},
		{"heartbeat not below timeout", chain("A", `"A":{"Type":"Task","Resource":"x","TimeoutSeconds":5,"HeartbeatSeconds":5,"End":true}`), "A", "HeartbeatSeconds"},
		{"bad InputPath", chain("A", `"A":{"Type":"Pass","InputPath":"a.b","End":true}`), "A", "InputPath"},
		{"bad OutputPath", chain("A", `"A":{"Type":"Pass","OutputPath":"$.[","End":true}`), "A", "OutputPath"},
		{"ResultPath not reference", chain("A", `"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}`), "A", "ResultPath"},
		{"ResultPath context", chain("A", `"A":{"Type":"Pass","ResultPath":"$$.a","End":true}`), "A", "ResultPath"},
		{"parameters path", chain("A", `"A":{"Type":"Pass","Parameters":{"a.$":"nope"},"End":true}`), "A", "Parameters"},
		{"parameters non-string", chain("A", `"A":{"Type":"Pass","Parameters":{"a.$":1},"End":true}`), "A", "Parameters"},
		{"parameters bad intrinsic", chain("A", `"A":{"Type":"Pass","Parameters":{"a.$":"States.Nope(1)"},"End":true}`), "A", "Parameters"},
		{"parameters not object", chain("A", `"A":{"Type":"Pass","Parameters":[1],"End":true}`), "A", "Parameters"},
		{"ALL not alone", chain("A", `"A":{"Type":"Task","Resource":"x","Retry":[{"ErrorEquals":["States.ALL","E"]}],"End":true}`), "A", "Retry[0].ErrorEquals"},
		{"ALL not last", chain("A", `"A":{"Type":"Task","Resource":"x","Catch":[{"ErrorEquals":["States.ALL"],"Next":"A"},{"ErrorEquals":["E"],"Next":"A"}],"End":true}`), "A", "Catch[0].ErrorEquals"},
		{"empty ErrorEquals", chain("A", `"A":{"Type":"Task","Resource":"x","Retry":[{"ErrorEquals":[]}],"End":true}`), "A", "Retry[0].ErrorEquals"},
		{"backoff below 1", chain("A", `"A":{"Type":"Task","Resource":"x","Retry":[{"ErrorEquals":["E"],"BackoffRate":0.5}],"End":true}`), "A", "Retry[0].BackoffRate"},
		{"interval zero", chain("A", `"A":{"Type":"Task","Resource":"x","Retry":[{"ErrorEquals":["E"],"IntervalSeconds":0}],"End":true}`), "A", "Retry[0].IntervalSeconds"},
		{"bad jitter", chain("A", `"A":{"Type":"Task","Resource":"x","Retry":[{"ErrorEquals":["E"],"JitterStrategy":"HALF"}],"End":true}`), "A", "Retry[0].JitterStrategy"},
		{"catch without next", chain("A", `"A":{"Type":"Task","Resource":"x","Catch":[{"ErrorEquals":["E"]}],"End":true}`), "A", "Catch[0].Next"},
		{"catch next missing", chain("A", `"A":{"Type":"Task","Resource":"x","Catch":[{"ErrorEquals":["E"],"Next":"Z"}],"End":true}`), "A", "Catch[0].Next"},
		{"retry on pass", chain("A", `"A":{"Type":"Pass","Retry":[],"End":true}`), "A", "Retry"},
		{"choice no rules", chain("C", `"C":{"Type":"Choice","Choices":[]}`), "C", "Choices"},
		{"choice rule without next", chain("C", `"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true}],"Default":"S"},"S":{"Type":"Succeed"}`), "C", "Choices[0].Next"},
		{"choice nested next", chain("C", `"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","IsNull":true,"Next":"S"},"Next":"S"}]},"S":{"Type":"Succeed"}`), "C", "Choices[0].Not.Next"},
		{"choice two operators", chain("C", `"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"IsString":true,"Next":"S"}]},"S":{"Type":"Succeed"}`), "C", "Choices[0]"},
		{"choice no variable", chain("C", `"C":{"Type":"Choice","Choices":[{"StringEquals":"x","Next":"S"}]},"S":{"Type":"Succeed"}`), "C", "Choices[0].Variable"},
		{"choice wrong literal type", chain("C", `"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":"1","Next":"S"}]},"S":{"Type":"Succeed"}`), "C", "Choices[0].NumericEquals"},
		{"choice bad timestamp", chain("C", `"C":{"Type":"Choice","Choices":[{"Variable":"$.a","TimestampEquals":"yesterday","Next":"S"}]},"S":{"Type":"Succeed"}`), "C", "Choices[0].TimestampEquals"},
		{"choice empty And", chain("C", `"C":{"Type":"Choice","Choices":[{"And":[],"Next":"S"}]},"S":{"Type":"Succeed"}`), "C", "Choices[0].And"},
		{"choice default missing", chain("C", `"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"Next":"S"}],"Default":"Z"},"S":{"Type":"Succeed"}`), "C", "Default"},
		{"choice unknown op", chain("C", `"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringContains":"x","Next":"S"}]},"S":{"Type":"Succeed"}`), "C", "Choices[0].StringContains"},
		{"wait none", chain("W", `"W":{"Type":"Wait","End":true}`), "W", "Seconds"},
		{"wait two", chain("W", `"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}`), "W", "Seconds"},
		{"wait bad timestamp", chain("W", `"W":{"Type":"Wait","Timestamp":"2026-13-01","End":true}`), "W", "Timestamp"},
		{"wait negative", chain("W", `"W":{"Type":"Wait","Seconds":-1,"End":true}`), "W", "Seconds"},
		{"parallel no branches", chain("P", `"P":{"Type":"Parallel","Branches":[],"End":true}`), "P", "Branches"},
		{"branch bad next", chain("P", `"P":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","Next":"P"}}}],"End":true}`), "B", "Next"},
		{"branch no StartAt", chain("P", `"P":{"Type":"Parallel","Branches":[{"States":{"B":{"Type":"Succeed"}}}],"End":true}`), "P", "Branches[0].StartAt"},
		{"map no processor", chain("M", `"M":{"Type":"Map","End":true}`), "M", "ItemProcessor"},
		{"map distributed", chain("M", `"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}`), "M", "ItemProcessor.ProcessorConfig.Mode"},
		{"map item reader", chain("M", `"M":{"Type":"Map","ItemReader":{},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}`), "M", "ItemReader"},
		{"map selector and parameters", chain("M", `"M":{"Type":"Map","ItemSelector":{},"Parameters":{},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}`), "M", "ItemSelector"},
		{"map ItemsPath not reference", chain("M", `"M":{"Type":"Map","ItemsPath":"$..a","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}`), "M", "ItemsPath"},
		{"fail error and path", chain("F", `"F":{"Type":"Fail","Error":"a","ErrorPath":"$.e"}`), "F", "ErrorPath"},
		{"assign unsupported", chain("A", `"A":{"Type":"Pass","Assign":{},"End":true}`), "A", "Assign"},
		{"long name", chain(strings.Repeat("n", 81), `"`+strings.Repeat("n", 81)+`":{"Type":"Succeed"}`), strings.Repeat("n", 81), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.def))
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("Parse error = %v, want *DefinitionError", err)
			}
			if de.State != tt.state || de.Field != tt.field {
				t.Errorf("error names state %q field %q, want %q %q (%v)", de.State, de.Field, tt.state, tt.field, de)
			}
			if !strings.HasPrefix(de.Error(), "invalid definition") {
				t.Errorf("message %q", de.Error())
			}
		})
	}
}
