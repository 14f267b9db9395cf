// Command deploy is the stepship function that rolls a new image out to an ECS
// service: it registers a task-definition revision whose container runs the image
// and points the service at it. The deploy state machine calls it; see
// statemachines/deploy.asl.json.
//
// Environment: the AWS SDK's standard variables (AWS_REGION, AWS_ENDPOINT_URL for
// local runs) and STEPSHIP_LOG_LEVEL.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stepship/stepship/shared/logging"
)

func main() {
	log := logging.New(os.Stdout)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("failed to load AWS configuration", "error", err)
		fmt.Fprintln(os.Stderr, "deploy: failed to load AWS configuration:", err)
		os.Exit(1)
	}
	lambda.Start(NewDeployer(ecs.NewFromConfig(cfg), log).Handle)
}
