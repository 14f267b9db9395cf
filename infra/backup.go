package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/statemachines"
)

// Backups is what the home stack runs for the catalog's backups: the backup
// state machine, a schedule per database, the alarms on what the backups
// achieve, and the dashboard of backups and drills in every region.
type Backups struct {
	StateMachine awsstepfunctions.StateMachine
	// ScheduleRole may start the backup state machine and nothing else.
	ScheduleRole awsiam.Role
	// Schedules by catalog entry, "service/environment".
	Schedules map[string]awsscheduler.CfnSchedule
	// Alarms by name.
	Alarms    map[string]awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
}

// Names of the resources the home and DR stacks name after the home stack,
// so that one stack can refer to the other's without a cross-region
// reference.
func backupMachineName(home string) string { return home + "-backup" }
func drillMachineName(home string) string  { return home + "-dr-drill" }

// backupMachineARN is the ARN of the home stack's backup state machine.
func backupMachineARN(stack awscdk.Stack) *string {
	return statesARN(stack, "stateMachine", backupMachineName(*stack.StackName()))
}

// statesARN is the ARN of a Step Functions resource in the stack's account
// and region: resource "stateMachine" or "execution", name "MACHINE" or
// "MACHINE:EXECUTION" (a trailing * for all of them).
func statesARN(stack awscdk.Stack, resource, name string) *string {
	return stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("states"), Resource: jsii.String(resource),
		ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
}
func alarmName(home, what string, t *catalog.Target) string {
	if t == nil {
		return home + "-" + what
	}
	return home + "-" + what + "-" + t.Service + "-" + t.Environment
}

// scheduledBy says who starts the scheduled executions (recorded on the
// snapshot's tags and in the executions' input).
const scheduledBy = "eventbridge-scheduler"

// addBackups adds the backups to the home stack when the catalog has any:
// the snapshot function's permissions, the backup state machine
// (statemachines/backup.asl.json, publishing its failures to the stack's
// topic), an EventBridge Scheduler schedule per database starting it with the
// documented input (events/backup-now.json), alarms on the RPO each backup
// records and on failed executions (sent to the topic), and the dashboard.
func addBackups(s *StepshipStack, specs []FunctionSpec, targets []catalog.Target, retention awslogs.RetentionDays) error {
	var backedUp []catalog.Target
	for _, t := range targets {
		if t.Backup != nil {
			backedUp = append(backedUp, t)
		}
	}
	if len(backedUp) == 0 {
		return nil
	}
	stack := s.Stack
	home := *stack.StackName()
	for _, spec := range specs {
		if spec.has(CopiesSnapshots) {
			grantSnapshotCopies(stack, s.Functions[spec.Name], backedUp)
			if err := grantBackupAccounts(stack, s.Functions[spec.Name], backedUp); err != nil {
				return err
			}
		}
	}
	b := &Backups{Alarms: map[string]awscloudwatch.Alarm{}}
	var err error
	b.StateMachine, err = newMonitoredStateMachine(stack, statemachines.Backup, machine{
		ID: "BackupStateMachine", Name: backupMachineName(home), LogSuffix: "backup",
		Comment:   "stepship: snapshot a catalog database, copy it to the DR region, prune, record the RPO",
		Functions: functionsByPlaceholder(specs, s.Functions),
		Resources: map[string]*string{statemachines.NotificationTopicArn: s.Notifications.TopicArn()}, TopicARN: s.Notifications.TopicArn(),
	}, backedUp, retention, s.DataKey, backup.MetricNamespaceBackups, backup.MetricRPO)
	if err != nil {
		return err
	}
	if b.ScheduleRole, b.Schedules, err = newSchedules(stack, "BackupSchedule", "backup", b.StateMachine, backedUp,
		func(t catalog.Target) (string, interface{ Validate() error }) {
			return t.Backup.Schedule, payload.BackupRequest{Service: t.Service, Environment: t.Environment,
				Reason: "scheduled backup (catalog backup.schedule)", RequestedBy: scheduledBy}
		}); err != nil {
		return err
	}

	region := *stack.Region()
	failed := failedExecutionsAlarm(stack, "BackupFailedAlarm", alarmName(home, "backup-failed", nil), *b.StateMachine.StateMachineArn(), region,
		"a backup execution failed, timed out or was aborted: read its error (docs/backups.md lists them)")
	notifyOn(failed, s.Notifications, false)
	b.Alarms[*failed.AlarmName()] = failed
	// Graphs of each database's RPO and RTO, home and DR side by side; the
	// alarms on drills live in their DR stacks, named alike.
	widgets := [][]awscloudwatch.IWidget{{awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String("# stepship backups and disaster-recovery drills\n" +
			"RPO: age of the newest DR copy's data, recorded by each backup (home region) and each drill (DR region). " +
			"RTO: restore to verified data, measured by each drill. The red lines are the alarms' thresholds (docs/backups.md)."),
		Width: jsii.Number(24), Height: jsii.Number(2),
	})}}
	alarms := []awscloudwatch.IAlarm{failed}
	for i, t := range backedUp {
		o, err := objectives(t)
		if err != nil {
			return err
		}
		rpo := thresholdAlarm(stack, fmt.Sprintf("BackupRPOAlarm%d", i), alarmName(home, "backup-rpo", &t),
			metricOf(backup.MetricNamespaceBackups, backup.MetricRPO, t, region), o.RPO,
			fmt.Sprintf("the newest DR copy of %s/%s (%s) is older than %s, twice the longest gap of backup.schedule %s: backups or copies are being missed",
				t.Service, t.Environment, t.Database.Identifier(), o.RPO, t.Backup.Schedule))
		notifyOn(rpo, s.Notifications, true)
		b.Alarms[*rpo.AlarmName()] = rpo
		alarms = append(alarms, rpo)
		rpoMetrics := []awscloudwatch.IMetric{metricOf(backup.MetricNamespaceBackups, backup.MetricRPO, t, region)}
		row := []awscloudwatch.IWidget{}
		if t.Drill != nil {
			dr := t.Backup.DRRegion
			rpoMetrics = append(rpoMetrics, metricOf(backup.MetricNamespaceDrills, backup.MetricRPO, t, dr))
			for _, what := range []string{"drill-rpo", "drill-rto"} {
				alarms = append(alarms, drAlarm(stack, fmt.Sprintf("%s%d", pascalName(what), i), home, dr, what, &t))
			}
			row = append(row, metricWidget(fmt.Sprintf("RTO of %s/%s (drills in %s)", t.Service, t.Environment, dr), dr, o.RTO,
				metricOf(backup.MetricNamespaceDrills, backup.MetricRTO, t, dr)))
		}
		row = append([]awscloudwatch.IWidget{metricWidget(fmt.Sprintf("RPO of %s/%s", t.Service, t.Environment), region, o.RPO, rpoMetrics...)}, row...)
		widgets = append(widgets, row)
	}
	executions := []awscloudwatch.IWidget{executionsWidget("backup executions", *b.StateMachine.StateMachineArn(), region)}
	for _, dr := range backup.DrillRegions(backedUp) {
		executions = append(executions, executionsWidget("drill executions in "+dr, drillMachineARN(stack, home, dr), dr))
		alarms = append(alarms, drAlarm(stack, "DrillFailed"+pascalName(dr), home, dr, "drill-failed", nil))
	}
	widgets = append(widgets, executions)
	refs := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		refs[i] = a
	}
	widgets = append(widgets, []awscloudwatch.IWidget{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("alarms (home and DR regions)"), Alarms: &refs, Width: jsii.Number(24), Height: jsii.Number(4),
	})})
	var rows []*[]awscloudwatch.IWidget
	for i := range widgets {
		rows = append(rows, &widgets[i])
	}
	b.Dashboard = awscloudwatch.NewDashboard(stack, jsii.String("BackupsDashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(home + "-backups"), Widgets: &rows,
	})
	awscdk.NewCfnOutput(stack, jsii.String("BackupStateMachineArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("the backup state machine (back up now with events/backup-now.json)"),
		Value:       b.StateMachine.StateMachineArn(),
	})
	s.Backups = b
	return nil
}

// drAlarm is the alarm the DR stack of region names what (and the target),
// by its ARN: the dashboard lists it without a cross-region reference.
func drAlarm(stack awscdk.Stack, id, home, region, what string, t *catalog.Target) awscloudwatch.IAlarm {
	return awscloudwatch.Alarm_FromAlarmArn(stack, jsii.String(id), stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("cloudwatch"), Region: jsii.String(region), Resource: jsii.String("alarm"),
		ResourceName: jsii.String(alarmName(drStackName(home, region), what, t)), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	}))
}

// drillMachineARN is the ARN of the drill state machine the DR stack of
// region defines for the home stack.
func drillMachineARN(stack awscdk.Stack, home, region string) string {
	return *stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("states"), Region: jsii.String(region), Resource: jsii.String("stateMachine"),
		ResourceName: jsii.String(drillMachineName(home)), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
}
