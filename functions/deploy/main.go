// Command deploy is the stepship function that prepares a release for an ECS
// service: it registers the task-definition revision whose container runs the
// new image, by digest, and reports the revision the service runs now. The
// deploy state machine calls it, then points the service at the revision
// itself (ecs:updateService); see statemachines/deploy.asl.json.
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
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/function"
)

func main() { function.Start("deploy", setup) }

// setup builds the ECS client once, so that warm invocations reuse it.
func setup(env function.Env) (any, error) {
	client := ecs.NewFromConfig(env.AWS, func(o *ecs.Options) { o.BaseEndpoint = awsenv.Endpoint(env.Getenv, env.AWS, ecs.ServiceID) })
	d, err := NewDeployer(client, env.Catalog, env.Log)
	if err != nil {
		return nil, err
	}
	return d.Handle, nil
}
