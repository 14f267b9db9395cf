package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/uuid"

	"github.com/stepship/stepship/shared/catalog/catalogtest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/awsproxy/awsproxytest"
	"github.com/stepship/stepship/test/harness"
)

// putAlarm makes a metric alarm on the emulator (moto makes it OK and
// never evaluates it).
func putAlarm(t *testing.T, cw *cloudwatch.Client, name string) {
	t.Helper()
	if _, err := cw.PutMetricAlarm(t.Context(), &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), Namespace: aws.String("AWS/ApplicationELB"),
		MetricName: aws.String("HTTPCode_Target_5XX_Count"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(5), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold}); err != nil {
		t.Fatal(err)
	}
}

// setAlarm sets an alarm's state with SetAlarmState.
func setAlarm(t *testing.T, cw *cloudwatch.Client, name string, state cwtypes.StateValue, reason string) {
	t.Helper()
	if _, err := cw.SetAlarmState(t.Context(), &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: state, StateReason: aws.String(reason)}); err != nil {
		t.Fatal(err)
	}
}

// The bake phase against the emulator with the awsproxy CloudWatchScript,
// which answers DescribeAlarmHistory (moto does not implement it) from the
// SetAlarmState calls it saw: a bake in which no alarm went into ALARM
// passes, even when one did before the bake began; an alarm that went into
// ALARM and back to OK during the bake fails it with AlarmDuringBake,
// though DescribeAlarms shows it OK.
func TestBakeAgainstTheEmulator(t *testing.T) {
	moto := harness.SharedMoto(t)
	p := awsproxytest.Start(t, moto.Endpoint)
	awsproxy.CloudWatchScript{}.Install(p)
	ctx := t.Context()
	cfg := p.Config(moto.Config(ctx))
	cfg.Retryer = awsproxy.Retryer(3, 0)
	cw := cloudwatch.NewFromConfig(cfg)

	id := uuid.NewString()[:8]
	web, db := "web-5xx-"+id, "db-cpu-"+id
	putAlarm(t, cw, web)
	putAlarm(t, cw, db)
	cat := catalogtest.Parse(t, fmt.Sprintf("      - name: moto\n        branches: [main]\n        cluster: bake-%s\n        service: web\n        container: web\n"+
		"        verify: {timeoutSeconds: 60, bakeSeconds: 60, alarms: ['%s', '%s']}\n", id, web, db))
	var log strings.Builder
	v, err := NewVerifier(ecs.NewFromConfig(cfg), cw, cat, slog.New(slog.NewJSONHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("verifier log:\n%s", log.String())
		}
	}()
	bake := func(since time.Time) (payload.VerifyResult, error) {
		return v.Handle(ctx, payload.Invocation[payload.VerifyInput]{ExecutionID: "moto", Input: payload.VerifyInput{Service: "web", Environment: "moto",
			TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web-" + id + ":2", Phase: payload.VerifyBake, Since: since.Format(time.RFC3339)}})
	}

	// Before the bake: db went into ALARM and back. The bake begins at the
	// next whole second (Since is RFC 3339 in seconds).
	setAlarm(t, cw, db, cwtypes.StateValueAlarm, "before the bake")
	setAlarm(t, cw, db, cwtypes.StateValueOk, "recovered before the bake")
	since := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(since))

	t.Run("clean bake passes", func(t *testing.T) {
		got, err := bake(since)
		if err != nil || got.Status != payload.RolloutCompleted {
			t.Fatalf("got %+v, %v", got, err)
		}
		if n := p.Count("monitoring", "DescribeAlarmHistory"); n != 2 {
			t.Errorf("%d DescribeAlarmHistory calls, want one per alarm", n)
		}
	})
	t.Run("alarm went into ALARM during the bake", func(t *testing.T) {
		before := time.Now().Add(-time.Millisecond)
		setAlarm(t, cw, web, cwtypes.StateValueAlarm, "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0).")
		after := time.Now().Add(time.Millisecond)
		setAlarm(t, cw, web, cwtypes.StateValueOk, "Threshold no longer crossed")
		out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{web}})
		if err != nil || len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateValue != cwtypes.StateValueOk {
			t.Fatalf("DescribeAlarms: %+v, %v; want %s OK again", out, err, web)
		}
		_, err = bake(since)
		e := wantError[taskerr.AlarmDuringBake](t, err, web, "Threshold Crossed: 1 datapoint [9.0]")
		if e.Alarm != web || e.When.Before(before) || e.When.After(after) {
			t.Errorf("error %#v: want %s, when in [%v, %v]", e, web, before, after)
		}
	})
	for _, c := range p.Calls() {
		if c.Action == "DescribeAlarmHistory" && (c.Status != 200 || len(c.Effects) != 1 || c.Effects[0] != "answer") {
			t.Errorf("call %d: DescribeAlarmHistory %d %v, want answered by the script", c.Seq, c.Status, c.Effects)
		}
	}
}
