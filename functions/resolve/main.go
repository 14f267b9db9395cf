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
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/logging"
)

func main() {
	os.Exit(run(os.Getenv, os.Stdout, os.Stderr, lambda.Start))
}

// run builds the function and hands its handler to start (lambda.Start, which
// serves invocations for as long as the process lives). When the function
// cannot start it says why in the log and on stderr and returns 1.
func run(getenv config.Getenv, stdout, stderr io.Writer, start func(handler any)) int {
	log := logging.New(stdout)
	r, err := setup(getenv, log)
	if err != nil {
		log.Error("resolve function failed to start", "error", err)
		fmt.Fprintln(stderr, "resolve:", err)
		return 1
	}
	start(r.Handle)
	return 0
}

// setup reads the catalog once, so that warm invocations reuse it.
func setup(getenv config.Getenv, log *slog.Logger) (*Resolver, error) {
	cat, err := config.LoadCatalog(getenv)
	if err != nil {
		return nil, err
	}
	return NewResolver(cat, log)
}
