package backup

import (
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/payload"
)

func TestExpectationCompare(t *testing.T) {
	ledger := &Expectation{Source: FromLedger, Versions: []int64{3}, Detail: "3 after the deploy of 3f2a9c1"}
	running := &Expectation{Source: FromLedger, Versions: []int64{3, 4}, Detail: "3 or 4: the deploy of 9b8c7d6 was running"}
	input := &Expectation{Source: FromInput, Versions: []int64{7}, Detail: "the execution input's expectedSchemaVersion"}
	none := &Expectation{Source: NoMigrationRecorded, Versions: []int64{}, Detail: "the ledger records no deploy with an SQL migration by 2026-11-30T03:00:00Z"}
	down := &Expectation{Source: LedgerUnreachable, Versions: []int64{}, Detail: "dial tcp: i/o timeout"}
	tests := []struct {
		name   string
		e      *Expectation
		found  int64
		mode   payload.DrillMode
		passed bool
		detail string
	}{
		{"the version the ledger recorded", ledger, 3, payload.ModeDrill, true, "version 3, as the ledger recorded: 3 after the deploy of 3f2a9c1"},
		{"another version", ledger, 4, payload.ModeDrill, false, "version 4, want 3 (the ledger recorded: 3 after the deploy of 3f2a9c1)"},
		{"a deploy running at taken-at: before", running, 3, payload.ModeDrill, true, "version 3, as the ledger recorded"},
		{"a deploy running at taken-at: after", running, 4, payload.ModeDrill, true, "version 4, as the ledger recorded"},
		{"a deploy running at taken-at: neither", running, 5, payload.ModeDrill, false, "version 5, want 3 or 4"},
		{"the input's override", input, 3, payload.ModeDrill, false, "version 3, want 7 (the input's expectedSchemaVersion says"},
		{"no migration recorded: reported", none, 3, payload.ModeDrill, true, "version 3, not compared: the ledger records no deploy"},
		{"the ledger unreachable in a drill: the check fails", down, 3, payload.ModeDrill, false, "version 3, not compared: the ledger is unreachable (dial tcp: i/o timeout)"},
		{"the ledger unreachable in a failover: reported", down, 3, payload.ModeFailover, true, "the ledger is unreachable, a failover goes on without it"},
		{"no expectation given", nil, 3, payload.ModeDrill, true, "version 3 (no expected version given: not compared)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			passed, detail := tt.e.Compare(tt.found, tt.mode)
			if passed != tt.passed || !strings.Contains(detail, tt.detail) {
				t.Errorf("Compare = %t %q, want %t saying %q", passed, detail, tt.passed, tt.detail)
			}
		})
	}
}

func TestDrillEndOutcome(t *testing.T) {
	verified := &Verification{Passed: true}
	failed := &Verification{Passed: false}
	stopped := &payload.ErrorSlot{Error: "RestoreFailed", Cause: "incompatible-restore"}
	tests := []struct {
		name    string
		end     DrillEnd
		outcome string
		passed  bool
	}{
		{"verified", DrillEnd{Mode: payload.ModeDrill, Picked: true, Verification: verified}, OutcomeDrillPassed, true},
		{"a check failed", DrillEnd{Mode: payload.ModeDrill, Picked: true, Verification: failed}, OutcomeVerificationFailed, false},
		{"stopped", DrillEnd{Mode: payload.ModeDrill, Picked: true, Error: stopped}, OutcomeDrillFailed, false},
		{"cleanup failed after verifying", DrillEnd{Mode: payload.ModeDrill, Picked: true, Verification: verified, CleanupFailed: true}, OutcomeCleanupFailed, false},
		{"no copy", DrillEnd{Mode: payload.ModeDrill, Error: &payload.ErrorSlot{Error: "NoSnapshotToRestore"}}, OutcomeNoSnapshot, false},
		{"no copy in a failover", DrillEnd{Mode: payload.ModeFailover, Error: &payload.ErrorSlot{Error: "NoSnapshotToRestore"}}, OutcomeNoSnapshot, false},
		{"copies not listed", DrillEnd{Mode: payload.ModeDrill, Error: &payload.ErrorSlot{Error: "RDSCallFailed"}}, OutcomePickFailed, false},
		{"failover ready", DrillEnd{Mode: payload.ModeFailover, Picked: true, Verification: verified}, OutcomeFailoverReady, true},
		{"failover ready, a check failed", DrillEnd{Mode: payload.ModeFailover, Picked: true, Verification: failed}, OutcomeFailoverReady, false},
		{"failover stopped", DrillEnd{Mode: payload.ModeFailover, Picked: true, Error: stopped}, OutcomeFailoverFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.end.Outcome(); got != tt.outcome || tt.end.Passed() != tt.passed {
				t.Errorf("Outcome %s, Passed %t; want %s, %t", got, tt.end.Passed(), tt.outcome, tt.passed)
			}
		})
	}
}

// A subject of up to 100 characters is sent whole; a longer one is cut to
// 97 and "...".
func TestDrillReportSubjectFitsSNS(t *testing.T) {
	s32, s33, s40 := strings.Repeat("s", 32), strings.Repeat("s", 33), strings.Repeat("s", 40)
	tests := []struct {
		name string
		r    DrillReport
		want string
	}{
		{"short", DrillReport{Service: "web", Environment: "production", Mode: payload.ModeDrill, Outcome: OutcomeVerificationFailed},
			"stepship drill web/production: VerificationFailed"},
		{"100 characters: whole", DrillReport{Service: s32, Environment: s32, Mode: payload.ModeDrill, Outcome: OutcomeVerificationFailed},
			"stepship drill " + s32 + "/" + s32 + ": VerificationFailed"},
		{"101 characters: cut", DrillReport{Service: s33, Environment: s32, Mode: payload.ModeDrill, Outcome: OutcomeVerificationFailed},
			"stepship drill " + s33 + "/" + s32 + ": VerificationFa..."},
		{"long", DrillReport{Service: s40, Environment: s40, Mode: payload.ModeFailover, Outcome: OutcomeFailoverFailed},
			"stepship failover " + s40 + "/" + s40[:38] + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Subject()
			if got != tt.want || len(got) > 100 {
				t.Errorf("subject %q (%d characters), want %q", got, len(got), tt.want)
			}
		})
	}
}
