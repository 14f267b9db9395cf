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
		"unknown SDK service":  "arn:aws:states:::aws-sdk:rds:deleteDBInstance",
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
