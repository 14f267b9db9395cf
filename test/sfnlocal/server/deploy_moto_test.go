package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/server"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
	"github.com/stepship/stepship/test/world"
)

// TestDeployStateMachineOnMoto runs statemachines/deploy.asl.json on the local
// service: its service integrations (DynamoDB's optimized getItem and
// updateItem, the aws-sdk transactWriteItems of the ledger, CodeBuild .sync,
// ECR, ECS updateService) against the AWS emulator, the functions in-process
// (fakes: resolve from a catalog, register, verify). The integration tests run
// the same machine with the real functions.
func TestDeployStateMachineOnMoto(t *testing.T) {
	moto := harness.StartMoto(t)
	ctx := context.Background()
	cfg := moto.Config(ctx)
	spec, releases := world.Demo(), world.DemoReleases()
	seeded, err := world.Seed(ctx, cfg, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.SeedReleases(ctx, cfg, releases); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Parse([]byte(`
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/` + spec.ECRRepository + `
    build: {mode: codebuild, project: ` + spec.BuildProject + `}
    environments:
      - {name: production, branches: [main], cluster: ` + spec.Cluster + `, service: ` + spec.Service + `, container: web}
`))
	if err != nil {
		t.Fatal(err)
	}
	target, _ := cat.Resolve("web", "production")

	const fn = "arn:aws:lambda:us-east-1:123456789012:function:"
	var registered []string
	s, err := server.NewFromConfig(ctx, &server.Config{
		// Task timeouts are scaled too: 20 leaves a 20 s DynamoDB timeout 1 s for a
		// real call to the emulator.
		TimeScale: 20,
		AWSConfig: &cfg,
		StateMachines: []server.MachineConfig{{
			Name: "stepship-deploy", File: "../../../" + statemachines.File(statemachines.Deploy),
			DefinitionSubstitutions: map[string]string{
				statemachines.FunctionPlaceholder("resolve"): fn + "stepship-resolve",
				statemachines.FunctionPlaceholder("deploy"):  fn + "stepship-deploy",
				statemachines.FunctionPlaceholder("migrate"): fn + "stepship-migrate",
				statemachines.FunctionPlaceholder("verify"):  fn + "stepship-verify",
				statemachines.TableName:                      releases.Table,
				// No target here snapshots before its deploys.
				statemachines.BackupStateMachineArn: "arn:aws:states:us-east-1:123456789012:stateMachine:stepship-backup",
			},
		}},
		Functions: map[string]tasks.Function{
			"stepship-resolve": tasks.InProcess(func(ctx context.Context, in payload.ResolveInvocation) (payload.Resolved, error) {
				req, err := payload.DecodeDeployRequest(in.Input)
				if err != nil {
					return payload.Resolved{}, err
				}
				return payload.NewResolved(req, target, in.ExecutionID, in.StartTime)
			}),
			"stepship-deploy": tasks.InProcess(func(ctx context.Context, in json.RawMessage) (payload.DeployResult, error) {
				registered = append(registered, string(in))
				// The seeded revision: UpdateService in the emulator needs one that exists.
				return payload.DeployResult{PreviousTaskDefinition: seeded.TaskDefinition, TaskDefinition: seeded.TaskDefinition, LaunchType: "FARGATE"}, nil
			}),
			"stepship-verify": tasks.InProcess(func(ctx context.Context, in payload.Invocation[payload.VerifyInput]) (payload.VerifyResult, error) {
				return payload.VerifyResult{Status: payload.RolloutCompleted, TaskDefinition: in.Input.TaskDefinition,
					StartedAt: "2026-11-30T10:00:00Z", CompletedAt: "2026-11-30T10:01:00Z"}, nil
			}),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	c := sfn.NewFromConfig(cfg, func(o *sfn.Options) { o.BaseEndpoint = aws.String(s.URL()) })

	const built, missing = "9fceb02d0ae598e95dc970b74767f19372d61af8", "1111111111111111111111111111111111111111"
	digest, err := world.PushImage(ctx, cfg, spec, built)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name, commit string) *sfn.DescribeExecutionOutput {
		arn := s.StateMachineARN("stepship-deploy")
		in := `{"service":"web","environment":"production","commit":"` + commit + `"}`
		ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String(name), Input: aws.String(in)})
		if err != nil {
			t.Fatal(err)
		}
		return waitDone(t, c, ex.ExecutionArn)
	}
	d := run("built", built)
	if d.Status != types.ExecutionStatusSucceeded || len(registered) != 1 || !strings.Contains(registered[0], `"imageDigest":"`+digest+`"`) {
		t.Fatalf("codebuild path: %s %s %s; register got %v", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), registered)
	}
	d = run("not-pushed", missing)
	if d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != payload.OutcomeFailedClean || !strings.HasPrefix(aws.ToString(d.Cause), "ImageNotFound:") {
		t.Fatalf("a build that pushed no image: %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	// Both are in the emulator's ledger, and the lock is free.
	ledger, err := world.Ledger(ctx, cfg, releases, "web", "production")
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 2 || ledger[0].Outcome != payload.OutcomeSucceeded || ledger[0].ImageDigest != digest || ledger[1].Outcome != payload.OutcomeFailedClean {
		t.Errorf("ledger %+v", ledger)
	}
	if l, err := world.ReadLock(ctx, cfg, releases, "web", "production"); err != nil || l.Owner != "" {
		t.Errorf("lock %+v, %v", l, err)
	}
}
