package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/config"
)

// Every synth goes through the jsii runtime (a Node process), so every test that
// only reads the template shares one synthesized stack.

type fixture struct {
	stack    *StepshipStack
	template assertions.Template
	doc      map[string]any // the template as JSON
	dir      string
	// dr are the DR stacks' fixtures by region (stack nil), and drStacks
	// the stacks.
	dr       map[string]*fixture
	drStacks map[string]*DRStack
	// offsite are the backup-account stacks' fixtures by stack name.
	offsite map[string]*fixture
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	sharedErr   error
	tempRoot    string
)

func TestMain(m *testing.M) {
	var err error
	tempRoot, err = os.MkdirTemp("", "stepship-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed to create a temp dir:", err)
		os.Exit(1)
	}
	code := m.Run()
	jsii.Close()
	os.RemoveAll(tempRoot)
	os.Exit(code)
}

// fakeDist writes dist/NAME/bootstrap for every default function under dir.
func fakeDist(dir string) (string, error) {
	dist := filepath.Join(dir, "dist")
	for _, f := range DefaultFunctions() {
		if err := os.MkdirAll(filepath.Join(dist, f.Name), 0o755); err != nil {
			return "", err
		}
		body := []byte("#!/bin/sh\n# fake " + f.Name + " build for infra tests\n")
		if err := os.WriteFile(filepath.Join(dist, f.Name, "bootstrap"), body, 0o755); err != nil {
			return "", err
		}
	}
	return dist, nil
}

// newTestApp returns an app with the context of the repo's cdk.json (so the
// feature flags match `cdk synth`) whose cloud assembly goes to a fresh
// directory under the test run's temp root.
func newTestApp(name string) (awscdk.App, string, error) {
	dir := filepath.Join(tempRoot, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	raw, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		return nil, "", fmt.Errorf("failed to read cdk.json: %w", err)
	}
	var cdkJSON struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdkJSON); err != nil {
		return nil, "", fmt.Errorf("failed to parse cdk.json: %w", err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{
		Outdir:  jsii.String(filepath.Join(dir, "cdk.out")),
		Context: &cdkJSON.Context,
	})
	return app, dir, nil
}

// newTestStack returns a fresh app, its directory and a fake dist inside it,
// for a test that builds a stack of its own.
func newTestStack(t *testing.T) (awscdk.App, string, string) {
	t.Helper()
	app, dir, err := newTestApp(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	dist, err := fakeDist(dir)
	if err != nil {
		t.Fatal(err)
	}
	return app, dir, dist
}

func testProps(dir, dist string) *StepshipStackProps {
	return &StepshipStackProps{
		StackProps: awscdk.StackProps{
			Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("us-east-1")},
		},
		DistDir:     dist,
		CatalogFile: filepath.Join("testdata", "catalog.yaml"),
		StagingDir:  filepath.Join(dir, "staging"),
		// Subscribed to every stack's notification topic.
		NotificationEmails: []string{"ops@example.com"},
	}
}

// synthesized returns the shared stack, built with the default functions, the
// real deploy state machine (statemachines/) and the test catalog.
func synthesized(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		shared, sharedErr = buildFixture()
	})
	if sharedErr != nil {
		t.Fatalf("failed to synthesize the stack: %v", sharedErr)
	}
	return shared
}

func buildFixture() (f *fixture, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	app, dir, err := newTestApp("shared")
	if err != nil {
		return nil, err
	}
	dist, err := fakeDist(dir)
	if err != nil {
		return nil, err
	}
	s, drs, err := NewStacks(app, "Stepship", testProps(dir, dist))
	if err != nil {
		return nil, err
	}
	f, err = synthesize(s, dir)
	if err != nil {
		return nil, err
	}
	f.dr, f.drStacks = map[string]*fixture{}, map[string]*DRStack{}
	for _, d := range drs {
		if f.dr[d.Region], err = synthesizeStack(d.Stack, dir); err != nil {
			return nil, err
		}
		f.drStacks[d.Region] = d
	}
	f.offsite = map[string]*fixture{}
	for _, b := range s.BackupAccountStacks {
		if f.offsite[*b.StackName()], err = synthesizeStack(b.Stack, dir); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// synthesize returns the template of s, as a CDK Template and as JSON.
func synthesize(s *StepshipStack, dir string) (*fixture, error) {
	f, err := synthesizeStack(s.Stack, dir)
	if err != nil {
		return nil, err
	}
	f.stack = s
	return f, nil
}

// synthesizeStack returns the template of a stack.
func synthesizeStack(stack awscdk.Stack, dir string) (*fixture, error) {
	tmpl := assertions.Template_FromStack(stack, nil)
	raw, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return &fixture{template: tmpl, doc: doc, dir: dir}, nil
}

// holds runs a CDK assertion, which panics through jsii when it fails.
func holds(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assertion()
}

// resources returns the template's resources of one type, by logical id.
func (f *fixture) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range f.doc["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// logicalID finds the one resource of type typ whose logical id is the
// construct id stem followed by CDK's 8-character hash.
func (f *fixture) logicalID(t *testing.T, typ, stem string) string {
	t.Helper()
	re := regexp.MustCompile("^" + regexp.QuoteMeta(stem) + "[0-9A-F]{8}$")
	var found []string
	for id := range f.resources(typ) {
		if re.MatchString(id) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s named %s…, found %v", typ, stem, found)
	}
	return found[0]
}

func props(res map[string]any) map[string]any {
	p, _ := res["Properties"].(map[string]any)
	return p
}

func TestEveryFunctionIsArm64OnProvidedAL2023WithItsOwnLogGroup(t *testing.T) {
	// GIVEN the stack built from the default function list
	f := synthesized(t)
	specs, _ := homeAndDR(DefaultFunctions())

	// WHEN the template is read
	fns := f.resources("AWS::Lambda::Function")

	// THEN there is one function per entry, each arm64 on provided.al2023 with
	// handler bootstrap, its memory and timeout, JSON logs into a log group that
	// expires, and active tracing
	if len(fns) != len(specs) {
		t.Errorf("want %d functions, got %d", len(specs), len(fns))
	}
	for _, spec := range specs {
		id := f.logicalID(t, "AWS::Lambda::Function", pascalName(spec.Name)+"Function")
		logs := f.logicalID(t, "AWS::Logs::LogGroup", pascalName(spec.Name)+"FunctionLogs")
		holds(t, spec.Name, func() {
			f.template.HasResource(jsii.String("AWS::Lambda::Function"), map[string]any{
				"Properties": map[string]any{
					"Architectures": []any{"arm64"},
					"Runtime":       "provided.al2023",
					"Handler":       "bootstrap",
					"MemorySize":    spec.MemoryMB,
					"Timeout":       spec.Timeout.Seconds(),
					"TracingConfig": map[string]any{"Mode": "Active"},
					"LoggingConfig": map[string]any{"LogFormat": "JSON", "LogGroup": map[string]any{"Ref": logs}},
				},
			})
		})
		if _, ok := fns[id]; !ok {
			t.Errorf("function %s not found as %s", spec.Name, id)
		}
		if got := props(f.resources("AWS::Logs::LogGroup")[logs])["RetentionInDays"]; got != float64(30) {
			t.Errorf("%s log retention: want 30 days, got %v", spec.Name, got)
		}
	}
}

func TestDeployStateMachineSubstitutesTheDeployFunctionArn(t *testing.T) {
	// GIVEN the stack built from statemachines/deploy.asl.json, which names
	// ${ResolveFunctionArn} and ${DeployFunctionArn}
	f := synthesized(t)
	deployFn := f.logicalID(t, "AWS::Lambda::Function", "DeployFunction")
	resolveFn := f.logicalID(t, "AWS::Lambda::Function", "ResolveFunction")
	smID := f.logicalID(t, "AWS::StepFunctions::StateMachine", "DeployStateMachine")

	// WHEN the state machine is read
	sm := props(f.resources("AWS::StepFunctions::StateMachine")[smID])

	// THEN the definition is inline, the placeholders map to the deploy function's
	// ARN and the table's name, it is a Standard machine logging everything with tracing on
	def, _ := sm["DefinitionString"].(string)
	if !strings.Contains(def, `"${DeployFunctionArn}"`) {
		t.Errorf("definition does not name ${DeployFunctionArn} inline: %v", sm["DefinitionString"])
	}
	holds(t, "state machine", func() {
		f.template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
			"StateMachineType": "STANDARD",
			"DefinitionSubstitutions": map[string]any{
				"DeployFunctionArn":  map[string]any{"Fn::GetAtt": []any{deployFn, "Arn"}},
				"ResolveFunctionArn": map[string]any{"Fn::GetAtt": []any{resolveFn, "Arn"}},
			},
			"TracingConfiguration": map[string]any{"Enabled": true},
			"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{
				"Level":                "ALL",
				"IncludeExecutionData": true,
			}),
		})
	})
	// AND the state machine may invoke the functions its definition names
	// (resolve, deploy, migrate, verify), and no other
	smRole := f.logicalID(t, "AWS::IAM::Role", "DeployStateMachineRole")
	named := []string{deployFn, resolveFn, f.logicalID(t, "AWS::Lambda::Function", "MigrateFunction"), f.logicalID(t, "AWS::Lambda::Function", "VerifyFunction")}
	invoked := map[string]bool{}
	for _, st := range f.statementsOf(smRole) {
		if asList(st["Action"]).contains("lambda:InvokeFunction") {
			for _, r := range asList(st["Resource"]) {
				i := slices.IndexFunc(named, func(id string) bool { return strings.Contains(fmt.Sprint(r), id) })
				if i < 0 {
					t.Errorf("state machine may invoke %v", r)
					continue
				}
				invoked[named[i]] = true
			}
		}
	}
	if len(invoked) != len(named) {
		t.Errorf("state machine may invoke %v, want %v", invoked, named)
	}
}

func TestDeployStateMachineRejectsAnUnknownPlaceholder(t *testing.T) {
	// GIVEN an ASL file with a placeholder no function provides
	app, dir, dist := newTestStack(t)
	asl := filepath.Join(dir, "typo.asl.json")
	if err := os.WriteFile(asl, []byte(`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${DeplyFunctionArn}","End":true}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testProps(dir, dist)
	p.DeployStateMachineFile = asl

	// WHEN the stack is built
	_, err := NewStepshipStack(app, "Typo", p)

	// THEN it fails naming the placeholder and the known ones
	if err == nil || !strings.Contains(err.Error(), "${DeplyFunctionArn}") || !strings.Contains(err.Error(), "${DeployFunctionArn}") {
		t.Errorf("want an error naming ${DeplyFunctionArn} and ${DeployFunctionArn}, got %v", err)
	}
}

func TestWebhookHasAPublicFunctionURLAndAnOutput(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	webhook := f.logicalID(t, "AWS::Lambda::Function", "WebhookFunction")
	urlID := f.logicalID(t, "AWS::Lambda::Url", "WebhookFunctionFunctionUrl")

	// WHEN its Function URL and outputs are read
	// THEN the URL needs no IAM auth (the function checks the HMAC signature) and
	// targets the webhook function, and an output prints it
	holds(t, "function URL", func() {
		f.template.HasResourceProperties(jsii.String("AWS::Lambda::Url"), map[string]any{
			"AuthType":          "NONE",
			"TargetFunctionArn": map[string]any{"Fn::GetAtt": []any{webhook, "Arn"}},
		})
	})
	holds(t, "output", func() {
		f.template.HasOutput(jsii.String("WebhookUrl"), map[string]any{
			"Value": map[string]any{"Fn::GetAtt": []any{urlID, "FunctionUrl"}},
		})
	})
	holds(t, "state machine and secret outputs", func() {
		f.template.HasOutput(jsii.String("DeployStateMachineArn"), map[string]any{
			"Value": map[string]any{"Ref": f.logicalID(t, "AWS::StepFunctions::StateMachine", "DeployStateMachine")},
		})
		f.template.HasOutput(jsii.String("WebhookSecretArn"), map[string]any{
			"Value": map[string]any{"Ref": f.logicalID(t, "AWS::SecretsManager::Secret", "WebhookSecret")},
		})
	})
	if n := len(f.resources("AWS::Lambda::Url")); n != 1 {
		t.Errorf("want exactly one Function URL, got %d", n)
	}
}

func TestWebhookEnvironmentNamesTheStackResources(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	sm := f.logicalID(t, "AWS::StepFunctions::StateMachine", "DeployStateMachine")
	secret := f.logicalID(t, "AWS::SecretsManager::Secret", "WebhookSecret")

	// WHEN the webhook function's environment is read
	// THEN the state machine and the secret reach it by reference, never typed twice,
	// and the catalog's path is where the package puts it
	holds(t, "webhook environment", func() {
		f.template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"Environment": map[string]any{"Variables": map[string]any{
				config.EnvDeployStateMachineARN: map[string]any{"Ref": sm},
				config.EnvWebhookSecretARN:      map[string]any{"Ref": secret},
				config.EnvCatalog:               "/var/task/catalog.yaml",
				config.EnvLogLevel:              "info",
			}},
		})
	})
}

func TestEveryPackageHoldsBootstrapAndTheCatalog(t *testing.T) {
	// GIVEN the stack built with testdata/catalog.yaml
	f := synthesized(t)

	// WHEN the staged asset directories are listed
	// THEN each holds bootstrap (executable) and catalog.yaml, a copy of the
	// catalog: the same two files as dist/NAME/NAME.zip
	for _, spec := range DefaultFunctions() {
		name, files := spec.Name, []string{"bootstrap", "catalog.yaml"}
		dir := f.stack.StagedDirs[name]
		if spec.DR {
			dir = f.drStacks["us-west-2"].StagedDirs[name]
		}
		if got := listDir(t, dir); strings.Join(got, ",") != strings.Join(files, ",") {
			t.Errorf("%s package: want %v, got %v", name, files, got)
		}
		info, err := os.Stat(filepath.Join(dir, "bootstrap"))
		if err != nil || info.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s bootstrap is not executable: %v %v", name, info, err)
		}
	}
	for _, name := range []string{"webhook", "resolve", "deploy"} {
		got, err := os.ReadFile(filepath.Join(f.stack.StagedDirs[name], "catalog.yaml"))
		want0, err0 := os.ReadFile(filepath.Join("testdata", "catalog.yaml"))
		if err != nil || err0 != nil || string(got) != string(want0) {
			t.Errorf("%s: staged catalog differs from testdata/catalog.yaml (%v, %v)", name, err, err0)
		}
	}
}

func TestAMissingOrWrongCatalogFailsTheSynth(t *testing.T) {
	for name, tc := range map[string]struct {
		catalog string // file content; empty: no file
		want    []string
	}{
		"missing":         {"", []string{"no-such-catalog.yaml"}},
		"a typo":          {"version: 1\nservices:\n  - name: web\n    repo: {}\n", []string{"services[web]", `unknown field "repo"`}},
		"not ECR":         {strings.Replace(readFile(t, "testdata/catalog.yaml"), "123456789012.dkr.ecr.us-east-1.amazonaws.com/web", "ghcr.io/acme/web", 1), []string{"services[web].image", "ECR"}},
		"another region":  {strings.Replace(readFile(t, "testdata/catalog.yaml"), "dkr.ecr.us-east-1.amazonaws.com/web", "dkr.ecr.eu-west-1.amazonaws.com/web", 1), []string{"services[web].image", "eu-west-1"}},
		"a wildcard role": {strings.Replace(readFile(t, "testdata/catalog.yaml"), "role/web-task", "role/*", 1), []string{"roles[0]"}},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN a catalog that is missing or wrong
			app, dir, dist := newTestStack(t)
			p := testProps(dir, dist)
			p.CatalogFile = filepath.Join(dir, "no-such-catalog.yaml")
			if tc.catalog != "" {
				p.CatalogFile = filepath.Join(dir, "catalog.yaml")
				if err := os.WriteFile(p.CatalogFile, []byte(tc.catalog), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			// WHEN the stack is built
			_, err := NewStepshipStack(app, "BadCatalog", p)

			// THEN it fails, naming the entry and the field
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("want an error saying %q, got %v", w, err)
				}
			}
		})
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAMissingBuildFailsWithAHint(t *testing.T) {
	// GIVEN an empty dist directory
	app, dir, err := newTestApp(t.Name())
	if err != nil {
		t.Fatal(err)
	}

	// WHEN the stack is built
	_, err = NewStepshipStack(app, "NoBuild", testProps(dir, filepath.Join(dir, "empty-dist")))

	// THEN it fails naming the missing bootstrap and how to build it
	if err == nil || !strings.Contains(err.Error(), "bootstrap") || !strings.Contains(err.Error(), "scripts/synth.sh") {
		t.Errorf("want an error naming bootstrap and scripts/synth.sh, got %v", err)
	}
}

func TestWebhookMayStartOnlyTheDeployStateMachine(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	role := f.logicalID(t, "AWS::IAM::Role", "WebhookFunctionRole")
	sm := f.logicalID(t, "AWS::StepFunctions::StateMachine", "DeployStateMachine")
	secret := f.logicalID(t, "AWS::SecretsManager::Secret", "WebhookSecret")

	// WHEN the webhook role's statements are read
	statements := f.statementsOf(role)

	// THEN its only Step Functions permission is StartExecution on the deploy
	// state machine, and it may read the webhook secret and nothing else there
	var starts int
	for _, st := range statements {
		for _, a := range asList(st["Action"]) {
			switch {
			case a == "states:StartExecution":
				starts++
				if res := asList(st["Resource"]); len(res) != 1 || fmt.Sprint(res[0]) != fmt.Sprint(map[string]any{"Ref": sm}) {
					t.Errorf("StartExecution on %v, want only the deploy state machine", res)
				}
			case a == "states:DescribeExecution":
				// to tell a re-sent push from a conflict: checked in
				// TestWebhookHasReservedConcurrencyAndReadsOnlyItsOwnExecutions
			case strings.HasPrefix(fmt.Sprint(a), "states:"):
				t.Errorf("unexpected Step Functions permission %v", a)
			case strings.HasPrefix(fmt.Sprint(a), "secretsmanager:"):
				if res := asList(st["Resource"]); len(res) != 1 || fmt.Sprint(res[0]) != fmt.Sprint(map[string]any{"Ref": secret}) {
					t.Errorf("%v on %v, want only the webhook secret", a, res)
				}
			}
		}
	}
	if starts != 1 {
		t.Errorf("want one states:StartExecution statement, got %d", starts)
	}
}

func TestDeployFunctionHasOnlyTheECSPermissionsItUses(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	role := f.logicalID(t, "AWS::IAM::Role", "DeployFunctionRole")

	// WHEN the deploy role's statements are read
	statements := f.statementsOf(role)

	// THEN the ECS and IAM actions are exactly those functions/deploy calls, and
	// roles may be passed to ECS tasks only
	var actions []string
	for _, st := range statements {
		for _, a := range asList(st["Action"]) {
			s := fmt.Sprint(a)
			if strings.HasPrefix(s, "ecs:") || strings.HasPrefix(s, "iam:") {
				actions = append(actions, s)
			}
			if s == "iam:PassRole" {
				want := map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
				if fmt.Sprint(st["Condition"]) != fmt.Sprint(want) {
					t.Errorf("iam:PassRole condition: want %v, got %v", want, st["Condition"])
				}
			}
		}
	}
	sort.Strings(actions)
	want := "ecs:DescribeServices,ecs:DescribeTaskDefinition,ecs:RegisterTaskDefinition,ecs:TagResource,iam:PassRole"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("deploy actions:\nwant %s\n got %s", want, got)
	}
}

func TestNoPolicyGrantsWildcardActionsOrFullAccess(t *testing.T) {
	// GIVEN the home stack and the DR stacks
	f := synthesized(t)
	for _, f := range append([]*fixture{f}, slices.Collect(maps.Values(f.dr))...) {
		// WHEN every role and policy (and VPC endpoint policy) is read
		// THEN no statement allows "*" or "service:*", and no role carries a managed policy
		for id, res := range f.resources("AWS::IAM::Role") {
			if m := props(res)["ManagedPolicyArns"]; m != nil {
				t.Errorf("role %s has managed policies %v", id, m)
			}
		}
		for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::EC2::VPCEndpoint"} {
			for id, res := range f.resources(typ) {
				for _, st := range statementsIn(props(res)) {
					for _, a := range asList(st["Action"]) {
						if s := fmt.Sprint(a); s == "*" || strings.HasSuffix(s, ":*") || strings.Contains(s, "FullAccess") {
							t.Errorf("%s allows %s", id, s)
						}
					}
				}
			}
		}
		if n := len(f.resources("AWS::IAM::ManagedPolicy")); n != 0 {
			t.Errorf("want no managed policies, got %d", n)
		}
	}
}

func TestWebhookSecretIsEncryptedByARotatingCustomerKey(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	key := f.logicalID(t, "AWS::KMS::Key", "DataKey")

	// WHEN the secret and its key are read
	// THEN the secret is generated and encrypted by the customer-managed key, which rotates
	holds(t, "secret", func() {
		f.template.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
			"KmsKeyId":             map[string]any{"Fn::GetAtt": []any{key, "Arn"}},
			"GenerateSecretString": assertions.Match_ObjectLike(&map[string]any{"PasswordLength": 48}),
		})
	})
	holds(t, "key", func() {
		f.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{"EnableKeyRotation": true})
	})
}

func TestTableKeepsLocksAndTheLedgerSafely(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	key := f.logicalID(t, "AWS::KMS::Key", "DataKey")

	// WHEN the table is read
	// THEN it has string PK/SK, bills on demand, keeps point-in-time recovery, is
	// encrypted by the customer key, cannot be deleted by accident, and expires
	// lock leases and old items by their expiresAt attribute
	holds(t, "table", func() {
		f.template.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy": "Retain",
			"Properties": map[string]any{
				"KeySchema": []any{
					map[string]any{"AttributeName": "PK", "KeyType": "HASH"},
					map[string]any{"AttributeName": "SK", "KeyType": "RANGE"},
				},
				"AttributeDefinitions": []any{
					map[string]any{"AttributeName": "PK", "AttributeType": "S"},
					map[string]any{"AttributeName": "SK", "AttributeType": "S"},
				},
				"BillingMode":                      "PAY_PER_REQUEST",
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"SSESpecification": map[string]any{
					"SSEEnabled":     true,
					"SSEType":        "KMS",
					"KMSMasterKeyId": map[string]any{"Fn::GetAtt": []any{key, "Arn"}},
				},
				"DeletionProtectionEnabled": true,
				"TimeToLiveSpecification":   map[string]any{"AttributeName": "expiresAt", "Enabled": true},
			},
		})
	})
}

// statementsOf returns every policy statement attached to the role with the
// given logical id: inline policies and AWS::IAM::Policy resources.
func (f *fixture) statementsOf(role string) []map[string]any {
	out := statementsIn(props(f.resources("AWS::IAM::Role")[role]))
	for _, res := range f.resources("AWS::IAM::Policy") {
		for _, r := range asList(props(res)["Roles"]) {
			if fmt.Sprint(r) == fmt.Sprint(map[string]any{"Ref": role}) {
				out = append(out, statementsIn(props(res))...)
			}
		}
	}
	return out
}

// statementsIn returns the statements of a policy document, or of every inline
// policy of a role.
func statementsIn(p map[string]any) []map[string]any {
	var docs []any
	if d, ok := p["PolicyDocument"]; ok {
		docs = append(docs, d)
	}
	for _, pol := range asList(p["Policies"]) {
		docs = append(docs, pol.(map[string]any)["PolicyDocument"])
	}
	var out []map[string]any
	for _, d := range docs {
		for _, st := range asList(d.(map[string]any)["Statement"]) {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

// list is a JSON value that may be one item or a list of them (as IAM's Action
// and Resource are).
type list []any

func asList(v any) list {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return list{v}
	}
}

func (l list) contains(s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("failed to list %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestEveryPermissionToChangeSomethingIsScopedToTheCatalog(t *testing.T) {
	// GIVEN the stack built with testdata/catalog.yaml (web: codebuild, cluster
	// prod, two roles; api: prebuilt in another registry, an ARN-form service, a
	// role prefix)
	f := synthesized(t)
	sids := func(role string) map[string]string {
		out := map[string]string{}
		for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", role)) {
			if sid, ok := st["Sid"].(string); ok {
				out[sid] = fmt.Sprint(st["Resource"])
			}
		}
		return out
	}

	// WHEN the deploy function's and the state machine's statements are read
	deploy, sm := sids("DeployFunctionRole"), sids("DeployStateMachineRole")

	// THEN services, roles, projects and repositories are exactly the catalog's
	want := map[string]string{
		"DescribeTheCatalogsServices":        "[arn:aws:ecs:us-east-1:123456789012:service/prod/web arn:aws:ecs:us-east-1:123456789012:service/staging/api]",
		"PassTheCatalogsTaskRolesToECSTasks": "[arn:aws:iam::123456789012:role/api-* arn:aws:iam::123456789012:role/web-exec arn:aws:iam::123456789012:role/web-task]",
	}
	for sid, w := range want {
		if deploy[sid] != w {
			t.Errorf("deploy %s: want %s, got %s", sid, w, deploy[sid])
		}
	}
	if got := sm["RunTheCatalogsBuilds"]; got != "arn:aws:codebuild:us-east-1:123456789012:project/web-build" {
		t.Errorf("builds: %s", got)
	}
	var ecr []string
	for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", "DeployStateMachineRole")) {
		if asList(st["Action"]).contains("ecr:DescribeImages") {
			ecr = append(ecr, fmt.Sprint(st["Resource"]))
		}
	}
	if strings.Join(ecr, ";") != "[arn:aws:ecr:us-east-1:123456789012:repository/web arn:aws:ecr:us-east-1:210987654321:repository/team/api]" {
		t.Errorf("ECR reads: %v", ecr)
	}
	// AND no policy of the template names every service, role, project or repository
	raw, _ := json.Marshal(f.doc)
	for _, wild := range []string{"service/*", "role/*", "project/*", "repository/*"} {
		if strings.Contains(string(raw), wild) {
			t.Errorf("the template grants %s", wild)
		}
	}
}

func TestWebhookHasReservedConcurrencyAndReadsOnlyItsOwnExecutions(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)

	// WHEN the webhook function is read
	fn := props(f.resources("AWS::Lambda::Function")[f.logicalID(t, "AWS::Lambda::Function", "WebhookFunction")])

	// THEN a flood at its public URL is throttled at DefaultWebhookConcurrency, and
	// only the function with the public URL has reserved concurrency
	if fmt.Sprint(fn["ReservedConcurrentExecutions"]) != fmt.Sprint(DefaultWebhookConcurrency) {
		t.Errorf("webhook ReservedConcurrentExecutions = %v, want %d", fn["ReservedConcurrentExecutions"], DefaultWebhookConcurrency)
	}
	for id, r := range f.resources("AWS::Lambda::Function") {
		if _, ok := props(r)["ReservedConcurrentExecutions"]; ok && !strings.HasPrefix(id, "WebhookFunction") {
			t.Errorf("%s has reserved concurrency", id)
		}
	}
	// AND it may describe only executions of the deploy state machine
	for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", "WebhookFunctionRole")) {
		if asList(st["Action"]).contains("states:DescribeExecution") && !strings.Contains(fmt.Sprint(st["Resource"]), ":execution:") {
			t.Errorf("DescribeExecution on %v", st["Resource"])
		}
	}
}

func TestWebhookSecretIsGeneratedAsAKeyring(t *testing.T) {
	f := synthesized(t)
	holds(t, "secret", func() {
		f.template.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
			"GenerateSecretString": assertions.Match_ObjectLike(&map[string]any{
				"SecretStringTemplate": "{}",
				"GenerateStringKey":    "github",
			}),
		})
	})
}

func TestLogGroupsAreEncryptedByTheDataKey(t *testing.T) {
	// GIVEN the stack (the deploy state machine logs execution data, the functions
	// log delivery metadata)
	f := synthesized(t)
	key := f.logicalID(t, "AWS::KMS::Key", "DataKey")

	// WHEN every log group is read
	groups := f.resources("AWS::Logs::LogGroup")
	if len(groups) == 0 {
		t.Fatal("no log groups")
	}

	// THEN each is encrypted by the customer-managed key
	for id, res := range groups {
		if got, want := fmt.Sprint(props(res)["KmsKeyId"]), fmt.Sprint(map[string]any{"Fn::GetAtt": []any{key, "Arn"}}); got != want {
			t.Errorf("log group %s: KmsKeyId %s, want %s", id, got, want)
		}
	}

	// AND the key lets CloudWatch Logs use it for this account's log groups only,
	// with named actions
	var found bool
	for _, st := range statementsIn(map[string]any{"PolicyDocument": props(f.resources("AWS::KMS::Key")[key])["KeyPolicy"]}) {
		principal := fmt.Sprint(st["Principal"])
		if !strings.Contains(principal, "logs.") {
			continue
		}
		found = true
		for _, a := range asList(st["Action"]) {
			if strings.Contains(fmt.Sprint(a), "*") {
				t.Errorf("key policy for CloudWatch Logs allows %v", a)
			}
		}
		if c := fmt.Sprint(st["Condition"]); !strings.Contains(c, "kms:EncryptionContext:aws:logs:arn") {
			t.Errorf("key policy for CloudWatch Logs is not limited by the log group ARN: %s", c)
		}
	}
	if !found {
		t.Error("the key policy does not allow CloudWatch Logs")
	}
}
