// Command verify is the stepship function that proves a release healthy
// before the deploy state machine records it: the ECS deployment of its task
// definition reached rolloutState COMPLETED (neither FAILED nor rolled back
// by ECS's circuit breaker), the catalog's HTTP health check passes, and the
// catalog's CloudWatch alarms are not in ALARM; after the bake, that none of
// them went into ALARM. See statemachines/deploy.asl.json.
//
// Its input names a service, an environment, the task definition and the
// phase (rollout or bake); the cluster, the ECS service, the timeout, the
// health check and the alarms come from the catalog packaged with it. A
// rollout round waits at most 10 minutes (and never into the last 30
// seconds before the Lambda deadline): when the rollout outlasts it, the
// answer is IN_PROGRESS and the state machine calls again with StartedAt.
//
// Named errors (shared/taskerr): InvalidVerifyRequest, UnknownTarget,
// ServiceNotFound, DeploymentFailed, RolledBackByECS, RolloutTimedOut,
// HealthCheckFailed, AlarmInAlarm, AlarmNotFound, AlarmDuringBake,
// VerifyCallFailed (retriable).
//
// Environment (names in shared/config): STEPSHIP_VERIFY_POLL_INTERVAL
// (default 15s), STEPSHIP_CATALOG, STEPSHIP_LOG_LEVEL, and the AWS SDK's
// standard variables (AWS_REGION, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_ECS /
// _CLOUDWATCH for local runs).
package main

import (
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
)

func main() { function.Start("verify", setup) }

// setup reads the poll interval and builds the ECS and CloudWatch clients
// once, so that warm invocations reuse them.
func setup(env function.Env) (any, error) {
	poll, err := config.Duration(env.Getenv, config.EnvVerifyPollInterval, DefaultPollInterval)
	if err != nil {
		return nil, err
	}
	ecsClient := ecs.NewFromConfig(env.AWS, func(o *ecs.Options) { o.BaseEndpoint = awsenv.Endpoint(env.Getenv, env.AWS, ecs.ServiceID) })
	cw := cloudwatch.NewFromConfig(env.AWS, func(o *cloudwatch.Options) {
		o.BaseEndpoint = awsenv.Endpoint(env.Getenv, env.AWS, cloudwatch.ServiceID)
	})
	v, err := NewVerifier(ecsClient, cw, env.Catalog, env.Log, WithPollInterval(poll))
	if err != nil {
		return nil, err
	}
	return v.Handle, nil
}
