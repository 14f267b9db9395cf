package asl_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

func ExampleRunner_Run() {
	sm, err := asl.Parse([]byte(`{
	  "StartAt": "Greet",
	  "States": {
	    "Greet": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:greet",
	      "Parameters": {"name.$": "$.who"},
	      "ResultPath": "$.greeting",
	      "Next": "Pause"
	    },
	    "Pause": {"Type": "Wait", "Seconds": 300, "End": true}
	  }
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	greet := asl.TaskInvokerFunc(func(ctx context.Context, t asl.Task) (json.RawMessage, error) {
		var in struct{ Name string }
		if err := json.Unmarshal(t.Input, &in); err != nil {
			return nil, &asl.TaskFailure{Name: "BadInput", Cause: err.Error()}
		}
		return json.Marshal("hello " + in.Name)
	})
	// A scaled clock turns the five-minute Wait into 300 ms.
	r := asl.NewRunner(asl.WithInvoker(greet), asl.WithClock(asl.NewScaledClock(1000)))
	x, err := r.Run(context.Background(), sm, json.RawMessage(`{"who":"world"}`), asl.ExecutionInfo{Name: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := x.Snapshot()
	fmt.Println(st.Status, string(st.Output))
	for _, ev := range x.History() {
		if ev.StateName != "" {
			fmt.Println(ev.Type, ev.StateName)
		}
	}
	// Output:
	// SUCCEEDED {"greeting":"hello world","who":"world"}
	// TaskStateEntered Greet
	// LambdaFunctionScheduled Greet
	// LambdaFunctionStarted Greet
	// LambdaFunctionSucceeded Greet
	// TaskStateExited Greet
	// WaitStateEntered Pause
	// WaitStateExited Pause
}

func ExampleParse_error() {
	_, err := asl.Parse([]byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`))
	fmt.Println(err)
	// Output: invalid definition: state "A", field Next: names state "B", which does not exist in this scope
}
