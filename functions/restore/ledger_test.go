package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/ledger"
	"github.com/stepship/stepship/shared/payload"
)

// fakeLedger is the ledger table in the home region: the entries a Query
// answers, the items PutItem wrote, and an error for every call.
type fakeLedger struct {
	entries  []map[string]types.AttributeValue
	puts     []map[string]types.AttributeValue
	queries  []*dynamodb.QueryInput
	err      error
	deadline time.Duration // how far off the last call's deadline was
}

func (f *fakeLedger) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.queries = append(f.queries, in)
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	if f.err != nil {
		return nil, f.err
	}
	return &dynamodb.QueryOutput{Items: f.entries}, nil
}

func (f *fakeLedger) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	if f.err != nil {
		return nil, f.err
	}
	f.puts = append(f.puts, in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

// entry is a deploy's ledger entry, as the deploy machine writes it.
func entry(start, end time.Time, before, after string) map[string]types.AttributeValue {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	return map[string]types.AttributeValue{"PK": s("deploy#web#production"), "SK": s("release#" + start.Format(payload.TimeFormat) + "#x"),
		"commit": s("3f2a9c1000"), "outcome": s("SUCCEEDED"), "start": s(start.Format(payload.TimeFormat)), "end": s(end.Format(payload.TimeFormat)),
		"migrationBefore": s(before), "migrationAfter": s(after)}
}

func newLedgerHandler(t *testing.T, l *fakeLedger) *Handler {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	opts := []Option{WithClock(func() time.Time { return now })}
	if l != nil {
		opts = append(opts, WithLedger(ledger.Table{Name: "Stepship-ledger", Client: l}))
	}
	h, err := NewHandler(cat, "us-west-2", newFakeRDS(), slog.New(slog.NewJSONHandler(io.Discard, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestExpect(t *testing.T) {
	takenAt := now.Add(-2 * time.Hour)
	seven, zero, minus := int64(7), int64(0), int64(-1)
	// A ledger error is kept up to maxLedgerError bytes, then cut.
	unreachable := "failed to read the ledger Stepship-ledger of web/production: "
	atLimit := strings.Repeat("x", maxLedgerError-len(unreachable))
	tests := []struct {
		name      string
		ledger    *fakeLedger
		task      Task
		source    backup.ExpectationSource
		versions  []int64
		detail    string
		whole     bool // detail is the whole detail, not a part
		errName   string
		noQueries bool
	}{
		{name: "what the ledger recorded for the copy's time",
			ledger: &fakeLedger{entries: []map[string]types.AttributeValue{entry(takenAt.Add(-time.Hour), takenAt.Add(-50*time.Minute), "2", "3")}},
			task:   Task{TakenAt: &takenAt}, source: backup.FromLedger, versions: []int64{3}, detail: "3 after the deploy of 3f2a9c1"},
		{name: "no migration recorded", ledger: &fakeLedger{}, task: Task{TakenAt: &takenAt},
			source: backup.NoMigrationRecorded, versions: []int64{}, detail: "no deploy with an SQL migration"},
		{name: "the input's override: the ledger is not read", ledger: &fakeLedger{}, task: Task{TakenAt: &takenAt, ExpectedSchemaVersion: &seven},
			source: backup.FromInput, versions: []int64{7}, detail: "override", noQueries: true},
		{name: "version 0 as the override", ledger: &fakeLedger{}, task: Task{TakenAt: &takenAt, ExpectedSchemaVersion: &zero},
			source: backup.FromInput, versions: []int64{0}, detail: "override", noQueries: true},
		{name: "the ledger cannot be read: said, not an error", ledger: &fakeLedger{err: errors.New("dial tcp: i/o timeout")}, task: Task{TakenAt: &takenAt},
			source: backup.LedgerUnreachable, versions: []int64{}, detail: unreachable + "dial tcp: i/o timeout", whole: true},
		{name: "a ledger error of maxLedgerError bytes is kept whole", ledger: &fakeLedger{err: errors.New(atLimit)}, task: Task{TakenAt: &takenAt},
			source: backup.LedgerUnreachable, versions: []int64{}, detail: unreachable + atLimit, whole: true},
		{name: "a longer one is cut", ledger: &fakeLedger{err: errors.New(atLimit + "yz")}, task: Task{TakenAt: &takenAt},
			source: backup.LedgerUnreachable, versions: []int64{}, detail: unreachable + atLimit + "…", whole: true},
		{name: "no ledger at all", task: Task{TakenAt: &takenAt}, source: backup.LedgerUnreachable, versions: []int64{}, detail: "no ledger"},
		{name: "no takenAt", ledger: &fakeLedger{}, task: Task{}, errName: "InvalidDrillRequest", detail: "takenAt"},
		{name: "a negative override", ledger: &fakeLedger{}, task: Task{TakenAt: &takenAt, ExpectedSchemaVersion: &minus},
			errName: "InvalidDrillRequest", detail: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLedgerHandler(t, tt.ledger)
			tt.task.Call = backup.Call{Action: ActionExpect, Service: "web", Environment: "production"}
			got, err := run(h, tt.task)
			if tt.errName != "" {
				wantErr(t, err, tt.errName, tt.detail)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := got.(backup.Expectation)
			if e.Source != tt.source || !slices.Equal(e.Versions, tt.versions) || e.Versions == nil || !strings.Contains(e.Detail, tt.detail) ||
				tt.whole && e.Detail != tt.detail {
				t.Errorf("expectation %+v, want %s %v saying %q", e, tt.source, tt.versions, tt.detail)
			}
			if tt.ledger == nil {
				return
			}
			if tt.noQueries != (len(tt.ledger.queries) == 0) {
				t.Errorf("%d ledger queries", len(tt.ledger.queries))
			}
			if len(tt.ledger.queries) > 0 && (tt.ledger.deadline <= 0 || tt.ledger.deadline > ledgerTimeout) {
				t.Errorf("the ledger read has %s left, want at most %s", tt.ledger.deadline, ledgerTimeout)
			}
		})
	}
}

// drillState is a drill's state at Report: picked, restored and verified,
// then changed by what each case says.
func drillState(mode payload.DrillMode, change func(*DrillState)) *DrillState {
	rto, v := int64(1250), int64(3)
	s := &DrillState{
		Plan:     &Plan{Service: "web", Environment: "production", Mode: mode, Database: "web-prod", Restored: Restored{Instance: string(mode) + "-web-prod-202611300500"}},
		Picked:   &Picked{Snapshot: "stepship-web-prod-20261130-030000", TakenAt: now.Add(-2 * time.Hour), RPOSeconds: 7200},
		Expected: &backup.Expectation{Source: backup.FromLedger, Versions: []int64{3}, Detail: "3 after the deploy of 3f2a9c1"},
		Restore:  &RestoreStarted{StartedAt: now.Add(-20 * time.Minute)},
		Report: &backup.Verification{Passed: true, SchemaVersion: &v, RTOSeconds: &rto,
			Checks: []backup.Check{{Name: "goose_db_version", Kind: backup.CheckSchema, Passed: true, Detail: "version 3"}}},
		Cleanup: &Cleaned{Deleted: []string{"drill-web-prod-202611300500"}},
	}
	if mode == payload.ModeFailover {
		s.Cleanup = nil
	}
	if change != nil {
		change(s)
	}
	return s
}

func TestReport(t *testing.T) {
	failedChecks := func(s *DrillState) { s.Report.Passed = false; s.Report.Checks[0].Passed = false }
	stopped := func(name string) func(*DrillState) {
		return func(s *DrillState) { s.Report = nil; s.Error = &payload.ErrorSlot{Error: name, Cause: "x"} }
	}
	cleanupFailed := func(s *DrillState) {
		s.Cleanup, s.CleanupError = nil, &payload.ErrorSlot{Error: "RDSCallFailed", Cause: "refused"}
	}
	tests := []struct {
		name    string
		state   *DrillState
		outcome string
		passed  bool
		err     string // the report's error ("" for none): the cleanup's, else the drill's
	}{
		{"a drill that passed", drillState(payload.ModeDrill, nil), backup.OutcomeDrillPassed, true, ""},
		{"a check failed", drillState(payload.ModeDrill, failedChecks), backup.OutcomeVerificationFailed, false, ""},
		{"the restore failed", drillState(payload.ModeDrill, stopped("RestoreFailed")), backup.OutcomeDrillFailed, false, "RestoreFailed: x"},
		{"the cleanup failed", drillState(payload.ModeDrill, cleanupFailed), backup.OutcomeCleanupFailed, false, "RDSCallFailed: refused"},
		{"the restore and then the cleanup failed", drillState(payload.ModeDrill, func(s *DrillState) { stopped("RestoreFailed")(s); cleanupFailed(s) }),
			backup.OutcomeCleanupFailed, false, "RDSCallFailed: refused"},
		{"no copy", drillState(payload.ModeDrill, func(s *DrillState) {
			*s = DrillState{Plan: s.Plan, Error: &payload.ErrorSlot{Error: "NoSnapshotToRestore", Cause: "no copy"}}
		}), backup.OutcomeNoSnapshot, false, "NoSnapshotToRestore: no copy"},
		{"the copies could not be listed", drillState(payload.ModeDrill, func(s *DrillState) {
			*s = DrillState{Plan: s.Plan, Error: &payload.ErrorSlot{Error: "RDSCallFailed", Cause: "throttled"}}
		}), backup.OutcomePickFailed, false, "RDSCallFailed: throttled"},
		{"a failover ready", drillState(payload.ModeFailover, nil), backup.OutcomeFailoverReady, true, ""},
		{"a failover ready whose check failed", drillState(payload.ModeFailover, failedChecks), backup.OutcomeFailoverReady, false, ""},
		{"a failover that failed", drillState(payload.ModeFailover, stopped("DatabaseUnreachable")), backup.OutcomeFailoverFailed, false, "DatabaseUnreachable: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &fakeLedger{}
			h := newLedgerHandler(t, l)
			started := now.Add(-25 * time.Minute)
			got, err := h.Handle(context.Background(), payload.Invocation[Task]{ExecutionID: "arn:aws:states:us-west-2:123456789012:execution:stepship-dr-drill:weekly",
				Input: Task{Call: backup.Call{Action: ActionReport, Service: "web", Environment: "production", StartedAt: started}, Drill: tt.state}})
			if err != nil {
				t.Fatal(err)
			}
			r := got.(Reported)
			rep := r.Report
			if r.Outcome != tt.outcome || rep.Outcome != tt.outcome || rep.Passed != tt.passed || !r.Recorded || r.RecordError != "" {
				t.Errorf("reported %s (report %s, passed %t, recorded %t %s), want %s passed %t", r.Outcome, rep.Outcome, rep.Passed, r.Recorded, r.RecordError, tt.outcome, tt.passed)
			}
			if got := errorOf(rep.Error); got != tt.err {
				t.Errorf("report's error %q, want %q", got, tt.err)
			}
			if want := "stepship " + string(tt.state.Plan.Mode) + " web/production: " + tt.outcome; r.Subject != want {
				t.Errorf("subject %q, want %q", r.Subject, want)
			}
			if len(l.puts) != 1 || l.puts[0]["PK"].(*types.AttributeValueMemberS).Value != "drill#web#production" ||
				l.puts[0]["SK"].(*types.AttributeValueMemberS).Value != "drill#2026-11-30T04:35:00.000Z#weekly" || l.deadline <= 0 || l.deadline > ledgerTimeout {
				t.Errorf("ledger items %v (deadline %s)", l.puts, l.deadline)
			}
			var stored backup.DrillReport
			if err := json.Unmarshal([]byte(l.puts[0]["report"].(*types.AttributeValueMemberS).Value), &stored); err != nil || stored.Outcome != tt.outcome {
				t.Errorf("stored report %+v, %v", stored, err)
			}
			if tt.state.Picked != nil && (rep.Snapshot != "stepship-web-prod-20261130-030000" || *rep.RPOSeconds != 7200 || !rep.TakenAt.Equal(now.Add(-2*time.Hour))) {
				t.Errorf("report's copy %+v", rep)
			}
			if tt.state.Picked == nil && (rep.Snapshot != "" || rep.TakenAt != nil || rep.Restored != "") {
				t.Errorf("a drill that picked nothing reports %+v", rep)
			}
		})
	}
}

// errorOf is an error slot as "NAME: CAUSE", "" for none.
func errorOf(e *payload.ErrorSlot) string {
	if e == nil {
		return ""
	}
	return e.Error + ": " + e.Cause
}

// A report that cannot be written does not fail the drill: the result says
// so. A state without a plan is refused.
func TestReportNotRecorded(t *testing.T) {
	for name, l := range map[string]*fakeLedger{"the ledger refuses": {err: errors.New("AccessDeniedException: no")}, "no ledger": nil} {
		t.Run(name, func(t *testing.T) {
			h := newLedgerHandler(t, l)
			got, err := run(h, Task{Call: backup.Call{Action: ActionReport, Service: "web", Environment: "production", StartedAt: now}, Drill: drillState(payload.ModeDrill, nil)})
			if err != nil {
				t.Fatal(err)
			}
			if r := got.(Reported); r.Recorded || r.RecordError == "" || r.Outcome != backup.OutcomeDrillPassed || !r.Report.Passed {
				t.Errorf("reported %+v", r)
			}
		})
	}
	h := newLedgerHandler(t, &fakeLedger{})
	_, err := run(h, Task{Call: backup.Call{Action: ActionReport, Service: "web", Environment: "production", StartedAt: now}, Drill: &DrillState{}})
	wantErr(t, err, "InvalidDrillRequest", "drill (the drill's state, with its plan) is required")
	_, err = run(h, Task{Call: backup.Call{Action: ActionReport, Service: "web", Environment: "production"}, Drill: drillState(payload.ModeDrill, nil)})
	wantErr(t, err, "InvalidDrillRequest", "startedAt")
}
