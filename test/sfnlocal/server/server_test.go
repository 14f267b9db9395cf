package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/statemachines"
)

const (
	defSucceed = `{"Comment":"succeed","StartAt":"Work","States":{"Work":{"Type":"Pass","End":true}}}`
	defFail    = `{"Comment":"fail","StartAt":"Work","States":{"Work":{"Type":"Pass","End":true}}}`
	defWait    = `{"Comment":"wait","StartAt":"Work","States":{"Work":{"Type":"Pass","End":true}}}`
	defRun     = `{"Comment":"run","StartAt":"Work","States":{"Work":{"Type":"Pass","End":true}}}`
)

func newTestClient(t *testing.T, opts Options) (*sfn.Client, *Server) {
	t.Helper()
	if opts.Engine == nil {
		opts.Engine = newFakeEngine()
	}
	s := New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		_ = s.Shutdown(context.Background())
	})
	return sfnClient(hs.URL, "eu-west-1"), s
}

func sfnClient(url, region string) *sfn.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
	}
	return sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		o.BaseEndpoint = aws.String(url)
		o.RetryMaxAttempts = 1
	})
}

func mustCreate(t *testing.T, c *sfn.Client, name, def string) string {
	t.Helper()
	out, err := c.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(def), RoleArn: aws.String("arn:aws:iam::123456789012:role/sfn"),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine %s: %v", name, err)
	}
	return aws.ToString(out.StateMachineArn)
}

func TestStateMachineLifecycle(t *testing.T) {
	c, _ := newTestClient(t, Options{})
	ctx := context.Background()
	arn := mustCreate(t, c, "deploy", defSucceed)
	if want := "arn:aws:states:eu-west-1:123456789012:stateMachine:deploy"; arn != want {
		t.Fatalf("arn = %s, want %s (region from the SigV4 scope)", arn, want)
	}
	// Same definition again: idempotent.
	if again := mustCreate(t, c, "deploy", defSucceed); again != arn {
		t.Fatalf("idempotent create returned %s", again)
	}
	d, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Name) != "deploy" || aws.ToString(d.Definition) != defSucceed || d.Status != types.StateMachineStatusActive || d.Type != types.StateMachineTypeStandard || d.CreationDate == nil {
		t.Fatalf("describe = %+v", d)
	}
	if _, err := c.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: &arn, Definition: aws.String(defFail)}); err != nil {
		t.Fatal(err)
	}
	d, _ = c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &arn})
	if aws.ToString(d.Definition) != defFail {
		t.Fatalf("update did not change the definition")
	}
	for i := range 5 {
		mustCreate(t, c, fmt.Sprintf("m%d", i), defSucceed)
	}
	var names []string
	p := sfn.NewListStateMachinesPaginator(c, &sfn.ListStateMachinesInput{MaxResults: 2})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, sm := range out.StateMachines {
			names = append(names, aws.ToString(sm.Name))
		}
	}
	if len(names) != 6 || pages != 3 {
		t.Fatalf("listed %v in %d pages", names, pages)
	}
	if _, err := c.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: &arn}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &arn})
	var dne *types.StateMachineDoesNotExist
	if !errors.As(err, &dne) {
		t.Fatalf("describe after delete: %v", err)
	}
}

func TestErrors(t *testing.T) {
	c, _ := newTestClient(t, Options{})
	ctx := context.Background()
	arn := mustCreate(t, c, "deploy", defWait)
	running, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String("run-1"), Input: aws.String(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	missingExec := strings.Replace(aws.ToString(running.ExecutionArn), "run-1", "nope", 1)
	missingSM := strings.Replace(arn, "deploy", "nope", 1)
	cases := []struct {
		name string
		call func() error
		want any
	}{
		{"InvalidDefinition", func() error {
			_, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), Definition: aws.String(`{"States":{}}`), RoleArn: aws.String("arn:aws:iam::123456789012:role/x")})
			return err
		}, new(*types.InvalidDefinition)},
		{"InvalidDefinition not JSON", func() error {
			_, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), Definition: aws.String(`{`), RoleArn: aws.String("arn:aws:iam::123456789012:role/x")})
			return err
		}, new(*types.InvalidDefinition)},
		{"InvalidName machine", func() error {
			_, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("a b"), Definition: aws.String(defSucceed), RoleArn: aws.String("arn:aws:iam::123456789012:role/x")})
			return err
		}, new(*types.InvalidName)},
		{"StateMachineAlreadyExists", func() error {
			_, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("deploy"), Definition: aws.String(defSucceed), RoleArn: aws.String("arn:aws:iam::123456789012:role/x")})
			return err
		}, new(*types.StateMachineAlreadyExists)},
		{"StateMachineDoesNotExist describe", func() error {
			_, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &missingSM})
			return err
		}, new(*types.StateMachineDoesNotExist)},
		{"StateMachineDoesNotExist start", func() error {
			_, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &missingSM})
			return err
		}, new(*types.StateMachineDoesNotExist)},
		{"StateMachineDoesNotExist update", func() error {
			_, err := c.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: &missingSM, Definition: aws.String(defSucceed)})
			return err
		}, new(*types.StateMachineDoesNotExist)},
		{"InvalidArn", func() error {
			_, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("not-an-arn")})
			return err
		}, new(*types.InvalidArn)},
		{"InvalidArn execution", func() error {
			_, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: &arn})
			return err
		}, new(*types.InvalidArn)},
		{"ExecutionDoesNotExist", func() error {
			_, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: &missingExec})
			return err
		}, new(*types.ExecutionDoesNotExist)},
		{"ExecutionDoesNotExist history", func() error {
			_, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: &missingExec})
			return err
		}, new(*types.ExecutionDoesNotExist)},
		{"ExecutionDoesNotExist stop", func() error {
			_, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: &missingExec})
			return err
		}, new(*types.ExecutionDoesNotExist)},
		{"ExecutionAlreadyExists other input", func() error {
			_, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String("run-1"), Input: aws.String(`{"a":2}`)})
			return err
		}, new(*types.ExecutionAlreadyExists)},
		{"InvalidExecutionInput not JSON", func() error {
			_, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Input: aws.String(`{"a":`)})
			return err
		}, new(*types.InvalidExecutionInput)},
		{"InvalidExecutionInput too large", func() error {
			big := `{"a":"` + strings.Repeat("x", statemachines.MaxPayloadBytes) + `"}`
			_, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Input: &big})
			return err
		}, new(*types.InvalidExecutionInput)},
		{"InvalidName execution", func() error {
			_, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String("a/b")})
			return err
		}, new(*types.InvalidName)},
		{"InvalidName too long", func() error {
			_, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String(strings.Repeat("n", 81))})
			return err
		}, new(*types.InvalidName)},
		{"TaskDoesNotExist", func() error {
			_, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("unknown"), Output: aws.String("{}")})
			return err
		}, new(*types.TaskDoesNotExist)},
		{"TaskDoesNotExist heartbeat", func() error {
			_, err := c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String("unknown")})
			return err
		}, new(*types.TaskDoesNotExist)},
		{"TaskTimedOut", func() error {
			_, err := c.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String("timedout")})
			return err
		}, new(*types.TaskTimedOut)},
		{"InvalidOutput", func() error {
			_, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("token-run-1"), Output: aws.String("{nope")})
			return err
		}, new(*types.InvalidOutput)},
		{"InvalidToken page", func() error {
			_, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: &arn, NextToken: aws.String("garbage")})
			return err
		}, new(*types.InvalidToken)},
		{"ValidationException status filter", func() error {
			_, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: &arn, StatusFilter: "BOGUS"})
			return err
		}, new(*types.ValidationException)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(err, tc.want) {
				t.Fatalf("error %T %v, want %T", errors.Unwrap(err), err, tc.want)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorMessage() == "" {
				t.Fatalf("no message in %v", err)
			}
		})
	}
}

func TestExecutions(t *testing.T) {
	c, _ := newTestClient(t, Options{})
	ctx := context.Background()
	ok := mustCreate(t, c, "ok", defSucceed)
	bad := mustCreate(t, c, "bad", defFail)
	wait := mustCreate(t, c, "wait", defWait)

	out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &ok, Name: aws.String("e1"), Input: aws.String(`{"x": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:states:eu-west-1:123456789012:execution:ok:e1"; aws.ToString(out.ExecutionArn) != want {
		t.Fatalf("executionArn %s", aws.ToString(out.ExecutionArn))
	}
	d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != types.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"x": 1}` || aws.ToString(d.Input) != `{"x": 1}` || d.StopDate == nil || !d.StartDate.Equal(aws.ToTime(out.StartDate)) {
		t.Fatalf("describe %+v", d)
	}
	// A closed execution's name cannot be reused, even with the same input.
	if _, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &ok, Name: aws.String("e1"), Input: aws.String(`{"x": 1}`)}); !errors.As(err, new(*types.ExecutionAlreadyExists)) {
		t.Fatalf("restart closed: %v", err)
	}
	// Unnamed execution: a generated name, default input {}.
	anon, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &ok})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: anon.ExecutionArn}); aws.ToString(d.Input) != "{}" || len(aws.ToString(d.Name)) != 36 {
		t.Fatalf("unnamed execution %+v", d)
	}

	f, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &bad})
	if err != nil {
		t.Fatal(err)
	}
	fd, _ := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: f.ExecutionArn})
	if fd.Status != types.ExecutionStatusFailed || aws.ToString(fd.Error) != "Boom" || aws.ToString(fd.Cause) != "it broke" {
		t.Fatalf("failed execution %+v", fd)
	}

	// Idempotency while running.
	w1, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &wait, Name: aws.String("w"), Input: aws.String(`{"k":"v"}`)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	w2, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &wait, Name: aws.String("w"), Input: aws.String(`{ "k" : "v" }`)})
	if err != nil {
		t.Fatalf("same name and input while running: %v", err)
	}
	if aws.ToString(w1.ExecutionArn) != aws.ToString(w2.ExecutionArn) || !w1.StartDate.Equal(*w2.StartDate) {
		t.Fatalf("idempotent start returned %v / %v", w1, w2)
	}
	if _, err := c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String("token-w")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("token-w"), Output: aws.String(`{"done":true}`)}); err != nil {
		t.Fatal(err)
	}
	wd, _ := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: w1.ExecutionArn})
	if wd.Status != types.ExecutionStatusSucceeded || aws.ToString(wd.Output) != `{"done":true}` {
		t.Fatalf("after SendTaskSuccess %+v", wd)
	}
	// SendTaskFailure.
	w3, _ := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &wait, Name: aws.String("w3")})
	if _, err := c.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String("token-w3"), Error: aws.String("Rejected"), Cause: aws.String("no")}); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: w3.ExecutionArn}); d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != "Rejected" {
		t.Fatalf("after SendTaskFailure %+v", d)
	}
	// StopExecution.
	w4, _ := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &wait, Name: aws.String("w4")})
	so, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: w4.ExecutionArn, Error: aws.String("Operator"), Cause: aws.String("stopped by hand")})
	if err != nil || so.StopDate == nil {
		t.Fatalf("stop: %v %v", so, err)
	}
	if d, _ := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: w4.ExecutionArn}); d.Status != types.ExecutionStatusAborted || aws.ToString(d.Error) != "Operator" {
		t.Fatalf("after stop %+v", d)
	}
	// Still running one, for the filter.
	if _, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &wait, Name: aws.String("w5")}); err != nil {
		t.Fatal(err)
	}

	list := func(filter types.ExecutionStatus) []string {
		var names []string
		p := sfn.NewListExecutionsPaginator(c, &sfn.ListExecutionsInput{StateMachineArn: &wait, StatusFilter: filter, MaxResults: 1})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.Executions {
				names = append(names, aws.ToString(e.Name))
			}
		}
		return names
	}
	if got := fmt.Sprint(list("")); got != "[w5 w4 w3 w]" {
		t.Fatalf("all executions newest first: %s", got)
	}
	if got := fmt.Sprint(list(types.ExecutionStatusRunning)); got != "[w5]" {
		t.Fatalf("running: %s", got)
	}
	if got := fmt.Sprint(list(types.ExecutionStatusSucceeded)); got != "[w]" {
		t.Fatalf("succeeded: %s", got)
	}

	dsm, err := c.DescribeStateMachineForExecution(ctx, &sfn.DescribeStateMachineForExecutionInput{ExecutionArn: w1.ExecutionArn})
	if err != nil || aws.ToString(dsm.Definition) != defWait {
		t.Fatalf("DescribeStateMachineForExecution %v %v", dsm, err)
	}
}

func TestHistory(t *testing.T) {
	c, _ := newTestClient(t, Options{})
	ctx := context.Background()
	wait := mustCreate(t, c, "wait", defWait)
	bad := mustCreate(t, c, "bad", defFail)
	w, _ := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &wait, Name: aws.String("h"), Input: aws.String(`{"in":1}`)})
	_, _ = c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("token-h"), Output: aws.String(`{"out":2}`)})

	var events []types.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(c, &sfn.GetExecutionHistoryInput{ExecutionArn: w.ExecutionArn, MaxResults: 2})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, out.Events...)
	}
	var types_ []string
	for _, e := range events {
		types_ = append(types_, string(e.Type))
	}
	if got := strings.Join(types_, ","); got != "ExecutionStarted,TaskStateEntered,TaskScheduled,TaskSucceeded,TaskStateExited,ExecutionSucceeded" {
		t.Fatalf("history %s", got)
	}
	if d := events[0].ExecutionStartedEventDetails; d == nil || aws.ToString(d.Input) != `{"in":1}` || aws.ToString(d.RoleArn) == "" {
		t.Fatalf("ExecutionStarted details %+v", d)
	}
	if d := events[1].StateEnteredEventDetails; d == nil || aws.ToString(d.Name) != "Work" || aws.ToString(d.Input) != `{"in":1}` {
		t.Fatalf("StateEntered details %+v", d)
	}
	if d := events[2].TaskScheduledEventDetails; d == nil || aws.ToString(d.ResourceType) != "lambda" || aws.ToString(d.Resource) != "invoke.waitForTaskToken" || aws.ToString(d.Region) != "eu-west-1" || aws.ToString(d.Parameters) != `{"in":1}` {
		t.Fatalf("TaskScheduled details %+v", d)
	}
	if d := events[3].TaskSucceededEventDetails; d == nil || aws.ToString(d.Output) != `{"out":2}` {
		t.Fatalf("TaskSucceeded details %+v", d)
	}
	if d := events[4].StateExitedEventDetails; d == nil || aws.ToString(d.Name) != "Work" {
		t.Fatalf("StateExited details %+v", d)
	}
	if d := events[5].ExecutionSucceededEventDetails; d == nil || aws.ToString(d.Output) != `{"out":2}` {
		t.Fatalf("ExecutionSucceeded details %+v", d)
	}
	if events[3].Id != 4 || events[3].PreviousEventId != 3 || events[3].Timestamp == nil {
		t.Fatalf("ids %+v", events[3])
	}
	rev, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: w.ExecutionArn, ReverseOrder: true, MaxResults: 1})
	if err != nil || len(rev.Events) != 1 || rev.Events[0].Type != types.HistoryEventTypeExecutionSucceeded || rev.NextToken == nil {
		t.Fatalf("reverse %+v %v", rev, err)
	}
	rev2, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: w.ExecutionArn, ReverseOrder: true, MaxResults: 1, NextToken: rev.NextToken})
	if err != nil || rev2.Events[0].Type != types.HistoryEventTypeTaskStateExited {
		t.Fatalf("reverse page 2 %+v %v", rev2, err)
	}
	noData, _ := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: w.ExecutionArn, IncludeExecutionData: aws.Bool(false)})
	if d := noData.Events[0].ExecutionStartedEventDetails; d == nil || d.Input != nil {
		t.Fatalf("includeExecutionData=false still has input: %+v", d)
	}

	f, _ := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &bad})
	h, _ := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: f.ExecutionArn, ReverseOrder: true})
	if d := h.Events[0].ExecutionFailedEventDetails; d == nil || aws.ToString(d.Error) != "Boom" || aws.ToString(d.Cause) != "it broke" {
		t.Fatalf("ExecutionFailed details %+v", h.Events[0])
	}
	if d := h.Events[1].TaskFailedEventDetails; d == nil || aws.ToString(d.Error) != "Boom" {
		t.Fatalf("TaskFailed details %+v", h.Events[1])
	}
}

func TestBadRequestsDoNotCrash(t *testing.T) {
	s := New(Options{Engine: newFakeEngine()})
	hs := httptest.NewServer(s)
	defer hs.Close()
	for _, tc := range []struct {
		target, body string
		status       int
		code         string
	}{
		{"AWSStepFunctions.StartExecution", `{`, 400, "SerializationException"},
		{"AWSStepFunctions.StartExecution", `[]`, 400, "SerializationException"},
		{"AWSStepFunctions.StartExecution", `{"stateMachineArn":5}`, 400, "SerializationException"},
		{"AWSStepFunctions.StartExecution", ``, 400, "ValidationException"},
		{"AWSStepFunctions.Nope", `{}`, 400, "UnknownOperationException"},
		{"", `{}`, 400, "UnknownOperationException"},
		{"AWSStepFunctions.ListExecutions", `{"stateMachineArn":"arn:aws:states:x:1:stateMachine:"}`, 400, "InvalidArn"},
		{"AWSStepFunctions.GetExecutionHistory", `{"executionArn":"arn:aws:states:x:1:execution:a:b","maxResults":-1}`, 400, "ExecutionDoesNotExist"},
		{"AWSStepFunctions.SendTaskSuccess", `{"taskToken":""}`, 400, "InvalidToken"},
	} {
		req, _ := http.NewRequest(http.MethodPost, hs.URL, bytes.NewBufferString(tc.body))
		req.Header.Set("X-Amz-Target", tc.target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), "#"+tc.code+`"`) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.target, tc.body, resp.StatusCode, b, tc.status, tc.code)
		}
	}
}

func TestRegionAndNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"deploy-2026_11.26", true}, {"", false}, {strings.Repeat("a", 80), true}, {strings.Repeat("a", 81), false},
		{"a b", false}, {"a\tb", false}, {"a\u0085b", false}, {"a<b", false}, {"a*b", false}, {"a:b", false}, {"a#b", false},
		{"a`b", false}, {"a\x7fb", false}, {"ünïcode", true},
	} {
		if _, ok := validName(tc.name); ok != tc.ok {
			t.Errorf("validName(%q) = %v", tc.name, ok)
		}
	}
	s := New(Options{Engine: newFakeEngine()})
	r, _ := http.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/ap-southeast-2/states/aws4_request, SignedHeaders=host, Signature=abc")
	if got := s.region(r); got != "ap-southeast-2" {
		t.Fatalf("region %s", got)
	}
	r.Header.Del("Authorization")
	if got := s.region(r); got != DefaultRegion {
		t.Fatalf("default region %s", got)
	}
}

func FuzzServeHTTP(f *testing.F) {
	for _, seed := range []struct{ op, body string }{
		{"StartExecution", `{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:m","input":"{}"}`},
		{"CreateStateMachine", `{"name":"m","definition":"{\"Comment\":\"succeed\",\"StartAt\":\"A\",\"States\":{}}","roleArn":"r"}`},
		{"GetExecutionHistory", `{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:m:e","nextToken":"eA"}`},
		{"ListExecutions", `{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:m","maxResults":1000}`},
		{"SendTaskSuccess", `{"taskToken":"t","output":"{"}`},
	} {
		f.Add(seed.op, seed.body)
	}
	s := New(Options{Engine: newFakeEngine()})
	f.Fuzz(func(t *testing.T, op, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AWSStepFunctions."+op)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("%s %q: status %d %s", op, body, rec.Code, rec.Body)
		}
	})
}

// CreateStateMachine's idempotency check is on name, definition, type, logging and
// tracing configuration: a different roleArn is ignored and not applied.
func TestCreateStateMachineIdempotency(t *testing.T) {
	c, s := newTestClient(t, Options{})
	ctx := context.Background()
	arn := mustCreate(t, c, "deploy", defSucceed)
	out, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("deploy"), Definition: aws.String(defSucceed), RoleArn: aws.String("arn:aws:iam::123456789012:role/other")})
	if err != nil || aws.ToString(out.StateMachineArn) != arn {
		t.Fatalf("same definition, other role: %v %v", out, err)
	}
	d, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &arn})
	if err != nil || aws.ToString(d.RoleArn) != "arn:aws:iam::123456789012:role/sfn" {
		t.Fatalf("role after idempotent create: %v %v", aws.ToString(d.RoleArn), err)
	}
	_, err = c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("deploy"), Definition: aws.String(defSucceed), RoleArn: aws.String("arn:aws:iam::123456789012:role/sfn"),
		TracingConfiguration: &types.TracingConfiguration{Enabled: true}})
	if !errors.As(err, new(*types.StateMachineAlreadyExists)) {
		t.Fatalf("same definition, other tracing configuration: %v, want StateMachineAlreadyExists", err)
	}
	// The Go API (config loading) still updates the role.
	if got, err := s.CreateStateMachine("deploy", defSucceed, "arn:aws:iam::123456789012:role/other"); err != nil || got != s.StateMachineARN("deploy") {
		t.Fatalf("Server.CreateStateMachine: %s %v", got, err)
	}
}

func TestEpoch(t *testing.T) {
	for ms, want := range map[int64]string{0: "0.000", 1500: "1.500", 1764115200007: "1764115200.007", -1: "-1.999", -1000: "-1.000"} {
		if got := epoch(time.UnixMilli(ms)); string(got) != want {
			t.Errorf("epoch(%d ms) = %s, want %s", ms, got, want)
		}
	}
}
