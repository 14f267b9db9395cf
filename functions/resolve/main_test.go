package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stepship/stepship/shared/function/functiontest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// run hands the resolver's handler to lambda.Start, or says why the function
// cannot start, in the log and on stderr, and exits 1 without starting.
func TestRun(t *testing.T) {
	h := functiontest.Started(t, "resolve", functiontest.Env("../../catalog.yaml"), setup)
	handle, ok := h.(func(context.Context, payload.ResolveInvocation) (payload.Resolved, error))
	if !ok {
		t.Fatalf("handler is a %T, want the resolver's Handle", h)
	}
	var invalid *taskerr.InvalidDeployRequest
	if _, err := handle(context.Background(), payload.ResolveInvocation{Input: json.RawMessage(`{}`)}); !errors.As(err, &invalid) {
		t.Errorf("empty input: %v, want *taskerr.InvalidDeployRequest", err)
	}
	functiontest.Refused(t, "resolve", functiontest.Env("does-not-exist.yaml"), setup, "catalog: failed to read does-not-exist.yaml")
}
