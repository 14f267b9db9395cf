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
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/logging"
)

func main() {
	log := logging.New(os.Stdout)
	v, err := setup(log)
	if err != nil {
		log.Error("dr-verify function failed to start", "error", err)
		fmt.Fprintln(os.Stderr, "dr-verify:", err)
		os.Exit(1)
	}
	lambda.Start(v.Handle)
}

// setup builds a Secrets Manager client for each region the catalog's
// database secrets are in, once.
func setup(log *slog.Logger) (*Verifier, error) {
	cat, err := config.LoadCatalog(os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("failed to build the AWS configuration: %w", err)
	}
	endpoint := awsenv.Endpoint(os.Getenv, cfg, secretsmanager.ServiceID)
	clients := map[string]secretGetter{}
	for _, t := range cat.Targets() {
		if t.Drill == nil {
			continue
		}
		a, err := arn.Parse(t.Database.Secret)
		if err != nil {
			return nil, fmt.Errorf("the secret of %s/%s: %w", t.Service, t.Environment, err)
		}
		if clients[a.Region] == nil {
			clients[a.Region] = secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region, o.BaseEndpoint = a.Region, endpoint })
		}
	}
	return NewVerifier(cat, cfg.Region, func(region string) (secretGetter, bool) {
		c, ok := clients[region]
		return c, ok
	}, log)
}
