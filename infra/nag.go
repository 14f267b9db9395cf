package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The wildcard findings the suppressions below accept, each named once.
var (
	ownExecutionsFinding    = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):states:[^:]*:[^:]*:execution:[A-Za-z0-9-]+-deploy:\*$/g`)}
	backupExecutionsFinding = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):states:[^:]*:[^:]*:execution:[A-Za-z0-9-]+-backup:\*$/g`)}
	clusterTasksFinding     = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:[^:]*:[^:]*:task\/[A-Za-z0-9_-]+\/\*$/g`)}
	taskDefinitionsFinding  = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:[^:]*:[^:]*:task-definition\/\*$/g`)}
	rolePrefixFinding       = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:aws[a-z-]*:iam::[0-9]{12}:role\/[A-Za-z0-9+=,.@_\/-]+\*$/g`)}
)

// addNagSuppressions records, on the resources themselves, why each cdk-nag
// AwsSolutions finding that remains is accepted. Each suppression names the exact
// findings it covers (appliesTo), so a new wildcard still fails the check.
func addNagSuppressions(s *StepshipStack, specs []FunctionSpec) {
	for _, spec := range specs {
		fn := s.Functions[spec.Name]
		reasons := []string{"X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports no resource-level permissions"}
		appliesTo := []any{"Resource::*"}
		if spec.has(StartsDeploy) {
			reasons = append(reasons, "states:DescribeExecution is limited to the executions of the deploy state machine, whose names are not known in advance")
			appliesTo = append(appliesTo, ownExecutionsFinding)
		}
		if spec.has(CopiesSnapshots) {
			reasons, appliesTo = append(reasons, snapshotsReason), append(appliesTo, snapshotsPattern)
		}
		if spec.has(DeploysECS) {
			reasons = append(reasons,
				"iam:PassRole on a role prefix is what the catalog declares for an environment (roles: [arn:…:role/NAME-*]), and only to ecs-tasks.amazonaws.com",
				"ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition support no resource-level permissions",
				"ecs:TagResource is limited to task definitions and to RegisterTaskDefinition by an ecs:CreateAction condition")
			appliesTo = append(appliesTo, taskDefinitionsFinding, rolePrefixFinding)
		}
		if spec.has(VerifiesReleases) {
			reasons = append(reasons, "ecs:DescribeTasks is limited to the tasks of the catalog's clusters, whose ids are not known in advance (why a deployment's tasks stopped)")
			appliesTo = append(appliesTo, clusterTasksFinding)
		}
		if spec.has(MigratesDatabases) {
			reasons = append(reasons, "s3:GetObject is limited to the catalog's migrations locations (s3://BUCKET/PREFIX/), under which each build writes COMMIT/*.sql",
				"in the catalog's database.network, Lambda creates and deletes the function's network interfaces (ec2:CreateNetworkInterface is limited to "+
					"that network's subnets and security groups); the interfaces' ids are not known in advance and ec2:Describe* supports no resource-level permissions")
			appliesTo = append(appliesTo, &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):s3:::[a-z0-9.-]+\/.+\/\*$/g`)}, interfaces)
		}
		suppressWildcards(fn.Role(), reasons, appliesTo)
	}

	cdknag.NagSuppressions_AddResourceSuppressions(s.DeployStateMachine.Role(), &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing " +
			"support no resource-level permissions; states:DescribeExecution is limited to the deploy machine's own executions " +
			"(the lock's holder: has it ended?); a migration task (ecs:runTask.sync) runs a revision of the catalog's services, " +
			"whose revisions are not known in advance, only in the catalog's clusters (ecs:cluster condition), its tasks are watched " +
			"and stopped only there, and it may pass only the roles the catalog lists (a prefix where the catalog gives one) to ecs-tasks; " +
			"a pre-deploy snapshot (catalog backup.beforeDeploy) is an execution of the backup machine, whose executions it may only describe and stop, " +
			"their names being the deploys' own"),
		AppliesTo: &[]any{"Resource::*", ownExecutionsFinding, backupExecutionsFinding, clusterTasksFinding, taskDefinitionsFinding, rolePrefixFinding},
	}}, jsii.Bool(true))
	if s.Backups != nil {
		suppressWildcards(s.Backups.StateMachine.Role(), []string{machineLogsReason, snapshotsReason}, []any{"Resource::*", snapshotsPattern})
	}

	cdknag.NagSuppressions_AddResourceSuppressions(s.WebhookSecret, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("the webhook keyring is shared with the git hosts, which cannot fetch a rotated value; " +
			"it is rotated by hand together with the webhook settings, and the previous value expires after an overlap (docs/webhook.md)"),
	}}, nil)
}

// Reasons and findings (appliesTo regular expressions over the resources of
// stepship's own naming) of the backup and drill roles' remaining
// wildcards. An ARN's partition, region and account may be the stack's
// tokens.
const (
	arnPrefix         = `arn:(<AWS::Partition>|aws[a-z-]*):`
	arnRegionAccount  = `:([a-z0-9-]+|<AWS::Region>):([0-9]{12}|<AWS::AccountId>):`
	machineLogsReason = "Step Functions log delivery (logs:CreateLogDelivery and related), X-Ray tracing and cloudwatch:PutMetricData " +
		"(limited to stepship's namespaces by a condition) support no resource-level permissions"
	snapshotsReason = "stepship's snapshots of a catalog database are named stepship-DATABASE-TIME (shared/backup.SnapshotID): " +
		"the prefix names that database's snapshots only, whose times are not known in advance"
	restoredReason = "the databases a drill or a failover restores are named drill-DATABASE-TIME and failover-DATABASE-TIME " +
		"(shared/backup.RestoredID): the prefix names one catalog database's restores only; deleting is further limited to drill- and to the stepship:purpose=drill tag"
	defaultGroupsReason = "a restore uses the engine's default option and parameter groups, whose names depend on the engine version " +
		"of the snapshot (default:postgres-16, default.postgres16): only default groups are allowed"
	ledgerKeyReason = "the restore function uses the home stack's ledger table from a DR region; the key that encrypts it is the home stack's, " +
		"whose id a stack in another region cannot know: any key of the home region, only through DynamoDB (kms:ViaService) and only for the ledger table " +
		"(kms:EncryptionContext:aws:dynamodb:tableName)"
	neverReason = "the only statement on every resource is the backup account's explicit Deny of deleting, sharing out or untagging a copy and of disabling its key: " +
		"it must hold for any resource"
	interfacesReason = "Lambda creates and deletes the function's network interfaces in the drill subnets (ec2:CreateNetworkInterface is limited to them " +
		"and to its security group); the interfaces' ids are not known in advance and ec2:Describe* supports no resource-level permissions"
)

var (
	snapshotsPattern = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::` + arnPrefix + `rds` + arnRegionAccount + `(cluster-)?snapshot:stepship-[a-z0-9-]+-\*$/g`)}
	restoredPattern  = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::` + arnPrefix + `rds` + arnRegionAccount + `(db|cluster):(drill|failover)-[a-z0-9-]+-\*$/g`)}
	defaultGroups    = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::` + arnPrefix + `rds` + arnRegionAccount + `(og:default:|pg:default\.|cluster-pg:default\.)\*$/g`)}
	interfaces       = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::` + arnPrefix + `ec2` + arnRegionAccount + `network-interface\/\*$/g`)}
	homeKeys         = &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::` + arnPrefix + `kms` + arnRegionAccount + `key\/\*$/g`)}
)

// suppressWildcards records on a role why its wildcard findings are
// accepted, naming exactly the findings (appliesTo) they cover: a new
// wildcard still fails the check.
func suppressWildcards(role awsiam.IRole, reasons []string, appliesTo []any) {
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String(strings.Join(reasons, "; ")),
		AppliesTo: &appliesTo,
	}}, jsii.Bool(true))
}

// addDRNagSuppressions records why the DR stack's remaining findings are
// accepted, each on its role and naming exactly the findings it covers.
func addDRNagSuppressions(d *DRStack, specs []FunctionSpec) {
	for _, spec := range specs {
		reasons := []string{"X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports no resource-level permissions"}
		appliesTo := []any{"Resource::*"}
		if spec.has(RestoresDrills) {
			reasons = append(reasons, snapshotsReason, restoredReason, defaultGroupsReason)
			appliesTo = append(appliesTo, snapshotsPattern, restoredPattern, defaultGroups)
		}
		if spec.has(RecordsDrills) {
			reasons, appliesTo = append(reasons, ledgerKeyReason), append(appliesTo, homeKeys)
		}
		if spec.has(VerifiesDrills) {
			reasons, appliesTo = append(reasons, interfacesReason), append(appliesTo, interfaces)
		}
		suppressWildcards(d.Functions[spec.Name].Role(), reasons, appliesTo)
	}
	suppressWildcards(d.StateMachine.Role(), []string{machineLogsReason, restoredReason}, []any{"Resource::*", restoredPattern})
}
