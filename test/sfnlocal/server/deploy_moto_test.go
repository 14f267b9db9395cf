package server_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/internal/motofixture"
	"github.com/stepship/stepship/test/sfnlocal/server"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

// TestDeployStateMachineOnMoto runs statemachines/deploy.asl.json on the local service:
// service integrations against the AWS emulator, the deploy function in-process (a fake).
func TestDeployStateMachineOnMoto(t *testing.T) {
	moto := harness.StartMoto(t)
	for k, v := range moto.Env() {
		t.Setenv(k, v) // the service integrations read AWS_ENDPOINT_URL like any SDK user
	}
	ctx := context.Background()

	var deployed []string
	s, err := server.NewFromConfig(ctx, &server.Config{
		TimeScale: 1000,
		StateMachines: []server.MachineConfig{{
			Name: "deploy", File: "../../../statemachines/deploy.asl.json",
			DefinitionSubstitutions: map[string]string{"DeployFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:stepship-deploy"},
		}},
		Functions: map[string]tasks.Function{
			"stepship-deploy": tasks.InProcess(func(ctx context.Context, in json.RawMessage) (map[string]any, error) {
				deployed = append(deployed, string(in))
				return map[string]any{"taskDefinitionRevision": 2}, nil
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
	cfg := moto.Config(ctx)
	c := sfn.NewFromConfig(cfg, func(o *sfn.Options) { o.BaseEndpoint = aws.String(s.URL()) })

	if err := motofixture.CodeBuildProject(ctx, cfg, "web-build"); err != nil {
		t.Fatal(err)
	}
	if _, err := ecr.NewFromConfig(cfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}

	base, err := os.ReadFile("../../../events/deploy-input.json")
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, edit func(map[string]any)) *sfn.DescribeExecutionOutput {
		var in map[string]any
		_ = json.Unmarshal(base, &in)
		edit(in)
		b, _ := json.Marshal(in)
		arn := s.StateMachineARN("deploy")
		ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String(name), Input: aws.String(string(b))})
		if err != nil {
			t.Fatal(err)
		}
		return waitDone(t, c, ex.ExecutionArn)
	}
	d := run("codebuild", func(in map[string]any) { in["build"] = map[string]any{"mode": "codebuild", "project": "web-build"} })
	if d.Status != types.ExecutionStatusSucceeded || len(deployed) != 1 || !strings.Contains(deployed[0], `"buildResult"`) {
		t.Fatalf("codebuild path: %s %s %s; deploy got %v", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), deployed)
	}
	d = run("prebuilt-missing", func(in map[string]any) {})
	if d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != "ImageNotFound" {
		t.Fatalf("prebuilt without image: %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
}
