package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stepship/stepship/shared/taskerr"
)

// alarmState is what DescribeAlarms says of one alarm.
type alarmState struct {
	value   cwtypes.StateValue
	reason  string
	updated time.Time
}

// describeAlarms returns the state of each named alarm, metric or
// composite; AlarmNotFound names those CloudWatch does not have.
func (v *Verifier) describeAlarms(ctx context.Context, names []string) (map[string]alarmState, error) {
	states := make(map[string]alarmState, len(names))
	p := cloudwatch.NewDescribeAlarmsPaginator(v.cw, &cloudwatch.DescribeAlarmsInput{AlarmNames: names,
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, &taskerr.VerifyCallFailed{Reason: fmt.Sprintf("failed to describe alarms %s: %v", strings.Join(names, ", "), err)}
		}
		for _, a := range page.MetricAlarms {
			states[aws.ToString(a.AlarmName)] = alarmState{a.StateValue, aws.ToString(a.StateReason), aws.ToTime(a.StateUpdatedTimestamp)}
		}
		for _, a := range page.CompositeAlarms {
			states[aws.ToString(a.AlarmName)] = alarmState{a.StateValue, aws.ToString(a.StateReason), aws.ToTime(a.StateUpdatedTimestamp)}
		}
	}
	var missing []string
	for _, n := range names {
		if _, ok := states[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, &taskerr.AlarmNotFound{Alarms: missing}
	}
	return states, nil
}

// alarmsOK checks, after the rollout, that none of the alarms is in ALARM
// (AlarmInAlarm names every one that is).
func (v *Verifier) alarmsOK(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	states, err := v.describeAlarms(ctx, names)
	if err != nil {
		return err
	}
	var firing []taskerr.Alarm
	for _, n := range names {
		if s := states[n]; s.value == cwtypes.StateValueAlarm {
			firing = append(firing, taskerr.Alarm{Name: n, Reason: s.reason})
		}
	}
	if len(firing) > 0 {
		return &taskerr.AlarmInAlarm{Alarms: firing}
	}
	return nil
}

// bakeOK checks, at the end of the bake, that none of the alarms is in
// ALARM and that none went into ALARM since the bake began
// (AlarmDuringBake names the first one).
func (v *Verifier) bakeOK(ctx context.Context, names []string, since time.Time) error {
	if len(names) == 0 {
		return nil
	}
	states, err := v.describeAlarms(ctx, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		if s := states[n]; s.value == cwtypes.StateValueAlarm {
			return &taskerr.AlarmDuringBake{Alarm: n, When: s.updated, Reason: s.reason}
		}
	}
	for _, n := range names {
		if err := v.wentIntoAlarm(ctx, n, since); err != nil {
			return err
		}
	}
	return nil
}

// historyData is the part of a StateUpdate history item's HistoryData
// (JSON) that says which state the alarm went into.
type historyData struct {
	NewState struct {
		StateValue  cwtypes.StateValue `json:"stateValue"`
		StateReason string             `json:"stateReason"`
	} `json:"newState"`
}

// wentIntoAlarm reads the alarm's state updates since the bake began,
// oldest first, and returns AlarmDuringBake for the first one into ALARM.
func (v *Verifier) wentIntoAlarm(ctx context.Context, name string, since time.Time) error {
	// Without AlarmTypes, CloudWatch returns metric alarms' history only.
	p := cloudwatch.NewDescribeAlarmHistoryPaginator(v.cw, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(name),
		AlarmTypes:      []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
		HistoryItemType: cwtypes.HistoryItemTypeStateUpdate, StartDate: aws.Time(since), ScanBy: cwtypes.ScanByTimestampAscending})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return &taskerr.VerifyCallFailed{Reason: fmt.Sprintf("failed to read the history of alarm %q: %v", name, err)}
		}
		for _, item := range page.AlarmHistoryItems {
			if into, reason := intoAlarm(item); into {
				return &taskerr.AlarmDuringBake{Alarm: name, When: aws.ToTime(item.Timestamp), Reason: reason}
			}
		}
	}
	return nil
}

// intoAlarm says whether a state update went into ALARM, and why: from its
// HistoryData, or, when that cannot be read, from its summary ("Alarm
// updated from OK to ALARM").
func intoAlarm(item cwtypes.AlarmHistoryItem) (bool, string) {
	var d historyData
	if err := json.Unmarshal([]byte(aws.ToString(item.HistoryData)), &d); err != nil {
		summary := aws.ToString(item.HistorySummary)
		return strings.HasSuffix(summary, " to ALARM"), summary
	}
	return d.NewState.StateValue == cwtypes.StateValueAlarm, d.NewState.StateReason
}
