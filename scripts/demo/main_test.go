package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The demo is part of the suite: what `make demo` prints is what this checks.
func TestDemoDeploysThePushAndReportsEachStep(t *testing.T) {
	var out, logs bytes.Buffer
	err := run(t.Context(), &out, &logs, 2*time.Minute)
	report := out.String()
	if err != nil {
		t.Fatalf("the demo failed: %v\nits report:\n%s\nthe local services' logs:\n%s", err, report, logs.String())
	}
	for _, want := range []string{
		"→ 401",
		"executions of the deploy state machine: 0",
		"→ 202 Accepted",
		"catalog: ECS stepship-demo/web",
		"deploy lock taken",
		"registered web:2 (the service runs web:1)",
		"database migrated 0 → 1 (00001_create_users.sql)",
		"service pointed at web:2",
		"rollout COMPLETED after",
		"alarms stayed OK through the bake",
		"ledger entry written",
		"deploy lock released",
		"SUCCEEDED in",
		"the execution the push already started, nothing new",
		"FAILED FAILED_CLEAN (InvalidDeployRequest): the catalog names every target",
		"registered web:3 (the service runs web:2)",
		"database already at version 1: nothing to apply",
		"failed: DeploymentFailed → roll back",
		"service pointed back at web:2",
		"rollback stable",
		"→ ROLLED_BACK: commit bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb failed (DeploymentFailed",
		"release 1  SUCCEEDED: web:1 → web:2, migration version 1",
		"release 2  ROLLED_BACK: back on web:2",
		"ledger     2 entries: 3f2a9c1 SUCCEEDED, bbbbbbb ROLLED_BACK",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the demo's report lacks %q:\n%s", want, report)
		}
	}
	// Each deploy's cost line, and the Register row with its duration.
	if !costLine.MatchString(report) {
		t.Errorf("the demo's report has no cost line:\n%s", report)
	}
	if !registerRow.MatchString(report) {
		t.Errorf("the demo's report has no Register row with a duration:\n%s", report)
	}
}

var (
	costLine    = regexp.MustCompile(`(?m)^  deploy +[0-9]+ transitions \([0-9]+ retries\), [0-9]+ Lambda invocations, [0-9.]+ GB-s: \$0\.[0-9]{6}$`)
	registerRow = regexp.MustCompile(`(?m)^  Register {17}Task +[0-9.]+ m?s  registered web:2`)
)
