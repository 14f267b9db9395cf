package payload

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// BackupRequest is the input of the backup state machine: the schedule's
// (EventBridge Scheduler, one per database) or an engineer's "backup now"
// (events/backup-now.json). Like a deploy, it names a service and an
// environment, never a database, a region or a key: those come from the
// catalog.
type BackupRequest struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Reason is recorded on the snapshot's tags (required: a snapshot nobody
	// can explain is one nobody dares to delete).
	Reason      string `json:"reason"`
	RequestedBy string `json:"requestedBy,omitempty"`
	// SnapshotOnly takes the snapshot and stops once it is available: no
	// copy to the DR region, no pruning. The deploy state machine's
	// pre-deploy snapshot (catalog backup.beforeDeploy) asks for it, so that
	// a deploy waits for its recovery point, not for a cross-region copy.
	SnapshotOnly bool `json:"snapshotOnly,omitempty"`
	// StartedBy is the execution that started this one as a nested workflow
	// (Step Functions' AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID, which
	// links the two in the console): an execution ARN when present.
	StartedBy string `json:"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID,omitempty"`
}

// DecodeBackupRequest decodes a backup state machine input strictly (see
// DecodeDeployRequest).
func DecodeBackupRequest(raw []byte) (BackupRequest, error) {
	return decodeStrict[BackupRequest](raw, backupKind)
}

// Validate names every problem of a backup request.
func (r BackupRequest) Validate() error {
	problems := targetProblems(r.Service, r.Environment)
	if r.Reason == "" {
		problems = append(problems, "reason is required (it is recorded on the snapshot)")
	}
	problems = append(problems, textProblems(r.Reason, r.RequestedBy)...)
	if r.StartedBy != "" && !isExecutionARN(r.StartedBy) {
		problems = append(problems, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID must be the ARN of the Step Functions execution that started this one")
	}
	return backupKind.invalid(problems)
}

// DrillMode says what a dr-drill execution does with the database it
// restores.
type DrillMode string

// Drill modes.
const (
	// ModeDrill restores, verifies, measures and deletes (the default, and
	// the schedule's).
	ModeDrill DrillMode = "drill"
	// ModeFailover restores and verifies, and keeps the database: a real
	// failover, started by an engineer with ConfirmFailover.
	ModeFailover DrillMode = "failover"
)

// DrillRequest is the input of the dr-drill state machine (events/dr-drill.json,
// events/dr-failover.json).
type DrillRequest struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Reason      string `json:"reason"`
	RequestedBy string `json:"requestedBy,omitempty"`
	// Mode is drill (default) or failover.
	Mode DrillMode `json:"mode,omitempty"`
	// ConfirmFailover must be "SERVICE/ENVIRONMENT" in failover mode, and is
	// refused in drill mode: a failover keeps a database running and is never
	// started by accident or by a schedule.
	ConfirmFailover string `json:"confirmFailover,omitempty"`
	// ExpectedSchemaVersion is the migration version the restored database
	// must have (optional: without it, the version found is reported, not
	// compared).
	ExpectedSchemaVersion *int64 `json:"expectedSchemaVersion,omitempty"`
}

// DecodeDrillRequest decodes a dr-drill state machine input strictly (see
// DecodeDeployRequest); a missing mode becomes ModeDrill.
func DecodeDrillRequest(raw []byte) (DrillRequest, error) {
	r, err := decodeStrict[DrillRequest](raw, drillKind)
	if err == nil && r.Mode == "" {
		r.Mode = ModeDrill
	}
	return r, err
}

// Validate names every problem of a drill request.
func (r DrillRequest) Validate() error {
	problems := targetProblems(r.Service, r.Environment)
	if r.Reason == "" {
		problems = append(problems, "reason is required (it is recorded on the restored database and in the report)")
	}
	problems = append(problems, textProblems(r.Reason, r.RequestedBy)...)
	want := r.Service + "/" + r.Environment
	switch r.Mode {
	case "", ModeDrill:
		if r.ConfirmFailover != "" {
			problems = append(problems, "confirmFailover is only for mode failover")
		}
	case ModeFailover:
		if r.ConfirmFailover != want {
			problems = append(problems, fmt.Sprintf("confirmFailover must be %q to start a failover, which keeps the restored database running", want))
		}
	default:
		problems = append(problems, "mode must be drill or failover")
	}
	if v := r.ExpectedSchemaVersion; v != nil && *v < 0 {
		problems = append(problems, "expectedSchemaVersion must not be negative")
	}
	return drillKind.invalid(problems)
}

// isExecutionARN reports whether s is a Step Functions execution ARN
// (arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME).
func isExecutionARN(s string) bool {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "states" || a.Region == "" || len(a.AccountID) != 12 {
		return false
	}
	kind, rest, _ := strings.Cut(a.Resource, ":")
	machine, name, _ := strings.Cut(rest, ":")
	return kind == "execution" && machine != "" && name != "" && len(s) <= 2048
}
