package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl"
)

type startIn struct {
	StateMachineArn string  `json:"stateMachineArn"`
	Name            string  `json:"name"`
	Input           *string `json:"input"`
	TraceHeader     string  `json:"traceHeader"`
}

func compactJSON(s string) (string, bool) {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return "", false
	}
	return b.String(), true
}

func (s *Server) startExecution(_ string, in startIn) (any, error) {
	smArn, testCase, _ := strings.Cut(in.StateMachineArn, "#")
	name := in.Name
	if name == "" {
		name = uuid.NewString()
	} else if msg, ok := validName(name); !ok {
		return nil, errf(codeInvalidName, "Invalid Name: '%s' (%s)", name, msg)
	}
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if len(input) > statemachines.MaxPayloadBytes {
		return nil, errf(codeInvalidExecutionInput, "Invalid State Machine Execution Input: the input is %d bytes, above the limit of %d bytes", len(input), statemachines.MaxPayloadBytes)
	}
	key, ok := compactJSON(input)
	if !ok || !utf8.ValidString(input) {
		return nil, errf(codeInvalidExecutionInput, "Invalid State Machine Execution Input: 'the input is not valid JSON'")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	sm, err := s.machine(smArn)
	if err != nil {
		return nil, err
	}
	region, account, _, _, _ := arnParts(sm.arn)
	arn, err := statemachines.ExecutionARN(sm.arn, name)
	if err != nil {
		return nil, errf(codeInvalidArn, "Invalid Arn: %v", err)
	}
	if sm.typ == "EXPRESS" {
		arn = "arn:aws:states:" + region + ":" + account + ":express:" + sm.name + ":" + name + ":" + uuid.NewString()
	}
	if old, ok := s.execs[arn]; ok {
		st := old.ex.Snapshot()
		if st.Status == asl.StatusRunning && old.inputKey == key {
			return map[string]any{"executionArn": old.arn, "startDate": epoch(old.start)}, nil
		}
		return nil, errf(codeExecutionAlreadyExists, "Execution Already Exists: '%s'", arn)
	}
	start := s.now()
	info := asl.ExecutionInfo{
		ARN: arn, Name: name, StateMachineARN: sm.arn, StateMachineName: sm.name,
		RoleARN: sm.roleArn, StartTime: start,
	}
	if testCase != "" {
		b, ok := s.opts.Invoker.(TestCaseBinder)
		if !ok {
			return nil, errf(codeValidation, "stateMachineArn %q names test case %q, but no mock configuration is loaded", in.StateMachineArn, testCase)
		}
		if err := b.BindTestCase(arn, sm.name, testCase); err != nil {
			return nil, errf(codeValidation, "%s", err.Error())
		}
	}
	ex, err := s.engine.Start(s.baseCtx, sm.machine, json.RawMessage(input), info)
	if err != nil {
		return nil, errf(codeInvalidExecutionInput, "cannot start the execution: %s", err.Error())
	}
	copyOfSM := *sm
	s.seq++
	s.execs[arn] = &execution{
		arn: arn, name: name, smArn: sm.arn, smName: sm.name, input: input, inputKey: key,
		start: start, seq: s.seq, ex: ex, region: region, express: sm.typ == "EXPRESS", machineCopy: &copyOfSM,
	}
	s.log.Info("sfnlocal: execution started", "executionArn", arn)
	return map[string]any{"executionArn": arn, "startDate": epoch(start)}, nil
}

// lookupExecution is execution under s.mu.
func (s *Server) lookupExecution(arn string) (*execution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execution(arn)
}

// execution finds an execution by ARN (caller holds s.mu).
func (s *Server) execution(arn string) (*execution, error) {
	if arn == "" {
		return nil, errf(codeValidation, "executionArn is required")
	}
	_, _, kind, _, ok := arnParts(arn)
	if !ok || (kind != "execution" && kind != "express") {
		return nil, errf(codeInvalidArn, "Invalid Arn: '%s'", arn)
	}
	e, ok := s.execs[arn]
	if !ok {
		return nil, errf(codeExecutionDoesNotExist, "Execution Does Not Exist: '%s'", arn)
	}
	return e, nil
}

func (s *Server) summary(e *execution, st asl.ExecutionState) map[string]any {
	out := map[string]any{
		"executionArn":    e.arn,
		"stateMachineArn": e.smArn,
		"name":            e.name,
		"status":          string(st.Status),
		"startDate":       epoch(e.start),
	}
	if st.Status != asl.StatusRunning && st.Status != "" && !st.StopTime.IsZero() {
		out["stopDate"] = epoch(st.StopTime)
	}
	return out
}

func (s *Server) describeExecution(in arnIn) (any, error) {
	e, err := s.lookupExecution(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	st := e.ex.Snapshot()
	if st.Status == "" {
		st.Status = asl.StatusRunning
	}
	out := s.summary(e, st)
	out["input"] = e.input
	out["inputDetails"] = map[string]bool{"included": true}
	if st.Status == asl.StatusSucceeded {
		output := string(st.Output)
		if output == "" {
			output = "null"
		}
		out["output"] = output
		out["outputDetails"] = map[string]bool{"included": true}
	}
	if st.Error != "" {
		out["error"] = st.Error
	}
	if st.Cause != "" {
		out["cause"] = st.Cause
	}
	out["redriveStatus"] = "NOT_REDRIVABLE"
	out["redriveStatusReason"] = "the local service does not redrive executions"
	if st.Status == asl.StatusRunning {
		out["redriveStatusReason"] = "Execution is RUNNING and cannot be redriven"
	}
	return out, nil
}

var statuses = []string{"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"}

func (s *Server) listExecutions(in listIn) (any, error) {
	if in.StatusFilter != "" && !slices.Contains(statuses, in.StatusFilter) {
		return nil, errf(codeValidation, "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: %v", in.StatusFilter, statuses)
	}
	s.mu.Lock()
	sm, err := s.machine(in.StateMachineArn)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	var all []*execution
	for _, e := range s.execs {
		if e.smArn == sm.arn {
			all = append(all, e)
		}
	}
	s.mu.Unlock()
	// Newest first, as the service lists them.
	slices.SortFunc(all, func(a, b *execution) int { return int(b.seq - a.seq) })
	type row struct {
		e  *execution
		st asl.ExecutionState
	}
	rows := make([]row, 0, len(all))
	for _, e := range all {
		st := e.ex.Snapshot()
		if st.Status == "" {
			st.Status = asl.StatusRunning
		}
		if in.StatusFilter != "" && string(st.Status) != in.StatusFilter {
			continue
		}
		rows = append(rows, row{e, st})
	}
	start, end, next, err := page("ex:"+in.StateMachineArn+":"+in.StatusFilter, len(rows), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, end-start)
	for _, r := range rows[start:end] {
		items = append(items, s.summary(r.e, r.st))
	}
	out := map[string]any{"executions": items}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

type stopIn struct {
	ExecutionArn string `json:"executionArn"`
	Error        string `json:"error"`
	Cause        string `json:"cause"`
}

func (s *Server) stopExecution(in stopIn) (any, error) {
	if len(in.Error) > 256 {
		return nil, errf(codeValidation, "error must be at most 256 characters")
	}
	if len(in.Cause) > 32768 {
		return nil, errf(codeValidation, "cause must be at most 32768 characters")
	}
	e, err := s.lookupExecution(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	if st := e.ex.Snapshot(); st.Status == asl.StatusRunning || st.Status == "" {
		e.ex.Stop(in.Error, in.Cause)
		select {
		case <-e.ex.Done():
		case <-time.After(10 * time.Second):
		}
	}
	st := e.ex.Snapshot()
	stop := st.StopTime
	if stop.IsZero() {
		stop = s.now()
	}
	return map[string]any{"stopDate": epoch(stop)}, nil
}

type taskIn struct {
	TaskToken string  `json:"taskToken"`
	Output    *string `json:"output"`
	Error     string  `json:"error"`
	Cause     string  `json:"cause"`
}

func checkToken(token string) error {
	if token == "" || len(token) > 2048 || !utf8.ValidString(token) {
		return errf(codeInvalidToken, "Invalid Token: '%s'", token)
	}
	return nil
}

func taskError(err error, token string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, asl.ErrTaskDoesNotExist):
		return errf(codeTaskDoesNotExist, "Task Does Not Exist: '%s'", token)
	case errors.Is(err, asl.ErrTaskTimedOut):
		return errf(codeTaskTimedOut, "Task Timed Out: '%s'", token)
	case errors.Is(err, asl.ErrInvalidOutput):
		return errf(codeInvalidOutput, "Invalid Output: %s", err.Error())
	}
	return errf(codeInvalidToken, "Invalid Token: %s", err.Error())
}

func (s *Server) sendTaskSuccess(in taskIn) (any, error) {
	if err := checkToken(in.TaskToken); err != nil {
		return nil, err
	}
	if in.Output == nil {
		return nil, errf(codeValidation, "output is required")
	}
	if len(*in.Output) > statemachines.MaxPayloadBytes || !json.Valid([]byte(*in.Output)) {
		return nil, errf(codeInvalidOutput, "Invalid Output: the output must be valid JSON of at most %d bytes", statemachines.MaxPayloadBytes)
	}
	return map[string]any{}, taskError(s.engine.SendTaskSuccess(in.TaskToken, json.RawMessage(*in.Output)), in.TaskToken)
}

func (s *Server) sendTaskFailure(in taskIn) (any, error) {
	if err := checkToken(in.TaskToken); err != nil {
		return nil, err
	}
	if len(in.Error) > 256 || len(in.Cause) > 32768 {
		return nil, errf(codeValidation, "error must be at most 256 characters and cause at most 32768")
	}
	return map[string]any{}, taskError(s.engine.SendTaskFailure(in.TaskToken, in.Error, in.Cause), in.TaskToken)
}

func (s *Server) sendTaskHeartbeat(in taskIn) (any, error) {
	if err := checkToken(in.TaskToken); err != nil {
		return nil, err
	}
	return map[string]any{}, taskError(s.engine.SendTaskHeartbeat(in.TaskToken), in.TaskToken)
}
