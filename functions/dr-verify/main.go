// Command dr-verify is the dr-drill state machine's check of the restored
// data (statemachines/dr-drill.asl.json). It is the one function that runs
// inside the drill's VPC, in the DR region, to reach the database the drill
// restored: it connects with the credentials in the database's secret (read
// at run time from the secret's replica in the DR region, never logged) and
// checks the goose schema version (against the one the restore function
// expects: the ledger's, shared/backup.Expectation), that the catalog's
// tables have rows, and the catalog's SQL assertions, each in a read-only
// transaction; it measures the RTO. A separate function from
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
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/function"
)

func main() { function.Start("dr-verify", setup) }

// setup builds the Secrets Manager client of this (the DR) region, once: the
// drilled databases' secrets are read from their replicas here.
func setup(env function.Env) (any, error) {
	endpoint := awsenv.Endpoint(env.Getenv, env.AWS, secretsmanager.ServiceID)
	client := secretsmanager.NewFromConfig(env.AWS, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint })
	v, err := NewVerifier(env.Catalog, env.AWS.Region, client, env.Log)
	if err != nil {
		return nil, err
	}
	return v.Handle, nil
}
