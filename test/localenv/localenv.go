// Package localenv runs stepship on one machine with no AWS account: the AWS
// emulator seeded with the demo's account (test/world), every function's built
// bootstrap under the Lambda Runtime Interface Emulator, and the local Step
// Functions service executing statemachines/*.asl.json. The integration tests
// and `make demo` both start it, so the demo shows exactly what the tests prove.
package localenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/server"
	"github.com/stepship/stepship/test/world"
)

// Names the local account uses, as the CDK stack would name them.
const (
	Region              = "us-east-1"
	Account             = "123456789012"
	DeployFunctionName  = "stepship-deploy"
	DeployStateMachine  = "stepship-deploy"
	WebhookFunctionName = "stepship-webhook"
)

// Env is one running local stepship.
type Env struct {
	Root    string
	Spec    world.Spec
	Seeded  *world.Seeded
	Moto    *harness.Moto
	AWS     aws.Config // points at the AWS emulator
	SFN     *sfn.Client
	Server  *server.Server
	Webhook *harness.Lambda
	Deploy  *harness.Lambda
	// DeployStateMachineARN is the deploy state machine in the local service.
	DeployStateMachineARN string
	// WebhookEnv is the webhook function's environment (to start more copies).
	WebhookEnv map[string]string
}

// Option adjusts Start.
type Option func(*options)

type options struct {
	timeScale float64
	progress  func(step string, took time.Duration)
}

// WithTimeScale divides every wait of the state machines (default 1000).
func WithTimeScale(f float64) Option { return func(o *options) { o.timeScale = f } }

// WithProgress reports each start-up step when it is done.
func WithProgress(f func(step string, took time.Duration)) Option {
	return func(o *options) { o.progress = f }
}

// Start brings the local stepship up; everything stops when t's cleanups run.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{timeScale: 1000, progress: func(string, time.Duration) {}}
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	e := &Env{Root: harness.MustRepoRoot(t), Spec: world.Demo()}

	step := time.Now()
	e.Moto = harness.StartMoto(t)
	e.AWS = e.Moto.Config(ctx)
	o.progress("AWS emulator (moto) on "+e.Moto.Endpoint, time.Since(step))

	step = time.Now()
	seeded, err := world.Seed(ctx, e.AWS, e.Spec)
	if err != nil {
		t.Fatalf("failed to seed the emulated account: %v", err)
	}
	e.Seeded = seeded
	o.progress(fmt.Sprintf("seeded: ECS %s/%s on %s, webhook secret, CodeBuild %s, ECR %s",
		e.Spec.Cluster, e.Spec.Service, TaskDefinitionName(seeded.TaskDefinition), e.Spec.BuildProject, e.Spec.ECRRepository), time.Since(step))

	step = time.Now()
	e.Deploy = harness.StartLambda(t, harness.Bootstrap(t, "deploy"), e.Moto.Env())
	o.progress("deploy function: built bootstrap under the Lambda runtime emulator", time.Since(step))

	// The service integrations (CodeBuild, ECR, …) of the local Step Functions
	// service reach the emulator through the SDK's standard variables.
	for k, v := range e.Moto.Env() {
		t.Setenv(k, v)
	}
	step = time.Now()
	deployARN := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", Region, Account, DeployFunctionName)
	s, err := server.NewFromConfig(ctx, &server.Config{
		Region:    Region,
		Account:   Account,
		TimeScale: o.timeScale,
		StateMachines: []server.MachineConfig{{
			Name:                    DeployStateMachine,
			File:                    filepath.Join(e.Root, "statemachines", "deploy.asl.json"),
			DefinitionSubstitutions: map[string]string{"DeployFunctionArn": deployARN},
			RoleArn:                 fmt.Sprintf("arn:aws:iam::%s:role/stepship-deploy-state-machine", Account),
		}},
		Lambdas: map[string]string{DeployFunctionName: e.Deploy.URL()},
	})
	if err != nil {
		t.Fatalf("failed to configure the local Step Functions service: %v", err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatalf("failed to start the local Step Functions service: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	e.Server = s
	e.DeployStateMachineARN = s.StateMachineARN(DeployStateMachine)
	e.SFN = sfn.NewFromConfig(e.AWS, func(o *sfn.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	o.progress("local Step Functions service on "+s.URL(), time.Since(step))

	step = time.Now()
	env := e.Moto.Env()
	env["AWS_ENDPOINT_URL_SFN"] = s.URL()
	env["STEPSHIP_WEBHOOK_SECRET_ARN"] = seeded.SecretARN
	env["STEPSHIP_DEPLOY_STATE_MACHINE_ARN"] = e.DeployStateMachineARN
	env["STEPSHIP_CATALOG"] = filepath.Join(e.Root, "catalog.yaml")
	e.WebhookEnv = env
	e.Webhook = harness.StartLambda(t, harness.Bootstrap(t, "webhook"), env)
	o.progress("webhook function: built bootstrap under the Lambda runtime emulator", time.Since(step))
	return e
}

// Fixture reads events/NAME.
func (e *Env) Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.Root, "events", name))
	if err != nil {
		t.Fatalf("failed to read fixture: %v", err)
	}
	return b
}

// Answer is the webhook function's HTTP answer.
type Answer struct {
	Status int
	Body   string
	// Executions are the deploys the answer names.
	Executions []struct {
		Service      string `json:"service"`
		Environment  string `json:"environment"`
		ExecutionArn string `json:"executionArn"`
	} `json:"executions"`
	Reason string `json:"reason"`
}

// Post sends a webhook delivery to the webhook function exactly as a Lambda
// Function URL would: a POST with the raw body and the host's headers.
func (e *Env) Post(ctx context.Context, headers map[string]string, body []byte) (Answer, error) {
	h := map[string]string{"content-type": "application/json", "user-agent": "GitHub-Hookshot/stepship-demo"}
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	req := events.LambdaFunctionURLRequest{
		Version: "2.0",
		RawPath: "/",
		Headers: h,
		Body:    string(body),
		RequestContext: events.LambdaFunctionURLRequestContext{
			HTTP:      events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/", Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: h["user-agent"]},
			TimeEpoch: time.Now().UnixMilli(),
		},
	}
	out, ferr, err := e.Webhook.Invoke(ctx, req)
	if err != nil {
		return Answer{}, fmt.Errorf("failed to invoke the webhook function: %w", err)
	}
	if ferr != nil {
		return Answer{}, fmt.Errorf("the webhook function failed: %w", ferr)
	}
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return Answer{}, fmt.Errorf("the webhook function answered %s: %w", out, err)
	}
	a := Answer{Status: resp.StatusCode, Body: resp.Body}
	if strings.HasPrefix(strings.TrimSpace(resp.Body), "{") {
		if err := json.Unmarshal([]byte(resp.Body), &a); err != nil {
			return Answer{}, fmt.Errorf("the webhook function's body %s: %w", resp.Body, err)
		}
	}
	a.Status, a.Body = resp.StatusCode, resp.Body
	return a, nil
}

// WaitExecution polls DescribeExecution until the execution is no longer running.
func (e *Env) WaitExecution(ctx context.Context, arn string, timeout time.Duration) (*sfn.DescribeExecutionOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		out, err := e.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("failed to describe execution %s: %w", arn, err)
		}
		if out.Status != sfntypes.ExecutionStatusRunning {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("execution %s still running after %s", arn, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// History returns an execution's whole history, oldest first.
func (e *Env) History(ctx context.Context, arn string) ([]sfntypes.HistoryEvent, error) {
	var all []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(e.SFN, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("failed to read the history of %s: %w", arn, err)
		}
		all = append(all, page.Events...)
	}
	return all, nil
}

// StatePath lists the states an execution entered, in order.
func StatePath(history []sfntypes.HistoryEvent) []string {
	var path []string
	for _, ev := range history {
		if d := ev.StateEnteredEventDetails; d != nil {
			path = append(path, aws.ToString(d.Name))
		}
	}
	return path
}

// TaskDefinitionName is "family:revision" of a task-definition ARN.
func TaskDefinitionName(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
