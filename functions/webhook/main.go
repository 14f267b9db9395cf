// Command webhook is stepship's webhook intake, behind a Lambda Function URL:
// it authenticates a git host's push (GitHub, GitLab, Bitbucket Cloud and
// Data Center), refuses replays, looks the repository and ref up in the
// service catalog and starts one deploy execution per service and environment
// the push deploys. The policy lives in shared/intake; answers and formats:
// docs/webhook.md.
//
// Environment (names in shared/config): STEPSHIP_WEBHOOK_SECRET_ARN and
// STEPSHIP_DEPLOY_STATE_MACHINE_ARN (required), STEPSHIP_CATALOG (default
// $LAMBDA_TASK_ROOT/catalog.yaml), STEPSHIP_MAX_BODY_BYTES (default 4194304),
// STEPSHIP_REPLAY_WINDOW (default 1h), STEPSHIP_SECRET_OVERLAP (default 24h),
// STEPSHIP_LOG_LEVEL, and the AWS SDK's own variables (AWS_REGION,
// AWS_ENDPOINT_URL for local runs).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/intake"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/webhook"
)

func main() {
	os.Exit(run(context.Background(), os.Getenv, os.Stdout, os.Stderr, lambda.Start))
}

// run builds the function and hands its handler to start (lambda.Start, which
// serves invocations for as long as the process lives). When the function
// cannot start it says why in the log and on stderr and returns 1.
func run(ctx context.Context, getenv config.Getenv, stdout, stderr io.Writer, start func(handler any)) int {
	log := logging.New(stdout)
	h, err := setup(ctx, getenv, log)
	if err != nil {
		log.Error("webhook function failed to start", "error", err)
		fmt.Fprintln(stderr, "webhook:", err)
		return 1
	}
	start(h.Handle)
	return 0
}

// setup reads the environment and the catalog once, builds the clients and
// reads the webhook secret, so that a malformed secret stops the function at
// start with an error that shows the expected format, and warm invocations
// reuse everything.
func setup(ctx context.Context, getenv config.Getenv, log *slog.Logger) (*intake.Intake, error) {
	secretARN, err := config.Required(getenv, config.EnvWebhookSecretARN)
	if err != nil {
		return nil, err
	}
	stateMachineARN, err := config.Required(getenv, config.EnvDeployStateMachineARN)
	if err != nil {
		return nil, err
	}
	maxBody, err := config.PositiveInt(getenv, config.EnvMaxBodyBytes, webhook.DefaultMaxBodyBytes)
	if err != nil {
		return nil, err
	}
	window, err := config.Duration(getenv, config.EnvReplayWindow, intake.DefaultReplayWindow)
	if err != nil {
		return nil, err
	}
	overlap, err := config.Duration(getenv, config.EnvSecretOverlap, intake.DefaultSecretOverlap)
	if err != nil {
		return nil, err
	}
	cat, err := config.LoadCatalog(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load AWS configuration: %w", err)
	}
	keys := intake.NewSecretCache(secretsmanager.NewFromConfig(cfg), secretARN, intake.WithSecretOverlap(overlap))
	if _, err := keys.Keyring(ctx); err != nil {
		return nil, fmt.Errorf("failed to read the webhook secret at start: %w", err)
	}
	return intake.New(cat, keys, sfn.NewFromConfig(cfg), stateMachineARN, log,
		intake.WithMaxBodyBytes(maxBody), intake.WithReplayWindow(window))
}
