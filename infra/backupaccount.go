package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/payload"
)

// The backup account (catalog backup.backupAccount): the home stack lets
// the snapshot function share each DR copy with it and assume its role;
// the backup-account stack, deployed in that account, creates the role
// (trusting only that function's role, allowed to copy stepship's shared
// snapshots in and nothing that deletes or shares them out), the key the
// copies are encrypted with, and the account's own pruning: the snapshot
// function deployed there, scheduled daily, the only principal of the stack
// that may delete a copy.

// snapshotRoleName is the name the home stack gives the snapshot
// function's role when the catalog names a backup account: the role there
// trusts exactly that role, by ARN, and cannot know a generated name.
func snapshotRoleName(home string) string { return home + "-snapshot" }

// backupAccountStackName is the name of the backup-account stack of the
// home stack in account and region.
func backupAccountStackName(home, account, region string) string {
	return home + "-backup-account-" + account + "-" + region
}

// offsite is one backup account in one region, and the catalog entries
// copied there.
type offsite struct {
	account, region string
	targets         []catalog.Target
}

// offsites groups the targets with a backup account by account and region,
// in catalog order.
func offsites(targets []catalog.Target) []offsite {
	var out []offsite
	for _, t := range targets {
		if t.Backup == nil || t.Backup.BackupAccount == nil {
			continue
		}
		a, r := t.Backup.BackupAccount.Account, t.Backup.DRRegion
		i := slices.IndexFunc(out, func(o offsite) bool { return o.account == a && o.region == r })
		if i < 0 {
			out = append(out, offsite{account: a, region: r})
			i = len(out) - 1
		}
		out[i].targets = append(out[i].targets, t)
	}
	return out
}

// grantBackupAccounts gives the snapshot function what sharing with the
// catalog's backup accounts takes, on exactly what the catalog names: its
// role gets a fixed name (the backup accounts' roles trust it by ARN) and
// the function its own role's ARN (STEPSHIP_FUNCTION_ROLE_ARN); it may
// assume each backup account's role, share stepship's DR copies of those
// databases (their restore attribute), grant each backup account's role the
// DR key (only the operations backup.ShareGrantOperations, only to that
// role, retirable only by itself), and find and retire those grants.
func grantBackupAccounts(stack awscdk.Stack, fn awslambda.Function, targets []catalog.Target) error {
	if len(offsites(targets)) == 0 {
		return nil
	}
	name := snapshotRoleName(*stack.StackName())
	if len(name) > 64 {
		return fmt.Errorf("the snapshot function's role would be named %s, longer than IAM's 64 characters: use a shorter stack name", name)
	}
	fn.Role().Node().DefaultChild().(awsiam.CfnRole).SetRoleName(jsii.String(name))
	self := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("iam"), Region: jsii.String(""), Resource: jsii.String("role"),
		ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	fn.AddEnvironment(jsii.String(config.EnvFunctionRoleARN), self, nil)

	assume := &rdsAccess{sid: "AssumeTheBackupAccountsRoles", actions: []string{"sts:AssumeRole"}}
	share := [2]*rdsAccess{{sid: "ShareTheDRCopiesWithTheBackupAccounts", actions: []string{"rds:ModifyDBSnapshotAttribute"}},
		{sid: "ShareTheDRClusterCopiesWithTheBackupAccounts", actions: []string{"rds:ModifyDBClusterSnapshotAttribute"}}}
	retire := &rdsAccess{sid: "FindAndRetireItsGrantsOnTheDRKeys", actions: []string{"kms:ListGrants", "kms:RetireGrant"}}
	grantees := map[string][]*string{} // DR key → the roles it may be granted to
	var keys []string
	for _, t := range targets {
		if t.Backup == nil || t.Backup.BackupAccount == nil {
			continue
		}
		a, key := t.Backup.BackupAccount, t.Backup.DRKMSKey
		assume.add(jsii.String(a.Role))
		share[pick(*t.Database, 0, 1)].add(rdsNames{stack, t.Backup.DRRegion, *t.Database}.snapshots())
		retire.add(jsii.String(key))
		if !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
		grantees[key] = appendNew(grantees[key], jsii.String(a.Role))
	}
	var grants []*rdsAccess
	for i, key := range keys {
		grants = append(grants, &rdsAccess{sid: fmt.Sprintf("GrantTheBackupAccountsTheDRKey%d", i+1), actions: []string{"kms:CreateGrant"},
			resources: []*string{jsii.String(key)}, conditions: map[string]any{
				"StringEquals":              map[string]any{"kms:GranteePrincipal": grantees[key], "kms:RetiringPrincipal": self},
				"ForAllValues:StringEquals": map[string]any{"kms:GrantOperations": backup.ShareGrantOperations()},
			}})
	}
	for _, st := range statements(append([]*rdsAccess{assume, share[0], share[1], retire}, grants...)...) {
		fn.AddToRolePolicy(st)
	}
	return nil
}

// BackupAccountStack is stepship's stack in a backup account, in the region
// the copies are made in (the DR region): the role the home account's
// snapshot function assumes there, the keys the copies are encrypted with,
// and the pruning of the copies by the catalog's backupAccount retention.
// It is deployed with that account's credentials.
type BackupAccountStack struct {
	awscdk.Stack
	Account, Region string
	// DataKey encrypts the stack's log group.
	DataKey awskms.Key
	// Pruner is the snapshot function as the account runs it
	// (prune-backup-account), PruneSchedule what invokes it daily as
	// PruneScheduleRole, PruneFailedAlarm what says it failed.
	Pruner            awslambda.Function
	PruneSchedule     awsscheduler.CfnSchedule
	PruneScheduleRole awsiam.Role
	PruneFailedAlarm  awscloudwatch.Alarm
	// Roles by their catalog ARN.
	Roles map[string]awsiam.Role
	// Keys the stack creates, by the catalog's alias ARN (a catalog key ARN
	// names a key the account already has); aliases in catalog order.
	Keys    map[string]awskms.Key
	aliases []string
}

// neverActions are what no copier role may do, whatever else is attached to
// it later: delete or share out a copy, strip its tags, or take its key
// away.
var neverActions = []string{
	"rds:DeleteDBSnapshot", "rds:DeleteDBClusterSnapshot",
	"rds:ModifyDBSnapshotAttribute", "rds:ModifyDBClusterSnapshotAttribute", "rds:RemoveTagsFromResource",
	"kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy", "kms:RevokeGrant",
}

// backupAccountPruneSchedule is when each backup account prunes its
// copies, in UTC: daily, after the backups the example catalog schedules.
const backupAccountPruneSchedule = "cron(0 6 * * ? *)"

// NewBackupAccountStack defines the backup-account stack of the home stack
// (its name home, in homeAccount) for the catalog entries copied to account
// in region: each copier role the catalog names, trusting only the home
// account's snapshot function role, allowed to copy stepship's snapshots of
// those databases from the home account into this one (tagged, encrypted
// with the catalog's kmsKey through RDS, reading the shared DR copy's key
// through RDS), and denied every delete; each key the catalog names by an
// alias, with rotation; and the pruning of the copies (newPruner), from the
// function of props that copies snapshots.
func NewBackupAccountStack(scope constructs.Construct, home, homeAccount string, o offsite, props *StepshipStackProps) (*BackupAccountStack, error) {
	id := backupAccountStackName(home, o.account, o.region)
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: jsii.String(o.account), Region: jsii.String(o.region)},
		Description: jsii.String("stepship: the offsite copies of " + home + " (account " + homeAccount + ") in " + o.region + "; deploy with this account's credentials"),
	})
	b := &BackupAccountStack{Stack: stack, Account: o.account, Region: o.region, Roles: map[string]awsiam.Role{}, Keys: map[string]awskms.Key{}}
	trusted := "arn:" + *stack.Partition() + ":iam::" + homeAccount + ":role/" + snapshotRoleName(home)
	type access struct {
		copy, clusterCopy, tag, read, readClusters *rdsAccess
		keys                                       []drKey
	}
	perRole := map[string]*access{}
	var roles []string
	for _, t := range o.targets {
		a := t.Backup.BackupAccount
		acc, ok := perRole[a.Role]
		if !ok {
			acc = &access{copy: &rdsAccess{sid: "CopyStepshipsSharedSnapshotsIn", actions: []string{"rds:CopyDBSnapshot"}},
				clusterCopy:  &rdsAccess{sid: "CopyStepshipsSharedClusterSnapshotsIn", actions: []string{"rds:CopyDBClusterSnapshot"}},
				tag:          &rdsAccess{sid: "TagTheCopies", actions: []string{"rds:AddTagsToResource"}},
				read:         &rdsAccess{sid: "ReadTheCopies", actions: []string{"rds:DescribeDBSnapshots"}},
				readClusters: &rdsAccess{sid: "ReadTheClusterCopies", actions: []string{"rds:DescribeDBClusterSnapshots"}}}
			perRole[a.Role] = acc
			roles = append(roles, a.Role)
		}
		n := rdsNames{stack, o.region, *t.Database}
		here, from := n.snapshots(), n.snapshotsIn(homeAccount)
		pick(*t.Database, acc.copy, acc.clusterCopy).add(here, from)
		pick(*t.Database, acc.read, acc.readClusters).add(here)
		acc.tag.add(here)
		key, err := b.key(a.KMSKey)
		if err != nil {
			return nil, fmt.Errorf("catalog: services[%s].environments[%s].backup.backupAccount.kmsKey: %w", t.Service, t.Environment, err)
		}
		acc.keys = appendKey(appendKey(acc.keys, drKey{key, o.region}), drKey{t.Backup.DRKMSKey, o.region})
	}
	for i, roleARN := range roles {
		path, name, err := roleNameOf(roleARN)
		if err != nil {
			return nil, err
		}
		role := awsiam.NewRole(stack, jsii.String(fmt.Sprintf("CopierRole%d", i+1)), &awsiam.RoleProps{
			RoleName: jsii.String(name), Path: jsii.String(path),
			Description: jsii.String("stepship: the home account's snapshot function copies stepship's shared snapshots in, and deletes nothing"),
			AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewAccountPrincipal(jsii.String(homeAccount)),
				&map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": trusted}}),
		})
		acc := perRole[roleARN]
		for _, st := range statements(acc.copy, acc.clusterCopy, acc.tag, acc.read, acc.readClusters) {
			role.AddToPrincipalPolicy(st)
		}
		grantRDSKeyUse(role, acc.keys)
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("NeverDeleteShareOutOrUnkeyTheCopies"), Effect: awsiam.Effect_DENY,
			Actions: jsii.Strings(neverActions...), Resources: jsii.Strings("*"),
		}))
		b.Roles[roleARN] = role
		awscdk.NewCfnOutput(stack, jsii.String(fmt.Sprintf("CopierRole%dArn", i+1)), &awscdk.CfnOutputProps{
			Description: jsii.String("the role the home account's snapshot function assumes (catalog backup.backupAccount.role)"),
			Value:       role.RoleArn(),
		})
	}
	for i, alias := range b.aliases {
		awscdk.NewCfnOutput(stack, jsii.String(fmt.Sprintf("CopiesKey%dArn", i+1)), &awscdk.CfnOutputProps{
			Description: jsii.String("the key the copies are encrypted with (catalog backup.backupAccount.kmsKey " + alias + ")"),
			Value:       b.Keys[alias].KeyArn(),
		})
	}
	for _, role := range b.Roles {
		suppressWildcards(role, []string{snapshotsReason, neverReason}, []any{snapshotsPattern, "Resource::*"})
	}
	if err := b.newPruner(id, o, props); err != nil {
		return nil, err
	}
	return b, nil
}

// newPruner adds the account's own pruning: the function of props that
// copies snapshots, run here with STEPSHIP_BACKUP_ACCOUNT (its only action
// then prune-backup-account), its log group encrypted by the stack's
// DataKey, allowed to list and delete stepship's copies of the catalog's
// databases in this account and region and nothing else; a daily schedule
// invoking it, with a role that may invoke only it; and an alarm on its
// errors.
func (b *BackupAccountStack) newPruner(id string, o offsite, props *StepshipStackProps) error {
	specs := props.Functions
	if specs == nil {
		specs = DefaultFunctions()
	}
	i := slices.IndexFunc(specs, func(f FunctionSpec) bool { return f.has(CopiesSnapshots) })
	if i < 0 {
		return fmt.Errorf("the catalog names a backup account, and no function copies snapshots (capability %s): nothing would prune it", CopiesSnapshots)
	}
	stack := b.Stack
	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}
	stagingDir := props.StagingDir
	if stagingDir == "" {
		stagingDir = filepath.Join(*awscdk.Stage_Of(stack).Outdir(), "stepship-staging")
	}
	b.DataKey = awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("stepship: encrypts the backup-account stack's log group"),
		EnableKeyRotation: jsii.Bool(true),
	})
	allowLogsToUseKey(stack, b.DataKey)
	fn, _, err := newFunction(stack, specs[i], props.DistDir, filepath.Join(stagingDir, id), props.CatalogFile, retention, b.DataKey, 0)
	if err != nil {
		return err
	}
	fn.AddEnvironment(jsii.String(config.EnvCatalog), jsii.String(lambdaTaskRoot+"/"+config.CatalogFileName), nil)
	fn.AddEnvironment(jsii.String(config.EnvBackupAccount), jsii.String(o.account), nil)
	read := [2]*rdsAccess{{sid: "ListTheCopies", actions: []string{"rds:DescribeDBSnapshots"}},
		{sid: "ListTheClusterCopies", actions: []string{"rds:DescribeDBClusterSnapshots"}}}
	del := [2]*rdsAccess{{sid: "PruneTheCopiesByTheBackupAccountsRetention", actions: []string{"rds:DeleteDBSnapshot"}},
		{sid: "PruneTheClusterCopiesByTheBackupAccountsRetention", actions: []string{"rds:DeleteDBClusterSnapshot"}}}
	for _, t := range o.targets {
		n, kind := rdsNames{stack, o.region, *t.Database}, pick(*t.Database, 0, 1)
		read[kind].add(n.database(), n.snapshots())
		del[kind].add(n.snapshots())
	}
	for _, st := range statements(read[0], read[1], del[0], del[1]) {
		fn.AddToRolePolicy(st)
	}
	suppressWildcards(fn.Role(), []string{"X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports no resource-level permissions", snapshotsReason},
		[]any{"Resource::*", snapshotsPattern})
	b.Pruner = fn

	b.PruneScheduleRole = awsiam.NewRole(stack, jsii.String("PruneScheduleRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("stepship: EventBridge Scheduler runs the backup account's pruning"),
	})
	b.PruneScheduleRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("InvokeOnlyThePruningFunction"), Actions: jsii.Strings("lambda:InvokeFunction"), Resources: &[]*string{fn.FunctionArn()},
	}))
	input, err := json.Marshal(payload.Invocation[backup.Call]{ExecutionID: "<aws.scheduler.execution-id>", Input: backup.Call{Action: backup.ActionPruneBackupAccount}})
	if err != nil {
		return err
	}
	b.PruneSchedule = awsscheduler.NewCfnSchedule(stack, jsii.String("PruneSchedule"), &awsscheduler.CfnScheduleProps{
		Description:                jsii.String("stepship: prune the copies in backup account " + o.account + " by the catalog's backupAccount retention"),
		ScheduleExpression:         jsii.String(backupAccountPruneSchedule),
		ScheduleExpressionTimezone: jsii.String("UTC"),
		FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:                      jsii.String("ENABLED"),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn: fn.FunctionArn(), RoleArn: b.PruneScheduleRole.RoleArn(), Input: jsii.String(string(input)),
			RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{MaximumEventAgeInSeconds: jsii.Number(3600), MaximumRetryAttempts: jsii.Number(10)},
		},
	})
	b.PruneFailedAlarm = fn.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}).
		CreateAlarm(stack, jsii.String("PruneFailedAlarm"), &awscloudwatch.CreateAlarmOptions{
			AlarmName:          jsii.String(alarmName(id, "prune-failed", nil)),
			AlarmDescription:   jsii.String("pruning the offsite copies failed: read the function's log (the copies are kept, none deleted by mistake)"),
			Threshold:          jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	return nil
}

// key is the ARN of the key a catalog kmsKey names: a key ARN as it is; for
// an alias ARN, the key the stack creates under that alias.
func (b *BackupAccountStack) key(kmsKey string) (string, error) {
	a, err := arn.Parse(kmsKey)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(a.Resource, "alias/") {
		return kmsKey, nil
	}
	if k, ok := b.Keys[kmsKey]; ok {
		return *k.KeyArn(), nil
	}
	k := awskms.NewKey(b.Stack, jsii.String(fmt.Sprintf("CopiesKey%d", len(b.Keys)+1)), &awskms.KeyProps{
		Alias:             jsii.String(a.Resource),
		Description:       jsii.String("stepship: encrypts the offsite copies of stepship's snapshots"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	b.Keys[kmsKey], b.aliases = k, append(b.aliases, kmsKey)
	return *k.KeyArn(), nil
}

// roleNameOf splits a role ARN into its path ("/" or "/a/b/") and name.
func roleNameOf(roleARN string) (path, name string, err error) {
	a, err := arn.Parse(roleARN)
	if err != nil || !strings.HasPrefix(a.Resource, "role/") {
		return "", "", fmt.Errorf("%q is not a role ARN", roleARN)
	}
	rest := strings.TrimPrefix(a.Resource, "role/")
	i := strings.LastIndexByte(rest, '/')
	return "/" + rest[:i+1], rest[i+1:], nil
}
