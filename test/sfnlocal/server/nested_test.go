package server_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/test/sfnlocal/server"
)

// The child: fails when asked to, waits 10 minutes (scaled) when asked to,
// else answers with its input's n doubled.
const childASL = `{
  "StartAt": "Route",
  "States": {
    "Route": {"Type": "Choice", "Choices": [
      {"Variable": "$.args.fail", "IsPresent": true, "Next": "Fails"},
      {"Variable": "$.args.slow", "IsPresent": true, "Next": "Slow"}
    ], "Default": "Double"},
    "Slow": {"Type": "Wait", "Seconds": 600, "Next": "Double"},
    "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.args.n, $.args.n)", "by.$": "$.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"}, "End": true},
    "Fails": {"Type": "Fail", "Error": "ChildBroke", "Cause": "asked to fail"}
  }
}`

// The parent starts the child in the mode its input names and keeps what
// the integration answered.
func parentASL(resource string, timeout int) string {
	return `{
  "StartAt": "Child",
  "States": {
    "Child": {
      "Type": "Task", "Resource": "` + resource + `",
      "Parameters": {
        "StateMachineArn": "${Child}",
        "Name.$": "$$.Execution.Name",
        "Input": {"args.$": "$", "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}
      },
      "TimeoutSeconds": ` + strconv.Itoa(timeout) + `,
      "End": true
    }
  }
}`
}

func startNested(t *testing.T) (*server.Server, *sfn.Client) {
	t.Helper()
	child := "arn:aws:states:us-east-1:123456789012:stateMachine:child"
	cfg := &server.Config{
		TimeScale:    1000,
		TimeoutScale: 1000,
		AWSConfig:    &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")},
		StateMachines: []server.MachineConfig{
			{Name: "child", Definition: json.RawMessage(childASL)},
			{Name: "sync2", Definition: json.RawMessage(parentASL("arn:aws:states:::states:startExecution.sync:2", 3600)), DefinitionSubstitutions: map[string]string{"Child": child}},
			{Name: "sync", Definition: json.RawMessage(parentASL("arn:aws:states:::states:startExecution.sync", 3600)), DefinitionSubstitutions: map[string]string{"Child": child}},
			{Name: "fire", Definition: json.RawMessage(parentASL("arn:aws:states:::states:startExecution", 60)), DefinitionSubstitutions: map[string]string{"Child": child}},
			{Name: "short", Definition: json.RawMessage(parentASL("arn:aws:states:::states:startExecution.sync:2", 60)), DefinitionSubstitutions: map[string]string{"Child": child}},
			{Name: "orphan", Definition: json.RawMessage(parentASL("arn:aws:states:::states:startExecution.sync:2", 60)), DefinitionSubstitutions: map[string]string{"Child": child + "-gone"}},
		},
	}
	return serve(t, cfg)
}

// states:startExecution in its three patterns, as Step Functions runs a
// nested workflow: .sync:2 answers the child's output as JSON, .sync as a
// string, request-response only the child's ARN; a failed child fails the
// task with States.TaskFailed and the child's error in the cause; a task
// that times out stops its child.
func TestNestedExecutions(t *testing.T) {
	s, c := startNested(t)
	ctx := t.Context()
	run := func(machine, name, input string) *sfn.DescribeExecutionOutput {
		t.Helper()
		arn := s.StateMachineARN(machine)
		x, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String(name), Input: aws.String(input)})
		if err != nil {
			t.Fatal(err)
		}
		return waitDone(t, c, x.ExecutionArn)
	}
	child := func(name string) *sfn.DescribeExecutionOutput {
		t.Helper()
		d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String("arn:aws:states:us-east-1:123456789012:execution:child:" + name)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("sync:2 answers the child's output as JSON", func(t *testing.T) {
		d := run("sync2", "a", `{"n": 21}`)
		var out struct {
			Output struct {
				N  int
				By string
			}
			Status       string
			ExecutionArn string
		}
		if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil || d.Status != types.ExecutionStatusSucceeded {
			t.Fatalf("%s %s: %v", d.Status, aws.ToString(d.Output), err)
		}
		if out.Output.N != 42 || out.Status != "SUCCEEDED" || !strings.HasSuffix(out.ExecutionArn, ":child:a") || out.Output.By != aws.ToString(d.ExecutionArn) {
			t.Errorf("output %s", aws.ToString(d.Output))
		}
	})
	t.Run("sync answers it as a string", func(t *testing.T) {
		d := run("sync", "b", `{"n": 2}`)
		var out struct{ Output string }
		if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil || !strings.Contains(out.Output, `"n":4`) {
			t.Fatalf("%s %s: %v", d.Status, aws.ToString(d.Output), err)
		}
	})
	t.Run("request-response answers the child's ARN", func(t *testing.T) {
		d := run("fire", "c", `{"n": 1, "slow": true}`)
		var out struct{ ExecutionArn string }
		if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil || !strings.HasSuffix(out.ExecutionArn, ":child:c") {
			t.Fatalf("%s %s: %v", d.Status, aws.ToString(d.Output), err)
		}
		if st := child("c").Status; st != types.ExecutionStatusRunning {
			t.Errorf("child %s, want still running (nobody waits for it)", st)
		}
	})
	t.Run("a failed child fails the task", func(t *testing.T) {
		d := run("sync2", "d", `{"n": 1, "fail": true}`)
		if d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != "States.TaskFailed" ||
			!strings.Contains(aws.ToString(d.Cause), `"Error":"ChildBroke"`) || !strings.Contains(aws.ToString(d.Cause), `"Status":"FAILED"`) {
			t.Fatalf("%s %s: %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
		}
	})
	t.Run("a task that times out stops its child", func(t *testing.T) {
		d := run("short", "e", `{"n": 1, "slow": true}`)
		if d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != "States.Timeout" {
			t.Fatalf("%s %s: %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		// The parent fails at its timeout; its task stops the child as it
		// ends, a moment later (on AWS too, the stop is asynchronous).
		deadline := time.Now().Add(5 * time.Second)
		for st := child("e").Status; st != types.ExecutionStatusAborted; st = child("e").Status {
			if time.Now().After(deadline) {
				t.Fatalf("child %s 5 s after the parent's timeout, want ABORTED", st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("a missing machine is the service's error", func(t *testing.T) {
		d := run("orphan", "f", `{"n": 1}`)
		if d.Status != types.ExecutionStatusFailed || !strings.HasPrefix(aws.ToString(d.Error), "StepFunctions.StateMachineDoesNotExist") {
			t.Fatalf("%s %s: %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
		}
	})
}
