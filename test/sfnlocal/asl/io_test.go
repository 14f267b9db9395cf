package asl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// TestInputOutputProcessing covers InputPath → Parameters → task → ResultSelector →
// ResultPath → OutputPath, with the echo task returning its effective input.
func TestInputOutputProcessing(t *testing.T) {
	tests := []struct {
		name, state, input, want string
	}{
		{"defaults", `"Type":"Task","Resource":"echo"`, `{"a":1}`, `{"a":1}`},
		{"InputPath", `"Type":"Task","Resource":"echo","InputPath":"$.a"`, `{"a":{"b":1}}`, `{"b":1}`},
		{"InputPath null", `"Type":"Task","Resource":"echo","InputPath":null`, `{"a":1}`, `{}`},
		{"OutputPath null", `"Type":"Task","Resource":"echo","OutputPath":null`, `{"a":1}`, `{}`},
		{"Parameters static and paths", `"Type":"Task","Resource":"echo","Parameters":{"k":"v","n":{"x.$":"$.a"},"arr":[{"y.$":"$.a"},2]}`, `{"a":7}`, `{"k":"v","n":{"x":7},"arr":[{"y":7},2]}`},
		{"Parameters after InputPath", `"Type":"Task","Resource":"echo","InputPath":"$.in","Parameters":{"v.$":"$.v"}`, `{"in":{"v":3}}`, `{"v":3}`},
		{"Parameters intrinsic", `"Type":"Task","Resource":"echo","Parameters":{"m.$":"States.Format('{}-{}', $.a, $.b)"}`, `{"a":"x","b":2}`, `{"m":"x-2"}`},
		{"Parameters context", `"Type":"Task","Resource":"echo","Parameters":{"name.$":"$$.Execution.Name","state.$":"$$.State.Name","sm.$":"$$.StateMachine.Name","in.$":"$$.Execution.Input.a"}`, `{"a":1}`, `{"name":"exec-1","state":"S","sm":"sm","in":1}`},
		{"ResultSelector", `"Type":"Task","Resource":"echo","ResultSelector":{"got.$":"$.a"}`, `{"a":1}`, `{"got":1}`},
		{"ResultPath", `"Type":"Task","Resource":"echo","Parameters":{"r":1},"ResultPath":"$.res"`, `{"a":1}`, `{"a":1,"res":{"r":1}}`},
		{"ResultPath nested creates objects", `"Type":"Task","Resource":"echo","Parameters":{"r":1},"ResultPath":"$.x.y.z"`, `{"a":1}`, `{"a":1,"x":{"y":{"z":{"r":1}}}}`},
		{"ResultPath applies to raw input not InputPath", `"Type":"Task","Resource":"echo","InputPath":"$.a","ResultPath":"$.r"`, `{"a":{"b":1}}`, `{"a":{"b":1},"r":{"b":1}}`},
		{"ResultPath null discards", `"Type":"Task","Resource":"echo","Parameters":{"r":1},"ResultPath":null`, `{"a":1}`, `{"a":1}`},
		{"ResultPath $ replaces", `"Type":"Task","Resource":"echo","Parameters":{"r":1},"ResultPath":"$"`, `{"a":1}`, `{"r":1}`},
		{"OutputPath", `"Type":"Task","Resource":"echo","Parameters":{"r":1},"ResultPath":"$.res","OutputPath":"$.res"`, `{"a":1}`, `{"r":1}`},
		{"full order", `"Type":"Task","Resource":"echo","InputPath":"$.in","Parameters":{"p.$":"$.v"},"ResultSelector":{"s.$":"$.p"},"ResultPath":"$.out","OutputPath":"$.out"`, `{"in":{"v":9}}`, `{"s":9}`},
		{"Pass Result", `"Type":"Pass","Result":{"x":1},"ResultPath":"$.r"`, `{"a":1}`, `{"a":1,"r":{"x":1}}`},
		{"Pass Parameters", `"Type":"Pass","Parameters":{"x.$":"$.a"}`, `{"a":1}`, `{"x":1}`},
		{"Pass no result", `"Type":"Pass","InputPath":"$.a","ResultPath":"$.b"`, `{"a":1}`, `{"a":1,"b":1}`},
		{"non-object input", `"Type":"Pass"`, `[1,2]`, `[1,2]`},
		{"indefinite OutputPath", `"Type":"Pass","OutputPath":"$.l[*].v"`, `{"l":[{"v":1},{"v":2}]}`, `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := chain("S", `"S":{`+tt.state+`,"End":true}`)
			_, st := runDef(t, def, tt.input, &fakeTasks{})
			if st.Status != StatusSucceeded {
				t.Fatalf("status %s: %s: %s", st.Status, st.Error, st.Cause)
			}
			if !jsonEqual(t, st.Output, tt.want) {
				t.Errorf("output %s, want %s", st.Output, tt.want)
			}
		})
	}
}

// TestResultPathMatchFailure: a ResultPath that cannot be applied to the input
// fails the state with States.ResultPathMatchFailure, which Catch can handle.
func TestResultPathMatchFailure(t *testing.T) {
	state := `"S":{"Type":"Task","Resource":"echo","ResultPath":"$.a.b","End":true}`
	_, st := runDef(t, chain("S", state), `{"a":"s"}`, &fakeTasks{})
	if st.Status != StatusFailed || st.Error != errname.ResultPathMatchFailure {
		t.Fatalf("status %s error %s (%s), want FAILED %s", st.Status, st.Error, st.Cause, errname.ResultPathMatchFailure)
	}
	caught := `"S":{"Type":"Task","Resource":"echo","ResultPath":"$.a.b","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},"Caught":{"Type":"Succeed"}`
	_, st = runDef(t, chain("S", caught), `{"a":"s"}`, &fakeTasks{})
	if st.Status != StatusSucceeded {
		t.Fatalf("status %s error %s: States.ALL must catch %s", st.Status, st.Error, errname.ResultPathMatchFailure)
	}
}

// TestRuntimeErrors: bad paths fail the execution with States.Runtime, which
// neither Retry nor Catch (even States.ALL) handles.
func TestRuntimeErrors(t *testing.T) {
	handlers := `,"Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}]`
	tests := []struct{ name, state, input string }{
		{"InputPath", `"Type":"Task","Resource":"echo","InputPath":"$.missing"` + handlers, `{}`},
		{"Parameters path", `"Type":"Task","Resource":"echo","Parameters":{"x.$":"$.missing"}` + handlers, `{}`},
		{"ResultSelector path", `"Type":"Task","Resource":"echo","ResultSelector":{"x.$":"$.missing"}` + handlers, `{}`},
		{"OutputPath", `"Type":"Task","Resource":"echo","OutputPath":"$.missing"` + handlers, `{}`},
		{"intrinsic argument", `"Type":"Task","Resource":"echo","Parameters":{"x.$":"States.MathAdd($.a, 1)"}` + handlers, `{"a":"s"}`},
		{"Pass InputPath", `"Type":"Pass","InputPath":"$.missing"`, `{}`},
		{"Map items not array", `"Type":"Map","ItemsPath":"$.a","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}}` + handlers, `{"a":1}`},
		{"Wait SecondsPath", `"Type":"Wait","SecondsPath":"$.s"`, `{"s":"x"}`},
		{"Wait TimestampPath", `"Type":"Wait","TimestampPath":"$.s"`, `{"s":"soon"}`},
		{"TimeoutSecondsPath", `"Type":"Task","Resource":"echo","TimeoutSecondsPath":"$.t"` + handlers, `{"t":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caught := ""
			if strings.Contains(tt.state, "Catch") {
				caught = `,"Caught":{"Type":"Succeed"}`
			}
			def := chain("S", `"S":{`+tt.state+`,"End":true}`+caught)
			tasks := &fakeTasks{}
			x, st := runDef(t, def, tt.input, tasks)
			if st.Status != StatusFailed || st.Error != errname.Runtime {
				t.Fatalf("status %s error %s (%s), want FAILED States.Runtime", st.Status, st.Error, st.Cause)
			}
			if tasks.count("echo") > 1 {
				t.Errorf("the task ran %d times: States.Runtime must not be retried", tasks.count("echo"))
			}
			h := x.History()
			if last := h[len(h)-1]; last.Type != "ExecutionFailed" || last.Error != errname.Runtime {
				t.Errorf("last event %+v", last)
			}
		})
	}
}

func TestDataLimitExceeded(t *testing.T) {
	big := make([]byte, statemachines.MaxPayloadBytes)
	for i := range big {
		big[i] = 'x'
	}
	tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
		"big": func(context.Context, Task, int) (json.RawMessage, error) {
			return json.RawMessage(`"` + string(big) + `"`), nil
		},
	}}
	def := chain("T", `"T":{"Type":"Task","Resource":"big","Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}`)
	_, st := runDef(t, def, `{}`, tasks)
	if st.Status != StatusFailed || st.Error != errname.DataLimitExceeded {
		t.Fatalf("status %s error %s, want FAILED States.DataLimitExceeded", st.Status, st.Error)
	}

	t.Run("start input too large", func(t *testing.T) {
		r := NewRunner()
		_, err := r.Start(context.Background(), mustParse(t, chain("A", `"A":{"Type":"Succeed"}`)), json.RawMessage(`"`+string(big)+`"`), ExecutionInfo{})
		if err == nil {
			t.Fatal("Start accepted a 256 KiB input")
		}
	})
	t.Run("start input invalid", func(t *testing.T) {
		r := NewRunner()
		_, err := r.Start(context.Background(), mustParse(t, chain("A", `"A":{"Type":"Succeed"}`)), json.RawMessage(`{`), ExecutionInfo{})
		if err == nil {
			t.Fatal("Start accepted invalid JSON")
		}
	})
}
