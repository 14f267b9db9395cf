package main

import (
	"strings"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// addNagSuppressions records, on the resources themselves, why each cdk-nag
// AwsSolutions finding that remains is accepted. Each suppression names the exact
// findings it covers (appliesTo), so a new wildcard still fails the check.
func addNagSuppressions(s *StepshipStack, specs []FunctionSpec) {
	for _, spec := range specs {
		fn := s.Functions[spec.Name]
		reasons := []string{"X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports no resource-level permissions"}
		appliesTo := []any{"Resource::*"}
		if spec.has(DeploysECS) {
			reasons = append(reasons,
				"ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition support no resource-level permissions",
				"ecs:TagResource is limited to task definitions and to RegisterTaskDefinition by an ecs:CreateAction condition",
				"until the catalog is read at synth, any ECS service of this account and region may be deployed, and any role passed, but only to ecs-tasks.amazonaws.com")
			appliesTo = append(appliesTo,
				&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:[^:]*:[^:]*:service\/\*$/g`)},
				&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:[^:]*:[^:]*:task-definition\/\*$/g`)},
				&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):iam::[^:]*:role\/\*$/g`)},
			)
		}
		cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String(strings.Join(reasons, "; ")),
			AppliesTo: &appliesTo,
		}}, jsii.Bool(true))
	}

	cdknag.NagSuppressions_AddResourceSuppressions(s.DeployStateMachine.Role(), &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing " +
			"support no resource-level permissions"),
		AppliesTo: &[]any{"Resource::*"},
	}, {
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("the execution input names the CodeBuild project and ECR repository; until the catalog " +
			"is read at synth, any of this account and region may be used"),
		AppliesTo: &[]any{
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):codebuild:[^:]*:[^:]*:project\/\*$/g`)},
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecr:[^:]*:[^:]*:repository\/\*$/g`)},
		},
	}}, jsii.Bool(true))

	cdknag.NagSuppressions_AddResourceSuppressions(s.WebhookSecret, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("the webhook secret is shared with the git host, which cannot fetch a rotated value; " +
			"it is rotated by hand together with the webhook settings (infra/README.md)"),
	}}, nil)
}
