package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/function/functiontest"
	"github.com/stepship/stepship/shared/payload"
)

// The function starts with the RDS client of its region and serves Handle;
// without a catalog it does not start.
func TestRun(t *testing.T) {
	h := functiontest.Start(t, "restore", functiontest.Env("../../catalog.yaml", map[string]string{"AWS_REGION": "us-west-2"}), setup)
	handle, ok := h.(func(context.Context, payload.Invocation[Task]) (any, error))
	if !ok {
		t.Fatalf("handler is a %T, want the restore function's Handle", h)
	}
	// Resolved from the example catalog, no AWS call: web/production drills
	// in us-west-2, where this function runs.
	_, err := handle(context.Background(), payload.Invocation[Task]{Input: Task{Call: backup.Call{Action: "verify", Service: "web", Environment: "production"}, Restored: &Restored{Instance: "x"}}})
	wantErr(t, err, "InvalidDrillRequest", `unknown action "verify"`)

	reason := functiontest.Refused(t, "restore", functiontest.Env("does-not-exist.yaml", map[string]string{"AWS_REGION": "us-west-2"}), setup)
	if !strings.HasPrefix(reason, "catalog: failed to read does-not-exist.yaml") {
		t.Errorf("reason %q", reason)
	}
}
