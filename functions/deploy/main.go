// Command deploy is the stepship function that rolls a new image out to an ECS
// service: it registers a task-definition revision whose container runs the image
// and points the service at it. The deploy state machine calls it; see
// statemachines/deploy.asl.json.
//
// Its input names a service, an environment, a commit and the image digest the
// state machine found; the cluster, service, container, image repository and the
// roles it may pass come from the catalog packaged with it.
//
// Environment (names in shared/config): STEPSHIP_CATALOG (default
// $LAMBDA_TASK_ROOT/catalog.yaml), STEPSHIP_LOG_LEVEL, and the AWS SDK's standard
// variables (AWS_REGION, AWS_ENDPOINT_URL for local runs).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/logging"
)

func main() {
	os.Exit(run(context.Background(), os.Getenv, os.Stdout, os.Stderr, lambda.Start))
}

// run builds the function and hands its handler to start (lambda.Start, which
// serves invocations for as long as the process lives). When the function
// cannot start it says why in the log and on stderr and returns 1.
func run(ctx context.Context, getenv config.Getenv, stdout, stderr io.Writer, start func(handler any)) int {
	log := logging.New(stdout)
	d, err := setup(ctx, getenv, log)
	if err != nil {
		log.Error("deploy function failed to start", "error", err)
		fmt.Fprintln(stderr, "deploy:", err)
		return 1
	}
	start(d.Handle)
	return 0
}

// setup reads the catalog and builds the ECS client once, so that warm
// invocations reuse them.
func setup(ctx context.Context, getenv config.Getenv, log *slog.Logger) (*Deployer, error) {
	cat, err := config.LoadCatalog(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load AWS configuration: %w", err)
	}
	return NewDeployer(ecs.NewFromConfig(cfg), cat, log)
}
