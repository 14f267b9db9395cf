// Command dr-verify is the dr-drill state machine's check of the restored
// data (statemachines/dr-drill.asl.json). It is the one function that runs
// inside the drill's VPC, in the DR region, to reach the database the drill
// restored: it connects with the credentials in the database's secret (read
// at run time, never logged) and checks the goose schema version, that the
// catalog's tables have rows, and the catalog's SQL assertions, each in a
// read-only transaction; it measures the RTO. A separate function from
// restore so that only it needs the network path to the database (and so
// that each stays under 10 MiB).
//
// Named errors (shared/taskerr): InvalidDrillRequest, UnknownTarget,
// DatabaseUnreachable.
//
// Environment (names in shared/config): STEPSHIP_CATALOG, STEPSHIP_LOG_LEVEL,
// and the AWS SDK's standard variables (AWS_REGION, the DR region;
// AWS_ENDPOINT_URL for local runs).
package main

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/function"
)

func main() { function.Start("dr-verify", setup) }

// setup builds a Secrets Manager client for each region the catalog's
// drilled databases keep their secrets in, once.
func setup(env function.Env) (any, error) {
	endpoint := awsenv.Endpoint(env.Getenv, env.AWS, secretsmanager.ServiceID)
	clients := map[string]secretGetter{}
	for _, t := range env.Catalog.Targets() {
		if t.Drill == nil {
			continue
		}
		a, err := arn.Parse(t.Database.Secret)
		if err != nil {
			return nil, fmt.Errorf("the secret of %s/%s: %w", t.Service, t.Environment, err)
		}
		if clients[a.Region] == nil {
			clients[a.Region] = secretsmanager.NewFromConfig(env.AWS, func(o *secretsmanager.Options) { o.Region, o.BaseEndpoint = a.Region, endpoint })
		}
	}
	v, err := NewVerifier(env.Catalog, env.AWS.Region, func(region string) (secretGetter, bool) {
		c, ok := clients[region]
		return c, ok
	}, env.Log)
	if err != nil {
		return nil, err
	}
	return v.Handle, nil
}
