// Command restore is the dr-drill state machine's function
// (statemachines/dr-drill.asl.json). It runs in the disaster-recovery
// region, next to the copies it restores; the dr-verify function, inside the
// drill's VPC, checks the data between restore and cleanup:
//
//   - plan: check the execution's input (service, environment, reason, mode,
//     the failover confirmation; never a target) and name the database to
//     restore;
//   - pick: the newest available stepship copy in this region, and its RPO;
//   - expect: the migration version the copy must have, from the ledger in
//     the home region (shared/ledger) or the input's override;
//   - restore: mark the copy in use and restore it into the catalog's
//     isolated subnet group and drill-only security group, never public;
//   - cleanup: delete what a drill restored (only that) and release the
//     copy;
//   - report: the drill's report, written to the ledger in the home region.
//
// Named errors (shared/taskerr): InvalidDrillRequest, UnknownTarget,
// NoSnapshotToRestore, SnapshotNotFound, RDSCallFailed. A ledger that cannot
// be read or written is said in expect's and report's results, never an
// error: a failover must not depend on the home region.
//
// Environment (names in shared/config): STEPSHIP_CATALOG, STEPSHIP_LOG_LEVEL,
// STEPSHIP_DRILL_SECURITY_GROUP (the security group of drills whose catalog
// entry names none; set by the DR stack), STEPSHIP_LEDGER_TABLE and
// STEPSHIP_LEDGER_REGION (the ledger and the home region; required, set by
// the DR stack), and the AWS SDK's standard variables (AWS_REGION, the DR
// region; AWS_ENDPOINT_URL for local runs).
package main

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
	"github.com/stepship/stepship/shared/ledger"
)

func main() { function.Start("restore", setup) }

// setup builds the RDS client of this region and the DynamoDB client of the
// ledger's (the home) region, once.
func setup(env function.Env) (any, error) {
	table, err := config.Required(env.Getenv, config.EnvLedgerTable)
	if err != nil {
		return nil, err
	}
	home, err := config.Required(env.Getenv, config.EnvLedgerRegion)
	if err != nil {
		return nil, err
	}
	endpoint := awsenv.Endpoint(env.Getenv, env.AWS, rds.ServiceID)
	ddb := dynamodb.NewFromConfig(env.AWS, func(o *dynamodb.Options) {
		o.Region = home
		o.BaseEndpoint = awsenv.Endpoint(env.Getenv, env.AWS, dynamodb.ServiceID)
	})
	h, err := NewHandler(env.Catalog, env.AWS.Region, rds.NewFromConfig(env.AWS, func(o *rds.Options) { o.BaseEndpoint = endpoint }), env.Log,
		WithDrillSecurityGroup(env.Getenv(config.EnvDrillSecurityGroup)), WithLedger(ledger.Table{Name: table, Client: ddb}))
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
