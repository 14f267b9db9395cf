package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/statemachines"
)

// machine describes one state machine of a stack, defined from its ASL text.
type machine struct {
	// ID is the stem of its construct ids: ID, ID+"Logs" (and CDK's ID+"Role").
	ID string
	// Name is the state machine's name; empty lets CloudFormation choose one.
	// The backup and drill machines have fixed names so that another stack
	// (the dashboard, the other region's schedules) can name them without a
	// cross-region reference.
	Name string
	// LogSuffix ends its log group's name: /aws/vendedlogs/states/STACK-SUFFIX.
	LogSuffix string
	Comment   string
	ASL       []byte
	File      string
	// Functions are the stack's functions by placeholder key
	// (statemachines.FunctionPlaceholder); the machine may invoke exactly
	// those its definition names.
	Functions map[string]awslambda.Function
	// Resources fill the other placeholders (statemachines.Resources).
	Resources map[string]*string
	// TableARN is the lock and ledger table its DynamoDB tasks may use (nil
	// in a stack without one).
	TableARN *string
	// TopicARN is the stack's notification topic its SNS tasks may publish
	// to (nil: none may).
	TopicARN *string
}

// newStateMachine defines a Standard state machine from its ASL text, kept
// inline in the template (DefinitionBody.fromString), logging everything to
// its own log group encrypted by key, traced. Each placeholder the definition
// uses becomes a definitionSubstitutions entry; any other fails. Its role is
// derived from the definition's Task states (integrations.go), scoped to
// targets.
func newStateMachine(stack awscdk.Stack, m machine, targets []catalog.Target, retention awslogs.RetentionDays, key awskms.Key) (awsstepfunctions.StateMachine, error) {
	values := map[string]*string{}
	for k, v := range m.Resources {
		values[k] = v
	}
	for k, fn := range m.Functions {
		values[k] = fn.FunctionArn()
	}
	subs := map[string]*string{}
	var invoked []awslambda.Function
	var unknown []string
	for _, k := range statemachines.Placeholders(m.ASL) {
		v, ok := values[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		subs[k] = v
		if fn, ok := m.Functions[k]; ok {
			invoked = append(invoked, fn)
		}
	}
	if len(unknown) > 0 {
		known := make([]string, 0, len(values))
		for k := range values {
			known = append(known, "${"+k+"}")
		}
		sort.Strings(known)
		return nil, fmt.Errorf("state machine %s uses unknown placeholders ${%s}; known: %s",
			m.File, strings.Join(unknown, "}, ${"), strings.Join(known, ", "))
	}

	statements, err := integrationStatements(stack, string(m.ASL), targets, stackResources{Table: m.TableARN, Key: key.KeyArn(), Topic: m.TopicARN})
	if err != nil {
		return nil, fmt.Errorf("state machine %s: %w", m.File, err)
	}

	logs := awslogs.NewLogGroup(stack, jsii.String(m.ID+"Logs"), &awslogs.LogGroupProps{
		// Step Functions' vended-logs prefix keeps the CloudWatch Logs resource policy small.
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + *stack.StackName() + "-" + m.LogSuffix),
		Retention:     retention,
		EncryptionKey: key,
	})
	var name *string
	if m.Name != "" {
		name = jsii.String(m.Name)
	}
	sm := awsstepfunctions.NewStateMachine(stack, jsii.String(m.ID), &awsstepfunctions.StateMachineProps{
		StateMachineName:        name,
		Comment:                 jsii.String(m.Comment),
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(m.ASL))),
		DefinitionSubstitutions: &subs,
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		TracingEnabled:          jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(true),
		},
	})
	for _, st := range statements {
		sm.AddToRolePolicy(st)
	}
	// Invoke by unqualified ARN only (GrantInvoke would add every version and alias).
	for _, fn := range invoked {
		sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("lambda:InvokeFunction"),
			Resources: &[]*string{fn.FunctionArn()},
		}))
	}
	return sm, nil
}

// newMonitoredStateMachine defines the state machine embedded by package
// statemachines as name (newStateMachine), after checking that it publishes
// the metrics of namespace its alarms watch (checkPublished).
func newMonitoredStateMachine(stack awscdk.Stack, name string, m machine, targets []catalog.Target, retention awslogs.RetentionDays, key awskms.Key,
	namespace string, metrics ...string) (awsstepfunctions.StateMachine, error) {
	asl, err := statemachines.Definition(name)
	if err != nil {
		return nil, err
	}
	m.ASL, m.File = asl, statemachines.File(name)
	if err := checkPublished(m.File, asl, namespace, metrics...); err != nil {
		return nil, err
	}
	return newStateMachine(stack, m, targets, retention, key)
}

// functionsByPlaceholder maps each function of specs to its ASL placeholder
// key (statemachines.FunctionPlaceholder).
func functionsByPlaceholder(specs []FunctionSpec, fns map[string]awslambda.Function) map[string]awslambda.Function {
	out := map[string]awslambda.Function{}
	for _, spec := range specs {
		out[statemachines.FunctionPlaceholder(spec.Name)] = fns[spec.Name]
	}
	return out
}
