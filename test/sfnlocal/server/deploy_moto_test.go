package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/internal/motofixture"
	"github.com/stepship/stepship/test/sfnlocal/server"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

// TestDeployStateMachineOnMoto runs statemachines/deploy.asl.json on the local service:
// service integrations (CodeBuild .sync, ECR) against the AWS emulator, the resolve and
// deploy functions in-process (fakes).
func TestDeployStateMachineOnMoto(t *testing.T) {
	moto := harness.StartMoto(t)
	for k, v := range moto.Env() {
		t.Setenv(k, v) // the service integrations read AWS_ENDPOINT_URL like any SDK user
	}
	ctx := context.Background()

	const fn = "arn:aws:lambda:us-east-1:123456789012:function:"
	var deployed []string
	s, err := server.NewFromConfig(ctx, &server.Config{
		// Task timeouts are scaled too: 20 leaves a 30 s ECR timeout 1.5 s for a
		// real call to the emulator.
		TimeScale: 20,
		StateMachines: []server.MachineConfig{{
			Name: "deploy", File: "../../../" + statemachines.File(statemachines.Deploy),
			DefinitionSubstitutions: map[string]string{
				statemachines.FunctionPlaceholder("resolve"): fn + "stepship-resolve",
				statemachines.FunctionPlaceholder("deploy"):  fn + "stepship-deploy",
			},
		}},
		Functions: map[string]tasks.Function{
			"stepship-resolve": tasks.InProcess(func(ctx context.Context, in struct {
				Input map[string]any `json:"input"`
			}) (map[string]any, error) {
				return map[string]any{"request": in.Input, "target": map[string]any{
					"image": map[string]any{"registryId": "123456789012", "repository": "web", "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"},
					"build": map[string]any{"mode": "codebuild", "project": "web-build"},
				}}, nil
			}),
			"stepship-deploy": tasks.InProcess(func(ctx context.Context, in json.RawMessage) (map[string]any, error) {
				deployed = append(deployed, string(in))
				return map[string]any{"taskDefinition": "web:2"}, nil
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
	ecrc := ecr.NewFromConfig(cfg)
	if _, err := ecrc.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	const built, missing = "9fceb02d0ae598e95dc970b74767f19372d61af8", "1111111111111111111111111111111111111111"
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[]}`
	digest := "sha256:" + strings.Repeat("ab", 32)
	if _, err := ecrc.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("web"), ImageManifest: aws.String(manifest),
		ImageManifestMediaType: aws.String("application/vnd.docker.distribution.manifest.v2+json"), ImageTag: aws.String(built), ImageDigest: aws.String(digest)}); err != nil {
		t.Fatal(err)
	}

	run := func(name, commit string) *sfn.DescribeExecutionOutput {
		arn := s.StateMachineARN("deploy")
		in := `{"service":"web","environment":"production","commit":"` + commit + `"}`
		ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String(name), Input: aws.String(in)})
		if err != nil {
			t.Fatal(err)
		}
		return waitDone(t, c, ex.ExecutionArn)
	}
	d := run("built", built)
	if d.Status != types.ExecutionStatusSucceeded || len(deployed) != 1 || !strings.Contains(deployed[0], `"imageDigest":"`+digest+`"`) {
		t.Fatalf("codebuild path: %s %s %s; deploy got %v", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), deployed)
	}
	d = run("not-pushed", missing)
	if d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != "ImageNotFound" {
		t.Fatalf("a build that pushed no image: %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
}
