// Package taskerr holds the errors stepship's functions return for the state
// machines to catch by name. aws-lambda-go reports a returned error with its
// Go type's name as the Step Functions Error (lambda/errors.go), so each type
// name here is exactly what statemachines/*.asl.json catches; a function
// returns the type itself, never a wrapped one (which would arrive as
// "wrapError" and match no Catch).
package taskerr

import "fmt"

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

// DatabaseUnreachable: the restored database could not be connected to, or
// its credentials read. Retriable for a while (a database just available
// may still refuse connections).
type DatabaseUnreachable struct{ Reason string }

func (e *DatabaseUnreachable) Error() string { return e.Reason }
