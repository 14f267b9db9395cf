package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// After the rollout and the health check of environment "checked", its
// alarms web-5xx (metric) and web-latency (composite) must not be in ALARM.
func TestRolloutAlarms(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
		check func(t *testing.T, got payload.VerifyResult, err error)
	}{
		{name: "both OK", setup: func(w *world) {}, check: verified},
		{name: "insufficient data is not ALARM", setup: func(w *world) {
			w.cw.set("web-5xx", cwtypes.StateValueInsufficientData, "no datapoints", w.clock.t)
		}, check: verified},
		{name: "one in ALARM", setup: func(w *world) {
			w.cw.set("web-5xx", cwtypes.StateValueAlarm, "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).", w.clock.t)
		}, check: func(t *testing.T, got payload.VerifyResult, err error) {
			e := wantError[taskerr.AlarmInAlarm](t, err, `alarms in ALARM after the rollout: "web-5xx" (Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).)`)
			if len(e.Alarms) != 1 {
				t.Errorf("alarms %+v", e.Alarms)
			}
		}},
		{name: "both in ALARM", setup: func(w *world) {
			w.cw.set("web-5xx", cwtypes.StateValueAlarm, "5xx", w.clock.t)
			w.cw.composite["web-latency"] = cwtypes.CompositeAlarm{AlarmName: aws.String("web-latency"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("latency")}
		}, check: func(t *testing.T, got payload.VerifyResult, err error) {
			e := wantError[taskerr.AlarmInAlarm](t, err)
			if !slices.Equal(e.Alarms, []taskerr.Alarm{{Name: "web-5xx", Reason: "5xx"}, {Name: "web-latency", Reason: "latency"}}) {
				t.Errorf("alarms %+v", e.Alarms)
			}
		}},
		{name: "an alarm CloudWatch does not have", setup: func(w *world) { delete(w.cw.composite, "web-latency") }, check: func(t *testing.T, got payload.VerifyResult, err error) {
			e := wantError[taskerr.AlarmNotFound](t, err, `no CloudWatch alarm named "web-latency": check verify.alarms in the catalog`)
			if !slices.Equal(e.Alarms, []string{"web-latency"}) {
				t.Errorf("alarms %q", e.Alarms)
			}
		}},
		{name: "DescribeAlarms fails", setup: func(w *world) { w.cw.describeErr = errors.New("api error Throttling: Rate exceeded") }, check: func(t *testing.T, got payload.VerifyResult, err error) {
			wantError[taskerr.VerifyCallFailed](t, err, "failed to describe alarms web-5xx, web-latency: api error Throttling: Rate exceeded")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(completed)
			tt.setup(w)
			got, err := w.verifier(t).Handle(context.Background(), request("checked"))
			tt.check(t, got, err)
			if len(w.cw.alarmInputs) == 0 {
				t.Fatal("DescribeAlarms was not called")
			}
			in := w.cw.alarmInputs[0]
			if !slices.Equal(in.AlarmNames, []string{"web-5xx", "web-latency"}) || !slices.Equal(in.AlarmTypes, []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}) {
				t.Errorf("DescribeAlarms(%q, %q)", in.AlarmNames, in.AlarmTypes)
			}
			if len(w.cw.historyInputs) != 0 {
				t.Error("the rollout read alarm history")
			}
		})
	}
}

// verified: COMPLETED after the health check's two passes.
func verified(t *testing.T, got payload.VerifyResult, err error) {
	t.Helper()
	if err != nil || got.Status != payload.RolloutCompleted || got.HealthPasses != 2 || got.CompletedAt == "" {
		t.Errorf("got %+v, %v; want COMPLETED", got, err)
	}
}

// The bake of environment "checked" began 10 minutes before the clock's
// start: none of its alarms may be in ALARM, nor have gone into it since.
func TestBake(t *testing.T) {
	var since time.Time // set per test from the clock
	at := func(d time.Duration) time.Time { return since.Add(d) }
	tests := []struct {
		name  string
		env   string
		setup func(w *world)
		check func(t *testing.T, w *world, got payload.VerifyResult, err error)
	}{
		{name: "quiet", env: "checked", setup: func(w *world) {}, check: baked},
		{name: "no alarms in the catalog", env: "production", setup: func(w *world) {}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			baked(t, w, got, err)
			if len(w.cw.alarmInputs) != 0 {
				t.Error("DescribeAlarms called without alarms")
			}
		}},
		{name: "back and forth below ALARM", env: "checked", setup: func(w *world) {
			w.cw.history["web-5xx"] = []cwtypes.AlarmHistoryItem{
				stateUpdate("web-5xx", at(time.Minute), cwtypes.StateValueOk, cwtypes.StateValueInsufficientData, "no data"),
				stateUpdate("web-5xx", at(2*time.Minute), cwtypes.StateValueInsufficientData, cwtypes.StateValueOk, "data"),
			}
		}, check: baked},
		{name: "went into ALARM and back", env: "checked", setup: func(w *world) {
			w.cw.history["web-latency"] = []cwtypes.AlarmHistoryItem{
				stateUpdate("web-latency", at(time.Minute), cwtypes.StateValueOk, cwtypes.StateValueInsufficientData, "no data"),
				stateUpdate("web-latency", at(2*time.Minute), cwtypes.StateValueInsufficientData, cwtypes.StateValueOk, "data"),
				stateUpdate("web-latency", at(3*time.Minute), cwtypes.StateValueOk, cwtypes.StateValueAlarm, "Threshold Crossed: p99 1.8 s"),
				stateUpdate("web-latency", at(5*time.Minute), cwtypes.StateValueAlarm, cwtypes.StateValueOk, "Threshold no longer crossed"),
			}
		}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			e := wantError[taskerr.AlarmDuringBake](t, err, `alarm "web-latency" went into ALARM during the bake at `+at(3*time.Minute).Format(time.RFC3339)+": Threshold Crossed: p99 1.8 s")
			if e.Alarm != "web-latency" || !e.When.Equal(at(3*time.Minute)) || e.Reason != "Threshold Crossed: p99 1.8 s" {
				t.Errorf("error %#v", e)
			}
			if len(w.cw.historyInputs) != 1+3 { // web-5xx: one empty page; web-latency: pages 1 to 3
				t.Errorf("%d DescribeAlarmHistory calls", len(w.cw.historyInputs))
			}
			for _, in := range w.cw.historyInputs {
				// Without both types CloudWatch leaves composite alarms out.
				if !slices.Equal(in.AlarmTypes, []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}) ||
					in.HistoryItemType != cwtypes.HistoryItemTypeStateUpdate || in.ScanBy != cwtypes.ScanByTimestampAscending {
					t.Errorf("DescribeAlarmHistory(%+v)", in)
				}
			}
		}},
		{name: "history unreadable: the summary says", env: "checked", setup: func(w *world) {
			item := stateUpdate("web-5xx", at(time.Minute), cwtypes.StateValueOk, cwtypes.StateValueAlarm, "")
			item.HistoryData = aws.String("not JSON")
			w.cw.history["web-5xx"] = []cwtypes.AlarmHistoryItem{item}
		}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.AlarmDuringBake](t, err, `alarm "web-5xx" went into ALARM during the bake at `+at(time.Minute).Format(time.RFC3339)+": Alarm updated from OK to ALARM")
		}},
		{name: "history unreadable, out of ALARM", env: "checked", setup: func(w *world) {
			item := stateUpdate("web-5xx", at(time.Minute), cwtypes.StateValueAlarm, cwtypes.StateValueOk, "")
			item.HistoryData = nil
			w.cw.history["web-5xx"] = []cwtypes.AlarmHistoryItem{item}
		}, check: baked},
		{name: "in ALARM now", env: "checked", setup: func(w *world) {
			w.cw.set("web-5xx", cwtypes.StateValueAlarm, "Threshold Crossed", at(7*time.Minute))
		}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			e := wantError[taskerr.AlarmDuringBake](t, err, `alarm "web-5xx" went into ALARM during the bake at `+at(7*time.Minute).Format(time.RFC3339)+": Threshold Crossed")
			if !e.When.Equal(at(7 * time.Minute)) {
				t.Errorf("when %v", e.When)
			}
			if len(w.cw.historyInputs) != 0 {
				t.Error("read the history of an alarm in ALARM")
			}
		}},
		{name: "an alarm CloudWatch does not have", env: "alarms-only", setup: func(w *world) { delete(w.cw.metric, "web-5xx") }, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.AlarmNotFound](t, err, `"web-5xx"`)
		}},
		{name: "DescribeAlarms fails", env: "checked", setup: func(w *world) { w.cw.describeErr = errors.New("api error InternalFailure") }, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.VerifyCallFailed](t, err, "failed to describe alarms web-5xx, web-latency: api error InternalFailure")
		}},
		{name: "DescribeAlarmHistory fails", env: "checked", setup: func(w *world) { w.cw.historyErr = errors.New("api error Throttling") }, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.VerifyCallFailed](t, err, `failed to read the history of alarm "web-5xx": api error Throttling`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(completed)
			since = w.clock.t.Add(-10 * time.Minute)
			tt.setup(w)
			req := request(tt.env, func(in *payload.VerifyInput) {
				in.Phase = payload.VerifyBake
				in.StartedAt = since.Add(-5 * time.Minute).Format(time.RFC3339)
				in.Since = since.Format(time.RFC3339)
			})
			got, err := w.verifier(t).Handle(context.Background(), req)
			tt.check(t, w, got, err)
			if w.ecs.described+len(w.http.requests)+len(w.clock.slept) != 0 {
				t.Errorf("the bake waited or checked the rollout")
			}
			for _, in := range w.cw.historyInputs {
				if in.HistoryItemType != cwtypes.HistoryItemTypeStateUpdate || !aws.ToTime(in.StartDate).Equal(since) || in.ScanBy != cwtypes.ScanByTimestampAscending || in.EndDate != nil {
					t.Errorf("DescribeAlarmHistory(%s, %s, from %v, %s)", aws.ToString(in.AlarmName), in.HistoryItemType, aws.ToTime(in.StartDate), in.ScanBy)
				}
			}
			var read []string
			for _, in := range w.cw.historyInputs {
				if n := aws.ToString(in.AlarmName); !slices.Contains(read, n) {
					read = append(read, n)
				}
			}
			if want := map[string][]string{"checked": {"web-5xx", "web-latency"}}[tt.env]; err == nil && !slices.Equal(read, want) {
				t.Errorf("read the history of %q, want %q", read, want)
			}
			if t.Failed() {
				t.Logf("log:\n%s", w.log.String())
			}
		})
	}
}

// baked: COMPLETED, with the StartedAt of the request.
func baked(t *testing.T, w *world, got payload.VerifyResult, err error) {
	t.Helper()
	if err != nil || got.Status != payload.RolloutCompleted || got.TaskDefinition != rev2 || got.CompletedAt != w.clock.t.Format(time.RFC3339) ||
		got.StartedAt != w.clock.t.Add(-15*time.Minute).Format(time.RFC3339) || got.Polls != 0 {
		t.Fatalf("got %+v, %v; want COMPLETED", got, err)
	}
}

// intoAlarm reads what CloudWatch wrote: whatever the history item holds,
// it does not panic, and it says ALARM only when the item's data says so
// (or, unreadable, its summary).
func FuzzIntoAlarm(f *testing.F) {
	for _, item := range []cwtypes.AlarmHistoryItem{
		stateUpdate("a", time.Unix(0, 0), cwtypes.StateValueOk, cwtypes.StateValueAlarm, "Threshold Crossed"),
		stateUpdate("a", time.Unix(0, 0), cwtypes.StateValueAlarm, cwtypes.StateValueOk, "ok"),
	} {
		f.Add(aws.ToString(item.HistoryData), aws.ToString(item.HistorySummary))
	}
	f.Add("not JSON", "Alarm updated from OK to ALARM")
	f.Add(`{"newState":null}`, "")
	f.Fuzz(func(t *testing.T, data, summary string) {
		into, reason := intoAlarm(cwtypes.AlarmHistoryItem{HistoryData: aws.String(data), HistorySummary: aws.String(summary)})
		if into && !strings.Contains(data, "ALARM") && !strings.HasSuffix(summary, " to ALARM") && !strings.Contains(data, `\u`) {
			t.Errorf("intoAlarm(%q, %q) = true, %q", data, summary, reason)
		}
	})
}
