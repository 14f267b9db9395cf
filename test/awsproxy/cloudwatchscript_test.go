package awsproxy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/test/awsproxy"
)

// alarmWorld makes alarms and sets their states through one client.
type alarmWorld struct {
	t  *testing.T
	cw *cloudwatch.Client
}

func (w alarmWorld) put(name string) {
	w.t.Helper()
	if _, err := w.cw.PutMetricAlarm(w.t.Context(), &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), Namespace: aws.String("AWS/ApplicationELB"),
		MetricName: aws.String("HTTPCode_Target_5XX_Count"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(5), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold}); err != nil {
		w.t.Fatalf("PutMetricAlarm %s: %v", name, err)
	}
}

// set sets the alarm's state; the pause keeps the timestamps of successive
// changes apart (they are in milliseconds).
func (w alarmWorld) set(name string, state cwtypes.StateValue, reason, data string) {
	w.t.Helper()
	in := &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: state, StateReason: aws.String(reason)}
	if data != "" {
		in.StateReasonData = aws.String(data)
	}
	if _, err := w.cw.SetAlarmState(w.t.Context(), in); err != nil {
		w.t.Fatalf("SetAlarmState %s %s: %v", name, state, err)
	}
	time.Sleep(3 * time.Millisecond)
}

func (w alarmWorld) history(in cloudwatch.DescribeAlarmHistoryInput) []cwtypes.AlarmHistoryItem {
	w.t.Helper()
	out, err := w.cw.DescribeAlarmHistory(w.t.Context(), &in)
	if err != nil {
		w.t.Fatalf("DescribeAlarmHistory: %v", err)
	}
	return out.AlarmHistoryItems
}

// summaries is "name: summary" of each item, in order.
func summaries(items []cwtypes.AlarmHistoryItem) []string {
	var s []string
	for _, it := range items {
		s = append(s, aws.ToString(it.AlarmName)+": "+aws.ToString(it.HistorySummary))
	}
	return s
}

func wantSummaries(t *testing.T, what string, items []cwtypes.AlarmHistoryItem, want ...string) {
	t.Helper()
	if got := summaries(items); !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// historyData is a StateUpdate's HistoryData, as CloudWatch writes it.
type historyData struct {
	Version  string                     `json:"version"`
	OldState map[string]json.RawMessage `json:"oldState"`
	NewState map[string]json.RawMessage `json:"newState"`
}

func TestCloudWatchAlarmHistory(t *testing.T) {
	p, cfg := setup(t, 1)
	sc := awsproxy.CloudWatchScript{}.Install(p)
	ctx := t.Context()
	west := cfg.Copy()
	west.Region = "us-west-2"
	w, wWest := alarmWorld{t, cloudwatch.NewFromConfig(cfg)}, alarmWorld{t, cloudwatch.NewFromConfig(west)}
	a, b := name("web-5xx"), name("api-5xx")

	before := time.Now().Add(-time.Millisecond)
	w.put(a)
	w.put(b)
	wWest.put(a) // the same name in another region
	reasonData := `{"version":"1.0","queryDate":"2026-01-01T00:00:00.000+0000","statistic":"Sum","period":60,"recentDatapoints":[9.0],"threshold":5.0}`
	w.set(a, cwtypes.StateValueAlarm, "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0).", reasonData)
	w.set(b, cwtypes.StateValueAlarm, "b crossed", "")
	w.set(a, cwtypes.StateValueOk, "Threshold no longer crossed", "")
	w.set(a, cwtypes.StateValueOk, "still OK", "") // no change of state: no item
	wWest.set(a, cwtypes.StateValueInsufficientData, "west", "")
	after := time.Now().Add(time.Millisecond)

	states := w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), HistoryItemType: cwtypes.HistoryItemTypeStateUpdate})
	wantSummaries(t, "state updates of "+a+", newest first", states, a+": Alarm updated from ALARM to OK", a+": Alarm updated from OK to ALARM")
	if len(states) != 2 {
		t.FailNow()
	}
	for _, it := range states {
		ts := aws.ToTime(it.Timestamp)
		if it.AlarmType != cwtypes.AlarmTypeMetricAlarm || it.HistoryItemType != cwtypes.HistoryItemTypeStateUpdate || ts.Before(before) || ts.After(after) {
			t.Errorf("item %s: type %s, item type %s, timestamp %v not in [%v, %v]", aws.ToString(it.HistorySummary), it.AlarmType, it.HistoryItemType, ts, before, after)
		}
	}
	if !aws.ToTime(states[0].Timestamp).After(aws.ToTime(states[1].Timestamp)) {
		t.Errorf("timestamps %v, %v: want the newest first", states[0].Timestamp, states[1].Timestamp)
	}
	var into historyData
	if err := json.Unmarshal([]byte(aws.ToString(states[1].HistoryData)), &into); err != nil {
		t.Fatalf("HistoryData %s: %v", aws.ToString(states[1].HistoryData), err)
	}
	wantData := fmt.Sprintf(`{"version":"1.0","oldState":{"stateValue":"OK","stateReason":"Unchecked: Initial alarm creation"},`+
		`"newState":{"stateValue":"ALARM","stateReason":"Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0).","stateReasonData":%s}}`, reasonData)
	if got := aws.ToString(states[1].HistoryData); got != wantData {
		t.Errorf("HistoryData into ALARM:\n got %s\nwant %s", got, wantData)
	}
	if got, want := aws.ToString(states[0].HistoryData), `{"version":"1.0","oldState":{"stateValue":"ALARM","stateReason":"Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0).","stateReasonData":`+reasonData+`},"newState":{"stateValue":"OK","stateReason":"Threshold no longer crossed"}}`; got != want {
		t.Errorf("HistoryData back to OK:\n got %s\nwant %s", got, want)
	}

	t.Run("filters", func(t *testing.T) {
		all := w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a)})
		wantSummaries(t, "every item of "+a, all, a+": Alarm updated from ALARM to OK", a+": Alarm updated from OK to ALARM", a+`: Alarm "`+a+`" created`)
		wantSummaries(t, "configuration updates", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), HistoryItemType: cwtypes.HistoryItemTypeConfigurationUpdate}),
			a+`: Alarm "`+a+`" created`)
		wantSummaries(t, "actions", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), HistoryItemType: cwtypes.HistoryItemTypeAction}))
		wantSummaries(t, "oldest first", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), HistoryItemType: cwtypes.HistoryItemTypeStateUpdate, ScanBy: cwtypes.ScanByTimestampAscending}),
			a+": Alarm updated from OK to ALARM", a+": Alarm updated from ALARM to OK")
		intoAlarm, backToOK := aws.ToTime(states[1].Timestamp), aws.ToTime(states[0].Timestamp)
		wantSummaries(t, "from the change back to OK (StartDate inclusive)", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), StartDate: aws.Time(backToOK)}),
			a+": Alarm updated from ALARM to OK")
		wantSummaries(t, "up to the change into ALARM (EndDate inclusive)", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), EndDate: aws.Time(intoAlarm)}),
			a+": Alarm updated from OK to ALARM", a+`: Alarm "`+a+`" created`)
		wantSummaries(t, "between", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), StartDate: aws.Time(intoAlarm), EndDate: aws.Time(backToOK.Add(-time.Millisecond))}),
			a+": Alarm updated from OK to ALARM")
		wantSummaries(t, "after", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), StartDate: aws.Time(after)}))
		wantSummaries(t, "composite alarms only", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeCompositeAlarm}}))
		wantSummaries(t, "an alarm contributor", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), AlarmContributorId: aws.String("c1")}))
		wantSummaries(t, "an alarm without history", w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(name("none"))}))
	})

	t.Run("other alarms and regions apart", func(t *testing.T) {
		wantSummaries(t, "every alarm of us-east-1", w.history(cloudwatch.DescribeAlarmHistoryInput{HistoryItemType: cwtypes.HistoryItemTypeStateUpdate}),
			a+": Alarm updated from ALARM to OK", b+": Alarm updated from OK to ALARM", a+": Alarm updated from OK to ALARM")
		wantSummaries(t, b, w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(b), HistoryItemType: cwtypes.HistoryItemTypeStateUpdate}),
			b+": Alarm updated from OK to ALARM")
		wantSummaries(t, a+" in us-west-2", wWest.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a)}),
			a+": Alarm updated from OK to INSUFFICIENT_DATA", a+`: Alarm "`+a+`" created`)
	})

	t.Run("paginator", func(t *testing.T) {
		all := w.history(cloudwatch.DescribeAlarmHistoryInput{})
		if len(all) != 5 {
			t.Fatalf("%d items in us-east-1, want 5: %q", len(all), summaries(all))
		}
		for _, scan := range []cwtypes.ScanBy{cwtypes.ScanByTimestampDescending, cwtypes.ScanByTimestampAscending} {
			pg := cloudwatch.NewDescribeAlarmHistoryPaginator(w.cw, &cloudwatch.DescribeAlarmHistoryInput{MaxRecords: aws.Int32(2), ScanBy: scan})
			var got []cwtypes.AlarmHistoryItem
			pages := 0
			for pg.HasMorePages() {
				page, err := pg.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page.AlarmHistoryItems) > 2 || (page.NextToken == nil) != (pages == 3) {
					t.Errorf("%s page %d: %d items, next token %v", scan, pages, len(page.AlarmHistoryItems), page.NextToken)
				}
				got = append(got, page.AlarmHistoryItems...)
			}
			want := summaries(all)
			if scan == cwtypes.ScanByTimestampAscending {
				for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
					want[i], want[j] = want[j], want[i]
				}
			}
			if pages != 3 || !reflect.DeepEqual(summaries(got), want) {
				t.Errorf("%s: %d pages of %q, want 3 pages of %q", scan, pages, summaries(got), want)
			}
		}
		// Items recorded between two pages come in only at the head of a
		// newest-first scan: the next page goes on where the last ended.
		first, err := w.cw.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(b), MaxRecords: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		w.set(b, cwtypes.StateValueOk, "b recovered", "")
		next, err := w.cw.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(b), MaxRecords: aws.Int32(1), NextToken: first.NextToken})
		if err != nil {
			t.Fatal(err)
		}
		wantSummaries(t, "the page after a change", append(first.AlarmHistoryItems, next.AlarmHistoryItems...), b+": Alarm updated from OK to ALARM", b+`: Alarm "`+b+`" created`)
	})

	t.Run("invalid parameters", func(t *testing.T) {
		for _, c := range []struct {
			in   cloudwatch.DescribeAlarmHistoryInput
			code string
		}{
			{cloudwatch.DescribeAlarmHistoryInput{MaxRecords: aws.Int32(101)}, "ValidationError"},
			{cloudwatch.DescribeAlarmHistoryInput{MaxRecords: aws.Int32(0)}, "ValidationError"},
			{cloudwatch.DescribeAlarmHistoryInput{ScanBy: "Sideways"}, "ValidationError"},
			{cloudwatch.DescribeAlarmHistoryInput{HistoryItemType: "Everything"}, "ValidationError"},
			{cloudwatch.DescribeAlarmHistoryInput{NextToken: aws.String("not-a-token")}, "InvalidNextToken"},
		} {
			_, err := w.cw.DescribeAlarmHistory(ctx, &c.in)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != c.code {
				t.Errorf("%+v: %v, want %s", c.in, err, c.code)
			}
		}
	})

	t.Run("faults win over the script's answer", func(t *testing.T) {
		h := p.Add(awsproxy.Rule{Service: "monitoring", Action: "DescribeAlarmHistory", Calls: awsproxy.FromCall(1), Effect: awsproxy.Throttle()})
		defer h.Remove()
		_, err := w.cw.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a)})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "Throttling" || h.Fired() != 1 {
			t.Errorf("throttled DescribeAlarmHistory: %v (rule fired %d times)", err, h.Fired())
		}
	})

	t.Run("other calls reach moto", func(t *testing.T) {
		out, err := w.cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{a, b}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]cwtypes.StateValue{}
		for _, m := range out.MetricAlarms {
			got[aws.ToString(m.AlarmName)] = m.StateValue
		}
		if want := map[string]cwtypes.StateValue{a: cwtypes.StateValueOk, b: cwtypes.StateValueOk}; !reflect.DeepEqual(got, want) {
			t.Errorf("DescribeAlarms: %v, want %v", got, want)
		}
		if n := p.Count("monitoring", "DescribeAlarms"); n != 1 {
			t.Errorf("%d DescribeAlarms calls", n)
		}
	})

	t.Run("removed: moto answers again", func(t *testing.T) {
		sc.Remove()
		_, err := w.cw.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a)})
		if err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
			t.Errorf("DescribeAlarmHistory without the script: %v, want moto's HTTP 500", err)
		}
	})
}

// An alarm the script has not seen takes its old state from DescribeAlarms;
// moto's PutMetricAlarm of an existing alarm resets it to OK, and the
// history says so; a deleted alarm's history stays.
func TestCloudWatchAlarmLifecycle(t *testing.T) {
	p, cfg := setup(t, 1)
	w := alarmWorld{t, cloudwatch.NewFromConfig(cfg)}
	a := name("db-cpu")
	w.put(a)
	w.set(a, cwtypes.StateValueAlarm, "set before the script", "")
	awsproxy.CloudWatchScript{Region: cfg.Region}.Install(p)
	if _, err := w.cw.DescribeAlarms(t.Context(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{a}}); err != nil {
		t.Fatal(err)
	}
	w.set(a, cwtypes.StateValueInsufficientData, "no data", "")
	w.set(a, cwtypes.StateValueAlarm, "again", "")
	w.put(a)
	out, err := w.cw.DescribeAlarms(t.Context(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{a}})
	if err != nil || len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateValue != cwtypes.StateValueOk {
		t.Fatalf("DescribeAlarms after PutMetricAlarm: %+v, %v (moto resets the state to OK)", out, err)
	}
	if _, err := w.cw.DeleteAlarms(t.Context(), &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{a, name("unknown")}}); err != nil {
		t.Fatal(err)
	}
	items := w.history(cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(a), ScanBy: cwtypes.ScanByTimestampAscending})
	wantSummaries(t, "history", items,
		a+": Alarm updated from ALARM to INSUFFICIENT_DATA",
		a+": Alarm updated from INSUFFICIENT_DATA to ALARM",
		a+`: Alarm "`+a+`" updated`,
		a+": Alarm updated from ALARM to OK",
		a+`: Alarm "`+a+`" deleted`)
	if len(items) == 5 {
		if got, want := aws.ToString(items[0].HistoryData), `{"version":"1.0","oldState":{"stateValue":"ALARM","stateReason":"set before the script"},"newState":{"stateValue":"INSUFFICIENT_DATA","stateReason":"no data"}}`; got != want {
			t.Errorf("HistoryData:\n got %s\nwant %s", got, want)
		}
		if got, want := aws.ToString(items[3].HistoryData), `{"version":"1.0","oldState":{"stateValue":"ALARM","stateReason":"again"},"newState":{"stateValue":"OK","stateReason":"Unchecked: Initial alarm creation"}}`; got != want {
			t.Errorf("HistoryData of the reset:\n got %s\nwant %s", got, want)
		}
	}
	// Another region is not the script's.
	west := cfg.Copy()
	west.Region = "us-west-2"
	_, err = cloudwatch.NewFromConfig(west).DescribeAlarmHistory(t.Context(), &cloudwatch.DescribeAlarmHistoryInput{})
	if err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
		t.Errorf("DescribeAlarmHistory in us-west-2: %v, want moto's HTTP 500", err)
	}
}
