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
// input (events/deploy-input.json): service, environment, commit. Everything else
// comes from the catalog; an input that names a target changes nothing.
func TestConsoleDeploy(t *testing.T) {
	e := localenvtest.StartT(t)
	ctx := context.Background()
	var doc map[string]any
	if err := json.Unmarshal(localenvtest.Fixture(t, e, "deploy-input.json"), &doc); err != nil {
		t.Fatal(err)
	}
	commit := doc["commit"].(string)
	refused := []string{"Resolve", "RequestRefused"}
	console := []string{"Resolve", "HasSource", "LookupCommit", "KnownCommit", "Acquire", "ReadLast", "OrderCheck", "BuildMode", "Build", "CheckImage"}
	// Once the first deploy recorded the commit, a console deploy of it takes
	// its recorded push time.
	recordedCommit := slices.Insert(slices.Clone(console), 4, "UseCommitOrder")
	recorded := []string{"Record", "Release", "Finish", "NotDeployed"}

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
			name: "the commit's image is not in the catalog's repository", wantStatus: sfntypes.ExecutionStatusFailed,
			wantError: "FAILED_CLEAN", wantCause: "ImageNotFound: no image tagged " + commit + " in ECR repository web",
			wantPath: slices.Concat(console, []string{"ImageNotFound"}, recorded), wantRev: 1,
		},
		{
			name: "a missing field fails before anything runs", edit: func(d map[string]any) { delete(d, "commit") },
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "FAILED_CLEAN", wantCause: `InvalidDeployRequest: {"errorMessage":"invalid deploy request: commit is required`,
			wantPath: refused, wantRev: 1,
		},
		{
			name: "a cluster in the input is refused", edit: func(d map[string]any) { d["cluster"] = "prod-payments" }, pushImage: true,
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "FAILED_CLEAN", wantCause: `InvalidDeployRequest: {"errorMessage":"invalid deploy request: field \"cluster\" is not allowed`,
			wantPath: refused, wantRev: 1,
		},
		{
			name: "an image in the input is refused", edit: func(d map[string]any) { d["image"] = "docker.io/anyone/anything:latest" }, pushImage: true,
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "FAILED_CLEAN", wantCause: `InvalidDeployRequest: {"errorMessage":"invalid deploy request: field \"image\" is not allowed`,
			wantPath: refused, wantRev: 1,
		},
		{
			name: "a build project in the input is refused", edit: func(d map[string]any) { d["build"] = map[string]any{"mode": "codebuild", "project": "prod-admin"} }, pushImage: true,
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "FAILED_CLEAN", wantCause: `InvalidDeployRequest: {"errorMessage":"invalid deploy request: field \"build\" is not allowed`,
			wantPath: refused, wantRev: 1,
		},
		{
			name: "a service the catalog does not have", edit: func(d map[string]any) { d["service"] = "api" }, pushImage: true,
			wantStatus: sfntypes.ExecutionStatusFailed, wantError: "FAILED_CLEAN", wantCause: `UnknownTarget: {"errorMessage":"service \"api\" is not in the catalog`,
			wantPath: refused, wantRev: 1,
		},
		{
			name: "the image exists: deployed by digest", pushImage: true, wantStatus: sfntypes.ExecutionStatusSucceeded,
			wantPath: slices.Concat(recordedCommit, []string{"SnapshotBeforeDeploy", "Register", "MigrationsMode", "Migrate", "UpdateService", "Verify", "VerifyDone", "BakeNeeded", "Bake",
				"CheckBake", "Succeeded", "RecordSucceeded", "Release", "Finish", "Deployed"}), wantRev: 2,
		},
	}
	var digest string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pushImage && digest == "" {
				var err error
				if digest, err = world.PushImage(ctx, e.AWS, e.Spec, commit); err != nil {
					t.Fatal(err)
				}
				if err := world.PushMigrations(ctx, e.AWS, e.Releases, commit, baseMigrations); err != nil {
					t.Fatal(err)
				}
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
			if got := oneVerifyRound(localenv.StatePath(hist)); !slices.Equal(got, tt.wantPath) {
				t.Errorf("path %v, want %v", got, tt.wantPath)
			}
			svc, err := world.Service(ctx, e.AWS, e.Spec)
			if err != nil {
				t.Fatal(err)
			}
			if svc.Revision != tt.wantRev {
				t.Errorf("service on revision %d, want %d", svc.Revision, tt.wantRev)
			}
			if tt.wantRev == 2 && svc.Images["web"] != "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@"+digest {
				t.Errorf("service runs %q, want the image by digest %s", svc.Images["web"], digest)
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
