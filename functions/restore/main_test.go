package main

import (
	"context"
	"testing"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function/functiontest"
	"github.com/stepship/stepship/shared/payload"
)

// The function starts with the RDS client of its region and the DynamoDB
// client of the ledger's and serves Handle. The example catalog's drill of
// web/production, in us-west-2, names no security group: there the function
// needs the DR stack's, and does not start without it; nor without the
// ledger, nor without a catalog.
func TestRun(t *testing.T) {
	ledger := []string{config.EnvLedgerTable, "Stepship-ledger", config.EnvLedgerRegion, "us-east-1"}
	env := functiontest.Env("../../catalog.yaml", append([]string{"AWS_REGION", "us-west-2", config.EnvDrillSecurityGroup, "sg-0fedcba9876543210"}, ledger...)...)
	h := functiontest.Started(t, "restore", env, setup)
	handle, ok := h.(func(context.Context, payload.Invocation[Task]) (any, error))
	if !ok {
		t.Fatalf("handler is a %T, want the restore function's Handle", h)
	}
	// Resolved from the example catalog, no AWS call.
	_, err := handle(context.Background(), payload.Invocation[Task]{Input: Task{Call: backup.Call{Action: "verify", Service: "web", Environment: "production"}, Restored: &Restored{Instance: "x"}}})
	wantErr(t, err, "InvalidDrillRequest", `unknown action "verify"`)

	functiontest.Refused(t, "restore", functiontest.Env("../../catalog.yaml", append([]string{"AWS_REGION", "us-west-2"}, ledger...)...), setup,
		"restore: the drill of web/production names no securityGroup, and "+config.EnvDrillSecurityGroup)
	functiontest.Refused(t, "restore", functiontest.Env("../../catalog.yaml", "AWS_REGION", "us-west-2", config.EnvDrillSecurityGroup, "sg-0fedcba9876543210",
		config.EnvLedgerRegion, "us-east-1"), setup, config.EnvLedgerTable+" is required")
	functiontest.Refused(t, "restore", functiontest.Env("../../catalog.yaml", "AWS_REGION", "us-west-2", config.EnvDrillSecurityGroup, "sg-0fedcba9876543210",
		config.EnvLedgerTable, "Stepship-ledger"), setup, config.EnvLedgerRegion+" is required")
	functiontest.Refused(t, "restore", functiontest.Env("does-not-exist.yaml", "AWS_REGION", "us-west-2"), setup, "catalog: failed to read does-not-exist.yaml")
}
