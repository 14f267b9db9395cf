package statemachines_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/payload"
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
	expected = `{"source":"ledger","versions":[7],"detail":"7 after the deploy of 3f2a9c1 (SUCCEEDED, 2026-11-29T10:00:00Z to 2026-11-29T10:05:00Z)"}`
	restored = `{"instance":"drill-web-prod-202611300500","startedAt":"2026-11-30T05:00:10Z"}`
	passed   = `{"passed":true,"checks":[{"name":"goose_db_version","kind":"schema","passed":true,"detail":"version 7"}],"schemaVersion":7,"verifiedAt":"2026-11-30T05:21:00Z","rtoSeconds":1250}`
	failed   = `{"passed":false,"checks":[{"name":"users","kind":"table","passed":false,"detail":"has no rows"}],"schemaVersion":7,"verifiedAt":"2026-11-30T05:21:00Z","rtoSeconds":1250}`
	cleaned  = `{"deleted":["drill-web-prod-202611300500"],"alreadyGone":[],"released":"stepship-web-prod-20261130-030000"}`
	reported = `{"outcome":"DrillPassed","subject":"stepship drill web/production: DrillPassed","execution":"arn:aws:states:us-west-2:123456789012:execution:stepship-dr-drill:paths",` +
		`"recorded":true,"report":{"service":"web","environment":"production","mode":"drill","outcome":"DrillPassed","passed":true,"checks":[]}}`
	published = `{"MessageId":"5f2c1a9e-0000-4000-8000-000000000001"}`
)

// drillUntilVerified scripts a drill whose database is available at once.
func drillUntilVerified(mode string) map[string][]reply {
	return map[string][]reply{"Plan": {ok(drillPlan(mode, 5))}, "Pick": {ok(picked)}, "Expect": {ok(expected)}, "Restore": {ok(restored)},
		"DescribeRestored": {ok(instanceStatus("available"))}, "Verify": {ok(passed)}, "RecordMetrics": {ok(`{}`)}, "Cleanup": {ok(cleaned)},
		"Report": {ok(reported)}, "Notify": {ok(published)}, "NotifyPlanFailed": {ok(published)}}
}

var restoredAndAvailable = []string{"Plan", "Pick", "Expect", "Restore", "StartRestoreWait", "WaitRestored", "DescribeRestored", "RestoreReady"}

func then(states ...string) []string { return append(slices.Clone(restoredAndAvailable), states...) }

// reportedAnd is the end of every path after Plan: the report, its
// notification, the outcome's state.
func reportedAnd(outcome string) []string { return []string{"Report", "Notify", "Outcome", outcome} }

var drillScenarios = []scenario{
	{
		name: "a drill that passes: restore, wait, verify, measure, clean up, report, notify",
		script: with(drillUntilVerified("drill"), map[string][]reply{
			"DescribeRestored": {ok(instanceStatus("creating")), ok(instanceStatus("available"))}}),
		path: append([]string{"Plan", "Pick", "Expect", "Restore", "StartRestoreWait", "WaitRestored", "DescribeRestored", "RestoreReady", "CountRestorePoll",
			"WaitRestored", "DescribeRestored", "RestoreReady", "Verify", "RecordMetrics", "Mode", "Cleanup"}, reportedAnd("DrillPassed")...),
		status: asl.StatusSucceeded,
	},
	{
		name: "through throttling, a busy database, a slow delete and a busy topic",
		script: with(drillUntilVerified("drill"), map[string][]reply{
			"Plan":             {fail("Lambda.ServiceException", "500"), ok(drillPlan("drill", 5))},
			"Pick":             {fail("RDSCallFailed", "throttled"), ok(picked)},
			"Expect":           {fail("Lambda.TooManyRequestsException", "Rate exceeded"), ok(expected)},
			"Restore":          {fail("RDSCallFailed", "throttled"), fail("Lambda.TooManyRequestsException", "Rate exceeded"), ok(restored)},
			"DescribeRestored": {fail("Rds.ThrottlingException", "Rate exceeded"), ok(instanceStatus("available"))},
			"Verify":           {fail("DatabaseUnreachable", "connection refused"), fail("Lambda.ServiceException", "500"), ok(passed)},
			"RecordMetrics":    {fail("CloudWatch.ThrottlingException", "Rate exceeded"), ok(`{}`)},
			"Cleanup":          {fail("RDSCallFailed", "failed to delete drill cluster"), fail("Lambda.ServiceException", "500"), ok(cleaned)},
			"Report":           {fail("Lambda.ServiceException", "500"), ok(reported)},
			"Notify":           {fail("Sns.ThrottledException", "Rate exceeded"), fail("Sns.KmsThrottlingException", "Rate exceeded"), ok(published)},
		}),
		path:   then(append([]string{"Verify", "RecordMetrics", "Mode", "Cleanup"}, reportedAnd("DrillPassed")...)...),
		status: asl.StatusSucceeded,
	},
	{
		name:   "a drill whose verification fails: reported, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Verify": {ok(failed)}}),
		path:   then(append([]string{"Verify", "RecordMetrics", "Mode", "Cleanup"}, reportedAnd("VerificationFailed")...)...),
		status: asl.StatusFailed, errName: "VerificationFailed", cause: []string{"failed a check", "has no rows", "the drill database was deleted"},
	},
	{
		name:   "the metrics cannot be written: the drill still passes and cleans up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"RecordMetrics": {fail("CloudWatch.AccessDeniedException", "denied")}}),
		path:   then(append([]string{"Verify", "RecordMetrics", "Mode", "Cleanup"}, reportedAnd("DrillPassed")...)...),
		status: asl.StatusSucceeded,
	},
	{
		name:   "the ledger cannot be asked: the drill goes on with the ledger unreachable (the schema check decides)",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Expect": {fail("Lambda.Unknown", "exit status 2")}}),
		path: append([]string{"Plan", "Pick", "Expect", "ExpectationUnknown", "Restore", "StartRestoreWait", "WaitRestored", "DescribeRestored", "RestoreReady",
			"Verify", "RecordMetrics", "Mode", "Cleanup"}, reportedAnd("DrillPassed")...),
		status: asl.StatusSucceeded,
	},
	{
		name: "the report cannot be made nor published: the outcome is the drill's all the same",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Verify": {ok(failed)}, "Report": {fail("Lambda.Unknown", "exit status 2")},
			"Notify": {fail("Sns.AuthorizationErrorException", "not authorized")}}),
		path:   then("Verify", "RecordMetrics", "Mode", "Cleanup", "Report", "ReportNotMade", "Notify", "Outcome", "VerificationFailed"),
		status: asl.StatusFailed, errName: "VerificationFailed",
	},
	{
		name:   "the restore is refused: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Restore": {fail("RDSCallFailed", "InsufficientDBInstanceCapacity")}}),
		path:   append([]string{"Plan", "Pick", "Expect", "Restore", "AfterFailure", "Cleanup"}, reportedAnd("DrillFailed")...),
		status: asl.StatusFailed, errName: "RDSCallFailed", cause: []string{"InsufficientDBInstanceCapacity"},
	},
	{
		name:   "the restored database cannot be read: named after the step, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"DescribeRestored": {fail("Rds.DbInstanceNotFoundException", "gone")}}),
		path: append([]string{"Plan", "Pick", "Expect", "Restore", "StartRestoreWait", "WaitRestored", "DescribeRestored", "DescribeRestoredStepFailed",
			"AfterFailure", "Cleanup"}, reportedAnd("DrillFailed")...),
		status: asl.StatusFailed, errName: "DrillStepFailed", cause: []string{"step DescribeRestored failed (Rds.DbInstanceNotFoundException): gone"},
	},
	{
		name:   "the restore function cannot run: named after the step, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Restore": {fail("Lambda.ServiceException", "Internal error.")}}),
		path:   append([]string{"Plan", "Pick", "Expect", "Restore", "RestoreStepFailed", "AfterFailure", "Cleanup"}, reportedAnd("DrillFailed")...),
		status: asl.StatusFailed, errName: "DrillStepFailed", cause: []string{"step Restore failed (Lambda.ServiceException): Internal error."},
	},
	{
		name:   "the copy is deleted before it is restored: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Restore": {fail("SnapshotNotFound", "copy x was deleted from us-west-2 while the drill restored it")}}),
		path:   append([]string{"Plan", "Pick", "Expect", "Restore", "AfterFailure", "Cleanup"}, reportedAnd("DrillFailed")...),
		status: asl.StatusFailed, errName: "SnapshotNotFound", cause: []string{"was deleted"},
	},
	{
		name:   "the verify function keeps timing out: named after the step, cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Verify": {fail("States.Timeout", "the Task timed out")}}),
		path:   then(append([]string{"Verify", "VerifyStepFailed", "AfterFailure", "Cleanup"}, reportedAnd("DrillFailed")...)...),
		status: asl.StatusFailed, errName: "DrillStepFailed", cause: []string{"step Verify failed (States.Timeout)"},
	},
	{
		name:   "the restore fails: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"DescribeRestored": {ok(instanceStatus("incompatible-restore"))}}),
		path:   then(append([]string{"RestoreFailed", "AfterFailure", "Cleanup"}, reportedAnd("DrillFailed")...)...),
		status: asl.StatusFailed, errName: "RestoreFailed", cause: []string{"drill-web-prod-202611300500 is incompatible-restore"},
	},
	{
		name: "the restore takes longer than drill.timeoutMinutes: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Plan": {ok(drillPlan("drill", 1))},
			"DescribeRestored": {ok(instanceStatus("creating"))}}),
		path: then(append([]string{"CountRestorePoll", "WaitRestored", "DescribeRestored", "RestoreReady", "RestoreTimedOut", "AfterFailure", "Cleanup"},
			reportedAnd("DrillFailed")...)...),
		status: asl.StatusFailed, errName: "RestoreTimedOut", cause: []string{"still creating after 1 polls"},
	},
	{
		name:   "the database never answers: cleaned up",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Verify": {fail("DatabaseUnreachable", "connection refused")}}),
		path:   then(append([]string{"Verify", "AfterFailure", "Cleanup"}, reportedAnd("DrillFailed")...)...),
		status: asl.StatusFailed, errName: "DatabaseUnreachable", cause: []string{"connection refused"},
	},
	{
		name:   "cleanup keeps failing: reported, and the named outcome says what to delete by hand",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Cleanup": {fail("RDSCallFailed", "InvalidDBInstanceState")}}),
		path:   then(append([]string{"Verify", "RecordMetrics", "Mode", "Cleanup"}, reportedAnd("CleanupFailed")...)...),
		status: asl.StatusFailed, errName: "CleanupFailed", cause: []string{"cleanup of drill database drill-web-prod-202611300500 did not finish",
			"delete the database by hand", "stepship:in-use-by tag from copy stepship-web-prod-20261130-030000"},
	},
	{
		name:   "a confirmed failover keeps the database and outputs its endpoint, runbook and report",
		script: drillUntilVerified("failover"),
		path:   then(append([]string{"Verify", "RecordMetrics", "Mode"}, reportedAnd("FailoverReady")...)...),
		status: asl.StatusSucceeded,
	},
	{
		name:   "a failover that fails keeps what it restored",
		script: with(drillUntilVerified("failover"), map[string][]reply{"Verify": {fail("DatabaseUnreachable", "connection refused")}}),
		path:   then(append([]string{"Verify", "AfterFailure"}, reportedAnd("FailoverFailed")...)...),
		status: asl.StatusFailed, errName: "FailoverFailed", cause: []string{"database failover-web-prod-202611300500 (if it exists) is kept"},
	},
	{
		name:   "an unconfirmed failover is refused",
		script: map[string][]reply{"Plan": {fail("InvalidDrillRequest", `confirmFailover must be "web/production"`)}},
		path:   []string{"Plan", "RequestRefused"},
		status: asl.StatusFailed, errName: "InvalidDrillRequest", cause: []string{"confirmFailover"},
	},
	{
		name:   "the restore function crashes at plan: published",
		script: map[string][]reply{"Plan": {fail("Lambda.Unknown", "exit status 2")}, "NotifyPlanFailed": {ok(published)}},
		path:   []string{"Plan", "PlanFailedNotice", "NotifyPlanFailed", "PlanFailed"},
		status: asl.StatusFailed, errName: "PlanFailed", cause: []string{"nothing was restored"},
	},
	{
		name: "the restore function crashes at plan and the topic refuses",
		script: map[string][]reply{"Plan": {fail("Lambda.Unknown", "exit status 2")},
			"NotifyPlanFailed": {fail("Sns.InternalErrorException", "500"), fail("Sns.AuthorizationErrorException", "not authorized")}},
		path:   []string{"Plan", "PlanFailedNotice", "NotifyPlanFailed", "PlanFailed"},
		status: asl.StatusFailed, errName: "PlanFailed", cause: []string{"Lambda.Unknown", "nothing was restored"},
	},
	{
		name:   "no copy to restore: reported",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Pick": {fail("NoSnapshotToRestore", "us-west-2 has no available stepship copy of web-prod")}}),
		path:   append([]string{"Plan", "Pick"}, reportedAnd("NoSnapshot")...),
		status: asl.StatusFailed, errName: "NoSnapshotToRestore", cause: []string{"no available stepship copy"},
	},
	{
		name:   "no copy to fail over to",
		script: with(drillUntilVerified("failover"), map[string][]reply{"Pick": {fail("NoSnapshotToRestore", "us-west-2 has no available stepship copy of web-prod")}}),
		path:   append([]string{"Plan", "Pick"}, reportedAnd("NoSnapshot")...),
		status: asl.StatusFailed, errName: "NoSnapshotToRestore",
	},
	{
		name:   "the copies cannot be listed: reported",
		script: with(drillUntilVerified("drill"), map[string][]reply{"Pick": {fail("RDSCallFailed", "throttled")}}),
		path:   append([]string{"Plan", "Pick"}, reportedAnd("PickFailed")...),
		status: asl.StatusFailed, errName: "PickFailed", cause: []string{"nothing was restored"},
	},
}

func TestDrillPaths(t *testing.T) { checkPaths(t, statemachines.DRDrill, drillInput, drillScenarios) }

func TestDrillEveryPathIsTaken(t *testing.T) {
	everyPathTaken(t, statemachines.DRDrill, drillInput, drillScenarios)
}

// A failure injected at each step once the copy is picked — an error of
// every Task, a failed restore, a timeout — ends in Cleanup of the restored
// database and a named outcome: a drill never leaves a database running.
// The ledger, the report and the notification never fail a drill. The steps
// are read from the definition, so a new one is covered too.
func TestDrillCleansUpAfterAFailureAtEachStep(t *testing.T) {
	d := machineOf(t, statemachines.DRDrill)
	var steps []string
	for name, s := range d.States {
		if s.Type == "Task" && name != "Plan" && name != "Pick" && name != "Cleanup" && name != "NotifyPlanFailed" {
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
			case name == "RecordMetrics" || name == "Expect" || name == "Report" || name == "Notify":
				if got.Status != asl.StatusSucceeded {
					t.Errorf("a failure at %s fails the drill: %s %s", name, got.Status, got.Error)
				}
			case got.Status != asl.StatusFailed || got.Error == "" || strings.Contains(got.Error, "."):
				// States.*, Lambda.*, Rds.*: what failed, not what the drill's outcome is.
				t.Errorf("ended %s %q (%s), want a failure the machine names", got.Status, got.Error, got.Cause)
			}
		})
	}
}

// The Outcome choice and the report's outcome (shared/backup.DrillEnd, which
// the restore function's report action follows) agree on every path: the
// report a drill records and publishes names the state the drill ends in.
// And what Notify publishes is that report, under its subject.
func TestDrillReportNamesTheStateTheDrillEndsIn(t *testing.T) {
	ends := map[string]string{"DrillPassed": backup.OutcomeDrillPassed, "VerificationFailed": backup.OutcomeVerificationFailed,
		"DrillFailed": backup.OutcomeDrillFailed, "CleanupFailed": backup.OutcomeCleanupFailed, "FailoverReady": backup.OutcomeFailoverReady,
		"FailoverFailed": backup.OutcomeFailoverFailed, "NoSnapshot": backup.OutcomeNoSnapshot, "PickFailed": backup.OutcomePickFailed}
	reportedPaths := 0
	for _, sc := range drillScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var report, notify []byte
			_, path, _ := runObserved(t, statemachines.DRDrill, drillInput, sc, func(state string, input []byte) {
				switch state {
				case "Report":
					report = input
				case "Notify":
					notify = input
				}
			})
			if report == nil {
				if want := path[len(path)-1]; want != "RequestRefused" && want != "PlanFailed" {
					t.Fatalf("path %v ends without a report", path)
				}
				return
			}
			reportedPaths++
			var in struct {
				Input struct {
					Action string `json:"action"`
					Drill  struct {
						Plan struct {
							Mode payload.DrillMode `json:"mode"`
						} `json:"plan"`
						Picked       json.RawMessage      `json:"picked"`
						Error        *payload.ErrorSlot   `json:"error"`
						CleanupError *payload.ErrorSlot   `json:"cleanupError"`
						Report       *backup.Verification `json:"report"`
					} `json:"drill"`
				} `json:"input"`
			}
			if err := json.Unmarshal(report, &in); err != nil || in.Input.Action != "report" {
				t.Fatalf("Report got %s: %v", report, err)
			}
			d := in.Input.Drill
			end := backup.DrillEnd{Mode: d.Plan.Mode, Picked: d.Picked != nil, Error: d.Error, CleanupFailed: d.CleanupError != nil, Verification: d.Report}
			if got, want := end.Outcome(), ends[path[len(path)-1]]; got != want {
				t.Errorf("the report says %s, the drill ends in %s (%s)", got, path[len(path)-1], want)
			}
			var published struct{ TopicArn, Subject, Message string }
			if err := json.Unmarshal(notify, &published); err != nil {
				t.Fatal(err)
			}
			var message struct {
				Subject  string `json:"subject"`
				Recorded bool   `json:"recorded"`
			}
			if err := json.Unmarshal([]byte(published.Message), &message); err != nil || message.Subject != published.Subject ||
				published.Subject == "" || published.TopicArn != "stepship-NotificationTopicArn" {
				t.Errorf("Notify published %s: %v", notify, err)
			}
		})
	}
	if reportedPaths < len(ends) {
		t.Errorf("only %d scenarios reach Report", reportedPaths)
	}
}
