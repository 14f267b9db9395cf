// Command resolve is the first Task of the deploy state machine: it checks the
// execution's input (service, environment, commit; never a target) and
// resolves the target — cluster, ECS service, container, image repository,
// build — from the catalog packaged with the function. Named errors:
// InvalidDeployRequest, UnknownTarget (shared/taskerr).
//
// Environment (names in shared/config): STEPSHIP_CATALOG (default
// $LAMBDA_TASK_ROOT/catalog.yaml), STEPSHIP_LOG_LEVEL.
package main

import "github.com/stepship/stepship/shared/function"

func main() { function.Start("resolve", setup) }

// setup builds the resolver over the catalog read once at start.
func setup(env function.Env) (any, error) {
	r, err := NewResolver(env.Catalog, env.Log)
	if err != nil {
		return nil, err
	}
	return r.Handle, nil
}
