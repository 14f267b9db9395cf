package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
)

// Objectives are the thresholds of a catalog database's alarms, derived from
// its catalog entry.
type Objectives struct {
	// RPO is how old the newest DR copy's data may be: twice the longest gap
	// between two scheduled backups (one missed backup is tolerated; the
	// failed execution has its own alarm).
	RPO time.Duration
	// RTO is how long a drill's recovery may take before its alarm warns
	// that the next one may time out: 80 % of drill.timeoutMinutes (zero
	// without a drill).
	RTO time.Duration
}

// objectives derives a target's alarm thresholds from the catalog.
func objectives(t catalog.Target) (Objectives, error) {
	gap, err := catalog.LongestGap(t.Backup.Schedule)
	if err != nil {
		return Objectives{}, fmt.Errorf("catalog: services[%s].environments[%s].backup.schedule: %w", t.Service, t.Environment, err)
	}
	o := Objectives{RPO: 2 * gap}
	if t.Drill != nil {
		o.RTO = time.Duration(t.Drill.TimeoutMinutes) * time.Minute * 8 / 10
	}
	return o, nil
}

// metricOf is one of the backup metrics (shared/backup) of a catalog entry,
// its largest value an hour, in region.
func metricOf(namespace, name string, t catalog.Target, region string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(namespace), MetricName: jsii.String(name), Region: jsii.String(region),
		DimensionsMap: &map[string]*string{backup.DimensionService: jsii.String(t.Service), backup.DimensionEnvironment: jsii.String(t.Environment)},
		Statistic:     jsii.String("Maximum"), Period: awscdk.Duration_Hours(jsii.Number(1)),
	})
}

// thresholdAlarm alarms when a backup metric of a target is above threshold.
// The metric arrives once a run, so a missing datapoint keeps the alarm's
// state: it says what the last run measured.
func thresholdAlarm(scope constructs.Construct, id, name string, metric awscloudwatch.Metric, threshold time.Duration, description string) awscloudwatch.Alarm {
	return metric.CreateAlarm(scope, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
		AlarmName:          jsii.String(name),
		AlarmDescription:   jsii.String(description),
		Threshold:          jsii.Number(threshold.Seconds()),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_IGNORE,
	})
}

// executionMetric is a Step Functions execution metric of a state machine
// (by ARN) in region, summed over five minutes.
func executionMetric(name, machineARN, region string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/States"), MetricName: jsii.String(name), Region: jsii.String(region),
		DimensionsMap: &map[string]*string{"StateMachineArn": jsii.String(machineARN)},
		Statistic:     jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5)), Label: jsii.String(name),
	})
}

// failedExecutionsAlarm alarms when an execution of the state machine fails,
// times out or is aborted.
func failedExecutionsAlarm(scope constructs.Construct, id, name, machineARN, region, description string) awscloudwatch.Alarm {
	failed := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"failed":   executionMetric("ExecutionsFailed", machineARN, region),
			"timedOut": executionMetric("ExecutionsTimedOut", machineARN, region),
			"aborted":  executionMetric("ExecutionsAborted", machineARN, region),
		},
		Label:  jsii.String("executions failed, timed out or aborted"),
		Period: awscdk.Duration_Minutes(jsii.Number(5)),
	})
	return failed.CreateAlarm(scope, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
		AlarmName:          jsii.String(name),
		AlarmDescription:   jsii.String(description),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// executionsWidget graphs a state machine's executions by outcome.
func executionsWidget(title, machineARN, region string) awscloudwatch.GraphWidget {
	var metrics []awscloudwatch.IMetric
	for _, m := range []string{"ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} {
		metrics = append(metrics, executionMetric(m, machineARN, region))
	}
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String(title), Region: jsii.String(region), Left: &metrics, Width: jsii.Number(12), Height: jsii.Number(6),
	})
}

// metricWidget graphs backup metrics with their objective as a line.
func metricWidget(title, region string, objective time.Duration, metrics ...awscloudwatch.IMetric) awscloudwatch.GraphWidget {
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String(title), Region: jsii.String(region), Left: &metrics, Width: jsii.Number(12), Height: jsii.Number(6),
		LeftYAxis: &awscloudwatch.YAxisProps{Label: jsii.String("seconds"), ShowUnits: jsii.Bool(false), Min: jsii.Number(0)},
		LeftAnnotations: &[]*awscloudwatch.HorizontalAnnotation{{
			Value: jsii.Number(objective.Seconds()), Label: jsii.String("objective " + objective.String()), Color: jsii.String("#d62728"),
		}},
	})
}

// checkPublished fails unless the state machine definition publishes each
// metric (namespace and name) with the Service and Environment dimensions
// through a cloudwatch:putMetricData task: the alarms watch what the state
// machine really writes, or the synth fails.
func checkPublished(file string, asl []byte, namespace string, names ...string) error {
	var doc any
	if err := json.Unmarshal(asl, &doc); err != nil {
		return fmt.Errorf("state machine %s: %w", file, err)
	}
	published := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["Resource"] == "arn:aws:states:::aws-sdk:cloudwatch:putMetricData" {
				params, _ := v["Parameters"].(map[string]any)
				if params["Namespace"] == namespace {
					data, _ := params["MetricData"].([]any)
					for _, d := range data {
						m, _ := d.(map[string]any)
						var dims []string
						dimensions, _ := m["Dimensions"].([]any)
						for _, dim := range dimensions {
							if dm, ok := dim.(map[string]any); ok {
								dims = append(dims, fmt.Sprint(dm["Name"]))
							}
						}
						if name, ok := m["MetricName"].(string); ok && slices.Contains(dims, backup.DimensionService) && slices.Contains(dims, backup.DimensionEnvironment) {
							published[name] = true
						}
					}
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	for _, n := range names {
		if !published[n] {
			return fmt.Errorf("state machine %s publishes no metric %s/%s with the dimensions %s and %s, which the alarms watch",
				file, namespace, n, backup.DimensionService, backup.DimensionEnvironment)
		}
	}
	return nil
}
