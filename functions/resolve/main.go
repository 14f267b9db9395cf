// Command resolve is the first Task of the deploy state machine: it checks the
// execution's input (service, environment, commit; never a target) and
// resolves the target — cluster, ECS service, container, image repository,
// build — from the catalog packaged with the function. Named errors:
// InvalidDeployRequest, UnknownTarget (shared/taskerr).
//
// Environment (names in shared/config): STEPSHIP_CATALOG (default
// $LAMBDA_TASK_ROOT/catalog.yaml), STEPSHIP_LOG_LEVEL.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/logging"
)

func main() {
	log := logging.New(os.Stdout)
	cat, err := config.LoadCatalog(os.Getenv)
	if err == nil {
		var r *Resolver
		if r, err = NewResolver(cat, log); err == nil {
			lambda.Start(r.Handle)
			return
		}
	}
	log.Error("resolve function failed to start", "error", err)
	fmt.Fprintln(os.Stderr, "resolve:", err)
	os.Exit(1)
}
