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
	switch {
	case e.Partial:
		fmt.Fprintf(&b, ", but %s runs without a transaction (-- +goose NO TRANSACTION) and the statements before the failing one stayed applied: repair by hand before redeploying", e.File)
	case e.File != "":
		fmt.Fprintf(&b, " (%s was rolled back); fix it in a new commit", e.File)
	}
	return b.String()
}
