package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func TestDeployStateMachineRoleFollowsTheIntegrationsOfItsDefinition(t *testing.T) {
	// GIVEN a stack built from testdata/integrations.asl.json: a DynamoDB putItem
	// on ${TableName}, a CodeBuild .sync task, an ECR SDK task inside a Parallel
	// branch, and lambda:invoke of the deploy function
	app, dir, dist := newTestStack(t)
	p := testProps(dir, dist)
	p.DeployStateMachineFile = filepath.Join("testdata", "integrations.asl.json")
	s, err := NewStepshipStack(app, "Integrations", p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := synthesize(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	role := f.logicalID(t, "AWS::IAM::Role", "DeployStateMachineRole")

	// WHEN the state machine role's actions are listed
	var actions []string
	for _, st := range f.statementsOf(role) {
		for _, a := range asList(st["Action"]) {
			actions = append(actions, fmt.Sprint(a))
		}
	}
	sort.Strings(actions)
	got := strings.Join(actions, ",")

	// THEN it may write the table, run and wait for builds, describe images and
	// invoke the function
	for _, want := range []string{
		"dynamodb:PutItem", "kms:Decrypt", "kms:GenerateDataKey",
		"codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild",
		"events:DescribeRule", "events:PutRule", "events:PutTargets",
		"ecr:DescribeImages", "lambda:InvokeFunction",
	} {
		if !strings.Contains(","+got+",", ","+want+",") {
			t.Errorf("state machine role lacks %s; has %s", want, got)
		}
	}
	// AND the table's actions are on the table only, its key only through DynamoDB
	table := f.logicalID(t, "AWS::DynamoDB::Table", "Table")
	for _, st := range f.statementsOf(role) {
		switch st["Sid"] {
		case "UseTheTable":
			if got := fmt.Sprint(st["Resource"]); got != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{table, "Arn"}}) {
				t.Errorf("table actions on %s", got)
			}
		case "UseTheTableKey":
			want := map[string]any{"StringEquals": map[string]any{"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}
			if fmt.Sprint(st["Condition"]) != fmt.Sprint(want) {
				t.Errorf("key condition: want %v, got %v", want, st["Condition"])
			}
		}
	}
	// AND nothing of the kind the definition does not use
	for _, a := range actions {
		if strings.HasPrefix(a, "ecs:") || strings.HasPrefix(a, "states:") ||
			(strings.HasPrefix(a, "dynamodb:") && a != "dynamodb:PutItem") {
			t.Errorf("state machine role has unused %s", a)
		}
	}
}

func TestIntegrationsThatHaveNoPermissionsFailTheSynth(t *testing.T) {
	for name, resource := range map[string]string{
		"unknown SDK service":  "arn:aws:states:::aws-sdk:s3:deleteObject",
		"unknown integration":  "arn:aws:states:::sns:publish",
		"literal function ARN": "arn:aws:lambda:us-east-1:123456789012:function:other",
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN a definition with that Task resource
			app, dir, dist := newTestStack(t)
			asl := filepath.Join(dir, "x.asl.json")
			body := fmt.Sprintf(`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":%q,"End":true}}}`, resource)
			if err := os.WriteFile(asl, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			p := testProps(dir, dist)
			p.DeployStateMachineFile = asl

			// WHEN the stack is built
			_, err := NewStepshipStack(app, "X", p)

			// THEN it fails naming the resource
			if err == nil || !strings.Contains(err.Error(), resource) {
				t.Errorf("want an error naming %s, got %v", resource, err)
			}
		})
	}
}

func TestTheRealDeployDefinitionBuilds(t *testing.T) {
	// GIVEN the repo's statemachines/deploy.asl.json
	real := filepath.Join("..", "statemachines", "deploy.asl.json")
	app, dir, dist := newTestStack(t)
	p := testProps(dir, dist)
	p.DeployStateMachineFile = real

	// WHEN the stack is built from it
	_, err := NewStepshipStack(app, "Real", p)

	// THEN every placeholder and integration in it is known to the stack
	if err != nil {
		t.Fatalf("the stack cannot deploy %s: %v", real, err)
	}
}

func TestRDSAndCloudWatchIntegrationsAreScopedToTheCatalogsDatabases(t *testing.T) {
	// GIVEN the test catalog (instances web-prod, drilled, and web-qa; the
	// Aurora cluster api-aurora, drilled), and a definition that snapshots
	// an instance, waits for a restored instance and records a metric
	app, dir, dist := newTestStack(t)
	asl := filepath.Join(dir, "rds.asl.json")
	body := `{"StartAt":"A","States":{
		"A":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:rds:createDBSnapshot","Next":"B"},
		"B":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:rds:describeDBInstances","Next":"C"},
		"C":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:cloudwatch:putMetricData","End":true}}}`
	if err := os.WriteFile(asl, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testProps(dir, dist)
	p.DeployStateMachineFile = asl

	// WHEN the stack is synthesized
	s, err := NewStepshipStack(app, "RDS", p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := synthesize(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	role := f.logicalID(t, "AWS::IAM::Role", "DeployStateMachineRole")

	// THEN each RDS action reaches exactly its resources: a snapshot only of
	// the catalog's encrypted instances (the cluster takes cluster
	// snapshots), tagged, named stepship-DB-*; a describe only of what drills
	// and failovers restore; metrics only in stepship's namespaces
	got := map[string]string{}
	var cwCondition string
	for _, st := range f.statementsOf(role) {
		actions := fmt.Sprint(st["Action"])
		switch {
		case strings.Contains(actions, "rds:"):
			got[actions] = fmt.Sprint(st["Resource"]) + " if " + fmt.Sprint(st["Condition"])
		case strings.Contains(actions, "cloudwatch:"):
			cwCondition = fmt.Sprint(st["Condition"])
		}
	}
	const arn = "arn:aws:rds:us-east-1:123456789012:"
	want := map[string]string{
		"rds:CreateDBSnapshot":                         "[" + arn + "db:web-prod " + arn + "db:web-qa] if map[BoolIfExists:map[rds:StorageEncrypted:true]]",
		"[rds:AddTagsToResource rds:CreateDBSnapshot]": "[" + arn + "snapshot:stepship-web-prod-* " + arn + "snapshot:stepship-web-qa-*] if <nil>",
		"rds:DescribeDBInstances":                      "[" + arn + "db:drill-api-aurora-* " + arn + "db:drill-web-prod-* " + arn + "db:failover-api-aurora-* " + arn + "db:failover-web-prod-*] if <nil>",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rds statements:\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(cwCondition, "cloudwatch:namespace:Stepship/*") {
		t.Errorf("cloudwatch condition %s", cwCondition)
	}
}

func TestAnRDSIntegrationWithoutPermissionsFailsTheSynth(t *testing.T) {
	// GIVEN a definition that deletes a DB instance directly
	app, dir, dist := newTestStack(t)
	asl := filepath.Join(dir, "delete.asl.json")
	if err := os.WriteFile(asl, []byte(`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:rds:deleteDBInstance","End":true}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testProps(dir, dist)
	p.DeployStateMachineFile = asl

	// WHEN the stack is built
	_, err := NewStepshipStack(app, "Delete", p)

	// THEN it fails naming the action and where its permissions would be defined
	if err == nil || !strings.Contains(err.Error(), "rds:DeleteDBInstance") || !strings.Contains(err.Error(), "infra/rds.go") {
		t.Errorf("want an error naming rds:DeleteDBInstance and infra/rds.go, got %v", err)
	}
}

// The nested backup execution (the deploy machine's pre-deploy snapshot) is
// allowed only when a catalog target asks for it: a catalog without
// backup.beforeDeploy gives the role no Step Functions or events rights.
func TestNestedBackupIsGrantedOnlyWhenTheCatalogAsksForIt(t *testing.T) {
	asl := `{"StartAt":"S","States":{"S":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2",` +
		`"Parameters":{"StateMachineArn":"${BackupStateMachineArn}","Input":{}},"End":true}}}`
	for _, on := range []bool{false, true} {
		targets := testCatalog(t).Targets()
		for i := range targets {
			if targets[i].Backup != nil {
				b := *targets[i].Backup
				b.BeforeDeploy = on
				targets[i].Backup = &b
			}
		}
		stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Nested"), &awscdk.StackProps{
			Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("us-east-1")}})
		statements, err := integrationStatements(stack, asl, targets, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, st := range statements {
			j := st.ToJSON()
			got = append(got, fmt.Sprint(j))
		}
		all := strings.Join(got, "\n")
		if _, err := integrationStatements(stack, strings.Replace(asl, "${BackupStateMachineArn}", "arn:aws:states:us-east-1:123456789012:stateMachine:other", 1), targets, nil, nil); err == nil ||
			!strings.Contains(err.Error(), "only the backup machine") {
			t.Errorf("a nested execution of another machine: %v, want it refused", err)
		}
		for _, want := range []string{"states:StartExecution", "stateMachine:Nested-backup", "states:StopExecution", "execution:Nested-backup:*", "StepFunctionsGetEventsForStepFunctionsExecutionRule"} {
			if strings.Contains(all, want) != on {
				t.Errorf("beforeDeploy %v: %q granted %v:\n%s", on, want, !on, all)
			}
		}
	}
}
