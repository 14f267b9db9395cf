package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
)

// The deploy pipeline's permissions beyond registering a revision: what
// functions/verify and functions/migrate read, and what the deploy state
// machine's direct integrations (ecs:updateService, ecs:runTask.sync,
// sfn:describeExecution, dynamodb:transactWriteItems) do, each scoped to what
// the catalog lists.

// deployMachineName is the deploy state machine's name: fixed, so that its
// own role may read its executions (the lock's holder) without a circular
// reference to the machine.
func deployMachineName(stack awscdk.Stack) string { return *stack.StackName() + "-deploy" }

// catalogServices are the ARNs of the catalog's ECS services.
func catalogServices(stack awscdk.Stack, targets []catalog.Target) []*string {
	var out []*string
	for _, t := range targets {
		out = appendNew(out, ecsServiceARN(stack, t.Cluster, t.ECSService))
	}
	return out
}

// catalogClusters are the ARNs of the catalog's ECS clusters.
func catalogClusters(stack awscdk.Stack, targets []catalog.Target) []*string {
	var out []*string
	for _, t := range targets {
		out = appendNew(out, clusterARN(stack, t.Cluster))
	}
	return out
}

func clusterARN(stack awscdk.Stack, cluster string) *string {
	if strings.HasPrefix(cluster, "arn:") {
		return jsii.String(cluster)
	}
	return stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("cluster"),
		ResourceName: jsii.String(cluster), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
}

// catalogTasks are the ARNs of any task in the catalog's clusters.
func catalogTasks(stack awscdk.Stack, targets []catalog.Target) []*string {
	var out []*string
	for _, t := range targets {
		name := clusterName(t.Cluster)
		out = appendNew(out, stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("task"),
			ResourceName: jsii.String(name + "/*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME}))
	}
	return out
}

// catalogRoles are the task and execution roles the catalog lists.
func catalogRoles(targets []catalog.Target) []*string {
	var out []*string
	for _, t := range targets {
		for _, r := range t.Roles {
			out = appendNew(out, jsii.String(r))
		}
	}
	return out
}

// ownExecutions are the deploy machine's executions.
func ownExecutions(stack awscdk.Stack, _ []catalog.Target) []*string {
	return []*string{statesARN(stack, "execution", deployMachineName(stack)+":*")}
}

// runTaskStatements are what ecs:runTask.sync needs: run a revision in the
// catalog's clusters, watch and stop its tasks, the rule .sync waits
// through, and the roles the revision may name.
func runTaskStatements(stack awscdk.Stack, targets []catalog.Target) []awsiam.PolicyStatement {
	tasks := catalogTasks(stack, targets)
	out := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("RunMigrationTasksInTheCatalogsClusters"),
			Actions: jsii.Strings("ecs:RunTask"),
			Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("task-definition"),
				ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})},
			Conditions: &map[string]any{"ArnEquals": map[string]any{"ecs:cluster": catalogClusters(stack, targets)}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("WatchMigrationTasks"),
			Actions:   jsii.Strings("ecs:DescribeTasks", "ecs:StopTask"),
			Resources: &tasks,
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("WaitForMigrationTasks"),
			Actions: jsii.Strings("events:PutTargets", "events:PutRule", "events:DescribeRule"),
			Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("rule"),
				ResourceName: jsii.String("StepFunctionsGetEventsForECSTaskRule"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})},
		}),
	}
	if roles := catalogRoles(targets); len(roles) > 0 {
		out = append(out, passRolesToECSTasks("PassTheCatalogsRolesToMigrationTasks", roles))
	}
	return out
}

// passRolesToECSTasks lets a role pass the catalog's roles, and only to ECS
// tasks: what registering a revision and running a migration task both need.
func passRolesToECSTasks(sid string, roles []*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(sid),
		Actions:    jsii.Strings("iam:PassRole"),
		Resources:  &roles,
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
	})
}

// grantVerify gives fn what functions/verify reads: the catalog's services
// and the tasks of their clusters (why a deployment failed), and the
// catalog's alarms.
func grantVerify(stack awscdk.Stack, fn awslambda.Function, targets []catalog.Target) {
	services := catalogServices(stack, targets)
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DescribeTheCatalogsServices"),
		Actions:   jsii.Strings("ecs:DescribeServices"),
		Resources: &services,
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ListTheCatalogsClustersTasks"),
		Actions:    jsii.Strings("ecs:ListTasks"),
		Resources:  jsii.Strings("*"), // ListTasks takes no resource; the condition names the clusters
		Conditions: &map[string]any{"ArnEquals": map[string]any{"ecs:cluster": catalogClusters(stack, targets)}},
	}))
	tasks := catalogTasks(stack, targets)
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DescribeTheCatalogsClustersTasks"),
		Actions:   jsii.Strings("ecs:DescribeTasks"),
		Resources: &tasks,
	}))
	var alarms []*string
	for _, t := range targets {
		for _, a := range t.Verify.Alarms {
			alarms = appendNew(alarms, stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"),
				ResourceName: jsii.String(a), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME}))
		}
	}
	if len(alarms) > 0 {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadTheCatalogsAlarms"),
			Actions:   jsii.Strings("cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"),
			Resources: &alarms,
		}))
	}
}

// grantMigrate gives fn what functions/migrate reads for each environment
// with SQL migrations: its database's secret, and the migrations the builds
// write under its location.
func grantMigrate(stack awscdk.Stack, fn awslambda.Function, targets []catalog.Target) {
	var secrets, objects, buckets []*string
	var prefixes []string
	for _, t := range targets {
		m := t.Migrations
		if m == nil || m.Mode != catalog.MigrationsSQL {
			continue
		}
		secrets = appendNew(secrets, jsii.String(t.Database.Secret))
		loc, err := payload.ParseS3Location(m.Location)
		if err != nil {
			continue // the catalog checked it
		}
		objects = appendNew(objects, jsii.String("arn:"+*stack.Partition()+":s3:::"+loc.Bucket+"/"+loc.Prefix+"*"))
		buckets = appendNew(buckets, jsii.String("arn:"+*stack.Partition()+":s3:::"+loc.Bucket))
		prefixes = append(prefixes, loc.Prefix+"*")
	}
	if len(secrets) == 0 {
		return
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadTheCatalogsDatabaseSecrets"),
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: &secrets,
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadTheCatalogsMigrations"),
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: &objects,
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ListTheCatalogsMigrations"),
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  &buckets,
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": prefixes}},
	}))
}
