package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog/catalogtest"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function/functiontest"
	"github.com/stepship/stepship/shared/payload"
)

// The function starts with an RDS client for its home region and each DR
// region of the catalog (the example catalog backs web/production up to
// us-west-2, and to a backup account there), also when it runs in a DR
// region; without a catalog, or without its own role's ARN when the catalog
// names a backup account, it does not start.
func TestRun(t *testing.T) {
	for _, region := range []string{"us-east-1", "us-west-2"} {
		t.Run("starts in "+region, func(t *testing.T) {
			h := functiontest.Started(t, "snapshot", functiontest.Env("../../catalog.yaml", "AWS_REGION", region,
				config.EnvFunctionRoleARN, "arn:aws:iam::123456789012:role/Stepship-snapshot"), setup)
			handle, ok := h.(func(context.Context, payload.Invocation[Task]) (any, error))
			if !ok {
				t.Fatalf("handler is a %T, want the snapshot function's Handle", h)
			}
			_, err := handle(context.Background(), payload.Invocation[Task]{Input: Task{Call: backup.Call{Action: "snapshot"}}})
			wantErr(t, err, "InvalidBackupRequest", `unknown action "snapshot"`)
		})
	}
	functiontest.Refused(t, "snapshot", functiontest.Env("does-not-exist.yaml"), setup, "catalog: failed to read does-not-exist.yaml")
	functiontest.Refused(t, "snapshot", functiontest.Env("../../catalog.yaml"), setup, "the catalog names a backup account: STEPSHIP_FUNCTION_ROLE_ARN (the function's own role) is required")
	// A catalog that backs up to no backup account needs no role ARN.
	noAccount := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(noAccount, []byte(catalogtest.Web(drOnly)), 0o600); err != nil {
		t.Fatal(err)
	}
	h := functiontest.Started(t, "snapshot", functiontest.Env(noAccount), setup)
	_, err := h.(func(context.Context, payload.Invocation[Task]) (any, error))(context.Background(), payload.Invocation[Task]{Input: Task{Call: backup.Call{Action: "snapshot"}}})
	wantErr(t, err, "InvalidBackupRequest", `unknown action "snapshot"`)

	// In the backup account (the example catalog's, in us-west-2) it only
	// prunes there; where the catalog copies nothing, it does not start.
	h = functiontest.Started(t, "snapshot", functiontest.Env("../../catalog.yaml", "AWS_REGION", "us-west-2", config.EnvBackupAccount, "210987654321"), setup)
	_, err = h.(func(context.Context, payload.Invocation[Task]) (any, error))(context.Background(), payload.Invocation[Task]{Input: Task{Call: backup.Call{Action: ActionPlan}}})
	wantErr(t, err, "InvalidBackupRequest", "its only action is prune-backup-account")
	functiontest.Refused(t, "snapshot", functiontest.Env("../../catalog.yaml", config.EnvBackupAccount, "210987654321"), setup,
		"the catalog copies nothing to backup account 210987654321 in us-east-1")
}
