package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/localenv/localenvtest"
	"github.com/stepship/stepship/test/world"
)

// An engineer starts the deploy state machine from the console with the documented
// input (events/deploy-input.json): a prebuilt image is checked in ECR first.
func TestConsoleDeploy(t *testing.T) {
	e := localenvtest.StartT(t)
	ctx := context.Background()
	var doc map[string]any
	if err := json.Unmarshal(localenvtest.Fixture(t, e, "deploy-input.json"), &doc); err != nil {
		t.Fatal(err)
	}
	commit := doc["source"].(map[string]any)["commit"].(string)

	tests := []struct {
		name       string
		edit       func(map[string]any)
		pushImage  bool
		wantStatus sfntypes.ExecutionStatus
		wantError  string
		wantCause  string
		wantPath   []string
		wantRev    int32
	}{
		{
			name: "the image's tag is not in ECR", wantStatus: sfntypes.ExecutionStatusFailed,
			wantError: "ImageNotFound", wantCause: "no image tagged " + commit + " in ECR repository web",
			wantPath: []string{"ValidateInput", "BuildMode", "CheckImage", "ImageNotFound"}, wantRev: 1,
		},
		{
			name: "a missing field fails before anything runs", edit: func(d map[string]any) { delete(d, "cluster") },
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "InvalidDeployRequest", wantCause: "needs the strings service, environment, cluster",
			wantPath: []string{"ValidateInput", "InvalidInput"}, wantRev: 1,
		},
		{
			name: "an empty field is named by the deploy function", edit: func(d map[string]any) { d["container"] = " " }, pushImage: true,
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "InvalidDeployRequest", wantCause: "container is required",
			wantPath: []string{"ValidateInput", "BuildMode", "CheckImage", "Deploy", "DeployFailed"}, wantRev: 1,
		},
		{
			name: "an unknown build mode", edit: func(d map[string]any) { d["build"] = map[string]any{"mode": "docker"} },
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "InvalidDeployRequest", wantCause: "build.mode must be",
			wantPath: []string{"ValidateInput", "BuildMode", "InvalidBuildMode"}, wantRev: 1,
		},
		{
			name: "an unknown service", edit: func(d map[string]any) { d["ecsService"] = "api" }, pushImage: true,
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "ServiceNotFound", wantCause: `ECS service \"api\" not found`,
			wantPath: []string{"ValidateInput", "BuildMode", "CheckImage", "Deploy", "DeployFailed"}, wantRev: 1,
		},
		{
			name: "the image exists: deployed", pushImage: true, wantStatus: sfntypes.ExecutionStatusSucceeded,
			wantPath: []string{"ValidateInput", "BuildMode", "CheckImage", "Deploy", "Deployed"}, wantRev: 2,
		},
	}
	pushed := false
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pushImage && !pushed {
				if err := world.PushImage(ctx, e.AWS, e.Spec, commit); err != nil {
					t.Fatal(err)
				}
				pushed = true
			}
			in := clone(t, doc)
			if tt.edit != nil {
				tt.edit(in)
			}
			raw, _ := json.Marshal(in)
			start, err := e.SFN.StartExecution(ctx, &sfn.StartExecutionInput{
				StateMachineArn: aws.String(e.DeployStateMachineARN),
				Name:            aws.String("console-" + string(rune('a'+i))),
				Input:           aws.String(string(raw)),
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.WaitExecution(ctx, aws.ToString(start.ExecutionArn), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tt.wantStatus || aws.ToString(out.Error) != tt.wantError || !strings.Contains(aws.ToString(out.Cause), tt.wantCause) {
				t.Fatalf("got %s %q %q, want %s %q containing %q", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), tt.wantStatus, tt.wantError, tt.wantCause)
			}
			hist, err := e.History(ctx, aws.ToString(start.ExecutionArn))
			if err != nil {
				t.Fatal(err)
			}
			if got := localenv.StatePath(hist); !slices.Equal(got, tt.wantPath) {
				t.Errorf("path %v, want %v", got, tt.wantPath)
			}
			svc, err := world.Service(ctx, e.AWS, e.Spec)
			if err != nil {
				t.Fatal(err)
			}
			if svc.Revision != tt.wantRev {
				t.Errorf("service on revision %d, want %d", svc.Revision, tt.wantRev)
			}
		})
	}
}

func clone(t *testing.T, v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
