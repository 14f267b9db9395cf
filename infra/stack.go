package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ECSTarget is one ECS service the deploy function may change.
type ECSTarget struct {
	Cluster string
	Service string
}

// StepshipStackProps configures NewStepshipStack. Paths are relative to the
// working directory (the repo root under `cdk synth`).
type StepshipStackProps struct {
	awscdk.StackProps

	// DistDir holds the build: DistDir/NAME/bootstrap for every function.
	DistDir string
	// DeployStateMachineFile is the deploy state machine's ASL file. Its
	// ${NameFunctionArn} placeholders (e.g. ${DeployFunctionArn}) are filled by
	// definitionSubstitutions; any other placeholder fails the synth.
	DeployStateMachineFile string
	// CatalogFile is the service catalog. When it does not exist the stack
	// synthesizes without it and warns.
	CatalogFile string
	// StagingDir is where each function's asset directory is assembled (bootstrap
	// plus, for the webhook, the catalog). Default: "stepship-staging" inside the
	// cloud assembly's output directory.
	StagingDir string
	// Functions lists the Lambda functions; nil means DefaultFunctions().
	Functions []FunctionSpec
	// DeployTargets are the ECS services the deploy function may describe and
	// update. Empty means any service in the stack's account and region (until the
	// catalog is read at synth).
	DeployTargets []ECSTarget
	// PassableRoleARNs are the task and execution roles the deploy function may
	// pass to ECS tasks. Empty means any role in the account; either way only to
	// ecs-tasks.amazonaws.com.
	PassableRoleARNs []string
	// LogRetention applies to every log group; zero means one month.
	LogRetention awslogs.RetentionDays
}

// StepshipStack is the synthesized stack and the resources tests and later
// stacks refer to.
type StepshipStack struct {
	awscdk.Stack
	Functions          map[string]awslambda.Function
	DeployStateMachine awsstepfunctions.StateMachine
	WebhookSecret      awssecretsmanager.Secret
	DataKey            awskms.Key
	Table              awsdynamodb.Table
	// StagedDirs maps a function name to its staged asset directory.
	StagedDirs map[string]string
}

// placeholder matches a definitionSubstitutions placeholder in an ASL file.
var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// NewStepshipStack defines stepship's own stack: the functions, the deploy state
// machine, the webhook URL and secret, the lock and ledger table and the key that
// encrypts them. It returns an error, rather than panicking, when an input file
// is missing or wrong.
func NewStepshipStack(scope constructs.Construct, id string, props *StepshipStackProps) (*StepshipStack, error) {
	if props == nil {
		props = &StepshipStackProps{}
	}
	specs := props.Functions
	if specs == nil {
		specs = DefaultFunctions()
	}
	if err := validateFunctions(specs); err != nil {
		return nil, fmt.Errorf("invalid function list: %w", err)
	}
	if props.DistDir == "" {
		return nil, errors.New("no dist directory given (DistDir)")
	}
	if props.DeployStateMachineFile == "" {
		return nil, errors.New("no deploy state machine file given (DeployStateMachineFile)")
	}
	asl, err := os.ReadFile(props.DeployStateMachineFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read the deploy state machine definition: %w", err)
	}
	catalogFile, err := existingCatalog(props.CatalogFile)
	if err != nil {
		return nil, err
	}
	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}

	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("stepship: webhook-driven deployments orchestrated by Step Functions")
	}
	stack := awscdk.NewStack(scope, &id, &sprops)
	s := &StepshipStack{Stack: stack, Functions: map[string]awslambda.Function{}, StagedDirs: map[string]string{}}

	stagingDir := props.StagingDir
	if stagingDir == "" {
		stagingDir = filepath.Join(*awscdk.Stage_Of(stack).Outdir(), "stepship-staging")
	}
	if catalogFile == "" {
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("stepship:catalog"),
			jsii.String(fmt.Sprintf("no service catalog at %q: the webhook function is packaged without one", props.CatalogFile)), nil)
	}

	s.DataKey = awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("stepship: encrypts the webhook secret, the lock and ledger table and the log groups"),
		EnableKeyRotation: jsii.Bool(true),
	})
	allowLogsToUseKey(stack, s.DataKey)
	s.WebhookSecret = awssecretsmanager.NewSecret(stack, jsii.String("WebhookSecret"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("stepship: HMAC secret shared with the git host's webhook"),
		EncryptionKey: s.DataKey,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(48),
			ExcludePunctuation: jsii.Bool(true),
		},
	})
	s.Table = awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:  &awsdynamodb.Attribute{Name: jsii.String("PK"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:       &awsdynamodb.Attribute{Name: jsii.String("SK"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:   awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:    awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey: s.DataKey,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection:  jsii.Bool(true),
		TimeToLiveAttribute: jsii.String("expiresAt"),
	})

	for _, spec := range specs {
		fn, dir, err := newFunction(stack, spec, props.DistDir, stagingDir, catalogFile, retention, s.DataKey)
		if err != nil {
			return nil, err
		}
		s.Functions[spec.Name] = fn
		s.StagedDirs[spec.Name] = dir
	}

	s.DeployStateMachine, err = newDeployStateMachine(s, string(asl), props.DeployStateMachineFile, specs, retention)
	if err != nil {
		return nil, err
	}
	awscdk.NewCfnOutput(stack, jsii.String("DeployStateMachineArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("the deploy state machine (start it by hand with events/deploy-input.json)"),
		Value:       s.DeployStateMachine.StateMachineArn(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("WebhookSecretArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("the webhook secret to give the git host (read it with secretsmanager get-secret-value)"),
		Value:       s.WebhookSecret.SecretArn(),
	})

	for _, spec := range specs {
		fn := s.Functions[spec.Name]
		if spec.has(ReadsCatalog) && catalogFile != "" {
			fn.AddEnvironment(jsii.String(EnvCatalog), jsii.String(lambdaTaskRoot+"/"+catalogFileName), nil)
		}
		if spec.has(ReadsWebhookSecret) {
			s.WebhookSecret.GrantRead(fn, nil)
			fn.AddEnvironment(jsii.String(EnvWebhookSecretARN), s.WebhookSecret.SecretArn(), nil)
		}
		if spec.has(StartsDeploy) {
			s.DeployStateMachine.GrantStartExecution(fn)
			fn.AddEnvironment(jsii.String(EnvDeployStateMachineARN), s.DeployStateMachine.StateMachineArn(), nil)
		}
		if spec.has(DeploysECS) {
			grantECSDeploy(stack, fn, props.DeployTargets, props.PassableRoleARNs)
		}
		if spec.has(PublicURL) {
			url := fn.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_NONE})
			awscdk.NewCfnOutput(stack, jsii.String(pascalName(spec.Name)+"Url"), &awscdk.CfnOutputProps{
				Description: jsii.String(fmt.Sprintf("URL of the %s function (point the git host's webhook here)", spec.Name)),
				Value:       url.Url(),
			})
		}
	}
	addNagSuppressions(s, specs)
	return s, nil
}

// allowLogsToUseKey lets CloudWatch Logs encrypt and decrypt this account's log
// groups in this region with key (a log group's KmsKeyId needs it; CDK adds no
// key policy for it).
func allowLogsToUseKey(stack awscdk.Stack, key awskms.Key) {
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsEncryptsThisAccountsLogGroups"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*stack.Region()+".amazonaws.com"), nil)},
		Actions: jsii.Strings("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
			"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"),
		Resources: jsii.Strings("*"), // in a key policy, "*" is this key
		Conditions: &map[string]any{"ArnLike": map[string]any{
			"kms:EncryptionContext:aws:logs:arn": stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("logs"), Resource: jsii.String("log-group"),
				ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
			}),
		}},
	}), nil)
}

// existingCatalog returns path when a catalog file exists there, "" when none
// was given or it does not exist, and an error for anything else.
func existingCatalog(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("failed to read the service catalog: %w", err)
	case info.IsDir():
		return "", fmt.Errorf("service catalog %s is a directory, not a file", path)
	}
	return path, nil
}

// newFunction defines one function with its own role (no managed policies: the
// role may write to the function's own log group and nothing else until the
// capabilities add to it) and its own log group.
func newFunction(stack awscdk.Stack, spec FunctionSpec, distDir, stagingDir, catalogFile string, retention awslogs.RetentionDays, key awskms.Key) (awslambda.Function, string, error) {
	dir, err := stageFunction(spec, distDir, stagingDir, catalogFile)
	if err != nil {
		return nil, "", err
	}
	id := pascalName(spec.Name)
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"FunctionLogs"), &awslogs.LogGroupProps{Retention: retention, EncryptionKey: key})
	role := awsiam.NewRole(stack, jsii.String(id+"FunctionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(fmt.Sprintf("stepship %s function", spec.Name)),
	})
	logs.GrantWrite(role)
	fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Description:   jsii.String(spec.Description),
		Code:          awslambda.Code_FromAsset(jsii.String(dir), nil),
		Handler:       jsii.String("bootstrap"),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		MemorySize:    jsii.Number(spec.MemoryMB),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(spec.Timeout.Seconds())),
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Tracing:       awslambda.Tracing_ACTIVE,
		Environment:   &map[string]*string{EnvLogLevel: jsii.String("info")},
	})
	return fn, dir, nil
}

// newDeployStateMachine defines the deploy state machine from its ASL text, kept
// inline in the template (DefinitionBody.fromString). Its placeholders are
// ${NameFunctionArn} for each function (the state machine may invoke exactly
// those it names) and ${TableName} for the lock and ledger table; any other
// fails.
func newDeployStateMachine(s *StepshipStack, asl, file string, specs []FunctionSpec, retention awslogs.RetentionDays) (awsstepfunctions.StateMachine, error) {
	stack := s.Stack
	values := map[string]*string{"TableName": s.Table.TableName()}
	byKey := map[string]awslambda.Function{}
	for _, spec := range specs {
		key := pascalName(spec.Name) + "FunctionArn"
		byKey[key] = s.Functions[spec.Name]
		values[key] = s.Functions[spec.Name].FunctionArn()
	}
	subs := map[string]*string{}
	var invoked []awslambda.Function
	var unknown []string
	for _, m := range placeholder.FindAllStringSubmatch(asl, -1) {
		key := m[1]
		if _, done := subs[key]; done || slices.Contains(unknown, key) {
			continue
		}
		v, ok := values[key]
		if !ok {
			unknown = append(unknown, key)
			continue
		}
		subs[key] = v
		if fn, ok := byKey[key]; ok {
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
			file, strings.Join(unknown, "}, ${"), strings.Join(known, ", "))
	}

	statements, err := integrationStatements(stack, asl, s.Table.TableArn(), s.DataKey.KeyArn())
	if err != nil {
		return nil, fmt.Errorf("state machine %s: %w", file, err)
	}

	logs := awslogs.NewLogGroup(stack, jsii.String("DeployStateMachineLogs"), &awslogs.LogGroupProps{
		// Step Functions' vended-logs prefix keeps the CloudWatch Logs resource policy small.
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + *stack.StackName() + "-deploy"),
		Retention:     retention,
		EncryptionKey: s.DataKey,
	})
	sm := awsstepfunctions.NewStateMachine(stack, jsii.String("DeployStateMachine"), &awsstepfunctions.StateMachineProps{
		Comment:                 jsii.String("stepship: deploy a pushed commit to its ECS service"),
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(asl)),
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

// grantECSDeploy gives fn exactly the calls functions/deploy makes: describe the
// service and its task definition, register a revision (carrying the old one's
// tags and roles) and update the service.
func grantECSDeploy(stack awscdk.Stack, fn awslambda.Function, targets []ECSTarget, roles []string) {
	services := []*string{}
	for _, t := range targets {
		services = append(services, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String("service"),
			ResourceName: jsii.String(t.Cluster + "/" + t.Service), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	if len(services) == 0 {
		services = append(services, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String("service"),
			ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DescribeAndUpdateServices"),
		Actions:   jsii.Strings("ecs:DescribeServices", "ecs:UpdateService"),
		Resources: &services,
	}))
	// These two actions support no resource-level permissions.
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DescribeAndRegisterTaskDefinitions"),
		Actions:   jsii.Strings("ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"),
		Resources: jsii.Strings("*"),
	}))
	// A revision is registered with the previous revision's tags, which ECS
	// authorizes as ecs:TagResource during RegisterTaskDefinition only.
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String("TagNewTaskDefinitions"),
		Actions: jsii.Strings("ecs:TagResource"),
		Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String("task-definition"),
			ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})},
		Conditions: &map[string]any{"StringEquals": map[string]any{"ecs:CreateAction": "RegisterTaskDefinition"}},
	}))
	roleARNs := make([]*string, 0, len(roles))
	for _, r := range roles {
		roleARNs = append(roleARNs, jsii.String(r))
	}
	if len(roleARNs) == 0 {
		roleARNs = append(roleARNs, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iam"), Region: jsii.String(""), Resource: jsii.String("role"),
			ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("PassTaskRolesToECSTasks"),
		Actions:    jsii.Strings("iam:PassRole"),
		Resources:  &roleARNs,
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
	}))
}
