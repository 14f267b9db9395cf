package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/ledger"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/statemachines"
)

// DRStack is stepship's stack in one disaster-recovery region: what the
// drills (and a failover) of the catalog's databases copied there need, so
// that recovering depends on nothing in the home region.
type DRStack struct {
	awscdk.Stack
	// Region is the DR region.
	Region string
	// DataKey encrypts the stack's log groups.
	DataKey      awskms.Key
	Functions    map[string]awslambda.Function
	StagedDirs   map[string]string
	StateMachine awsstepfunctions.StateMachine
	Network      *drillNetwork
	// ScheduleRole may start the drill state machine and nothing else.
	ScheduleRole awsiam.Role
	// Schedules by catalog entry, "service/environment".
	Schedules map[string]awsscheduler.CfnSchedule
	// Alarms by name.
	Alarms map[string]awscloudwatch.Alarm
	// Notifications is the DR stack's topic (notifications.go): a drill
	// publishes its outcome in its own region, which a failover needs.
	Notifications awssns.Topic
}

// drStackName is the name of the home stack's DR stack in region.
func drStackName(home, region string) string { return home + "-dr-" + region }

// NewStacks defines stepship's home stack (NewStepshipStack) and a DR stack
// (NewDRStack) in each region the catalog's drills run in, in the home
// stack's account; and a backup-account stack (NewBackupAccountStack) in
// each backup account and region the catalog copies to, kept in the home
// stack's BackupAccountStacks.
func NewStacks(scope constructs.Construct, id string, props *StepshipStackProps) (*StepshipStack, []*DRStack, error) {
	home, err := NewStepshipStack(scope, id, props)
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog.Load(props.CatalogFile)
	if err != nil {
		return nil, nil, err
	}
	var drs []*DRStack
	for _, region := range backup.DrillRegions(cat.Targets()) {
		dr, err := NewDRStack(scope, drStackName(id, region), region, home, props)
		if err != nil {
			return nil, nil, err
		}
		drs = append(drs, dr)
	}
	groups := offsites(cat.Targets())
	if len(groups) > 0 && (props.Env == nil || props.Env.Account == nil || *awscdk.Token_IsUnresolved(props.Env.Account)) {
		return nil, nil, fmt.Errorf("the catalog names a backup account: the home stack's account must be known at synth (context account, or CDK_DEFAULT_ACCOUNT), as its role there trusts this account")
	}
	for _, o := range groups {
		b, err := NewBackupAccountStack(scope, id, *props.Env.Account, o, props)
		if err != nil {
			return nil, nil, err
		}
		home.BackupAccountStacks = append(home.BackupAccountStacks, b)
	}
	return home, drs, nil
}

// NewDRStack defines the DR stack of region for the home stack: a key for
// its logs and its notification topic, the isolated drill network
// (network.go), the DR functions of props (restore, dr-verify; restore reads
// and writes the home stack's ledger), the dr-drill state machine
// (statemachines/dr-drill.asl.json, publishing its outcomes to the topic), a
// schedule per drill starting it with the documented input
// (events/dr-drill.json), and alarms on the RTO and RPO each drill records
// and on failed drills, sent to the topic.
func NewDRStack(scope constructs.Construct, id, region string, home *StepshipStack, props *StepshipStackProps) (*DRStack, error) {
	specs := props.Functions
	if specs == nil {
		specs = DefaultFunctions()
	}
	_, specs = homeAndDR(specs)
	cat, err := catalog.Load(props.CatalogFile)
	if err != nil {
		return nil, err
	}
	var targets []catalog.Target
	for _, t := range cat.Targets() {
		if t.Drill != nil && t.Backup.DRRegion == region {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("the catalog has no drill in %s", region)
	}
	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}
	var account *string
	if props.Env != nil {
		account = props.Env.Account
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: account, Region: jsii.String(region)},
		Description: jsii.String("stepship: disaster-recovery drills and failovers in " + region),
	})
	d := &DRStack{Stack: stack, Region: region, Functions: map[string]awslambda.Function{}, StagedDirs: map[string]string{},
		Alarms: map[string]awscloudwatch.Alarm{}}
	homeName := *home.StackName()

	d.DataKey = awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("stepship: encrypts the DR stack's log groups"),
		EnableKeyRotation: jsii.Bool(true),
	})
	allowLogsToUseKey(stack, d.DataKey)
	d.Notifications = newNotificationTopic(stack, d.DataKey, props.NotificationEmails)
	d.Network = newDrillNetwork(stack, targets, d.DataKey, retention)

	stagingDir := props.StagingDir
	if stagingDir == "" {
		stagingDir = filepath.Join(*awscdk.Stage_Of(stack).Outdir(), "stepship-staging")
	}
	stagingDir = filepath.Join(stagingDir, id)
	for _, spec := range specs {
		fn, dir, err := newFunction(stack, spec, props.DistDir, stagingDir, props.CatalogFile, retention, d.DataKey, 0)
		if err != nil {
			return nil, err
		}
		d.Functions[spec.Name], d.StagedDirs[spec.Name] = fn, dir
		fn.AddEnvironment(jsii.String(config.EnvCatalog), jsii.String(lambdaTaskRoot+"/"+config.CatalogFileName), nil)
		if spec.has(RestoresDrills) {
			grantDrillRestores(stack, fn, targets)
			fn.AddEnvironment(jsii.String(config.EnvDrillSecurityGroup), d.Network.DrillSecurityGroup.SecurityGroupId(), nil)
		}
		if spec.has(RecordsDrills) {
			if err := grantLedger(stack, fn, home); err != nil {
				return nil, err
			}
		}
		if spec.has(VerifiesDrills) {
			if err := d.grantSecretReplicas(fn, targets); err != nil {
				return nil, err
			}
			d.Network.attach(stack, fn, d.Network.VerifySecurityGroup)
		}
	}

	d.StateMachine, err = newMonitoredStateMachine(stack, statemachines.DRDrill, machine{
		ID: "DrillStateMachine", Name: drillMachineName(homeName), LogSuffix: "dr-drill",
		Comment:   "stepship: restore the newest DR copy in isolation, verify it, measure RTO and RPO, clean up (or keep it in a confirmed failover), report and notify",
		Functions: functionsByPlaceholder(specs, d.Functions),
		Resources: map[string]*string{statemachines.NotificationTopicArn: d.Notifications.TopicArn()}, TopicARN: d.Notifications.TopicArn(),
	}, targets, retention, d.DataKey, backup.MetricNamespaceDrills, backup.MetricRTO, backup.MetricRPO)
	if err != nil {
		return nil, err
	}

	if d.ScheduleRole, d.Schedules, err = newSchedules(stack, "DrillSchedule", "drill", d.StateMachine, targets,
		func(t catalog.Target) (string, interface{ Validate() error }) {
			return t.Drill.Schedule, payload.DrillRequest{Service: t.Service, Environment: t.Environment,
				Reason: "scheduled disaster-recovery drill (catalog drill.schedule)", RequestedBy: scheduledBy, Mode: payload.ModeDrill}
		}); err != nil {
		return nil, err
	}

	failed := failedExecutionsAlarm(stack, "DrillFailedAlarm", alarmName(id, "drill-failed", nil), *d.StateMachine.StateMachineArn(), region,
		"a drill (or a failover) failed, timed out or was aborted: read its error; a CleanupFailed names the database to delete by hand")
	notifyOn(failed, d.Notifications, false)
	d.Alarms[*failed.AlarmName()] = failed
	for i, t := range targets {
		o, err := objectives(t)
		if err != nil {
			return nil, err
		}
		for _, a := range []awscloudwatch.Alarm{
			thresholdAlarm(stack, fmt.Sprintf("DrillRPOAlarm%d", i), alarmName(id, "drill-rpo", &t),
				metricOf(backup.MetricNamespaceDrills, backup.MetricRPO, t, region), o.RPO,
				fmt.Sprintf("the copy of %s/%s the last drill restored was older than %s, twice the longest gap of backup.schedule %s",
					t.Service, t.Environment, o.RPO, t.Backup.Schedule)),
			thresholdAlarm(stack, fmt.Sprintf("DrillRTOAlarm%d", i), alarmName(id, "drill-rto", &t),
				metricOf(backup.MetricNamespaceDrills, backup.MetricRTO, t, region), o.RTO,
				fmt.Sprintf("the last drill of %s/%s took longer than %s to recover, 80%% of drill.timeoutMinutes (%d): the next may time out",
					t.Service, t.Environment, o.RTO, t.Drill.TimeoutMinutes)),
		} {
			notifyOn(a, d.Notifications, true)
			d.Alarms[*a.AlarmName()] = a
		}
	}

	for _, o := range []struct {
		id, description string
		value           *string
	}{
		{"DrillStateMachineArn", "the dr-drill state machine (a drill: events/dr-drill.json; a failover: events/dr-failover.json)", d.StateMachine.StateMachineArn()},
		{"DrillVpcId", "the isolated drill VPC", d.Network.VPC.AttrVpcId()},
		{"DrillSecurityGroupId", "the restored databases' security group when the catalog names none", d.Network.DrillSecurityGroup.SecurityGroupId()},
		{"DrVerifyRoleArn", "the dr-verify function's role (a customer-managed key of a secret replica must let it decrypt)", d.Functions["dr-verify"].Role().RoleArn()},
		{"NotificationTopicArn", "the DR region's notification topic (drill outcomes, the DR alarms): subscribe to it", d.Notifications.TopicArn()},
	} {
		awscdk.NewCfnOutput(stack, jsii.String(o.id), &awscdk.CfnOutputProps{Description: jsii.String(o.description), Value: o.value})
	}
	addDRNagSuppressions(d, specs)
	return d, nil
}

// grantSecretReplicas lets fn read the catalog's database secrets of the
// drills, from their replicas in this region (backup.SecretReplica), and
// only through the drill VPC's endpoint, whose policy admits only fn's role
// reading exactly those; a replica encrypted with the catalog's drKmsKey is
// decrypted through Secrets Manager.
func (d *DRStack) grantSecretReplicas(fn awslambda.Function, targets []catalog.Target) error {
	var replicas, keys []*string
	for _, t := range targets {
		replica, err := backup.SecretReplica(t.Database.Secret, d.Region)
		if err != nil {
			return fmt.Errorf("catalog: services[%s].environments[%s].database.secret: %w", t.Service, t.Environment, err)
		}
		replicas = appendNew(replicas, jsii.String(replica))
		keys = appendNew(keys, jsii.String(t.Backup.DRKMSKey))
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ReadTheDatabaseSecretsReplicas"), Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: &replicas,
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceVpce": d.Network.SecretsEndpoint.VpcEndpointId()}},
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("DecryptTheReplicasThroughSecretsManager"), Actions: jsii.Strings("kms:Decrypt"), Resources: &keys,
		Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": "secretsmanager." + d.Region + ".amazonaws.com"}},
	}))
	d.Network.SecretsEndpoint.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewArnPrincipal(fn.Role().RoleArn())},
		Actions:    jsii.Strings("secretsmanager:GetSecretValue"), Resources: &replicas,
	}))
	return nil
}

// grantLedger lets fn, in a DR stack, use the home stack's ledger as the
// drill does (shared/ledger): Query the deploys' entries (partition keys
// deploy#…) and put drill reports (partition keys drill#…), on the ledger
// table only, and use the home stack's key through DynamoDB for that table
// only. The table and region are named, not referenced (a stack cannot
// reference another region's): config.EnvLedgerTable, config.EnvLedgerRegion.
func grantLedger(stack awscdk.Stack, fn awslambda.Function, home *StepshipStack) error {
	region := *home.Region()
	if *awscdk.Token_IsUnresolved(jsii.String(region)) {
		return errors.New("a DR stack names the home stack's region: give the home stack an explicit region (context region)")
	}
	name := ledgerTableName(*home.StackName())
	fn.AddEnvironment(jsii.String(config.EnvLedgerTable), jsii.String(name), nil)
	fn.AddEnvironment(jsii.String(config.EnvLedgerRegion), jsii.String(region), nil)
	table := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("dynamodb"), Region: jsii.String(region), Resource: jsii.String("table"),
		ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	leading := func(prefix string) *map[string]any {
		return &map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{prefix + "*"}}}
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ReadTheDeploysMigrationVersions"), Actions: jsii.Strings("dynamodb:Query"), Resources: &[]*string{table},
		Conditions: leading("deploy#"),
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("RecordTheDrillReports"), Actions: jsii.Strings("dynamodb:PutItem"), Resources: &[]*string{table},
		Conditions: leading(ledger.DrillPrefix),
	}))
	// The home stack's key, whose id a DR stack cannot know: any key of the
	// home region, through DynamoDB, for the ledger table only.
	keys := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("kms"), Region: jsii.String(region), Resource: jsii.String("key"),
		ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	via := "dynamodb." + region + ".amazonaws.com"
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("UseTheLedgerKeyForTheLedger"), Actions: jsii.Strings("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"), Resources: &[]*string{keys},
		Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": via, "kms:EncryptionContext:aws:dynamodb:tableName": name}},
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("DescribeTheLedgerKey"), Actions: jsii.Strings("kms:DescribeKey"), Resources: &[]*string{keys},
		Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": via}},
	}))
	return nil
}
