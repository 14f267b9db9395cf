package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
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
	// GIVEN a catalog database with backups and drills, and a definition
	// that snapshots it, waits for a restored instance and records a metric
	app, dir, dist := newTestStack(t)
	base, err := os.ReadFile(filepath.Join("testdata", "catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// (testdata/catalog.yaml gives web/production its database)
	cat := strings.Replace(string(base), "          - arn:aws:iam::123456789012:role/web-exec\n", `          - arn:aws:iam::123456789012:role/web-exec
        backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 7, days: 14}, drRegion: us-west-2, drKmsKey: "arn:aws:kms:us-west-2:123456789012:key/k"}
        drill: {schedule: "cron(0 5 ? * SUN *)", subnetGroup: drill, securityGroup: sg-0123456789abcdef0}
`, 1)
	catFile := filepath.Join(dir, "catalog.yaml")
	asl := filepath.Join(dir, "rds.asl.json")
	body := `{"StartAt":"A","States":{
		"A":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:rds:createDBSnapshot","Next":"B"},
		"B":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:rds:describeDBInstances","Next":"C"},
		"C":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:cloudwatch:putMetricData","End":true}}}`
	if err := os.WriteFile(catFile, []byte(cat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(asl, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testProps(dir, dist)
	p.CatalogFile, p.DeployStateMachineFile = catFile, asl

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

	// THEN RDS actions (with the tagging a create needs) reach only the
	// database, stepship's snapshots of it and the drills' instances, and
	// metrics only stepship's namespaces
	var rdsStatement, cwStatement map[string]any
	for _, st := range f.statementsOf(role) {
		actions := fmt.Sprint(st["Action"])
		switch {
		case strings.Contains(actions, "rds:"):
			rdsStatement = st
		case strings.Contains(actions, "cloudwatch:"):
			cwStatement = st
		}
	}
	if rdsStatement == nil || cwStatement == nil {
		t.Fatalf("statements: rds %v, cloudwatch %v", rdsStatement, cwStatement)
	}
	if got := fmt.Sprint(rdsStatement["Action"]); got != "[rds:AddTagsToResource rds:CreateDBSnapshot rds:DescribeDBInstances]" {
		t.Errorf("rds actions %s", got)
	}
	resources := fmt.Sprint(rdsStatement["Resource"])
	for _, want := range []string{":db:web-prod", ":snapshot:stepship-web-prod-*", ":db:drill-web-prod-*", ":db:failover-web-prod-*"} {
		if !strings.Contains(resources, want) {
			t.Errorf("rds resources lack %s: %s", want, resources)
		}
	}
	if strings.Contains(resources, `"*"`) || strings.Contains(resources, ":db:*") {
		t.Errorf("rds resources too wide: %s", resources)
	}
	if got := fmt.Sprint(cwStatement["Condition"]); !strings.Contains(got, "cloudwatch:namespace:Stepship/*") {
		t.Errorf("cloudwatch condition %s", got)
	}
}
