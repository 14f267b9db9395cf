// Package taskerr holds the errors stepship's functions return for the state
// machines to catch by name. aws-lambda-go reports a returned error with its
// Go type's name as the Step Functions Error (lambda/errors.go), so each type
// name here is exactly what statemachines/*.asl.json catches; a function
// returns the type itself, never a wrapped one (which would arrive as
// "wrapError" and match no Catch).
package taskerr

import (
	"fmt"
	"strings"
	"time"
)

// InvalidDeployRequest: the input is missing a field, names a target, or is
// malformed. Nothing changed.
type InvalidDeployRequest struct{ Reason string }

func (e *InvalidDeployRequest) Error() string { return e.Reason }

// UnknownTarget: the service or environment is not in the catalog. Nothing
// changed.
type UnknownTarget struct{ Reason string }

func (e *UnknownTarget) Error() string { return e.Reason }

// ServiceNotFound: the cluster has no active service of that name. Nothing
// changed.
type ServiceNotFound struct{ Cluster, Service string }

func (e *ServiceNotFound) Error() string {
	return fmt.Sprintf("ECS service %q not found (or not ACTIVE) in cluster %q: check the catalog", e.Service, e.Cluster)
}

// ContainerNotFound: the service's task definition has no container of that
// name. Nothing changed.
type ContainerNotFound struct{ TaskDefinition, Container string }

func (e *ContainerNotFound) Error() string {
	return fmt.Sprintf("task definition %s has no container named %q: check the catalog", e.TaskDefinition, e.Container)
}

// RoleNotAllowed: the service's task definition names a task or execution
// role the catalog does not list for it, so stepship will not pass it.
// Nothing changed.
type RoleNotAllowed struct{ TaskDefinition, Role string }

func (e *RoleNotAllowed) Error() string {
	return fmt.Sprintf("task definition %s uses role %s, which the catalog does not list in this environment's roles: add it there (and redeploy the stack) or change the task definition", e.TaskDefinition, e.Role)
}

// ECSCallFailed: an ECS API call failed; the cause says which and why.
// Retriable.
type ECSCallFailed struct{ Reason string }

func (e *ECSCallFailed) Error() string { return e.Reason }

// InvalidBackupRequest: a backup input is missing a field, names a target,
// or is malformed. Nothing changed.
type InvalidBackupRequest struct{ Reason string }

func (e *InvalidBackupRequest) Error() string { return e.Reason }

// InvalidDrillRequest: a dr-drill input is missing a field, names a target,
// is malformed, or asks for a failover without its confirmation. Nothing
// changed.
type InvalidDrillRequest struct{ Reason string }

func (e *InvalidDrillRequest) Error() string { return e.Reason }

// RDSCallFailed: an RDS API call failed (throttled, 5xx, network); the cause
// says which and why. Retriable.
type RDSCallFailed struct{ Reason string }

func (e *RDSCallFailed) Error() string { return e.Reason }

// KMSCallFailed: a KMS API call failed (throttled, 5xx, network, refused):
// granting a backup account the DR key or retiring that grant; the cause
// says which and why. Retriable.
type KMSCallFailed struct{ Reason string }

func (e *KMSCallFailed) Error() string { return e.Reason }

// CopyQuotaExceeded: the DR region already runs as many cross-region
// snapshot copies as RDS allows (5 by default). Retriable: the state machine
// waits and tries again rather than failing the backup.
type CopyQuotaExceeded struct{ Reason string }

func (e *CopyQuotaExceeded) Error() string { return e.Reason }

// SnapshotQuotaExceeded: the region holds as many manual snapshots as its
// quota allows (100 by default). Not retriable: prune, or raise the quota.
type SnapshotQuotaExceeded struct{ Reason string }

func (e *SnapshotQuotaExceeded) Error() string { return e.Reason }

// SnapshotNotFound: the snapshot to copy is gone, or is not stepship's
// snapshot of the catalog's database. Nothing was copied.
type SnapshotNotFound struct{ Reason string }

func (e *SnapshotNotFound) Error() string { return e.Reason }

// NoSnapshotToRestore: the DR region has no available stepship copy of the
// database. Nothing was restored.
type NoSnapshotToRestore struct{ Reason string }

func (e *NoSnapshotToRestore) Error() string { return e.Reason }

// DatabaseUnreachable: a database could not be connected to, or its
// credentials read: the restored database of a drill (one just available may
// still refuse connections), or the database migrate connects to, which
// also reports it when another migration of the same database held the
// migration lock for longer than it waits. Retriable. migrate applied
// nothing.
type DatabaseUnreachable struct{ Reason string }

func (e *DatabaseUnreachable) Error() string { return e.Reason }

// InvalidMigrateRequest: the migrate function's input is missing a field or
// is malformed (a secret that is not a Secrets Manager ARN, a migrations
// location that is not s3://BUCKET/PREFIX/<commit>/). Nothing changed.
type InvalidMigrateRequest struct{ Reason string }

func (e *InvalidMigrateRequest) Error() string { return e.Reason }

// MigrationsNotFound: the build wrote no migrations where the input says
// (an empty prefix, no versioned NNN_name.sql file directly under it, or a
// bucket that does not exist). For a service whose catalog says it has SQL
// migrations that is a broken build, not "nothing to do". The database was
// not touched.
type MigrationsNotFound struct{ Location, Reason string }

func (e *MigrationsNotFound) Error() string {
	return fmt.Sprintf("no migrations at %s: %s; the database was not touched (check that the build copies migrations/*.sql there, see docs/migrations.md)", e.Location, e.Reason)
}

// MigrationsTooLarge: the .sql files at the location add up to more than
// the function reads. The database was not touched.
type MigrationsTooLarge struct {
	Location string
	Limit    int64
}

func (e *MigrationsTooLarge) Error() string {
	return fmt.Sprintf("the migrations at %s are larger than %d bytes in total; the database was not touched (ship only migrations/*.sql, or run big data changes as a task)", e.Location, e.Limit)
}

// S3CallFailed: reading the migrations from S3 failed (throttled, 5xx,
// network, access denied); the cause says which call and why. Retriable. The
// database was not touched.
type S3CallFailed struct{ Reason string }

func (e *S3CallFailed) Error() string { return e.Reason }

// MigrationFailed: a migration failed. The migrations before it are
// committed; the failing one was rolled back (unless it is marked
// "-- +goose NO TRANSACTION": then the statements before the failing one
// stayed applied and Partial is set); the database is at Version. The
// pipeline stops before any code change.
type MigrationFailed struct {
	// File is the migration's file name ("00002_add_email.sql"); empty when
	// the failure is not one file's (for example out-of-order versions).
	File string
	// Line is the failing statement's first line in File (0: unknown).
	Line int
	// Statement is the failing statement's first line (shortened).
	Statement string
	// Cause is the database's (or the migration library's) error.
	Cause string
	// Version is the database's migration version after the failure.
	Version int64
	// Partial: File ran without a transaction and statements before the
	// failing one stayed applied.
	Partial bool
}

func (e *MigrationFailed) Error() string {
	var b strings.Builder
	if e.File == "" {
		b.WriteString("migrations failed")
	} else {
		fmt.Fprintf(&b, "migration %s failed", e.File)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " at line %d", e.Line)
	}
	if e.Statement != "" {
		fmt.Fprintf(&b, " (%q)", e.Statement)
	}
	fmt.Fprintf(&b, ": %s; the database is still at version %d", e.Cause, e.Version)
	// An if chain, not a switch: Go's coverage counts its conditions.
	if e.Partial {
		fmt.Fprintf(&b, ", but %s runs without a transaction (-- +goose NO TRANSACTION) and the statements before the failing one stayed applied: repair by hand before redeploying", e.File)
	} else if e.File != "" {
		fmt.Fprintf(&b, " (%s was rolled back); fix it in a new commit", e.File)
	}
	return b.String()
}

// InvalidVerifyRequest: the verify function's input is missing a field, is
// malformed, or starts its timeout in the future. Nothing was verified.
type InvalidVerifyRequest struct{ Reason string }

func (e *InvalidVerifyRequest) Error() string { return e.Reason }

// DeploymentFailed: the ECS deployment of the task definition ended with
// rolloutState FAILED (the deployment circuit breaker, without a rollback,
// gave up) and is still the service's PRIMARY deployment. Roll back.
type DeploymentFailed struct {
	Service, TaskDefinition string
	// Reason is the deployment's rolloutStateReason.
	Reason string
	// FailedTasks is the deployment's failedTasks.
	FailedTasks int
	// StoppedReasons says why a few stopped tasks of the task definition
	// stopped (empty when none could be read).
	StoppedReasons []string
}

func (e *DeploymentFailed) Error() string {
	return fmt.Sprintf("the ECS deployment of %s to service %s failed (%d failed tasks): %s%s", e.TaskDefinition, e.Service, e.FailedTasks, e.Reason, stoppedTasks(e.StoppedReasons))
}

// RolledBackByECS: ECS itself rolled the deployment back (the deployment
// circuit breaker with rollback, or an alarm-based rollback): the service's
// PRIMARY deployment runs another task definition than the one verified.
// The release is not live: a failure, never a success.
type RolledBackByECS struct {
	Service, TaskDefinition string
	// RunningTaskDefinition is the task definition of the PRIMARY
	// deployment ECS went back to.
	RunningTaskDefinition string
	// Reason is the failed deployment's rolloutStateReason (or the
	// rollback's, when the failed one is gone).
	Reason string
	// StoppedReasons says why a few stopped tasks of the task definition
	// stopped (empty when none could be read).
	StoppedReasons []string
}

func (e *RolledBackByECS) Error() string {
	return fmt.Sprintf("ECS rolled the deployment of %s back: service %s runs %s again: %s%s", e.TaskDefinition, e.Service, e.RunningTaskDefinition, e.Reason, stoppedTasks(e.StoppedReasons))
}

// stoppedTasks is the "; stopped tasks: …" part of a failed deployment's
// message.
func stoppedTasks(reasons []string) string {
	if len(reasons) == 0 {
		return ""
	}
	return "; stopped tasks: " + strings.Join(reasons, "; ")
}

// RolloutTimedOut: the ECS deployment of the task definition did not reach
// rolloutState COMPLETED within the catalog's verify.timeoutSeconds from
// StartedAt. Roll back.
type RolloutTimedOut struct {
	Service, TaskDefinition string
	// StartedAt is when verification of the release began (RFC 3339).
	StartedAt      string
	TimeoutSeconds int
	// LastSeen is what the last DescribeServices said of the deployment.
	LastSeen string
}

func (e *RolloutTimedOut) Error() string {
	return fmt.Sprintf("the ECS deployment of %s to service %s did not complete within %d seconds of %s (last seen: %s)", e.TaskDefinition, e.Service, e.TimeoutSeconds, e.StartedAt, e.LastSeen)
}

// HealthCheckFailed: the release's HTTP health check did not get the
// catalog's number of consecutive passes within its attempts (or within
// one invocation's time). Roll back.
type HealthCheckFailed struct {
	URL string
	// Passes is the longest run of consecutive passes reached; Wanted the
	// catalog's passes.
	Passes, Wanted int
	// Attempts is how many requests were made.
	Attempts int
	// Answers are the last attempts' answers, oldest first: a status code,
	// or the request's error.
	Answers []string
	// Reason says why the check stopped before its attempts were used up
	// (empty when they were).
	Reason string
}

func (e *HealthCheckFailed) Error() string {
	msg := fmt.Sprintf("health check of %s failed: %d of %d consecutive passes after %d attempts (last answers: %s)", e.URL, e.Passes, e.Wanted, e.Attempts, strings.Join(e.Answers, ", "))
	if e.Reason != "" {
		msg += "; " + e.Reason
	}
	return msg
}

// Alarm is a CloudWatch alarm's state, as the errors about alarms name it.
type Alarm struct {
	Name string
	// Reason is the alarm's state reason.
	Reason string
}

// AlarmInAlarm: after the rollout, a CloudWatch alarm the catalog lists for
// the release is in ALARM. Roll back.
type AlarmInAlarm struct{ Alarms []Alarm }

func (e *AlarmInAlarm) Error() string {
	parts := make([]string, len(e.Alarms))
	for i, a := range e.Alarms {
		parts[i] = fmt.Sprintf("%q (%s)", a.Name, a.Reason)
	}
	return "alarms in ALARM after the rollout: " + strings.Join(parts, "; ")
}

// AlarmNotFound: CloudWatch has no alarm of these names, which the catalog
// lists in verify.alarms: a catalog mistake (or an alarm not deployed yet).
// Nothing the release did; fix the catalog or create the alarm.
type AlarmNotFound struct{ Alarms []string }

func (e *AlarmNotFound) Error() string {
	return fmt.Sprintf("no CloudWatch alarm named %s: check verify.alarms in the catalog", quoteAll(e.Alarms))
}

// quoteAll is the names quoted, comma-separated.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// AlarmDuringBake: a CloudWatch alarm the catalog lists for the release
// went into ALARM during the bake (or is in ALARM at its end). Roll back.
type AlarmDuringBake struct {
	Alarm string
	// When is when the alarm went into ALARM.
	When time.Time
	// Reason is the alarm's state reason then.
	Reason string
}

func (e *AlarmDuringBake) Error() string {
	return fmt.Sprintf("alarm %q went into ALARM during the bake at %s: %s", e.Alarm, e.When.UTC().Format(time.RFC3339), e.Reason)
}

// VerifyCallFailed: an ECS or CloudWatch call of the verify function failed
// after the SDK's own retries (throttled, 5xx, network); the cause says which
// and why. Retriable.
type VerifyCallFailed struct{ Reason string }

func (e *VerifyCallFailed) Error() string { return e.Reason }
