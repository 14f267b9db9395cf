package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// startExecutionParams are the Parameters of states:startExecution: Input is
// a JSON object (serialized for the call) or a string (sent as it is).
type startExecutionParams struct {
	StateMachineArn string          `json:"StateMachineArn"`
	Name            string          `json:"Name,omitempty"`
	Input           json.RawMessage `json:"Input,omitempty"`
	TraceHeader     string          `json:"TraceHeader,omitempty"`
}

// startExecution runs the optimized Step Functions integration
// (arn:aws:states:::states:startExecution[.sync|.sync:2]) against the
// Step Functions service the execution runs in (SelfEndpoint), in the
// region of the execution's state machine:
//
//   - request-response: the child's ExecutionArn and StartDate;
//   - .sync: the child's DescribeExecution once it ended, Input and Output as
//     strings; .sync:2: the same with Input and Output as JSON;
//   - a child that FAILED, TIMED_OUT or was ABORTED fails the task with
//     States.TaskFailed, its DescribeExecution (Error and Cause included) as
//     the cause, as Step Functions does;
//   - a task that ends first (its TimeoutSeconds, the parent stopped) stops
//     the child.
func (a *AWS) startExecution(ctx context.Context, task asl.Task, input json.RawMessage, variant string) (json.RawMessage, error) {
	var p startExecutionParams
	if err := strictUnmarshal(input, &p); err != nil {
		return nil, badParameters("Step Functions StartExecution", err)
	}
	in := &sfn.StartExecutionInput{StateMachineArn: aws.String(p.StateMachineArn)}
	if p.Name != "" {
		in.Name = aws.String(p.Name)
	}
	if p.TraceHeader != "" {
		in.TraceHeader = aws.String(p.TraceHeader)
	}
	if len(p.Input) > 0 {
		var s string
		if json.Unmarshal(p.Input, &s) == nil {
			in.Input = aws.String(s)
		} else {
			in.Input = aws.String(string(p.Input))
		}
	}
	if a.SelfEndpoint == nil {
		// Without it the call would reach whatever Step Functions the SDK
		// configuration names (an emulator), not this service.
		return nil, &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("state %q: states:startExecution needs the service's own endpoint (tasks.AWS.SelfEndpoint)", task.StateName)}
	}
	client := a.sdkServices()["sfn"].client.(*sfn.Client)
	region := func(o *sfn.Options) {
		if r := machineRegion(task); r != "" {
			o.Region = r
		}
	}
	out, err := client.StartExecution(ctx, in, region)
	if err != nil {
		return nil, serviceFailure("StepFunctions", err)
	}
	if variant == "" {
		b, _ := json.Marshal(map[string]any{"ExecutionArn": aws.ToString(out.ExecutionArn), "StartDate": Shape(out.StartDate)})
		return withMetadata(b, requestIDOf(out.ResultMetadata))
	}
	arn := out.ExecutionArn
	for {
		d, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: arn}, region)
		if err != nil {
			if ctx.Err() != nil {
				return nil, a.stopChild(client, arn, region, ctx.Err())
			}
			return nil, serviceFailure("StepFunctions", err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning && d.Status != sfntypes.ExecutionStatusPendingRedrive {
			b, err := describedExecution(d, variant == "sync:2")
			if err != nil {
				return nil, err
			}
			if d.Status != sfntypes.ExecutionStatusSucceeded {
				return nil, &asl.TaskFailure{Name: errname.TaskFailed, Cause: string(b)}
			}
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, a.stopChild(client, arn, region, ctx.Err())
		case <-time.After(a.poll()):
		}
	}
}

// stopChild stops a child execution whose task ended before it, and returns
// why the task ended.
func (a *AWS) stopChild(client *sfn.Client, arn *string, region func(*sfn.Options), why error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = client.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: arn, Error: aws.String("States.TaskEnded"), Cause: aws.String("the task that started this execution ended first (its timeout, or its execution stopped)"),
	}, region)
	return why
}

// describedExecution is a DescribeExecution output as the .sync
// integration returns it: PascalCase members, dates as epoch milliseconds,
// Input and Output as JSON values when asJSON (.sync:2) and as strings
// otherwise.
func describedExecution(d *sfn.DescribeExecutionOutput, asJSON bool) (json.RawMessage, error) {
	m := map[string]any{
		"ExecutionArn":    aws.ToString(d.ExecutionArn),
		"StateMachineArn": aws.ToString(d.StateMachineArn),
		"Name":            aws.ToString(d.Name),
		"Status":          string(d.Status),
		"StartDate":       Shape(d.StartDate),
	}
	if d.StopDate != nil {
		m["StopDate"] = Shape(d.StopDate)
	}
	for k, v := range map[string]*string{"Input": d.Input, "Output": d.Output} {
		if v == nil {
			continue
		}
		if !asJSON {
			m[k] = *v
			continue
		}
		if !json.Valid([]byte(*v)) {
			return nil, fmt.Errorf("the child execution's %s is not JSON", k)
		}
		m[k] = json.RawMessage(*v)
	}
	if d.Error != nil {
		m["Error"] = aws.ToString(d.Error)
	}
	if d.Cause != nil {
		m["Cause"] = aws.ToString(d.Cause)
	}
	return json.Marshal(m)
}
