package awsproxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// CloudWatchScript answers DescribeAlarmHistory, which moto does not
// implement (it answers HTTP 500 "The describe_alarm_history action has not
// been implemented"), from the alarm changes it saw pass through the proxy
// (FACTS.md, "The AWS emulator": "CloudWatch alarms are never evaluated (a
// new alarm starts OK); SetAlarmState changes state but fires nothing").
// Install it with Install; it acts on calls signed for Region (all regions
// when empty), in the query protocol the pinned CloudWatch client speaks.
//
// It records, per account (moto's x-moto-account-id header), region and
// alarm name:
//
//   - SetAlarmState that moto accepted and that changes the alarm's state
//     value: a StateUpdate item, HistorySummary "Alarm updated from OK to
//     ALARM", HistoryData as CloudWatch writes it:
//     {"version":"1.0","oldState":{"stateValue":"OK","stateReason":"…"},"newState":{"stateValue":"ALARM","stateReason":"…","stateReasonData":{…}}}.
//     The old state is the previous recorded one; for an alarm the script
//     has not seen, the state learnt from a DescribeAlarms answer through
//     the proxy, else moto's initial state (OK, "Unchecked: Initial alarm
//     creation").
//   - PutMetricAlarm: a ConfigurationUpdate item ('Alarm "NAME" created'
//     or '… updated'; its HistoryData carries only version and type, not the
//     alarm's configuration). moto replaces an existing alarm with a new one
//     in OK, so an update of an alarm that was not OK also records the
//     StateUpdate into OK that DescribeAlarms then shows (CloudWatch would
//     keep the state). moto has no PutCompositeAlarm: every alarm is a
//     MetricAlarm.
//   - DeleteAlarms of an alarm it knows: a ConfigurationUpdate item
//     ('Alarm "NAME" deleted'); the history stays, as in CloudWatch.
//
// DescribeAlarmHistory is answered by the script and never reaches moto:
// AlarmName, AlarmTypes (only metric alarms when absent, as CloudWatch
// documents), HistoryItemType, StartDate and EndDate (both inclusive),
// ScanBy (TimestampDescending by default), MaxRecords (1–100, default 50)
// and NextToken are honoured; an AlarmContributorId matches nothing.
// Every other CloudWatch call goes to moto unchanged.
type CloudWatchScript struct {
	Region string
}

// Initial alarm state and reason in moto (an alarm is never evaluated).
const (
	motoInitialState  = "OK"
	motoInitialReason = "Unchecked: Initial alarm creation"
)

// DescribeAlarmHistory's page sizes.
const (
	historyDefaultRecords = 50
	historyMaxRecords     = 100
)

// cwAlarmState is an alarm's state as HistoryData shows it.
type cwAlarmState struct {
	Value  string          `json:"stateValue"`
	Reason string          `json:"stateReason"`
	Data   json.RawMessage `json:"stateReasonData,omitempty"`
}

// cwKey names one alarm.
type cwKey struct{ account, region, name string }

// cwAlarm is what the script knows of an existing alarm.
type cwAlarm struct {
	alarmType string // MetricAlarm or CompositeAlarm
	state     cwAlarmState
}

// cwItem is one alarm history item.
type cwItem struct {
	seq                          int // order of recording, from 1
	key                          cwKey
	alarmType, itemType, summary string
	data                         string
	at                           time.Time
}

type cwState struct {
	mu     sync.Mutex
	seq    int
	last   time.Time
	alarms map[cwKey]*cwAlarm
	items  []cwItem
}

// Install adds the script's rules to p.
func (s CloudWatchScript) Install(p *Proxy) *Script {
	st := &cwState{alarms: map[cwKey]*cwAlarm{}}
	sc := &Script{}
	query := func(r *Request) bool { return r.Protocol == ProtocolQuery }
	respond := func(action string, f func(*cwState, *Request, *Response) error) {
		sc.add(p, Rule{Service: "monitoring", Region: s.Region, Action: action, When: query, Effect: Respond(func(r *Request, resp *Response) error {
			if resp.Status != http.StatusOK {
				return nil
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			return f(st, r, resp)
		})})
	}
	respond("PutMetricAlarm", func(st *cwState, r *Request, _ *Response) error {
		st.put(r)
		return nil
	})
	respond("SetAlarmState", func(st *cwState, r *Request, _ *Response) error { return st.set(r) })
	respond("DeleteAlarms", func(st *cwState, r *Request, _ *Response) error {
		st.deleted(r)
		return nil
	})
	respond("DescribeAlarms", func(st *cwState, r *Request, resp *Response) error { return st.learn(r, resp) })
	sc.add(p, Rule{Service: "monitoring", Region: s.Region, Action: "DescribeAlarmHistory", When: query, Effect: Answer(func(r *Request) (*Response, error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.history(r)
	})})
	return sc
}

func alarmKey(r *Request, name string) cwKey {
	return cwKey{account: r.Header.Get("X-Moto-Account-Id"), region: r.Region, name: name}
}

// record appends a history item stamped now (never before the previous
// one, so that the order of recording is the order of the timestamps), in
// milliseconds as CloudWatch answers them.
func (st *cwState) record(k cwKey, alarmType, itemType, summary string, data any) {
	b, _ := json.Marshal(data) // plain structs and maps: no error
	at := time.Now().UTC().Truncate(time.Millisecond)
	if at.Before(st.last) {
		at = st.last
	}
	st.last = at
	st.seq++
	st.items = append(st.items, cwItem{seq: st.seq, key: k, alarmType: alarmType, itemType: itemType, summary: summary, data: string(b), at: at})
}

// stateUpdate records a change of k's state value.
func (st *cwState) stateUpdate(k cwKey, alarmType string, from, to cwAlarmState) {
	st.record(k, alarmType, "StateUpdate", "Alarm updated from "+from.Value+" to "+to.Value, struct {
		Version  string       `json:"version"`
		OldState cwAlarmState `json:"oldState"`
		NewState cwAlarmState `json:"newState"`
	}{"1.0", from, to})
}

// configurationUpdate records the creation, update or deletion of k.
func (st *cwState) configurationUpdate(k cwKey, alarmType, change string) {
	st.record(k, alarmType, "ConfigurationUpdate", fmt.Sprintf("Alarm %q %s", k.name, strings.ToLower(change)+"d"),
		struct {
			Version string `json:"version"`
			Type    string `json:"type"`
		}{"1.0", change})
}

// put follows PutMetricAlarm: moto makes a new alarm in its initial state,
// replacing any of the same name.
func (st *cwState) put(r *Request) {
	const alarmType = "MetricAlarm"
	k := alarmKey(r, r.Param("AlarmName"))
	initial := cwAlarmState{Value: motoInitialState, Reason: motoInitialReason}
	old, ok := st.alarms[k]
	if !ok {
		st.configurationUpdate(k, alarmType, "Create")
	} else {
		st.configurationUpdate(k, alarmType, "Update")
		if old.state.Value != initial.Value {
			st.stateUpdate(k, alarmType, old.state, initial)
		}
	}
	st.alarms[k] = &cwAlarm{alarmType: alarmType, state: initial}
}

// set follows SetAlarmState.
func (st *cwState) set(r *Request) error {
	k := alarmKey(r, r.Param("AlarmName"))
	to := cwAlarmState{Value: r.Param("StateValue"), Reason: r.Param("StateReason")}
	if d := r.Param("StateReasonData"); d != "" {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(d)); err != nil {
			return fmt.Errorf("StateReasonData of alarm %q is not JSON: %w", k.name, err)
		}
		to.Data = b.Bytes()
	}
	a, ok := st.alarms[k]
	if !ok {
		a = &cwAlarm{alarmType: "MetricAlarm", state: cwAlarmState{Value: motoInitialState, Reason: motoInitialReason}}
		st.alarms[k] = a
	}
	if a.state.Value != to.Value {
		st.stateUpdate(k, a.alarmType, a.state, to)
	}
	a.state = to
	return nil
}

// deleted follows DeleteAlarms (moto ignores names it does not have).
func (st *cwState) deleted(r *Request) {
	for i := 1; ; i++ {
		name := r.Param("AlarmNames.member." + strconv.Itoa(i))
		if name == "" {
			return
		}
		k := alarmKey(r, name)
		if a, ok := st.alarms[k]; ok {
			st.configurationUpdate(k, a.alarmType, "Delete")
			delete(st.alarms, k)
		}
	}
}

// describeAlarmsXML is the part of a DescribeAlarms answer the script reads.
type describeAlarmsXML struct {
	Metric    []alarmXML `xml:"DescribeAlarmsResult>MetricAlarms>member"`
	Composite []alarmXML `xml:"DescribeAlarmsResult>CompositeAlarms>member"`
}

type alarmXML struct {
	AlarmName, StateValue, StateReason, StateReasonData string
}

// learn takes the type and state of alarms the script has not seen yet
// from a DescribeAlarms answer.
func (st *cwState) learn(r *Request, resp *Response) error {
	var d describeAlarmsXML
	if err := xml.Unmarshal(resp.Body, &d); err != nil {
		return fmt.Errorf("decoding the emulator's DescribeAlarms answer: %w", err)
	}
	add := func(alarms []alarmXML, alarmType string) {
		for _, a := range alarms {
			k := alarmKey(r, a.AlarmName)
			if _, ok := st.alarms[k]; ok || a.AlarmName == "" {
				continue
			}
			state := cwAlarmState{Value: a.StateValue, Reason: a.StateReason}
			var b bytes.Buffer
			if json.Compact(&b, []byte(a.StateReasonData)) == nil && b.String() != "{}" {
				state.Data = b.Bytes()
			}
			st.alarms[k] = &cwAlarm{alarmType: alarmType, state: state}
		}
	}
	add(d.Metric, "MetricAlarm")
	add(d.Composite, "CompositeAlarm")
	return nil
}

// historyQuery is a DescribeAlarmHistory request.
type historyQuery struct {
	name, itemType, contributor string
	types                       []string
	start, end                  *time.Time
	max                         int
	ascending                   bool
	after                       int // NextToken: the seq of the last item answered, 0 for none
}

// validationError is CloudWatch's answer to a parameter out of its model's
// constraints.
func validationError(field, value, constraint string) apiError {
	return apiError{"ValidationError", fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint), http.StatusBadRequest}
}

func parseHistoryQuery(r *Request) (historyQuery, *apiError) {
	q := historyQuery{name: r.Param("AlarmName"), itemType: r.Param("HistoryItemType"), contributor: r.Param("AlarmContributorId"), max: historyDefaultRecords}
	fail := func(e apiError) (historyQuery, *apiError) { return q, &e }
	itemTypes := []string{"ConfigurationUpdate", "StateUpdate", "Action", "AlarmContributorStateUpdate", "AlarmContributorAction"}
	if q.itemType != "" && !slices.Contains(itemTypes, q.itemType) {
		return fail(validationError("historyItemType", q.itemType, "Member must satisfy enum value set: ["+strings.Join(itemTypes, ", ")+"]"))
	}
	for i := 1; ; i++ {
		t := r.Param("AlarmTypes.member." + strconv.Itoa(i))
		if t == "" {
			break
		}
		if t != "MetricAlarm" && t != "CompositeAlarm" {
			return fail(validationError("alarmTypes", t, "Member must satisfy enum value set: [CompositeAlarm, MetricAlarm]"))
		}
		q.types = append(q.types, t)
	}
	if len(q.types) == 0 {
		q.types = []string{"MetricAlarm"}
	}
	for _, d := range []struct {
		param, field string
		into         **time.Time
	}{{"StartDate", "startDate", &q.start}, {"EndDate", "endDate", &q.end}} {
		v := r.Param(d.param)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fail(validationError(d.field, v, "Member must be a timestamp"))
		}
		*d.into = &t
	}
	if v := r.Param("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return fail(validationError("maxRecords", v, "Member must be an integer"))
		case n < 1:
			return fail(validationError("maxRecords", v, "Member must have value greater than or equal to 1"))
		case n > historyMaxRecords:
			return fail(validationError("maxRecords", v, "Member must have value less than or equal to 100"))
		}
		q.max = n
	}
	switch v := r.Param("ScanBy"); v {
	case "", "TimestampDescending":
	case "TimestampAscending":
		q.ascending = true
	default:
		return fail(validationError("scanBy", v, "Member must satisfy enum value set: [TimestampDescending, TimestampAscending]"))
	}
	if v := r.Param("NextToken"); v != "" {
		seq, ok := parseHistoryToken(v)
		if !ok {
			return fail(apiError{"InvalidNextToken", "The next token specified is invalid.", http.StatusBadRequest})
		}
		q.after = seq
	}
	return q, nil
}

const historyTokenPrefix = "awsproxy-alarm-history:"

func historyToken(seq int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(historyTokenPrefix + strconv.Itoa(seq)))
}

func parseHistoryToken(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), historyTokenPrefix))
	return n, err == nil && n > 0 && strings.HasPrefix(string(b), historyTokenPrefix)
}

func (q historyQuery) matches(k cwKey, it cwItem) bool {
	return it.key.account == k.account && it.key.region == k.region &&
		(q.name == "" || it.key.name == q.name) &&
		q.contributor == "" &&
		slices.Contains(q.types, it.alarmType) &&
		(q.itemType == "" || it.itemType == q.itemType) &&
		(q.start == nil || !it.at.Before(*q.start)) &&
		(q.end == nil || !it.at.After(*q.end))
}

// The DescribeAlarmHistory answer, in the query protocol's XML.
type historyResponseXML struct {
	XMLName   xml.Name         `xml:"DescribeAlarmHistoryResponse"`
	Xmlns     string           `xml:"xmlns,attr"`
	Result    historyResultXML `xml:"DescribeAlarmHistoryResult"`
	RequestID string           `xml:"ResponseMetadata>RequestId"`
}

type historyResultXML struct {
	Items struct {
		Members []historyItemXML `xml:"member"`
	} `xml:"AlarmHistoryItems"`
	NextToken string `xml:"NextToken,omitempty"`
}

type historyItemXML struct {
	AlarmName       string
	AlarmType       string
	Timestamp       string
	HistoryItemType string
	HistorySummary  string
	HistoryData     string
}

// history answers DescribeAlarmHistory.
func (st *cwState) history(r *Request) (*Response, error) {
	q, bad := parseHistoryQuery(r)
	if bad != nil {
		return errorResponse(r, *bad), nil
	}
	k := alarmKey(r, "")
	var page []cwItem
	more := false
	for i := range st.items {
		it := st.items[i]
		if !q.ascending {
			it = st.items[len(st.items)-1-i]
		}
		if q.after != 0 && ((q.ascending && it.seq <= q.after) || (!q.ascending && it.seq >= q.after)) {
			continue
		}
		if !q.matches(k, it) {
			continue
		}
		if len(page) == q.max {
			more = true
			break
		}
		page = append(page, it)
	}
	id := uuid.NewString()
	out := historyResponseXML{Xmlns: "http://monitoring.amazonaws.com/doc/2010-08-01/", RequestID: id}
	for _, it := range page {
		out.Result.Items.Members = append(out.Result.Items.Members, historyItemXML{
			AlarmName: it.key.name, AlarmType: it.alarmType, Timestamp: it.at.Format("2006-01-02T15:04:05.000Z"),
			HistoryItemType: it.itemType, HistorySummary: it.summary, HistoryData: it.data,
		})
	}
	if more {
		out.Result.NextToken = historyToken(page[len(page)-1].seq)
	}
	body, err := xml.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding the alarm history: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-RequestId", id)
	return &Response{Status: http.StatusOK, Header: h, Body: append([]byte(xml.Header), body...)}, nil
}
