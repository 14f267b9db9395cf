package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/backup"
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
		// The backup, state by state: a snapshot and its copy, each creating
		// for a poll, retention, the RPO.
		"A backup of web-prod (statemachines/backup.asl.json), state by state",
		"catalog: snapshot stepship-web-prod-",
		"snapshot creating",
		"snapshot available",
		"copy in us-west-2: available",
		"retention applied in both regions; RPO ",
		"RPO recorded (Stepship/Backups)",
		"→ BackedUp in ",
		// The drill: the version the ledger recorded (the rolled-back
		// release left version 1), the checks, the cleanup, the report in
		// the ledger and its notification.
		"A disaster-recovery drill in us-west-2 (statemachines/dr-drill.asl.json), state by state",
		"the ledger recorded schema version 1 for that time",
		"database available",
		"3 of 3 checks passed (schema version, tables, assertions)",
		"RTO and RPO recorded (Stepship/DRDrills)",
		"report recorded in the ledger (home region)",
		"published: stepship drill web/production: DrillPassed",
		"→ DrillPassed in ",
		`"detail": "version 1, as the ledger recorded: 1 after the deploy of bbbbbbb (ROLLED_BACK,`,
		`published to arn:aws:sns:us-west-2:123456789012:stepship-notifications: "stepship drill web/production: DrillPassed"`,
		"drill      DrillPassed: stepship-web-prod-",
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
	// The measured RPO and RTO, and the drill report as the ledger holds
	// it, pretty JSON that decodes to the drill that passed.
	for name, re := range map[string]*regexp.Regexp{"backup RPO": backupRPO, "drill RPO": drillRPO, "drill RTO": drillRTO, "summary": backupSummary} {
		if !re.MatchString(report) {
			t.Errorf("the demo's report has no %s line (%s):\n%s", name, re, report)
		}
	}
	m := reportJSON.FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("the demo's report has no drill report:\n%s", report)
	}
	var r backup.DrillReport
	if err := json.Unmarshal([]byte(m[1]), &r); err != nil || r.Outcome != backup.OutcomeDrillPassed || !r.Passed || len(r.Checks) != 3 ||
		r.RTOSeconds == nil || r.RPOSeconds == nil || r.ExpectedSchema == nil || r.ExpectedSchema.Source != backup.FromLedger {
		t.Errorf("the drill report %s: %v", m[1], err)
	}
}

var (
	backupRPO     = regexp.MustCompile(`(?m)^    RPO [0-9]+ s: the age of the newest copy's data in us-west-2 \(Stepship/Backups RPOSeconds\)$`)
	drillRPO      = regexp.MustCompile(`(?m)^    RPO [0-9]+ s: the restored copy's data is from 20[0-9-]+T[0-9:]+Z \(Stepship/DRDrills RPOSeconds\)$`)
	drillRTO      = regexp.MustCompile(`(?m)^    RTO [0-9]+ s: from the restore's start to verified data \(Stepship/DRDrills RTOSeconds\); [0-9.]+ m?s here`)
	backupSummary = regexp.MustCompile(`(?m)^  backup +BackedUp: stepship-web-prod-[0-9-]+ copied to us-west-2, RPO [0-9]+ s$`)
	reportJSON    = regexp.MustCompile(`(?s)the drill report, in the ledger \(us-east-1, table stepship-demo, drill#web#production / drill#[^)]+\):\n      (\{.*?\n      \})\n`)
	costLine      = regexp.MustCompile(`(?m)^  deploy +[0-9]+ transitions \([0-9]+ retries\), [0-9]+ Lambda invocations, [0-9.]+ GB-s: \$0\.[0-9]{6}$`)
	registerRow   = regexp.MustCompile(`(?m)^  Register {17}Task +[0-9.]+ m?s  registered web:2`)
)
