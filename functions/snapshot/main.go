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
//     RPO (shared/backup);
//   - share, account-copy, unshare: when the catalog names a backup account,
//     share the DR copy with it (a KMS grant on the DR key to its role, the
//     account in the copy's restore attribute), copy it there as that role
//     (assumed through STS), re-encrypted with the account's key, polled,
//     and stop sharing it (account.go);
//   - prune-backup-account: only, and only there, when the function runs in
//     a backup account (STEPSHIP_BACKUP_ACCOUNT, set by the backup-account
//     stack, whose schedule invokes it): apply the catalog's backupAccount
//     retention to stepship's copies in that account (offsite.go).
//
// Named errors (shared/taskerr): InvalidBackupRequest, UnknownTarget,
// SnapshotNotFound, CopyQuotaExceeded, SnapshotQuotaExceeded, RDSCallFailed,
// KMSCallFailed.
//
// Environment (names in shared/config): STEPSHIP_CATALOG, STEPSHIP_LOG_LEVEL,
// STEPSHIP_FUNCTION_ROLE_ARN (required when the catalog names a backup
// account), STEPSHIP_BACKUP_ACCOUNT (in a backup account), and the AWS SDK's
// standard variables (AWS_REGION is the home region, or the backup
// account's; AWS_ENDPOINT_URL for local runs).
package main

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
)

func main() { function.Start("snapshot", setup) }

// roleSessionName names the sessions the function opens in backup
// accounts (their CloudTrail shows it).
const roleSessionName = "stepship-snapshot"

// setup builds one RDS client for the home region and one for each DR region
// of the catalog, once, from one AWS configuration; and for the catalog's
// backup accounts a KMS client in each of their DR regions and an RDS client
// acting as each one's role there (credentials assumed through STS when
// first used, and renewed by the SDK before they expire).
func setup(env function.Env) (any, error) {
	endpoint := awsenv.Endpoint(env.Getenv, env.AWS, rds.ServiceID)
	if account := env.Getenv(config.EnvBackupAccount); account != "" {
		client := rds.NewFromConfig(env.AWS, func(o *rds.Options) { o.BaseEndpoint = endpoint })
		h, err := NewBackupAccountHandler(env.Catalog, account, env.AWS.Region, client, env.Log)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	}
	clients := map[string]rdsAPI{}
	for _, r := range append([]string{env.AWS.Region}, backup.DRRegions(env.Catalog.Targets())...) {
		if clients[r] == nil {
			clients[r] = rds.NewFromConfig(env.AWS, func(o *rds.Options) { o.Region, o.BaseEndpoint = r, endpoint })
		}
	}
	var opts []Option
	if roles := backup.AccountRoles(env.Catalog.Targets()); len(roles) > 0 {
		self := env.Getenv(config.EnvFunctionRoleARN)
		if self == "" {
			return nil, errors.New("the catalog names a backup account: " + config.EnvFunctionRoleARN + " (the function's own role) is required")
		}
		stsClient := sts.NewFromConfig(env.AWS, func(o *sts.Options) { o.BaseEndpoint = awsenv.Endpoint(env.Getenv, env.AWS, sts.ServiceID) })
		kmsEndpoint := awsenv.Endpoint(env.Getenv, env.AWS, kms.ServiceID)
		keys, accounts := map[string]kmsAPI{}, map[backup.AccountRole]accountRDS{}
		for _, r := range roles {
			if keys[r.Region] == nil {
				keys[r.Region] = kms.NewFromConfig(env.AWS, func(o *kms.Options) { o.Region, o.BaseEndpoint = r.Region, kmsEndpoint })
			}
			creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, r.Role, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = roleSessionName
			}))
			accounts[r] = rds.NewFromConfig(env.AWS, func(o *rds.Options) { o.Region, o.BaseEndpoint, o.Credentials = r.Region, endpoint, creds })
		}
		opts = append(opts, WithBackupAccounts(keys, accounts, self))
	}
	h, err := NewHandler(env.Catalog, env.AWS.Region, clients, env.Log, opts...)
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
