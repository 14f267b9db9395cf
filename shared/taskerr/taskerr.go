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
