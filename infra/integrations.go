package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/statemachines"
)

// isFunction reports whether a placeholder ${X} names a stepship function.
func isFunction(placeholder string) bool {
	_, ok := statemachines.FunctionOf(strings.TrimSuffix(strings.TrimPrefix(placeholder, "${"), "}"))
	return ok
}

// The deploy state machine's role is derived from its ASL file: each Task's
// Resource (a service integration) maps to the permissions that integration
// needs. A Task with an integration this table does not know fails the synth,
// so a state machine never deploys with a role that cannot run it.

// aslStates is the part of an ASL document that holds Task resources.
type aslStates struct {
	States map[string]aslState `json:"States"`
}

type aslState struct {
	Type          string      `json:"Type"`
	Resource      string      `json:"Resource"`
	Branches      []aslStates `json:"Branches"`      // Parallel
	Iterator      *aslStates  `json:"Iterator"`      // Map (legacy name)
	ItemProcessor *aslStates  `json:"ItemProcessor"` // Map
}

// taskResources returns every Task Resource in the definition, sorted and
// without duplicates, including those inside Parallel branches and Maps.
func taskResources(asl string) ([]string, error) {
	var root aslStates
	if err := json.Unmarshal([]byte(asl), &root); err != nil {
		return nil, fmt.Errorf("failed to parse the ASL definition: %w", err)
	}
	seen := map[string]bool{}
	var walk func(m aslStates)
	walk = func(m aslStates) {
		for _, s := range m.States {
			if s.Type == "Task" && s.Resource != "" {
				seen[s.Resource] = true
			}
			for _, b := range s.Branches {
				walk(b)
			}
			if s.Iterator != nil {
				walk(*s.Iterator)
			}
			if s.ItemProcessor != nil {
				walk(*s.ItemProcessor)
			}
		}
	}
	walk(root)
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

// sdkResources scopes the actions of an AWS SDK integration (arn:aws:states:::aws-sdk:SERVICE:action)
// by service to what the catalog lists.
var sdkResources = map[string]func(stack awscdk.Stack, targets []catalog.Target) []*string{
	"ecr":        catalogRepositories,
	"cloudwatch": func(awscdk.Stack, []catalog.Target) []*string { return []*string{jsii.String("*")} },
	"ecs":        catalogServices,
	"sfn":        ownExecutions,
}

// sdkStatements builds the statements of the SDK integrations of a service
// whose actions each need resources or conditions of their own (rds.go); an
// action the builder does not know fails the synth.
var sdkStatements = map[string]func(stack awscdk.Stack, actions []string, targets []catalog.Target) ([]awsiam.PolicyStatement, error){
	"rds": rdsIntegrationStatements,
}

// sdkIAMPrefix is the IAM prefix of an SDK integration's service when it is
// not the service's name: Step Functions' actions are states:….
var sdkIAMPrefix = map[string]string{"sfn": "states"}

// sdkConditions narrows the SDK integrations of a service whose actions take
// no resource: CloudWatch metrics only in stepship's namespaces.
var sdkConditions = map[string]map[string]any{
	"cloudwatch": {"StringLike": map[string]any{"cloudwatch:namespace": "Stepship/*"}},
}

// catalogRepositories are the ARNs of the catalog's ECR repositories.
func catalogRepositories(stack awscdk.Stack, targets []catalog.Target) []*string {
	var out []*string
	for _, t := range targets {
		out = appendNew(out, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecr"), Account: jsii.String(t.Image.RegistryID), Region: jsii.String(t.Image.Region),
			Resource: jsii.String("repository"), ResourceName: jsii.String(t.Image.Repository),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	return out
}

// catalogProjects are the ARNs of the catalog's CodeBuild projects.
func catalogProjects(stack awscdk.Stack, targets []catalog.Target) []*string {
	var out []*string
	for _, t := range targets {
		if t.Build.Mode != catalog.BuildCodeBuild {
			continue
		}
		out = appendNew(out, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("codebuild"), Resource: jsii.String("project"),
			ResourceName: jsii.String(t.Build.Project), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	return out
}

// dynamoDBItemActions maps the optimized DynamoDB integrations to their actions,
// granted on stepship's own table (${TableName}) only.
var dynamoDBItemActions = map[string]string{
	"arn:aws:states:::dynamodb:getItem":    "dynamodb:GetItem",
	"arn:aws:states:::dynamodb:putItem":    "dynamodb:PutItem",
	"arn:aws:states:::dynamodb:updateItem": "dynamodb:UpdateItem",
	"arn:aws:states:::dynamodb:deleteItem": "dynamodb:DeleteItem",
}

// dynamoDBSDKActions maps the DynamoDB SDK integrations stepship uses to the
// item actions they need, on stepship's own table: a transaction is
// authorized item by item.
var dynamoDBSDKActions = map[string][]string{
	"arn:aws:states:::aws-sdk:dynamodb:transactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
}

// integrationStatements returns the policy statements the state machine's role
// needs for the Task resources of asl, other than invoking stepship's own
// functions (named by placeholders and granted separately), scoped to the
// catalog's targets. tableARN and keyARN are the lock and ledger table and the
// key that encrypts it.
func integrationStatements(stack awscdk.Stack, asl string, targets []catalog.Target, tableARN, keyARN *string) ([]awsiam.PolicyStatement, error) {
	resources, err := taskResources(asl)
	if err != nil {
		return nil, err
	}
	var statements []awsiam.PolicyStatement
	var problems []error
	sdkActions := map[string][]string{}
	var tableActions []string
	codebuild, codebuildSync, runTask, nestedBackup := false, false, false, false
	for _, r := range resources {
		if action, ok := dynamoDBItemActions[r]; ok {
			tableActions = append(tableActions, action)
			continue
		}
		if actions, ok := dynamoDBSDKActions[r]; ok {
			tableActions = append(tableActions, actions...)
			continue
		}
		switch {
		case statemachines.IsPlaceholder(r) && isFunction(r):
			// ${NameFunctionArn}: invoked and granted by name.
		case r == "arn:aws:states:::lambda:invoke" || r == "arn:aws:states:::lambda:invoke.waitForTaskToken":
			// The FunctionName parameter names a function by placeholder.
		case r == "arn:aws:states:::codebuild:startBuild":
			codebuild = true
		case r == "arn:aws:states:::codebuild:startBuild.sync":
			codebuild, codebuildSync = true, true
		case r == "arn:aws:states:::ecs:runTask.sync":
			runTask = true
		case r == "arn:aws:states:::states:startExecution.sync:2":
			// The deploy machine's pre-deploy snapshot: the backup machine,
			// nested, and no other (its grants name that machine only).
			if !strings.Contains(asl, "${"+statemachines.BackupStateMachineArn+"}") {
				problems = append(problems, fmt.Errorf("Task resource %s: only the backup machine (${%s}) may be started as a nested execution", r, statemachines.BackupStateMachineArn))
				continue
			}
			nestedBackup = true
		case strings.HasPrefix(r, "arn:aws:states:::aws-sdk:"):
			service, action, ok := strings.Cut(strings.TrimPrefix(r, "arn:aws:states:::aws-sdk:"), ":")
			_, known := sdkResources[service]
			if _, built := sdkStatements[service]; !ok || !(known || built) || action == "" || strings.Contains(action, ".") {
				problems = append(problems, fmt.Errorf("Task resource %s: no permissions are defined for this SDK integration (add its service to sdkResources in infra/integrations.go)", r))
				continue
			}
			prefix := service
			if p, ok := sdkIAMPrefix[service]; ok {
				prefix = p
			}
			sdkActions[service] = append(sdkActions[service], prefix+":"+strings.ToUpper(action[:1])+action[1:])
		default:
			problems = append(problems, fmt.Errorf("Task resource %s: unknown integration (name stepship functions as ${NameFunctionArn}; add other integrations to infra/integrations.go)", r))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	arn := func(service, resource string) *string {
		name, rest, _ := strings.Cut(resource, "/")
		return stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String(service), Resource: jsii.String(name),
			ResourceName: jsii.String(rest), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})
	}
	if projects := catalogProjects(stack, targets); codebuild && len(projects) > 0 {
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("RunTheCatalogsBuilds"),
			Actions:   jsii.Strings("codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"),
			Resources: &projects,
		}))
	}
	if codebuildSync {
		// .sync waits through a rule Step Functions manages in the account.
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("WaitForBuilds"),
			Actions:   jsii.Strings("events:PutTargets", "events:PutRule", "events:DescribeRule"),
			Resources: &[]*string{arn("events", "rule/StepFunctionsGetEventForCodeBuildStartBuildRule")},
		}))
	}
	if runTask {
		statements = append(statements, runTaskStatements(stack, targets)...)
	}
	if nestedBackup && slices.ContainsFunc(targets, func(t catalog.Target) bool { return t.Backup != nil && t.Backup.BeforeDeploy }) {
		statements = append(statements, nestedBackupStatements(stack)...)
	}
	if len(tableActions) > 0 && tableARN == nil {
		return nil, fmt.Errorf("Task resources %s: this stack has no lock and ledger table", strings.Join(dedupe(tableActions), ", "))
	}
	if len(tableActions) > 0 {
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("UseTheTable"),
			Actions:   jsii.Strings(dedupe(tableActions)...),
			Resources: &[]*string{tableARN},
		}), awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("UseTheTableKey"),
			Actions:    jsii.Strings("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
			Resources:  &[]*string{keyARN},
			Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": "dynamodb." + *stack.Region() + ".amazonaws.com"}},
		}))
	}
	services := make([]string, 0, len(sdkActions))
	for s := range sdkActions {
		services = append(services, s)
	}
	sort.Strings(services)
	for _, s := range services {
		if build, ok := sdkStatements[s]; ok {
			built, err := build(stack, sdkActions[s], targets)
			if err != nil {
				return nil, err
			}
			statements = append(statements, built...)
			continue
		}
		resources := sdkResources[s](stack, targets)
		if len(resources) == 0 {
			continue
		}
		var conditions *map[string]any
		if c, ok := sdkConditions[s]; ok {
			conditions = &c
		}
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings(dedupe(sdkActions[s])...),
			Resources:  &resources,
			Conditions: conditions,
		}))
	}
	return statements, nil
}

// dedupe returns actions sorted, each once.
func dedupe(actions []string) []string {
	out := slices.Clone(actions)
	slices.Sort(out)
	return slices.Compact(out)
}

// nestedBackupStatements let a state machine run the backup state machine
// as a nested .sync execution (a pre-deploy snapshot, catalog
// backup.beforeDeploy): start that machine only, watch and stop its
// executions only, and the rule Step Functions manages to learn that one
// ended.
func nestedBackupStatements(stack awscdk.Stack) []awsiam.PolicyStatement {
	name := backupMachineName(*stack.StackName())
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("StartPreDeploySnapshots"),
			Actions:   jsii.Strings("states:StartExecution"),
			Resources: &[]*string{backupMachineARN(stack)},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("WatchPreDeploySnapshots"),
			Actions:   jsii.Strings("states:DescribeExecution", "states:StopExecution"),
			Resources: &[]*string{statesARN(stack, "execution", name+":*")},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("WaitForPreDeploySnapshots"),
			Actions: jsii.Strings("events:PutTargets", "events:PutRule", "events:DescribeRule"),
			Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("rule"),
				ResourceName: jsii.String("StepFunctionsGetEventsForStepFunctionsExecutionRule"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})},
		}),
	}
}
