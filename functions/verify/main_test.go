package main

import (
	"context"
	"testing"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function/functiontest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// The function starts the verifier's handler with the ECS and CloudWatch
// clients, or says why it cannot start.
func TestRun(t *testing.T) {
	for _, env := range []config.Getenv{
		functiontest.Env("../../catalog.yaml"),
		functiontest.Env("../../catalog.yaml", config.EnvVerifyPollInterval, "5s"),
	} {
		h := functiontest.Started(t, "verify", env, setup)
		handle, ok := h.(func(context.Context, payload.Invocation[payload.VerifyInput]) (payload.VerifyResult, error))
		if !ok {
			t.Fatalf("handler is a %T, want the verifier's Handle", h)
		}
		_, err := handle(context.Background(), payload.Invocation[payload.VerifyInput]{})
		wantError[taskerr.InvalidVerifyRequest](t, err, "service is required")
	}
	functiontest.Refused(t, "verify", functiontest.Env("does-not-exist.yaml"), setup, "catalog: failed to read does-not-exist.yaml")
	functiontest.Refused(t, "verify", functiontest.Env("../../catalog.yaml", "AWS_REGION", ""), setup, "failed to build the AWS configuration: AWS_REGION is not set")
	functiontest.Refused(t, "verify", functiontest.Env("../../catalog.yaml", config.EnvVerifyPollInterval, "15"), setup,
		`STEPSHIP_VERIFY_POLL_INTERVAL must be a positive duration such as 1h or 90m, not "15"`)
}
