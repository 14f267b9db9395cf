package main

import (
	"context"
	"errors"
	"testing"

	"github.com/stepship/stepship/shared/function/functiontest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// run hands the deployer's handler to lambda.Start, or says why the function
// cannot start, in the log and on stderr, and exits 1 without starting.
func TestRun(t *testing.T) {
	h := functiontest.Started(t, "deploy", functiontest.Env("../../catalog.yaml"), setup)
	handle, ok := h.(func(context.Context, payload.Invocation[payload.DeployInput]) (payload.DeployResult, error))
	if !ok {
		t.Fatalf("handler is a %T, want the deployer's Handle", h)
	}
	var invalid *taskerr.InvalidDeployRequest
	if _, err := handle(context.Background(), payload.Invocation[payload.DeployInput]{}); !errors.As(err, &invalid) {
		t.Errorf("empty input: %v, want *taskerr.InvalidDeployRequest", err)
	}
	functiontest.Refused(t, "deploy", functiontest.Env("does-not-exist.yaml"), setup, "catalog: failed to read does-not-exist.yaml")
	functiontest.Refused(t, "deploy", functiontest.Env("../../catalog.yaml", "AWS_REGION", ""), setup, "failed to build the AWS configuration: AWS_REGION is not set")
}
