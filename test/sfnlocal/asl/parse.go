package asl

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// StateMachine is a parsed, validated definition. It is immutable and may be run
// by any number of executions at once.
type StateMachine struct {
	// Comment is the definition's top-level Comment.
	Comment string
	// StartAt is the name of the first state.
	StartAt string
	// TimeoutSeconds is the execution timeout (0: none).
	TimeoutSeconds int64

	root       *machine
	definition json.RawMessage
}

// Definition returns the definition as it was parsed.
func (sm *StateMachine) Definition() json.RawMessage { return sm.definition }

// StateNames returns the names of the top-level states, sorted.
func (sm *StateMachine) StateNames() []string {
	names := make([]string, 0, len(sm.root.states))
	for n := range sm.root.states {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// machine is one scope of states: the top level, a Parallel branch or a Map's
// ItemProcessor.
type machine struct {
	startAt string
	states  map[string]*state
}

// state is a compiled state.
type state struct {
	name string
	typ  string
	next string
	end  bool

	inputPath, outputPath *path // nil: "$"
	inputNull, outputNull bool  // "null": {}
	resultPath            *path // nil: "$"
	resultDiscard         bool  // ResultPath null
	parameters            *template
	resultSelector        *template
	retry                 []*retrier
	catch                 []*catcher

	// Pass
	result    any
	hasResult bool

	// Task
	resource      string
	timeout       int64 // seconds, 0: none
	timeoutPath   *path
	heartbeat     int64
	heartbeatPath *path
	waitForToken  bool
	directLambda  bool // Resource is a Lambda function ARN: LambdaFunction… events

	// Choice
	choices []*choiceRule
	def     string

	// Wait
	seconds       int64
	hasSeconds    bool
	timestamp     time.Time
	hasTimestamp  bool
	secondsPath   *path
	timestampPath *path

	// Parallel
	branches []*machine

	// Map
	itemsPath          *path
	itemSelector       *template
	maxConcurrency     int64
	maxConcurrencyPath *path
	iterator           *machine

	// Fail
	errorName, cause string
	errorPath        *path
	errorCall        *compiledCall
	causePath        *path
	causeCall        *compiledCall
}

// allowed lists each state type's fields (besides Type and Comment).
var allowed = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "Parameters", "Result", "ResultPath"},
	"Task":     {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials"},
	"Choice":   {"InputPath", "OutputPath", "Choices", "Default"},
	"Wait":     {"Next", "End", "InputPath", "OutputPath", "Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
	"Succeed":  {"InputPath", "OutputPath"},
	"Fail":     {"Error", "Cause", "ErrorPath", "CausePath"},
	"Parallel": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Branches"},
	"Map":      {"Next", "End", "InputPath", "OutputPath", "Parameters", "ItemSelector", "ResultSelector", "ResultPath", "Retry", "Catch", "ItemsPath", "MaxConcurrency", "MaxConcurrencyPath", "Iterator", "ItemProcessor"},
}

// unsupported names fields of the States Language this runner does not implement.
var unsupported = map[string]string{
	"Assign":                         "variables are not supported",
	"Arguments":                      "JSONata is not supported",
	"Output":                         "JSONata is not supported",
	"Items":                          "JSONata is not supported",
	"QueryLanguage":                  "JSONata is not supported",
	"ItemReader":                     "distributed Map (ItemReader) is not supported",
	"ItemBatcher":                    "distributed Map (ItemBatcher) is not supported",
	"ResultWriter":                   "distributed Map (ResultWriter) is not supported",
	"ToleratedFailureCount":          "distributed Map (ToleratedFailureCount) is not supported",
	"ToleratedFailurePercentage":     "distributed Map (ToleratedFailurePercentage) is not supported",
	"ToleratedFailureCountPath":      "distributed Map (ToleratedFailureCountPath) is not supported",
	"ToleratedFailurePercentagePath": "distributed Map (ToleratedFailurePercentagePath) is not supported",
	"Label":                          "distributed Map (Label) is not supported",
}

// Parse validates and compiles a definition. Every problem is reported as a
// *DefinitionError naming the state and the field.
func Parse(definition []byte) (*StateMachine, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(definition, &top); err != nil || top == nil {
		return nil, &DefinitionError{Message: "the definition must be a JSON object"}
	}
	sm := &StateMachine{definition: append(json.RawMessage(nil), definition...)}
	for k, v := range top {
		switch k {
		case "StartAt", "States":
		case "Comment":
			if err := json.Unmarshal(v, &sm.Comment); err != nil {
				return nil, &DefinitionError{Field: "Comment", Message: "must be a string"}
			}
		case "Version":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, &DefinitionError{Field: "Version", Message: "must be a string"}
			}
		case "TimeoutSeconds":
			n, err := positiveInt(v, "TimeoutSeconds", 1, 99999999)
			if err != nil {
				return nil, err
			}
			sm.TimeoutSeconds = n
		case "QueryLanguage":
			var s string
			if err := json.Unmarshal(v, &s); err != nil || s != "JSONPath" {
				return nil, &DefinitionError{Field: "QueryLanguage", Message: `only "JSONPath" is supported`}
			}
		default:
			return nil, &DefinitionError{Field: k, Message: "unknown top-level field"}
		}
	}
	root, err := parseMachine(top, "", "")
	if err != nil {
		return nil, err
	}
	sm.root = root
	sm.StartAt = root.startAt
	return sm, nil
}

// parseMachine compiles one scope (the top level, a branch, an ItemProcessor).
// owner and prefix locate it for error messages.
func parseMachine(m map[string]json.RawMessage, owner, prefix string) (*machine, error) {
	mc := &machine{states: map[string]*state{}}
	where := func(field, msg string) error {
		return &DefinitionError{State: owner, Field: prefix + field, Message: msg}
	}
	raw, ok := m["StartAt"]
	if !ok {
		return nil, where("StartAt", "is required")
	}
	if err := json.Unmarshal(raw, &mc.startAt); err != nil || mc.startAt == "" {
		return nil, where("StartAt", "must be a non-empty string")
	}
	var states map[string]json.RawMessage
	raw, ok = m["States"]
	if !ok {
		return nil, where("States", "is required")
	}
	if err := json.Unmarshal(raw, &states); err != nil || len(states) == 0 {
		return nil, where("States", "must be a non-empty object")
	}
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st, err := parseState(n, states[n])
		if err != nil {
			var de *DefinitionError
			if errors.As(err, &de) && de.State == "" {
				de.State = n
			}
			return nil, err
		}
		mc.states[n] = st
	}
	if _, ok := mc.states[mc.startAt]; !ok {
		return nil, where("StartAt", fmt.Sprintf("names state %q, which does not exist", mc.startAt))
	}
	// Transitions stay within the scope, and every state is reachable.
	for _, n := range names {
		st := mc.states[n]
		check := func(target, field string) error {
			if _, ok := mc.states[target]; !ok {
				return &DefinitionError{State: n, Field: field, Message: fmt.Sprintf("names state %q, which does not exist in this scope", target)}
			}
			return nil
		}
		if st.next != "" {
			if err := check(st.next, "Next"); err != nil {
				return nil, err
			}
		}
		if st.def != "" {
			if err := check(st.def, "Default"); err != nil {
				return nil, err
			}
		}
		for i, c := range st.choices {
			if err := check(c.next, fmt.Sprintf("Choices[%d].Next", i)); err != nil {
				return nil, err
			}
		}
		for i, c := range st.catch {
			if err := check(c.next, fmt.Sprintf("Catch[%d].Next", i)); err != nil {
				return nil, err
			}
		}
	}
	seen := map[string]bool{}
	queue := []string{mc.startAt}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		st := mc.states[n]
		queue = append(queue, st.next, st.def)
		for _, c := range st.choices {
			queue = append(queue, c.next)
		}
		for _, c := range st.catch {
			queue = append(queue, c.next)
		}
	}
	for _, n := range names {
		if !seen[n] {
			return nil, &DefinitionError{State: n, Message: "the state is not reachable from StartAt"}
		}
	}
	return mc, nil
}

// fields is a state's raw fields.
type fields map[string]json.RawMessage

func (f fields) has(k string) bool { _, ok := f[k]; return ok }

func (f fields) isNull(k string) bool { return strings.TrimSpace(string(f[k])) == "null" }

func (f fields) str(k string) (string, error) {
	var s string
	if err := json.Unmarshal(f[k], &s); err != nil {
		return "", defErr(k, "must be a string")
	}
	return s, nil
}

func parseState(name string, raw json.RawMessage) (*state, error) {
	if utf8.RuneCountInString(name) > 80 {
		return nil, &DefinitionError{State: name, Message: "state names must be at most 80 characters"}
	}
	var f fields
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		return nil, &DefinitionError{State: name, Message: "a state must be a JSON object"}
	}
	st := &state{name: name}
	if !f.has("Type") {
		return nil, defErr("Type", "is required")
	}
	typ, err := f.str("Type")
	if err != nil {
		return nil, err
	}
	st.typ = typ
	fieldList, ok := allowed[typ]
	if !ok {
		return nil, defErr("Type", fmt.Sprintf("unknown state type %q", typ))
	}
	for k := range f {
		if k == "Type" || k == "Comment" {
			continue
		}
		if msg, ok := unsupported[k]; ok {
			return nil, defErr(k, msg)
		}
		known := false
		for _, a := range fieldList {
			if a == k {
				known = true
				break
			}
		}
		if !known {
			return nil, defErr(k, fmt.Sprintf("is not a field of a %s state", typ))
		}
	}

	// Transitions.
	switch typ {
	case "Choice", "Succeed", "Fail":
	default:
		if f.has("Next") {
			if st.next, err = f.str("Next"); err != nil || st.next == "" {
				return nil, defErr("Next", "must be a non-empty string")
			}
		}
		if f.has("End") {
			if err := json.Unmarshal(f["End"], &st.end); err != nil {
				return nil, defErr("End", "must be a boolean")
			}
			if !st.end {
				// "End": false is the same as no End.
				delete(f, "End")
			}
		}
		switch {
		case st.next != "" && st.end:
			return nil, defErr("End", "a state cannot have both Next and End")
		case st.next == "" && !st.end:
			return nil, defErr("Next", "a "+typ+" state needs Next or \"End\": true")
		}
	}

	// Paths.
	if f.has("InputPath") {
		if st.inputNull = f.isNull("InputPath"); !st.inputNull {
			if st.inputPath, err = pathField(f, "InputPath", false); err != nil {
				return nil, err
			}
		}
	}
	if f.has("OutputPath") {
		if st.outputNull = f.isNull("OutputPath"); !st.outputNull {
			if st.outputPath, err = pathField(f, "OutputPath", false); err != nil {
				return nil, err
			}
		}
	}
	if f.has("ResultPath") {
		if st.resultPath, st.resultDiscard, err = compileResultPath(f["ResultPath"], "ResultPath"); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"Parameters", "ResultSelector", "ItemSelector"} {
		if !f.has(k) {
			continue
		}
		v, err := decodeJSON(f[k])
		if err != nil {
			return nil, defErr(k, err.Error())
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, defErr(k, "must be a JSON object")
		}
		t, err := compileTemplate(v, k)
		if err != nil {
			return nil, defErr(k, err.Error())
		}
		switch k {
		case "Parameters":
			st.parameters = t
		case "ResultSelector":
			st.resultSelector = t
		case "ItemSelector":
			st.itemSelector = t
		}
	}
	if f.has("Retry") {
		if st.retry, err = compileRetry(f["Retry"], "Retry"); err != nil {
			return nil, err
		}
	}
	if f.has("Catch") {
		if st.catch, err = compileCatch(f["Catch"], "Catch"); err != nil {
			return nil, err
		}
	}

	switch typ {
	case "Pass":
		if f.has("Result") {
			if st.result, err = decodeJSON(f["Result"]); err != nil {
				return nil, defErr("Result", err.Error())
			}
			st.hasResult = true
		}
	case "Task":
		err = parseTask(st, f)
	case "Choice":
		err = parseChoice(st, f)
	case "Wait":
		err = parseWait(st, f)
	case "Parallel":
		err = parseParallel(st, f)
	case "Map":
		err = parseMap(st, f)
	case "Fail":
		err = parseFail(st, f)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// optionalRefPath compiles the reference path in field k; nil when f has no k.
func optionalRefPath(f fields, k string) (*path, error) {
	if !f.has(k) {
		return nil, nil
	}
	return pathField(f, k, true)
}

func pathField(f fields, k string, ref bool) (*path, error) {
	s, err := f.str(k)
	if err != nil {
		return nil, err
	}
	var p *path
	if ref {
		p, err = compileRefPath(s)
	} else {
		p, err = compilePath(s)
	}
	if err != nil {
		return nil, defErr(k, err.Error())
	}
	return p, nil
}

// compileResultPath compiles a ResultPath: a reference path over the state input,
// or null to discard the result.
func compileResultPath(raw json.RawMessage, field string) (*path, bool, error) {
	if strings.TrimSpace(string(raw)) == "null" {
		return nil, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false, defErr(field, "must be a reference path string or null")
	}
	p, err := compileRefPath(s)
	if err != nil {
		return nil, false, defErr(field, err.Error())
	}
	if p.context {
		return nil, false, defErr(field, "must refer to the state input ($), not the context object ($$)")
	}
	return p, false, nil
}

func parseTask(st *state, f fields) error {
	var err error
	if !f.has("Resource") {
		return defErr("Resource", "is required")
	}
	if st.resource, err = f.str("Resource"); err != nil || st.resource == "" {
		return defErr("Resource", "must be a non-empty string")
	}
	st.waitForToken = strings.HasSuffix(st.resource, ".waitForTaskToken")
	st.directLambda = isLambdaFunctionARN(st.resource)
	if f.has("TimeoutSeconds") && f.has("TimeoutSecondsPath") {
		return defErr("TimeoutSecondsPath", "cannot be used together with TimeoutSeconds")
	}
	if f.has("HeartbeatSeconds") && f.has("HeartbeatSecondsPath") {
		return defErr("HeartbeatSecondsPath", "cannot be used together with HeartbeatSeconds")
	}
	if f.has("TimeoutSeconds") {
		if st.timeout, err = positiveInt(f["TimeoutSeconds"], "TimeoutSeconds", 1, 99999999); err != nil {
			return err
		}
	}
	if f.has("HeartbeatSeconds") {
		if st.heartbeat, err = positiveInt(f["HeartbeatSeconds"], "HeartbeatSeconds", 1, 99999999); err != nil {
			return err
		}
	}
	if st.timeout > 0 && st.heartbeat > 0 && st.heartbeat >= st.timeout {
		return defErr("HeartbeatSeconds", "must be smaller than TimeoutSeconds")
	}
	if st.timeoutPath, err = optionalRefPath(f, "TimeoutSecondsPath"); err != nil {
		return err
	}
	if st.heartbeatPath, err = optionalRefPath(f, "HeartbeatSecondsPath"); err != nil {
		return err
	}
	return nil
}

func parseChoice(st *state, f fields) error {
	var list []json.RawMessage
	if err := json.Unmarshal(f["Choices"], &list); err != nil || len(list) == 0 {
		return defErr("Choices", "must be a non-empty array of rules")
	}
	for i, raw := range list {
		r, err := compileChoice(raw, fmt.Sprintf("Choices[%d]", i), true)
		if err != nil {
			return err
		}
		st.choices = append(st.choices, r)
	}
	if f.has("Default") {
		var err error
		if st.def, err = f.str("Default"); err != nil || st.def == "" {
			return defErr("Default", "must be a non-empty string")
		}
	}
	return nil
}

func parseWait(st *state, f fields) error {
	n := 0
	for _, k := range []string{"Seconds", "Timestamp", "SecondsPath", "TimestampPath"} {
		if f.has(k) {
			n++
		}
	}
	if n != 1 {
		return defErr("Seconds", "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath or TimestampPath")
	}
	var err error
	switch {
	case f.has("Seconds"):
		st.seconds, err = positiveInt(f["Seconds"], "Seconds", 0, 99999999)
		st.hasSeconds = true
	case f.has("Timestamp"):
		s, e := f.str("Timestamp")
		t, ok := parseTimestamp(s)
		if e != nil || !ok {
			return defErr("Timestamp", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
		}
		st.timestamp, st.hasTimestamp = t, true
	case f.has("SecondsPath"):
		st.secondsPath, err = pathField(f, "SecondsPath", true)
	case f.has("TimestampPath"):
		st.timestampPath, err = pathField(f, "TimestampPath", true)
	}
	return err
}

func parseParallel(st *state, f fields) error {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(f["Branches"], &list); err != nil || len(list) == 0 {
		return defErr("Branches", "must be a non-empty array of branches")
	}
	for i, b := range list {
		prefix := fmt.Sprintf("Branches[%d].", i)
		for k := range b {
			if k != "StartAt" && k != "States" && k != "Comment" {
				return defErr(prefix+k, "unknown field")
			}
		}
		m, err := parseMachine(b, st.name, prefix)
		if err != nil {
			return err
		}
		st.branches = append(st.branches, m)
	}
	return nil
}

func parseMap(st *state, f fields) error {
	var err error
	if f.has("Iterator") == f.has("ItemProcessor") {
		return defErr("ItemProcessor", "a Map state needs exactly one of ItemProcessor or Iterator")
	}
	if st.itemSelector != nil && st.parameters != nil {
		return defErr("ItemSelector", "cannot be used together with Parameters")
	}
	if st.itemSelector == nil {
		// Parameters is the legacy name of ItemSelector in a Map state.
		st.itemSelector, st.parameters = st.parameters, nil
	}
	field := "ItemProcessor"
	if f.has("Iterator") {
		field = "Iterator"
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(f[field], &body); err != nil || body == nil {
		return defErr(field, "must be an object with StartAt and States")
	}
	for k, v := range body {
		switch k {
		case "StartAt", "States", "Comment":
		case "ProcessorConfig":
			var pc struct {
				Mode          string
				ExecutionType string
			}
			if err := json.Unmarshal(v, &pc); err != nil {
				return defErr(field+".ProcessorConfig", "must be an object")
			}
			if pc.Mode != "" && pc.Mode != "INLINE" {
				return defErr(field+".ProcessorConfig.Mode", "only INLINE Map states are supported")
			}
		default:
			return defErr(field+"."+k, "unknown field")
		}
	}
	if st.iterator, err = parseMachine(body, st.name, field+"."); err != nil {
		return err
	}
	if st.itemsPath, err = optionalRefPath(f, "ItemsPath"); err != nil {
		return err
	}
	if f.has("MaxConcurrency") && f.has("MaxConcurrencyPath") {
		return defErr("MaxConcurrencyPath", "cannot be used together with MaxConcurrency")
	}
	if f.has("MaxConcurrency") {
		if st.maxConcurrency, err = positiveInt(f["MaxConcurrency"], "MaxConcurrency", 0, 1<<31-1); err != nil {
			return err
		}
	}
	if st.maxConcurrencyPath, err = optionalRefPath(f, "MaxConcurrencyPath"); err != nil {
		return err
	}
	return nil
}

func parseFail(st *state, f fields) error {
	var err error
	if f.has("Error") && f.has("ErrorPath") {
		return defErr("ErrorPath", "cannot be used together with Error")
	}
	if f.has("Cause") && f.has("CausePath") {
		return defErr("CausePath", "cannot be used together with Cause")
	}
	if f.has("Error") {
		if st.errorName, err = f.str("Error"); err != nil {
			return err
		}
	}
	if f.has("Cause") {
		if st.cause, err = f.str("Cause"); err != nil {
			return err
		}
	}
	for _, k := range []string{"ErrorPath", "CausePath"} {
		if !f.has(k) {
			continue
		}
		s, err := f.str(k)
		if err != nil {
			return err
		}
		var p *path
		var c *compiledCall
		if isIntrinsic(s) {
			c, err = compileIntrinsic(s)
		} else {
			p, err = compilePath(s)
		}
		if err != nil {
			return defErr(k, err.Error())
		}
		if k == "ErrorPath" {
			st.errorPath, st.errorCall = p, c
		} else {
			st.causePath, st.causeCall = p, c
		}
	}
	return nil
}
