package main

import (
	"fmt"
	"testing"

	"github.com/stepship/stepship/test/localenv"
)

// The deploy pipeline's permissions are exactly what its functions and its
// state machine's integrations call, on exactly what testdata/catalog.yaml
// lists (web: SQL migrations, a health check, two alarms; api: a migration
// task, an ARN-form service in cluster staging, a role prefix).
func TestReleasePermissionsAreScopedToTheCatalog(t *testing.T) {
	f := synthesized(t)
	grants := func(role string) map[string]string {
		out := map[string]string{}
		for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", role)) {
			for _, a := range asList(st["Action"]) {
				out[fmt.Sprint(a)] += fmt.Sprint(st["Resource"]) + fmt.Sprint(st["Condition"])
			}
		}
		return out
	}
	services := "[arn:aws:ecs:us-east-1:123456789012:service/prod/web arn:aws:ecs:us-east-1:123456789012:service/staging/api]"
	clusters := "[arn:aws:ecs:us-east-1:123456789012:cluster/prod arn:aws:ecs:us-east-1:123456789012:cluster/staging]"
	tasks := "[arn:aws:ecs:us-east-1:123456789012:task/prod/* arn:aws:ecs:us-east-1:123456789012:task/staging/*]"
	for _, tt := range []struct {
		role string
		want map[string]string // action → resources + condition; "" : must not be granted
	}{
		{"DeployStateMachineRole", map[string]string{
			"ecs:UpdateService":        services + "<nil>",
			"ecs:RunTask":              "arn:aws:ecs:us-east-1:123456789012:task-definition/*map[ArnEquals:map[ecs:cluster:" + clusters + "]]",
			"ecs:DescribeTasks":        tasks + "<nil>",
			"ecs:StopTask":             tasks + "<nil>",
			"iam:PassRole":             "[arn:aws:iam::123456789012:role/api-* arn:aws:iam::123456789012:role/web-exec arn:aws:iam::123456789012:role/web-task]map[StringEquals:map[iam:PassedToService:ecs-tasks.amazonaws.com]]",
			"states:DescribeExecution": "arn:aws:states:us-east-1:123456789012:execution:Stepship-backup:*<nil>arn:aws:states:us-east-1:123456789012:execution:Stepship-deploy:*<nil>",
			// web/production snapshots before each deploy (backup.beforeDeploy).
			"states:StartExecution": "arn:aws:states:us-east-1:123456789012:stateMachine:Stepship-backup<nil>",
			"states:StopExecution":  "arn:aws:states:us-east-1:123456789012:execution:Stepship-backup:*<nil>",
			"events:PutRule": "arn:aws:events:us-east-1:123456789012:rule/StepFunctionsGetEventForCodeBuildStartBuildRule<nil>" +
				"arn:aws:events:us-east-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule<nil>" +
				"arn:aws:events:us-east-1:123456789012:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule<nil>",
			"ecs:RegisterTaskDefinition": "",
			"dynamodb:Scan":              "",
			"dynamodb:Query":             "",
		}},
		{"VerifyFunctionRole", map[string]string{
			"ecs:DescribeServices":            services + "<nil>",
			"ecs:ListTasks":                   "*map[ArnEquals:map[ecs:cluster:" + clusters + "]]",
			"ecs:DescribeTasks":               tasks + "<nil>",
			"cloudwatch:DescribeAlarms":       "[arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-latency]<nil>",
			"cloudwatch:DescribeAlarmHistory": "[arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-latency]<nil>",
			"ecs:UpdateService":               "",
			"ec2:CreateNetworkInterface":      "",
		}},
		{"MigrateFunctionRole", map[string]string{
			"secretsmanager:GetSecretValue": "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-prod-db-AbCdEf<nil>",
			"s3:GetObject":                  "arn:aws:s3:::acme-web-migrations/web/*<nil>",
			"s3:ListBucket":                 "arn:aws:s3:::acme-web-migrationsmap[StringLike:map[s3:prefix:[web/*]]]",
			"s3:PutObject":                  "",
			// in web-prod's network (database.network)
			"ec2:CreateNetworkInterface": "[arn:aws:ec2:us-east-1:123456789012:network-interface/* arn:aws:ec2:us-east-1:123456789012:security-group/sg-0f1e2d3c4b5a69788 " +
				"arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0a1b2c3d4e5f60718 arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1a2b3c4d]<nil>",
			"ec2:DeleteNetworkInterface":    "arn:aws:ec2:us-east-1:123456789012:network-interface/*<nil>",
			"ec2:DescribeNetworkInterfaces": "*<nil>",
		}},
		{"DeployFunctionRole", map[string]string{"ecs:UpdateService": "", "ec2:CreateNetworkInterface": ""}},
	} {
		got := grants(tt.role)
		for action, want := range tt.want {
			g := got[action]
			if want == "" {
				if g != "" {
					t.Errorf("%s may %s on %s", tt.role, action, g)
				}
				continue
			}
			if want != g {
				t.Errorf("%s %s:\n got %q\nwant %q", tt.role, action, g, want)
			}
		}
	}
}

// The memory the CDK gives each function is what the local stack's cost
// figures reckon with (test/localenv.FunctionMemoryMB).
func TestCostFiguresUseTheFunctionsMemory(t *testing.T) {
	for _, spec := range DefaultFunctions() {
		if got := localenv.FunctionMemoryMB[spec.Name]; got != spec.MemoryMB {
			t.Errorf("function %s: %v MB here, %v MB in test/localenv.FunctionMemoryMB", spec.Name, spec.MemoryMB, got)
		}
	}
}

// The migrate function runs in the network the catalog gives web-prod
// (database.network): its subnets and security group, nothing else.
func TestMigrateRunsInTheDatabasesNetwork(t *testing.T) {
	f := synthesized(t)
	fn := props(f.resources("AWS::Lambda::Function")[f.logicalID(t, "AWS::Lambda::Function", "MigrateFunction")])
	got := fmt.Sprint(fn["VpcConfig"])
	want := fmt.Sprint(map[string]any{"SecurityGroupIds": []any{"sg-0f1e2d3c4b5a69788"}, "SubnetIds": []any{"subnet-0a1b2c3d4e5f60718", "subnet-1a2b3c4d"}})
	if got != want {
		t.Errorf("migrate function VpcConfig %s, want %s", got, want)
	}
	for _, other := range []string{"DeployFunction", "VerifyFunction", "ResolveFunction"} {
		if vpc := props(f.resources("AWS::Lambda::Function")[f.logicalID(t, "AWS::Lambda::Function", other)])["VpcConfig"]; vpc != nil {
			t.Errorf("%s is in a VPC: %v", other, vpc)
		}
	}
}
