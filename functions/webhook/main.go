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

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
	"github.com/stepship/stepship/shared/intake"
	"github.com/stepship/stepship/shared/webhook"
)

func main() { function.Start("webhook", setup) }

// setup reads the environment once, builds the clients and reads the webhook
// secret, so that a malformed secret stops the function at start with an
// error that shows the expected format, and warm invocations reuse everything.
func setup(env function.Env) (any, error) {
	getenv := env.Getenv
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
	sm := secretsmanager.NewFromConfig(env.AWS, func(o *secretsmanager.Options) {
		o.BaseEndpoint = awsenv.Endpoint(getenv, env.AWS, secretsmanager.ServiceID)
	})
	states := sfn.NewFromConfig(env.AWS, func(o *sfn.Options) { o.BaseEndpoint = awsenv.Endpoint(getenv, env.AWS, sfn.ServiceID) })
	keys := intake.NewSecretCache(sm, secretARN, intake.WithSecretOverlap(overlap))
	if _, err := keys.Keyring(context.Background()); err != nil {
		return nil, fmt.Errorf("failed to read the webhook secret at start: %w", err)
	}
	h, err := intake.New(env.Catalog, keys, states, stateMachineARN, env.Log,
		intake.WithMaxBodyBytes(maxBody), intake.WithReplayWindow(window))
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
