package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
)

// The backup account (catalog backup.backupAccount): the home stack lets
// the snapshot function share each DR copy with it and assume its role;
// the backup-account stack, deployed in that account, creates the role
// (trusting only that function's role, allowed to copy stepship's shared
// snapshots in and nothing that deletes or shares them out) and the key the
// copies are encrypted with.

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
	groups := offsites(targets)
	if len(groups) == 0 {
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
// snapshot function assumes there, and the keys the copies are encrypted
// with. It is deployed with that account's credentials.
type BackupAccountStack struct {
	awscdk.Stack
	Account, Region string
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

// NewBackupAccountStack defines the backup-account stack of the home stack
// (its name home, in homeAccount) for the catalog entries copied to account
// in region: each copier role the catalog names, trusting only the home
// account's snapshot function role, allowed to copy stepship's snapshots of
// those databases from the home account into this one (tagged, encrypted
// with the catalog's kmsKey through RDS, reading the shared DR copy's key
// through RDS), and denied every delete; and each key the catalog names by
// an alias, with rotation.
func NewBackupAccountStack(scope constructs.Construct, home, homeAccount string, o offsite) (*BackupAccountStack, error) {
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
	return b, nil
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
