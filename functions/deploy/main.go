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
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/logging"
)

func main() {
	log := logging.New(os.Stdout)
	d, err := setup(context.Background(), log)
	if err != nil {
		log.Error("deploy function failed to start", "error", err)
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
	lambda.Start(d.Handle)
}

func setup(ctx context.Context, log *slog.Logger) (*Deployer, error) {
	cat, err := config.LoadCatalog(os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load AWS configuration: %w", err)
	}
	return NewDeployer(ecs.NewFromConfig(cfg), cat, log)
}
