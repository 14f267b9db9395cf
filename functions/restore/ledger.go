package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/taskerr"
)

// ledgerTimeout bounds each call to the ledger in the home region: in a
// failover the home region may not answer at all, and the drill goes on
// without it.
const ledgerTimeout = 10 * time.Second

// maxLedgerError bounds a ledger error kept in a result.
const maxLedgerError = 500

// expect says which migration version the picked copy must have: the input's
// override when it gives one, else what the ledger recorded for the copy's
// time (ledger.SchemaAt). A ledger that cannot be read is a result
// (backup.LedgerUnreachable), never an error: a failover goes on without it,
// a drill's schema check fails on it.
func (h *Handler) expect(ctx context.Context, tg catalog.Target, t Task, log *slog.Logger) (backup.Expectation, error) {
	if v := t.ExpectedSchemaVersion; v != nil {
		if *v < 0 {
			return backup.Expectation{}, &taskerr.InvalidDrillRequest{Reason: "expectedSchemaVersion must not be negative"}
		}
		return backup.Expectation{Source: backup.FromInput, Versions: []int64{*v},
			Detail: "the execution input's expectedSchemaVersion (an override: the ledger was not read)"}, nil
	}
	if t.TakenAt == nil || t.TakenAt.IsZero() {
		return backup.Expectation{}, &taskerr.InvalidDrillRequest{Reason: "takenAt (the picked copy's time) is required for expect"}
	}
	if h.ledger == nil {
		return backup.Expectation{Source: backup.LedgerUnreachable, Versions: []int64{}, Detail: "the restore function has no ledger to read"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ledgerTimeout)
	defer cancel()
	e, err := h.ledger.ExpectedSchema(ctx, tg.Service, tg.Environment, *t.TakenAt)
	if err != nil {
		log.Warn("ledger unreachable", slog.String("error", err.Error()))
		return backup.Expectation{Source: backup.LedgerUnreachable, Versions: []int64{}, Detail: cut(err.Error())}, nil
	}
	log.Info("expected schema version", slog.String("source", string(e.Source)), slog.Any("versions", e.Versions))
	return e, nil
}

// report builds the drill's report from its state and writes it to the
// ledger. A write that fails is said in the result (recorded false), never
// an error: the drill's outcome and its cleanup do not depend on it.
func (h *Handler) report(ctx context.Context, tg catalog.Target, t Task, execution string, log *slog.Logger) (Reported, error) {
	if t.Drill == nil || t.Drill.Plan == nil {
		return Reported{}, &taskerr.InvalidDrillRequest{Reason: "drill (the drill's state, with its plan) is required for report"}
	}
	if t.StartedAt.IsZero() || execution == "" {
		return Reported{}, &taskerr.InvalidDrillRequest{Reason: "startedAt and the execution id are required for report"}
	}
	r := drillReport(tg, *t.Drill, execution, t.StartedAt)
	out := Reported{Outcome: r.Outcome, Subject: r.Subject(), Execution: execution, Report: r}
	if h.ledger == nil {
		out.RecordError = "the restore function has no ledger to write to"
	} else {
		wctx, cancel := context.WithTimeout(ctx, ledgerTimeout)
		defer cancel()
		if err := h.ledger.RecordDrill(wctx, r, h.now()); err != nil {
			out.RecordError = cut(err.Error())
		} else {
			out.Recorded = true
		}
	}
	log.Info("drill reported", slog.String("outcome", r.Outcome), slog.Bool("passed", r.Passed), slog.Bool("recorded", out.Recorded),
		slog.String("recordError", out.RecordError))
	return out, nil
}

// drillReport is the report of a drill of tg whose state is s.
func drillReport(tg catalog.Target, s DrillState, execution string, started time.Time) backup.DrillReport {
	r := backup.DrillReport{Service: tg.Service, Environment: tg.Environment, Mode: s.Plan.Mode, Execution: execution,
		StartedAt: started.UTC(), Checks: []backup.Check{}, ExpectedSchema: s.Expected, Error: s.Error}
	if p := s.Picked; p != nil {
		takenAt, rpo := p.TakenAt, p.RPOSeconds
		r.Snapshot, r.TakenAt, r.RPOSeconds = p.Snapshot, &takenAt, &rpo
	}
	if s.Restore != nil {
		r.Restored = s.Plan.Restored.Instance
	}
	if v := s.Report; v != nil {
		r.Checks, r.SchemaVersion, r.RTOSeconds = v.Checks, v.SchemaVersion, v.RTOSeconds
	}
	if s.Cleanup != nil {
		r.Deleted = s.Cleanup.Deleted
	}
	end := backup.DrillEnd{Mode: s.Plan.Mode, Picked: s.Picked != nil, Error: s.Error, CleanupFailed: s.CleanupError != nil, Verification: s.Report}
	r.Outcome, r.Passed = end.Outcome(), end.Passed()
	if s.CleanupError != nil {
		r.Error = s.CleanupError
	}
	return r
}

// cut bounds an error kept in a result.
func cut(s string) string {
	if len(s) <= maxLedgerError {
		return s
	}
	return fmt.Sprintf("%s…", s[:maxLedgerError])
}
