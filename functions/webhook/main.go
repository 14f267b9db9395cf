// Command webhook is stepship's webhook intake, behind a Lambda Function URL:
// it authenticates a git host's push (GitHub, GitLab, Bitbucket Cloud and
// Data Center), looks the repository and ref up in the service catalog and
// starts one deploy execution per service and environment the push deploys.
// Answers and formats: docs/webhook.md.
//
// Environment: STEPSHIP_WEBHOOK_SECRET_ARN, STEPSHIP_DEPLOY_STATE_MACHINE_ARN
// (required), STEPSHIP_CATALOG (default $LAMBDA_TASK_ROOT/catalog.yaml),
// STEPSHIP_MAX_BODY_BYTES (default 4194304), STEPSHIP_LOG_LEVEL, and the AWS
// SDK's own variables (AWS_REGION, AWS_ENDPOINT_URL for local runs).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/logging"
)

func main() {
	log := logging.New(os.Stdout)
	h, err := setup(context.Background(), log)
	if err != nil {
		log.Error("webhook function failed to start", "error", err)
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup reads the environment and the catalog once and builds the clients,
// so warm invocations reuse them.
func setup(ctx context.Context, log *slog.Logger) (*Handler, error) {
	s, err := settingsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Load(s.catalogPath)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load AWS configuration: %w", err)
	}
	secrets := NewSecretCache(secretsmanager.NewFromConfig(cfg), s.secretARN, DefaultSecretTTL)
	return NewHandler(cat, secrets, sfn.NewFromConfig(cfg), s.stateMachineARN, log, WithMaxBodyBytes(s.maxBodyBytes))
}
