package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/server"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

const deployASL = `{
  "StartAt": "Deploy",
  "States": {
    "Deploy": {
      "Type": "Task",
      "Resource": "${DeployArn}",
      "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 60, "MaxAttempts": 2}],
      "Catch": [{"ErrorEquals": ["DeployError"], "ResultPath": "$.error", "Next": "RolledBack"}],
      "ResultPath": "$.deploy",
      "Next": "Approve"
    },
    "Approve": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
      "ResultPath": "$.approval",
      "Next": "Bake"
    },
    "Bake": {"Type": "Wait", "Seconds": 300, "Next": "Done"},
    "Done": {"Type": "Succeed"},
    "RolledBack": {"Type": "Fail", "Error": "Deploy.RolledBack", "Cause": "the deploy failed and was rolled back"}
  }
}`

type DeployError struct{ Reason string }

func (e *DeployError) Error() string { return e.Reason }

// startService is how a test starts the local Step Functions service in-process.
func startService(t *testing.T, tokens chan string) (*server.Server, *sfn.Client) {
	t.Helper()
	cfg := &server.Config{
		TimeScale:       1000, // a 300 s Wait takes 0.3 s
		AWSIntegrations: aws.Bool(false),
		StateMachines: []server.MachineConfig{{
			Name: "deploy", Definition: json.RawMessage(deployASL),
			DefinitionSubstitutions: map[string]string{"DeployArn": "arn:aws:lambda:us-east-1:123456789012:function:deploy"},
		}},
		Functions: map[string]tasks.Function{
			"deploy": tasks.InProcess(func(ctx context.Context, in struct{ Fail bool }) (map[string]string, error) {
				if in.Fail {
					return nil, &DeployError{Reason: "health check failed"}
				}
				return map[string]string{"revision": "7"}, nil
			}),
			"notify": tasks.InProcess(func(ctx context.Context, in struct{ Token string }) error {
				tokens <- in.Token
				return nil
			}),
		},
	}
	mocks, err := tasks.ParseMockConfig([]byte(`{
	  "StateMachines": {"deploy": {"TestCases": {"DeployFails": {"Deploy": "DeployError"}}}},
	  "MockedResponses": {"DeployError": {"0": {"Throw": {"Error": "DeployError", "Cause": "pinned"}}}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MockConfig = mocks
	return serve(t, cfg)
}

// serve starts the service with cfg on a loopback port until the test ends,
// and returns it with a client of its API.
func serve(t *testing.T, cfg *server.Config) (*server.Server, *sfn.Client) {
	t.Helper()
	s, err := server.NewFromConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	c := sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")},
		func(o *sfn.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	return s, c
}

func waitDone(t *testing.T, c *sfn.Client, arn *string) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := c.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != types.ExecutionStatusRunning {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution still running")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEndToEndWithInterpreter(t *testing.T) {
	tokens := make(chan string, 4)
	s, c := startService(t, tokens)
	ctx := context.Background()
	smArn := s.StateMachineARN("deploy")

	// Happy path: in-process Lambda, callback token, scaled Wait.
	start := time.Now()
	ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &smArn, Name: aws.String("ok"), Input: aws.String(`{"service":"api"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var token string
	select {
	case token = <-tokens:
	case <-time.After(10 * time.Second):
		t.Fatal("no task token")
	}
	if _, err := c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: &token}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &token, Output: aws.String(`{"approved":true}`)}); err != nil {
		t.Fatal(err)
	}
	d := waitDone(t, c, ex.ExecutionArn)
	if d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("status %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	var out struct {
		Deploy   map[string]string
		Approval map[string]bool
	}
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil || out.Deploy["revision"] != "7" || !out.Approval["approved"] {
		t.Fatalf("output %s", aws.ToString(d.Output))
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("scaled time: took %v", el)
	}
	// The token is spent.
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &token, Output: aws.String(`{}`)}); !errors.As(err, new(*types.TaskDoesNotExist)) && !errors.As(err, new(*types.TaskTimedOut)) {
		t.Fatalf("spent token: %v", err)
	}

	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: ex.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range h.Events {
		seen = append(seen, string(e.Type))
		if e.Type == types.HistoryEventTypeTaskStateEntered && (e.StateEnteredEventDetails == nil || aws.ToString(e.StateEnteredEventDetails.Name) == "") {
			t.Errorf("TaskStateEntered without details: %+v", e)
		}
	}
	all := strings.Join(seen, ",")
	for _, want := range []string{"ExecutionStarted", "TaskStateEntered", "WaitStateEntered", "SucceedStateEntered", "ExecutionSucceeded"} {
		if !strings.Contains(all, want) {
			t.Errorf("history lacks %s: %s", want, all)
		}
	}

	// Failure path: the handler's error type is the Error Catch matches.
	f, _ := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &smArn, Input: aws.String(`{"Fail":true}`)})
	fd := waitDone(t, c, f.ExecutionArn)
	if fd.Status != types.ExecutionStatusFailed || aws.ToString(fd.Error) != "Deploy.RolledBack" {
		t.Fatalf("failed execution: %s %s %s", fd.Status, aws.ToString(fd.Error), aws.ToString(fd.Cause))
	}

	// Pinned responses: the first call fails with a retryable error, then the real handler runs.
	s.Mocks().Pin(tasks.MockRule{StateMachine: "deploy", State: "Deploy"}, tasks.Throw("Flaky", "try again"), tasks.Passthrough())
	r, _ := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &smArn, Name: aws.String("retried")})
	tok := <-tokens
	_, _ = c.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: &tok, Error: aws.String("Rejected"), Cause: aws.String("no")})
	rd := waitDone(t, c, r.ExecutionArn)
	if rd.Status != types.ExecutionStatusFailed || aws.ToString(rd.Error) != "Rejected" {
		t.Fatalf("retried execution: %s %s", rd.Status, aws.ToString(rd.Error))
	}
	rh, _ := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: r.ExecutionArn})
	failedTasks := 0
	for _, e := range rh.Events {
		if e.TaskFailedEventDetails != nil && aws.ToString(e.TaskFailedEventDetails.Error) == "Flaky" {
			failedTasks++
		}
		if e.LambdaFunctionFailedEventDetails != nil && aws.ToString(e.LambdaFunctionFailedEventDetails.Error) == "Flaky" {
			failedTasks++
		}
	}
	if failedTasks != 1 {
		var evs []string
		for _, e := range rh.Events {
			evs = append(evs, string(e.Type))
			if e.TaskFailedEventDetails != nil {
				evs = append(evs, aws.ToString(e.TaskFailedEventDetails.Error))
			}
			if e.LambdaFunctionFailedEventDetails != nil {
				evs = append(evs, aws.ToString(e.LambdaFunctionFailedEventDetails.Error))
			}
		}
		t.Fatalf("want one pinned Flaky failure in the history, got %d: %v", failedTasks, evs)
	}

	// StopExecution of a waiting execution.
	w, _ := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &smArn, Name: aws.String("stopped")})
	<-tokens
	if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: w.ExecutionArn, Error: aws.String("Operator")}); err != nil {
		t.Fatal(err)
	}
	if wd := waitDone(t, c, w.ExecutionArn); wd.Status != types.ExecutionStatusAborted {
		t.Fatalf("stopped: %s", wd.Status)
	}

	// A Step Functions Local style test case, chosen by the ARN suffix.
	tcArn := smArn + "#DeployFails"
	tc, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &tcArn, Name: aws.String("test-case")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(tc.ExecutionArn) != "arn:aws:states:us-east-1:123456789012:execution:deploy:test-case" {
		t.Fatalf("test case execution ARN %s", aws.ToString(tc.ExecutionArn))
	}
	if d := waitDone(t, c, tc.ExecutionArn); d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != "Deploy.RolledBack" {
		t.Fatalf("test case: %s %s", d.Status, aws.ToString(d.Error))
	}
	bad := smArn + "#NoSuchCase"
	if _, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &bad}); !errors.As(err, new(*types.ValidationException)) {
		t.Fatalf("unknown test case: %v", err)
	}

	// Invalid definitions carry the interpreter's message.
	_, err = c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), RoleArn: aws.String("arn:aws:iam::123456789012:role/r"),
		Definition: aws.String(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}`)})
	var inv *types.InvalidDefinition
	if !errors.As(err, &inv) || !strings.Contains(aws.ToString(inv.Message), "Nowhere") {
		t.Fatalf("invalid definition: %v", err)
	}
}

func TestHistoryOfMapAndParallel(t *testing.T) {
	s := server.New(server.Options{})
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	arn, err := s.CreateStateMachine("fanout", `{"StartAt":"Each","States":{
	  "Each":{"Type":"Map","ItemsPath":"$.items","Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"ResultPath":"$.each","Next":"Both"},
	  "Both":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}],"ResultPath":null,"End":true}}}`, "arn:aws:iam::123456789012:role/r")
	if err != nil {
		t.Fatal(err)
	}
	c := sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")},
		func(o *sfn.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	ctx := context.Background()
	ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Input: aws.String(`{"items":[1,2]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitDone(t, c, ex.ExecutionArn); d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("%s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: ex.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[types.HistoryEventType]int{}
	for _, e := range h.Events {
		got[e.Type]++
		switch e.Type {
		case types.HistoryEventTypeMapStateStarted:
			if e.MapStateStartedEventDetails == nil || e.MapStateStartedEventDetails.Length != 2 {
				t.Errorf("MapStateStarted details %+v", e.MapStateStartedEventDetails)
			}
		case types.HistoryEventTypeMapIterationStarted, types.HistoryEventTypeMapIterationSucceeded:
			d := e.MapIterationStartedEventDetails
			if e.Type == types.HistoryEventTypeMapIterationSucceeded {
				d = e.MapIterationSucceededEventDetails
			}
			if d == nil || aws.ToString(d.Name) != "Each" {
				t.Errorf("%s details %+v", e.Type, d)
			}
		}
	}
	for _, want := range []types.HistoryEventType{"MapStateEntered", "MapStateStarted", "MapIterationStarted", "MapIterationSucceeded", "MapStateSucceeded", "MapStateExited", "ParallelStateEntered", "ParallelStateStarted", "ParallelStateSucceeded", "ParallelStateExited"} {
		if got[want] == 0 {
			t.Errorf("no %s event in %v", want, got)
		}
	}
	if got["MapIterationStarted"] != 2 {
		t.Errorf("MapIterationStarted %d times", got["MapIterationStarted"])
	}
}

func TestHistoryTaskScheduledTimeouts(t *testing.T) {
	echo := asl.TaskInvokerFunc(func(_ context.Context, task asl.Task) (json.RawMessage, error) { return task.Input, nil })
	s := server.New(server.Options{Invoker: echo})
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	arn, err := s.CreateStateMachine("timeouts", `{"StartAt":"Publish","States":{
	  "Publish":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","TimeoutSecondsPath":"$.t","HeartbeatSeconds":15,"Next":"Call"},
	  "Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","TimeoutSeconds":60,"Next":"Plain"},
	  "Plain":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","End":true}}}`, "arn:aws:iam::123456789012:role/r")
	if err != nil {
		t.Fatal(err)
	}
	c := sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")},
		func(o *sfn.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	ctx := context.Background()
	ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Input: aws.String(`{"t":45}`)})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitDone(t, c, ex.ExecutionArn); d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("%s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: ex.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	var scheduled []*types.TaskScheduledEventDetails
	var lambda *types.LambdaFunctionScheduledEventDetails
	for _, e := range h.Events {
		switch e.Type {
		case types.HistoryEventTypeTaskScheduled:
			scheduled = append(scheduled, e.TaskScheduledEventDetails)
		case types.HistoryEventTypeLambdaFunctionScheduled:
			lambda = e.LambdaFunctionScheduledEventDetails
		}
	}
	if len(scheduled) != 2 || scheduled[0] == nil || scheduled[1] == nil {
		t.Fatalf("TaskScheduled details %+v", scheduled)
	}
	if got := scheduled[0]; aws.ToInt64(got.TimeoutInSeconds) != 45 || aws.ToInt64(got.HeartbeatInSeconds) != 15 {
		t.Errorf("Publish: timeoutInSeconds %v heartbeatInSeconds %v, want 45 15", aws.ToInt64(got.TimeoutInSeconds), aws.ToInt64(got.HeartbeatInSeconds))
	}
	if got := scheduled[1]; got.TimeoutInSeconds != nil || got.HeartbeatInSeconds != nil {
		t.Errorf("Plain: timeoutInSeconds %v heartbeatInSeconds %v, want absent", got.TimeoutInSeconds, got.HeartbeatInSeconds)
	}
	if lambda == nil || aws.ToInt64(lambda.TimeoutInSeconds) != 60 {
		t.Errorf("LambdaFunctionScheduled details %+v, want timeoutInSeconds 60", lambda)
	}
}
