package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/test/harness"
)

// The built bootstrap under the Lambda runtime emulator, against the AWS
// emulator and a real PostgreSQL: a run that migrates, then a commit whose
// migration fails, reported to the caller as the Error a Catch names.
func TestBootstrap(t *testing.T) {
	bootstrap := harness.Bootstrap(t, "migrate")
	const badCommit = "ffffffffffffffffffffffffffffffffffffffff"
	env, secretARN := emulated(t, map[string]string{
		prefix + "00001_users.sql":                         createUsers,
		"web/migrations/" + badCommit + "/00001_users.sql": createUsers,
		"web/migrations/" + badCommit + "/00002_bad.sql":   badMiddle,
	})
	ctx := t.Context()
	env[config.EnvCatalog] = filepath.Join(harness.MustRepoRoot(t), config.CatalogFileName)
	fn := harness.StartLambda(t, bootstrap, env)

	inv := input()
	inv.Input.DatabaseSecretARN = secretARN
	body, funcErr, err := fn.Invoke(ctx, inv)
	if err != nil || funcErr != nil {
		t.Fatalf("invoke: %v %+v %s", err, funcErr, body)
	}
	var got payload.MigrateResult
	if err := json.Unmarshal(body, &got); err != nil || got.VersionAfter != 1 || len(got.Applied) != 1 {
		t.Fatalf("result %s (%v)", body, err)
	}

	inv.Input.Commit = badCommit
	inv.Input.Migrations = "s3://" + bucket + "/web/migrations/" + badCommit + "/"
	_, funcErr, err = fn.Invoke(ctx, inv)
	if err != nil || funcErr == nil || funcErr.Type != "MigrationFailed" || !strings.Contains(funcErr.Message, "migration 00002_bad.sql failed at line 4") {
		t.Fatalf("invoke the bad commit: %v, %+v", err, funcErr)
	}
}
