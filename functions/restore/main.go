// Command restore is the dr-drill state machine's function
// (statemachines/dr-drill.asl.json). It runs in the disaster-recovery
// region, next to the copies it restores; the dr-verify function, inside the
// drill's VPC, checks the data between restore and cleanup:
//
//   - plan: check the execution's input (service, environment, reason, mode,
//     the failover confirmation; never a target) and name the database to
//     restore;
//   - pick: the newest available stepship copy in this region, and its RPO;
//   - restore: mark the copy in use and restore it into the catalog's
//     isolated subnet group and drill-only security group, never public;
//   - cleanup: delete what a drill restored (only that) and release the
//     copy.
//
// Named errors (shared/taskerr): InvalidDrillRequest, UnknownTarget,
// NoSnapshotToRestore, SnapshotNotFound, RDSCallFailed.
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
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/logging"
)

func main() {
	log := logging.New(os.Stdout)
	h, err := setup(log)
	if err != nil {
		log.Error("restore function failed to start", "error", err)
		fmt.Fprintln(os.Stderr, "restore:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup builds the RDS client of this region, once.
func setup(log *slog.Logger) (*Handler, error) {
	cat, err := config.LoadCatalog(os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("failed to build the AWS configuration: %w", err)
	}
	endpoint := awsenv.Endpoint(os.Getenv, cfg, rds.ServiceID)
	return NewHandler(cat, cfg.Region, rds.NewFromConfig(cfg, func(o *rds.Options) { o.BaseEndpoint = endpoint }), log)
}
