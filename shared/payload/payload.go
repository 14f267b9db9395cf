// Package payload holds the typed documents passed between stepship's states: the
// input of each state machine and the output of each function. Field names are the
// JSON the state machines' paths refer to; change them together with statemachines/.
package payload

import (
	"fmt"
	"strings"
)

// DeployRequest is the input of the deploy state machine, one per service a push
// deploys. The webhook function starts an execution with it; an engineer can start
// one from the console with the same shape (see events/deploy-input.json).
type DeployRequest struct {
	// Service is the catalog's name of the service.
	Service string `json:"service"`
	// Environment is the catalog environment deployed to (e.g. "production").
	Environment string `json:"environment"`
	// Cluster, ECSService and Container locate what is deployed.
	Cluster    string `json:"cluster"`
	ECSService string `json:"ecsService"`
	Container  string `json:"container"`
	// Image is the full image reference deployed, tagged with the commit SHA,
	// e.g. "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:3f2a…".
	Image string `json:"image"`
	// Build says how the image comes to exist before it is deployed.
	Build Build `json:"build"`
	// Source describes the push that caused the deploy.
	Source Source `json:"source"`
}

// Build modes.
const (
	// BuildCodeBuild: the deploy state machine builds the exact commit with CodeBuild
	// (startBuild.sync, sourceVersion = the commit, IMAGE_TAG = the commit) first.
	BuildCodeBuild = "codebuild"
	// BuildPrebuilt: the image is built elsewhere; the state machine checks that the
	// tag exists in ECR and fails with ImageNotFound if it does not.
	BuildPrebuilt = "prebuilt"
)

// Build is the build step of a deploy.
type Build struct {
	Mode       string `json:"mode"`                 // BuildCodeBuild or BuildPrebuilt
	Project    string `json:"project,omitempty"`    // CodeBuild project name (codebuild)
	Repository string `json:"repository,omitempty"` // ECR repository name (prebuilt)
}

// Source is the git event behind a deploy.
type Source struct {
	Provider   string `json:"provider"` // github, gitlab, bitbucket
	Repository string `json:"repository"`
	Ref        string `json:"ref"` // refs/heads/main, refs/tags/v1.2.3
	Commit     string `json:"commit"`
	DeliveryID string `json:"deliveryId"`
	Pusher     string `json:"pusher,omitempty"`
}

// DeployResult is the deploy function's output.
type DeployResult struct {
	Cluster                string `json:"cluster"`
	ECSService             string `json:"ecsService"`
	PreviousTaskDefinition string `json:"previousTaskDefinition"`
	TaskDefinition         string `json:"taskDefinition"`
	Image                  string `json:"image"`
}

// Invocation is what a state machine sends a stepship function: the execution id
// (so every log line can carry it) and the function's own input. In ASL:
//
//	"Parameters": {"executionId.$": "$$.Execution.Id", "input.$": "$"}
type Invocation[T any] struct {
	ExecutionID string `json:"executionId"`
	Input       T      `json:"input"`
}

// Validate reports every missing or malformed field of a deploy request, naming
// each one, so that a console input with a typo fails before anything changes.
func (r DeployRequest) Validate() error {
	var problems []string
	required := []struct{ name, value string }{
		{"service", r.Service},
		{"environment", r.Environment},
		{"cluster", r.Cluster},
		{"ecsService", r.ECSService},
		{"container", r.Container},
		{"image", r.Image},
	}
	for _, f := range required {
		if strings.TrimSpace(f.value) == "" {
			problems = append(problems, f.name+" is required")
		}
	}
	switch r.Build.Mode {
	case BuildCodeBuild:
		if r.Build.Project == "" {
			problems = append(problems, "build.project is required when build.mode is codebuild")
		}
	case BuildPrebuilt:
		if r.Build.Repository == "" {
			problems = append(problems, "build.repository is required when build.mode is prebuilt")
		}
	default:
		problems = append(problems, fmt.Sprintf("build.mode must be %q or %q, not %q", BuildCodeBuild, BuildPrebuilt, r.Build.Mode))
	}
	if r.Image != "" && !strings.Contains(imageName(r.Image), ":") && !strings.Contains(r.Image, "@") {
		problems = append(problems, fmt.Sprintf("image %q has no tag or digest", r.Image))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid deploy request: %s", strings.Join(problems, "; "))
	}
	return nil
}

// imageName is the part of an image reference after the registry host, where a
// colon can only introduce a tag (the host may carry a port).
func imageName(ref string) string {
	if i := strings.Index(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}
