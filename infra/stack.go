package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/statemachines"
)

// StepshipStackProps configures NewStepshipStack. Paths are relative to the
// working directory (the repo root under `cdk synth`).
type StepshipStackProps struct {
	awscdk.StackProps

	// DistDir holds the build: DistDir/NAME/bootstrap for every function.
	DistDir string
	// DeployStateMachineFile is the deploy state machine's ASL file; empty means
	// the one embedded by package statemachines. Its placeholders are filled by
	// definitionSubstitutions (statemachines.Known); any other fails the synth.
	DeployStateMachineFile string
	// CatalogFile is the service catalog (required). Every function is packaged
	// with it, and every permission to change something is scoped to what it
	// lists: its ECS services, the roles their task definitions may use, its
	// CodeBuild projects and its ECR repositories. A mistake in it fails the
	// synth with the entry and field named.
	CatalogFile string
	// StagingDir is where each function's asset directory is assembled (bootstrap
	// plus, for the webhook, the catalog). Default: "stepship-staging" inside the
	// cloud assembly's output directory.
	StagingDir string
	// Functions lists the Lambda functions; nil means DefaultFunctions().
	Functions []FunctionSpec
	// WebhookConcurrency is the webhook function's reserved concurrency: a flood
	// of requests to the public URL is throttled there and cannot take the
	// account's Lambda concurrency from anything else. Zero means
	// DefaultWebhookConcurrency.
	WebhookConcurrency int
	// LogRetention applies to every log group; zero means one month.
	LogRetention awslogs.RetentionDays
	// NotificationEmails are subscribed to every stack's notification topic
	// (docs/backups.md, "Notifications"); each must confirm by email.
	NotificationEmails []string
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
	// Backups is what backup.go adds: the backup state machine, its
	// schedules, alarms and the dashboard.
	Backups *Backups
	// Notifications is the stack's topic (notifications.go).
	Notifications awssns.Topic
	// BackupAccountStacks are the stacks NewStacks defines in the catalog's
	// backup accounts (backupaccount.go).
	BackupAccountStacks []*BackupAccountStack
}

// DefaultWebhookConcurrency is the webhook function's reserved concurrency
// when none is given: ample for pushes (each answered in milliseconds), small
// enough that a flood leaves the account's concurrency to everything else.
const DefaultWebhookConcurrency = 10

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
	specs, _ = homeAndDR(specs) // the others are NewDRStack's
	if props.DistDir == "" {
		return nil, errors.New("no dist directory given (DistDir)")
	}
	aslFile := props.DeployStateMachineFile
	var asl []byte
	var err error
	if aslFile == "" {
		aslFile = statemachines.File(statemachines.Deploy)
		asl, err = statemachines.Definition(statemachines.Deploy)
	} else {
		asl, err = os.ReadFile(aslFile)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the deploy state machine definition: %w", err)
	}
	if props.CatalogFile == "" {
		return nil, errors.New("no service catalog given (CatalogFile, context \"catalog\")")
	}
	cat, err := catalog.Load(props.CatalogFile)
	if err != nil {
		return nil, fmt.Errorf("the service catalog decides what stepship may change, so it must load: %w", err)
	}
	catalogFile := props.CatalogFile
	concurrency := props.WebhookConcurrency
	if concurrency == 0 {
		concurrency = DefaultWebhookConcurrency
	}
	if concurrency < 1 {
		return nil, fmt.Errorf("webhook concurrency %d must be at least 1", concurrency)
	}
	if err := checkEmails(props.NotificationEmails); err != nil {
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
	targets := cat.Targets()
	if err := sameRegion(targets, *stack.Region()); err != nil {
		return nil, err
	}

	s.DataKey = awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("stepship: encrypts the webhook secret, the lock and ledger table and the log groups"),
		EnableKeyRotation: jsii.Bool(true),
	})
	allowLogsToUseKey(stack, s.DataKey)
	s.WebhookSecret = awssecretsmanager.NewSecret(stack, jsii.String("WebhookSecret"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("stepship: webhook keyring, one secret per git host (docs/webhook.md)"),
		EncryptionKey: s.DataKey,
		// A keyring with a generated GitHub secret; add "gitlab", "bitbucket" or
		// "github:owner/repo" keys by hand (docs/webhook.md).
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String("{}"),
			GenerateStringKey:    jsii.String("github"),
			PasswordLength:       jsii.Number(48),
			ExcludePunctuation:   jsii.Bool(true),
		},
	})
	s.Table = awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		// Named, so that the DR stacks' restore functions can name it
		// without a cross-region reference.
		TableName:     jsii.String(ledgerTableName(*stack.StackName())),
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
	s.Notifications = newNotificationTopic(stack, s.DataKey, props.NotificationEmails)

	for _, spec := range specs {
		fn, dir, err := newFunction(stack, spec, props.DistDir, stagingDir, catalogFile, retention, s.DataKey, concurrency)
		if err != nil {
			return nil, err
		}
		s.Functions[spec.Name] = fn
		s.StagedDirs[spec.Name] = dir
	}

	s.DeployStateMachine, err = newDeployStateMachine(s, asl, aslFile, specs, targets, retention)
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
		fn.AddEnvironment(jsii.String(config.EnvCatalog), jsii.String(lambdaTaskRoot+"/"+config.CatalogFileName), nil)
		if spec.has(ReadsWebhookSecret) {
			s.WebhookSecret.GrantRead(fn, nil)
			fn.AddEnvironment(jsii.String(config.EnvWebhookSecretARN), s.WebhookSecret.SecretArn(), nil)
		}
		if spec.has(StartsDeploy) {
			s.DeployStateMachine.GrantStartExecution(fn)
			// To tell a re-sent push (same name, same input) from a conflict.
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("ReadItsOwnDeployExecutions"),
				Actions:   jsii.Strings("states:DescribeExecution"),
				Resources: &[]*string{statesARN(stack, "execution", deployMachineName(stack)+":*")},
			}))
			fn.AddEnvironment(jsii.String(config.EnvDeployStateMachineARN), s.DeployStateMachine.StateMachineArn(), nil)
		}
		if spec.has(DeploysECS) {
			grantECSDeploy(stack, fn, targets)
		}
		if spec.has(VerifiesReleases) {
			grantVerify(stack, fn, targets)
		}
		if spec.has(MigratesDatabases) {
			grantMigrate(stack, fn, targets)
			// In the databases' network when the catalog names it
			// (database.network; one for every SQL-migrated database).
			if n := cat.MigrationNetwork(); n != nil {
				putInNetwork(stack, fn, *jsii.Strings(n.Subnets...), *jsii.Strings(n.SecurityGroups...), "TheDatabasesSubnets")
			}
		}
		if spec.has(PublicURL) {
			url := fn.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_NONE})
			awscdk.NewCfnOutput(stack, jsii.String(pascalName(spec.Name)+"Url"), &awscdk.CfnOutputProps{
				Description: jsii.String(fmt.Sprintf("URL of the %s function (point the git host's webhook here)", spec.Name)),
				Value:       url.Url(),
			})
		}
	}
	if err := addBackups(s, specs, targets, retention); err != nil {
		return nil, err
	}
	addNagSuppressions(s, specs)
	return s, nil
}

// ledgerTableName is the name of the home stack's lock and ledger table.
func ledgerTableName(home string) string { return home + "-ledger" }

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

// sameRegion checks that every catalog image is in the stack's region: the
// state machine checks images through its own region's ECR.
func sameRegion(targets []catalog.Target, region string) error {
	if *awscdk.Token_IsUnresolved(jsii.String(region)) {
		return nil
	}
	for _, t := range targets {
		if t.Image.Region != region {
			return fmt.Errorf("catalog: services[%s].image: the repository is in %s, the stack in %s: use a repository of the stack's region (ECR replication can copy one there)", t.Service, t.Image.Region, region)
		}
	}
	return nil
}

// newFunction defines one function with its own role (no managed policies: the
// role may write to the function's own log group and nothing else until the
// capabilities add to it) and its own log group.
func newFunction(stack awscdk.Stack, spec FunctionSpec, distDir, stagingDir, catalogFile string, retention awslogs.RetentionDays, key awskms.Key, webhookConcurrency int) (awslambda.Function, string, error) {
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
	var reserved *float64
	if spec.has(PublicURL) {
		reserved = jsii.Number(webhookConcurrency)
	}
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
		Environment:   &map[string]*string{config.EnvLogLevel: jsii.String("info")},
		// A function with a public URL gets reserved concurrency: a flood is
		// throttled at the URL and cannot starve the account's other functions.
		ReservedConcurrentExecutions: reserved,
	})
	return fn, dir, nil
}

// newDeployStateMachine defines the deploy state machine from its ASL text
// (newStateMachine): its placeholders are ${NameFunctionArn} for each home
// function and ${TableName}.
func newDeployStateMachine(s *StepshipStack, asl []byte, file string, specs []FunctionSpec, targets []catalog.Target, retention awslogs.RetentionDays) (awsstepfunctions.StateMachine, error) {
	return newStateMachine(s.Stack, machine{
		ID: "DeployStateMachine", Name: deployMachineName(s.Stack), LogSuffix: "deploy", Comment: "stepship: deploy a pushed commit to its ECS service",
		ASL: asl, File: file, Functions: functionsByPlaceholder(specs, s.Functions),
		Resources: map[string]*string{
			statemachines.TableName: s.Table.TableName(),
			// By name: the backup machine exists only when the catalog has
			// backups, and only a target with backup.beforeDeploy runs it
			// (its role may start it only then: integrations.go).
			statemachines.BackupStateMachineArn: backupMachineARN(s.Stack),
		},
		TableARN: s.Table.TableArn(),
	}, targets, retention, s.DataKey)
}

// grantECSDeploy gives fn exactly the calls functions/deploy makes, on exactly
// what the catalog lists: describe its services, register a revision
// (carrying the old one's tags) and pass the roles its environments list. It
// does not update a service: the state machine does (ecs:updateService).
func grantECSDeploy(stack awscdk.Stack, fn awslambda.Function, targets []catalog.Target) {
	services, roles := catalogServices(stack, targets), catalogRoles(targets)
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DescribeTheCatalogsServices"),
		Actions:   jsii.Strings("ecs:DescribeServices"),
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
	if len(roles) == 0 {
		return // no environment lists a role: a task definition with one is refused (RoleNotAllowed)
	}
	fn.AddToRolePolicy(passRolesToECSTasks("PassTheCatalogsTaskRolesToECSTasks", roles))
}

// ecsServiceARN is a catalog service's ARN: as given when the catalog gives an
// ARN, else built from cluster and service names.
func ecsServiceARN(stack awscdk.Stack, cluster, service string) *string {
	if strings.HasPrefix(service, "arn:") {
		return jsii.String(service)
	}
	return stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("service"),
		ResourceName: jsii.String(clusterName(cluster) + "/" + service), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}

// clusterName is the name of an ECS cluster the catalog gives by name or by
// ARN (arn:…:cluster/NAME).
func clusterName(cluster string) string { return cluster[strings.LastIndex(cluster, "/")+1:] }

// appendNew appends v unless an equal string is already there.
func appendNew(list []*string, v *string) []*string {
	for _, x := range list {
		if *x == *v {
			return list
		}
	}
	return append(list, v)
}
