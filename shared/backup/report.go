package backup

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/payload"
)

// Check kinds of a drill's verification.
const (
	CheckSchema    = "schema"
	CheckTable     = "table"
	CheckAssertion = "assertion"
)

// Check is one verification of a restored database's data.
type Check struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Verification is what the dr-verify function found in a restored
// database: every check, whether all passed, and the recovery time.
type Verification struct {
	Passed bool    `json:"passed"`
	Checks []Check `json:"checks"`
	// SchemaVersion is the migration version found (goose's table).
	SchemaVersion *int64    `json:"schemaVersion,omitempty"`
	VerifiedAt    time.Time `json:"verifiedAt"`
	// RTOSeconds is the time from the start of the restore to the
	// verification.
	RTOSeconds *int64 `json:"rtoSeconds,omitempty"`
}

// ExpectationSource says where the schema version a restored copy must have
// comes from.
type ExpectationSource string

// Sources of an Expectation.
const (
	// FromLedger: the deploys the ledger recorded up to the copy's time.
	FromLedger ExpectationSource = "ledger"
	// FromInput: the execution input's expectedSchemaVersion, an
	// engineer's explicit override (the ledger is not read).
	FromInput ExpectationSource = "input"
	// NoMigrationRecorded: the ledger has no deploy with an SQL migration up
	// to the copy's time; the version found is reported, not compared.
	NoMigrationRecorded ExpectationSource = "no-migration"
	// LedgerUnreachable: the ledger (in the home region) could not be read.
	// A drill's schema check fails; a failover's reports the version found
	// without comparing it, as the home region may be down.
	LedgerUnreachable ExpectationSource = "ledger-unreachable"
)

// Expectation is the migration version a restored copy must have: one of
// Versions (usually one; two when a deploy was migrating at the copy's
// time), and where that comes from.
type Expectation struct {
	Source ExpectationSource `json:"source"`
	// Versions are the acceptable goose versions, ascending; empty when
	// there is nothing to compare with.
	Versions []int64 `json:"versions"`
	// Detail says why, for the report: the deploys that decided it, or why
	// there is no version.
	Detail string `json:"detail"`
}

// Compare compares the version found in a restored database with e, for a
// drill of mode: whether the schema check passes, and its detail.
func (e *Expectation) Compare(found int64, mode payload.DrillMode) (bool, string) {
	if e == nil {
		return true, fmt.Sprintf("version %d (no expected version given: not compared)", found)
	}
	if len(e.Versions) > 0 && slices.Contains(e.Versions, found) {
		return true, fmt.Sprintf("version %d, as %s: %s", found, e.what(), e.Detail)
	}
	if len(e.Versions) > 0 {
		return false, fmt.Sprintf("version %d, want %s (%s: %s)", found, oneOf(e.Versions), e.what(), e.Detail)
	}
	if e.Source == LedgerUnreachable && mode != payload.ModeFailover {
		return false, fmt.Sprintf("version %d, not compared: the ledger is unreachable (%s)", found, e.Detail)
	}
	if e.Source == LedgerUnreachable {
		return true, fmt.Sprintf("version %d, not compared: the ledger is unreachable, a failover goes on without it (%s)", found, e.Detail)
	}
	return true, fmt.Sprintf("version %d, not compared: %s", found, e.Detail)
}

// what names where the expected versions come from.
func (e *Expectation) what() string {
	if e.Source == FromInput {
		return "the input's expectedSchemaVersion says"
	}
	return "the ledger recorded"
}

// oneOf lists versions: "3", "3 or 4".
func oneOf(versions []int64) string {
	s := make([]string, len(versions))
	for i, v := range versions {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, " or ")
}

// Outcomes of a dr-drill execution: the name of the state it ends in (for
// DrillFailed, its error names what stopped it), in the drill's report, its
// ledger item and its notification.
const (
	OutcomeDrillPassed        = "DrillPassed"
	OutcomeVerificationFailed = "VerificationFailed"
	OutcomeDrillFailed        = "DrillFailed"
	OutcomeCleanupFailed      = "CleanupFailed"
	OutcomeFailoverReady      = "FailoverReady"
	OutcomeFailoverFailed     = "FailoverFailed"
	// OutcomeNoSnapshot is also the error (taskerr.NoSnapshotToRestore) Pick
	// fails with when there is no copy.
	OutcomeNoSnapshot = "NoSnapshotToRestore"
	OutcomePickFailed = "PickFailed"
)

// DrillEnd is what decides how a drill ends, read from its state: the
// dr-drill state machine's Outcome choice and the report's outcome both
// follow Outcome.
type DrillEnd struct {
	Mode payload.DrillMode
	// Picked: a copy was picked (the drill got past Pick).
	Picked bool
	// Error is what stopped the drill (nil when nothing did).
	Error *payload.ErrorSlot
	// CleanupFailed: the drill's cleanup gave up.
	CleanupFailed bool
	// Verification is what dr-verify found (nil when it did not run).
	Verification *Verification
}

// Outcome is the drill's outcome: a cleanup that failed first (a database
// is left behind), then nothing picked (no copy, or the copies could not be
// listed), then a failover's end, then an error, then the checks.
func (e DrillEnd) Outcome() string {
	failover := e.Mode == payload.ModeFailover
	if e.CleanupFailed {
		return OutcomeCleanupFailed
	}
	if !e.Picked && e.Error != nil && e.Error.Error == OutcomeNoSnapshot {
		return OutcomeNoSnapshot
	}
	if !e.Picked {
		return OutcomePickFailed
	}
	if failover && e.Error != nil {
		return OutcomeFailoverFailed
	}
	if failover {
		return OutcomeFailoverReady
	}
	if e.Error != nil {
		return OutcomeDrillFailed
	}
	if e.Verification != nil && !e.Verification.Passed {
		return OutcomeVerificationFailed
	}
	return OutcomeDrillPassed
}

// Passed reports whether the drill ended well with every check passed:
// DrillPassed, or FailoverReady with every check passed.
func (e DrillEnd) Passed() bool {
	o := e.Outcome()
	return e.Verification != nil && e.Verification.Passed && (o == OutcomeDrillPassed || o == OutcomeFailoverReady)
}

// DrillReport is what one drill (or failover) found and measured: the copy
// it restored and its RPO, the recovery time, every check, and how it
// ended. It is the drill's output, its ledger item and its notification,
// and never carries a credential (the database's secret is never in the
// execution's state).
type DrillReport struct {
	Service     string            `json:"service"`
	Environment string            `json:"environment"`
	Mode        payload.DrillMode `json:"mode"`
	// Execution is the execution's ARN, StartedAt its start.
	Execution string    `json:"execution"`
	StartedAt time.Time `json:"startedAt"`
	// Outcome is one of the Outcome constants; Passed is true when every
	// check passed and the drill ended well (DrillPassed, or FailoverReady
	// with every check passed).
	Outcome string `json:"outcome"`
	Passed  bool   `json:"passed"`
	// Snapshot is the copy restored and TakenAt the time its data is from;
	// RPOSeconds its age when it was picked.
	Snapshot   string     `json:"snapshot,omitempty"`
	TakenAt    *time.Time `json:"takenAt,omitempty"`
	RPOSeconds *int64     `json:"rpoSeconds,omitempty"`
	// RTOSeconds is the time from the start of the restore to verified
	// data.
	RTOSeconds *int64 `json:"rtoSeconds,omitempty"`
	// Restored is the database the drill restored (deleted by a drill's
	// cleanup, kept by a failover).
	Restored string `json:"restored,omitempty"`
	// SchemaVersion is the version found; ExpectedSchema what it was
	// compared with.
	SchemaVersion  *int64       `json:"schemaVersion,omitempty"`
	ExpectedSchema *Expectation `json:"expectedSchema,omitempty"`
	Checks         []Check      `json:"checks"`
	// Error is what stopped the drill, when something did.
	Error *payload.ErrorSlot `json:"error,omitempty"`
	// Deleted lists what the drill's cleanup deleted.
	Deleted []string `json:"deleted,omitempty"`
}

// maxSubject is SNS's limit on a message's subject.
const maxSubject = 100

// Subject is the report's notification subject: "stepship dr-drill
// SERVICE/ENVIRONMENT: OUTCOME", within SNS's 100 characters.
func (r DrillReport) Subject() string {
	s := fmt.Sprintf("stepship %s %s/%s: %s", r.Mode, r.Service, r.Environment, r.Outcome)
	if len(s) > maxSubject {
		s = s[:maxSubject-3] + "..."
	}
	return s
}
