package main

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/catalog"
)

// schedule is when a catalog entry's state machine runs (a catalog cron
// expression), and the input it starts with (a shared/payload request,
// checked at synth).
type schedule func(catalog.Target) (expression string, input interface{ Validate() error })

// newSchedules defines an EventBridge Scheduler schedule for each target (in
// UTC, as the catalog's cron expressions are), each starting sm with the
// target's input, and one role, assumable by EventBridge Scheduler for this
// account only, that may start sm and nothing else. It returns the role and
// the schedules by catalog entry, "service/environment".
func newSchedules(stack awscdk.Stack, id, what string, sm awsstepfunctions.StateMachine, targets []catalog.Target, of schedule) (awsiam.Role, map[string]awsscheduler.CfnSchedule, error) {
	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String(fmt.Sprintf("stepship: EventBridge Scheduler starts the %s state machine", what)),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("StartOnlyThisStateMachine"),
		Actions:   jsii.Strings("states:StartExecution"),
		Resources: &[]*string{sm.StateMachineArn()},
	}))
	schedules := map[string]awsscheduler.CfnSchedule{}
	ids := map[string]string{}
	for _, t := range targets {
		key := t.Service + "/" + t.Environment
		expression, request := of(t)
		if err := request.Validate(); err != nil {
			return nil, nil, fmt.Errorf("the scheduled %s input of %s: %w", what, key, err)
		}
		input, err := json.Marshal(request)
		if err != nil {
			return nil, nil, err
		}
		cid := id + pascalName(t.Service) + pascalName(t.Environment)
		if other, ok := ids[cid]; ok {
			return nil, nil, fmt.Errorf("catalog: %s and %s name the same %s schedule (%s): rename one", other, key, what, cid)
		}
		ids[cid] = key
		schedules[key] = awsscheduler.NewCfnSchedule(stack, jsii.String(cid), &awsscheduler.CfnScheduleProps{
			Description:                jsii.String(fmt.Sprintf("stepship: %s of %s (catalog)", what, key)),
			ScheduleExpression:         jsii.String(expression),
			ScheduleExpressionTimezone: jsii.String("UTC"),
			FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
			State:                      jsii.String("ENABLED"),
			Target: &awsscheduler.CfnSchedule_TargetProperty{
				Arn:     sm.StateMachineArn(),
				RoleArn: role.RoleArn(),
				Input:   jsii.String(string(input)),
				// StartExecution throttled or failing: tried again for an hour.
				RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
					MaximumEventAgeInSeconds: jsii.Number(3600), MaximumRetryAttempts: jsii.Number(10),
				},
			},
		})
	}
	return role, schedules, nil
}
