package payload

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The console inputs documented in events/ must decode strictly and validate: they
// are what an engineer pastes into StartExecution.
func TestDocumentedDeployInputsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../events/deploy-input*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events/deploy-input*.json found (err %v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			var r DeployRequest
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDeployRequestValidate(t *testing.T) {
	valid := func() DeployRequest {
		return DeployRequest{Service: "web", Environment: "prod", Cluster: "c", ECSService: "web", Container: "web",
			Image: "registry.example:5000/web:abc", Build: Build{Mode: BuildCodeBuild, Project: "web-build"}}
	}
	tests := []struct {
		name   string
		mutate func(*DeployRequest)
		want   string // substring of the error; empty: valid
	}{
		{"valid", func(*DeployRequest) {}, ""},
		{"digest instead of tag", func(r *DeployRequest) { r.Image = "registry.example/web@sha256:abcd" }, ""},
		{"every missing field is named", func(r *DeployRequest) { *r = DeployRequest{Build: r.Build} },
			"service is required; environment is required; cluster is required; ecsService is required; container is required; image is required"},
		{"port is not a tag", func(r *DeployRequest) { r.Image = "registry.example:5000/web" }, `image "registry.example:5000/web" has no tag or digest`},
		{"missing build mode", func(r *DeployRequest) { r.Build = Build{} }, `build.mode must be "codebuild" or "prebuilt", not ""`},
		{"prebuilt needs repository", func(r *DeployRequest) { r.Build = Build{Mode: BuildPrebuilt} }, "build.repository is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mutate(&r)
			err := r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
