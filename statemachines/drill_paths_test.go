package statemachines_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl"
)

const drillInput = `{"service":"web","environment":"production","reason":"weekly"}`

func drillPlan(mode string, maxPolls int) string {
	return fmt.Sprintf(`{"service":"web","environment":"production","mode":%q,"database":"web-prod","aurora":false,`+
		`"restored":{"instance":"%s-web-prod-202611300500"},"expectedSchemaVersion":null,"pollSeconds":60,"maxPolls":%d}`, mode, mode, maxPolls)
}

func instanceStatus(status string) string {
	return `{"DBInstances":[{"DBInstanceIdentifier":"drill-web-prod-202611300500","DBInstanceStatus":"` + status +
		`","Endpoint":{"Address":"drill-web-prod-202611300500.abc.us-west-2.rds.amazonaws.com","Port":5432}}]}`
}

const (
	picked   = `{"snapshot":"stepship-web-prod-20261130-030000","arn":"arn:aws:rds:us-west-2:123456789012:snapshot:stepship-web-prod-20261130-030000","takenAt":"2026-11-30T03:00:00Z","rpoSeconds":7200}`
	restored = `{"instance":"drill-web-prod-202611300500","startedAt":"2026-11-30T05:00:10Z"}`
	passed   = `{"passed":true,"checks":[{"name":"goose_db_version","kind":"schema","passed":true,"detail":"version 7"}],"schemaVersion":7,"verifiedAt":"2026-11-30T05:21:00Z","rtoSeconds":1250}`
	failed   = `{"passed":false,"checks":[{"name":"users","kind":"table","passed":false,"detail":"has no rows"}],"schemaVersion":7,"verifiedAt":"2026-11-30T05:21:00Z","rtoSeconds":1250}`
	cleaned  = `{"deleted":["drill-web-prod-202611300500"],"alreadyGone":[],"released":"stepship-web-prod-20261130-030000"}`
)

// drillUntilVerified scripts a drill whose database is available at once.
func drillUntilVerified(mode string) map[string][]reply {
	return map[string][]reply{"Plan": {ok(drillPlan(mode, 5))}, "Pick": {ok(picked)}, "Restore": {ok(restored)},
		"DescribeRestored": {ok(instanceStatus("available"))}, "Verify": {ok(passed)}, "RecordMetrics": {ok(`{}`)}, "Cleanup": {ok(cleaned)}}
}

var restoredAndAvailable = []string{"Plan", "Pick", "Restore", "StartRestoreWait", "WaitRestored", "DescribeRestored", "RestoreReady"}

func then(states ...string) []string { return append(slices.Clone(restoredAndAvailable), states...) }

var drillScenarios = []scenario{
	{
		name: "a drill that passes: restore, wait, verify, measure, clean up",
		script: with(drillUntilVerified("drill"), map[string][]reply{
			"DescribeRestored": {ok(instanceStatus("creating")), ok(instanceStatus("available"))}}),
		path: []string{"Plan", "Pick", "Restore", "StartRestoreWait", "WaitRestored", "DescribeRestored", "RestoreReady", "CountRestorePoll",
			"WaitRestored", "DescribeRestored", "RestoreReady", "Verify", "RecordMetrics", "Mode", "Cleanup", "Outcome", "DrillPassed"},
		status: asl.StatusSucceeded,
	},
	{
		name: "through throttling, a busy database and a slow delete",
		script: with(drillUntilVerified("drill"), map[string][]reply{
			"Plan":             {fail("Lambda.ServiceException", "500"), ok(drillPlan("drill", 5))},
			"Pick":             {fail("RDSCallFailed", "throttled"), ok(picked)},
			"Restore":          {fail("RDSCallFailed", "throttled"), fail("Lambda.TooManyRequestsException", "Rate exceeded"), ok(restored)},
			"DescribeRestored": {fail("Rds.ThrottlingException", "Rate exceeded"), ok(instanceStatus("available"))},
			"Verify":           {fail("DatabaseUnreachable", "connection refused"), fail("Lambda.ServiceException", "500"), ok(passed)},
			"RecordMetrics":    {fail("CloudWatch.ThrottlingException", "Rate exceeded"), ok(`{}`)},
			"Cleanup":          {fail("RDSCallFailed", "failed to delete drill cluster"), fail("Lambda.ServiceException", "500"), ok(cleaned)},
		}),
		path:   then("Verify", "RecordMetrics", "Mode", "Cleanup", "Outcome", "DrillPassed"),
		status: asl.StatusSucceeded,
	},
	{
		name:   "a drill whose verification fails: reported, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Verify": {ok(failed)}}),
		path:   then("Verify", "RecordMetrics", "Mode", "Cleanup", "Outcome", "VerificationFailed"),
		status: asl.StatusFailed, errName: "VerificationFailed", cause: []string{"failed a check", "has no rows", "the drill database was deleted"},
	},
	{
		name:   "the metrics cannot be written: the drill still passes and cleans up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"RecordMetrics": {fail("CloudWatch.AccessDeniedException", "denied")}}),
		path:   then("Verify", "RecordMetrics", "Mode", "Cleanup", "Outcome", "DrillPassed"),
		status: asl.StatusSucceeded,
	},
	{
		name:   "the restore is refused: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Restore": {fail("RDSCallFailed", "InsufficientDBInstanceCapacity")}}),
		path:   []string{"Plan", "Pick", "Restore", "AfterFailure", "Cleanup", "Outcome", "DrillFailed"},
		status: asl.StatusFailed, errName: "RDSCallFailed", cause: []string{"InsufficientDBInstanceCapacity"},
	},
	{
		name:   "the restored database cannot be read: named after the step, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"DescribeRestored": {fail("Rds.DbInstanceNotFoundException", "gone")}}),
		path: []string{"Plan", "Pick", "Restore", "StartRestoreWait", "WaitRestored", "DescribeRestored", "DescribeRestoredStepFailed",
			"AfterFailure", "Cleanup", "Outcome", "DrillFailed"},
		status: asl.StatusFailed, errName: "DrillStepFailed", cause: []string{"step DescribeRestored failed (Rds.DbInstanceNotFoundException): gone"},
	},
	{
		name:   "the restore function cannot run: named after the step, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Restore": {fail("Lambda.ServiceException", "Internal error.")}}),
		path:   []string{"Plan", "Pick", "Restore", "RestoreStepFailed", "AfterFailure", "Cleanup", "Outcome", "DrillFailed"},
		status: asl.StatusFailed, errName: "DrillStepFailed", cause: []string{"step Restore failed (Lambda.ServiceException): Internal error."},
	},
	{
		name:   "the copy is deleted before it is restored: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Restore": {fail("SnapshotNotFound", "copy x was deleted from us-west-2 while the drill restored it")}}),
		path:   []string{"Plan", "Pick", "Restore", "AfterFailure", "Cleanup", "Outcome", "DrillFailed"},
		status: asl.StatusFailed, errName: "SnapshotNotFound", cause: []string{"was deleted"},
	},
	{
		name:   "the verify function keeps timing out: named after the step, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Verify": {fail("States.Timeout", "the Task timed out")}}),
		path:   then("Verify", "VerifyStepFailed", "AfterFailure", "Cleanup", "Outcome", "DrillFailed"),
		status: asl.StatusFailed, errName: "DrillStepFailed", cause: []string{"step Verify failed (States.Timeout)"},
	},
	{
		name:   "the restore fails: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"DescribeRestored": {ok(instanceStatus("incompatible-restore"))}}),
		path:   then("RestoreFailed", "AfterFailure", "Cleanup", "Outcome", "DrillFailed"),
		status: asl.StatusFailed, errName: "RestoreFailed", cause: []string{"drill-web-prod-202611300500 is incompatible-restore"},
	},
	{
		name: "the restore takes longer than drill.timeoutMinutes: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Plan": {ok(drillPlan("drill", 1))},
			"DescribeRestored": {ok(instanceStatus("creating"))}}),
		path:   then("CountRestorePoll", "WaitRestored", "DescribeRestored", "RestoreReady", "RestoreTimedOut", "AfterFailure", "Cleanup", "Outcome", "DrillFailed"),
		status: asl.StatusFailed, errName: "RestoreTimedOut", cause: []string{"still creating after 1 polls"},
	},
	{
		name:   "the database never answers: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Verify": {fail("DatabaseUnreachable", "connection refused")}}),
		path:   then("Verify", "AfterFailure", "Cleanup", "Outcome", "DrillFailed"),
		status: asl.StatusFailed, errName: "DatabaseUnreachable", cause: []string{"connection refused"},
	},
	{
		name:   "cleanup keeps failing: the named outcome says what to delete by hand",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Cleanup": {fail("RDSCallFailed", "InvalidDBInstanceState")}}),
		path:   then("Verify", "RecordMetrics", "Mode", "Cleanup", "CleanupFailed"),
		status: asl.StatusFailed, errName: "CleanupFailed", cause: []string{"cleanup of drill database drill-web-prod-202611300500 did not finish",
			"delete the database by hand", "stepship:in-use-by tag from copy stepship-web-prod-20261130-030000"},
	},
	{
		name:   "a confirmed failover keeps the database and outputs its endpoint and runbook",
		script: drillUntilVerified("failover"),
		path:   then("Verify", "RecordMetrics", "Mode", "FailoverReady"),
		status: asl.StatusSucceeded,
	},
	{
		name:   "a failover that fails keeps what it restored",
		script: with(drillUntilVerified("failover"), map[string][]reply{"Verify": {fail("DatabaseUnreachable", "connection refused")}}),
		path:   then("Verify", "AfterFailure", "FailoverFailed"),
		status: asl.StatusFailed, errName: "FailoverFailed", cause: []string{"database failover-web-prod-202611300500 (if it exists) is kept"},
	},
	{
		name:   "an unconfirmed failover is refused",
		script: map[string][]reply{"Plan": {fail("InvalidDrillRequest", `confirmFailover must be "web/production"`)}},
		path:   []string{"Plan", "RequestRefused"},
		status: asl.StatusFailed, errName: "InvalidDrillRequest", cause: []string{"confirmFailover"},
	},
	{
		name:   "the restore function crashes at plan",
		script: map[string][]reply{"Plan": {fail("Lambda.Unknown", "exit status 2")}},
		path:   []string{"Plan", "PlanFailed"},
		status: asl.StatusFailed, errName: "PlanFailed", cause: []string{"nothing was restored"},
	},
	{
		name:   "no copy to restore",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Pick": {fail("NoSnapshotToRestore", "us-west-2 has no available stepship copy of web-prod")}}),
		path:   []string{"Plan", "Pick", "NoSnapshot"},
		status: asl.StatusFailed, errName: "NoSnapshotToRestore", cause: []string{"no available stepship copy"},
	},
	{
		name:   "the copies cannot be listed",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Pick": {fail("RDSCallFailed", "throttled")}}),
		path:   []string{"Plan", "Pick", "PickFailed"},
		status: asl.StatusFailed, errName: "PickFailed", cause: []string{"nothing was restored"},
	},
}

func TestDrillPaths(t *testing.T) { checkPaths(t, statemachines.DRDrill, drillInput, drillScenarios) }

func TestDrillEveryPathIsTaken(t *testing.T) {
	everyPathTaken(t, statemachines.DRDrill, drillInput, drillScenarios)
}

// A failure injected at each step after the restore began — an error of
// every Task, a failed restore, a timeout — ends in Cleanup of the restored
// database and a named outcome: a drill never leaves a database running.
// The steps are read from the definition, so a new one is covered too.
func TestDrillCleansUpAfterAFailureAtEachStep(t *testing.T) {
	d := machineOf(t, statemachines.DRDrill)
	var steps []string
	for name, s := range d.States {
		if s.Type == "Task" && name != "Plan" && name != "Pick" && name != "Cleanup" {
			steps = append(steps, name)
		}
	}
	sort.Strings(steps)
	if len(steps) < 4 {
		t.Fatalf("steps after the restore: %v", steps)
	}
	injections := map[string]reply{}
	for _, s := range steps {
		injections[s] = fail("States.TaskFailed", "injected at "+s)
	}
	injections["status failed"] = reply{}
	injections["timeout"] = reply{}
	for name, inj := range injections {
		t.Run(name, func(t *testing.T) {
			script := drillUntilVerified("drill")
			switch name {
			case "status failed":
				script["DescribeRestored"] = []reply{ok(instanceStatus("failed"))}
			case "timeout":
				script["Plan"] = []reply{ok(drillPlan("drill", 2))}
				script["DescribeRestored"] = []reply{ok(instanceStatus("modifying"))}
			default:
				script[name] = []reply{inj}
			}
			var cleanups []string
			got, path, _ := runObserved(t, statemachines.DRDrill, drillInput, scenario{script: script}, func(state string, input []byte) {
				if state == "Cleanup" {
					cleanups = append(cleanups, string(input))
				}
			})
			if !slices.Contains(path, "Cleanup") || len(cleanups) == 0 {
				t.Fatalf("path %v does not clean up", path)
			}
			for _, c := range cleanups {
				if !strings.Contains(c, `"restored":{"instance":"drill-web-prod-202611300500"}`) || !strings.Contains(c, `"action":"cleanup"`) {
					t.Errorf("Cleanup got %s", c)
				}
			}
			switch {
			case name == "RecordMetrics":
				if got.Status != asl.StatusSucceeded {
					t.Errorf("a metric that cannot be written fails the drill: %s %s", got.Status, got.Error)
				}
			case got.Status != asl.StatusFailed || got.Error == "" || strings.Contains(got.Error, "."):
				// States.*, Lambda.*, Rds.*: what failed, not what the drill's outcome is.
				t.Errorf("ended %s %q (%s), want a failure the machine names", got.Status, got.Error, got.Cause)
			}
		})
	}
}
