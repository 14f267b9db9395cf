// Command snapshot is the backup state machine's function for what a direct
// Step Functions SDK integration cannot do (statemachines/backup.asl.json):
//
//   - plan: check the execution's input (service, environment, reason; never
//     a target) and resolve the database, the snapshot's name and tags, and
//     the DR region from the catalog;
//   - copy: copy the snapshot to the DR region, re-encrypted with its KMS key
//     (the call must be made in the destination region), or report the copy
//     an earlier call started; the state machine polls it;
//   - prune: apply the catalog's retention in both regions and measure the
//     RPO (shared/backup).
//
// Named errors (shared/taskerr): InvalidBackupRequest, UnknownTarget,
// SnapshotNotFound, CopyQuotaExceeded, SnapshotQuotaExceeded, RDSCallFailed.
//
// Environment (names in shared/config): STEPSHIP_CATALOG, STEPSHIP_LOG_LEVEL,
// and the AWS SDK's standard variables (AWS_REGION is the home region;
// AWS_ENDPOINT_URL for local runs).
package main

import (
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/function"
)

func main() { function.Start("snapshot", setup) }

// setup builds one RDS client for the home region and one for each DR region
// of the catalog, once, from one AWS configuration.
func setup(env function.Env) (any, error) {
	endpoint := awsenv.Endpoint(env.Getenv, env.AWS, rds.ServiceID)
	clients := map[string]rdsAPI{}
	for _, r := range append([]string{env.AWS.Region}, backup.DRRegions(env.Catalog.Targets())...) {
		if clients[r] == nil {
			clients[r] = rds.NewFromConfig(env.AWS, func(o *rds.Options) { o.Region, o.BaseEndpoint = r, endpoint })
		}
	}
	h, err := NewHandler(env.Catalog, env.AWS.Region, clients, env.Log)
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
