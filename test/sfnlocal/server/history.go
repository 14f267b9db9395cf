package server

import (
	"slices"
	"strings"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// historyEvent maps one interpreter event to the API's HistoryEvent, with the details
// member the API names for its type.
func (s *Server) historyEvent(e *execution, ev asl.HistoryEvent, includeData bool) map[string]any {
	out := map[string]any{
		"id":              ev.ID,
		"previousEventId": ev.PreviousEventID,
		"timestamp":       epoch(ev.Timestamp),
		"type":            ev.Type,
	}
	data := func(raw []byte) string {
		if !includeData {
			return ""
		}
		if len(raw) == 0 {
			return "null"
		}
		return string(raw)
	}
	details := map[string]bool{"truncated": false}
	errCause := func() map[string]any {
		d := map[string]any{}
		if ev.Error != "" {
			d["error"] = ev.Error
		}
		if ev.Cause != "" && includeData {
			d["cause"] = ev.Cause
		}
		return d
	}
	resType, resource := splitResource(ev.Resource)
	task := func(extra map[string]any) map[string]any {
		d := map[string]any{"resourceType": resType, "resource": resource}
		for k, v := range extra {
			d[k] = v
		}
		return d
	}
	switch ev.Type {
	case asl.EventExecutionStarted:
		out["executionStartedEventDetails"] = map[string]any{
			"input": data(ev.Input), "inputDetails": details, "roleArn": e.machineCopy.roleArn,
		}
	case asl.EventExecutionSucceeded:
		out["executionSucceededEventDetails"] = map[string]any{"output": data(ev.Output), "outputDetails": details}
	case asl.EventPassStateEntered, asl.EventTaskStateEntered, asl.EventChoiceStateEntered, asl.EventWaitStateEntered,
		asl.EventSucceedStateEntered, asl.EventFailStateEntered, asl.EventParallelStateEntered, asl.EventMapStateEntered:
		out["stateEnteredEventDetails"] = map[string]any{"name": ev.StateName, "input": data(ev.Input), "inputDetails": details}
	case asl.EventPassStateExited, asl.EventTaskStateExited, asl.EventChoiceStateExited, asl.EventWaitStateExited,
		asl.EventSucceedStateExited, asl.EventParallelStateExited, asl.EventMapStateExited:
		out["stateExitedEventDetails"] = map[string]any{"name": ev.StateName, "output": data(ev.Output), "outputDetails": details}
	case asl.EventTaskScheduled:
		d := task(map[string]any{"region": e.region, "parameters": data(ev.Input)})
		if ev.TimeoutSeconds > 0 {
			d["timeoutInSeconds"] = ev.TimeoutSeconds
		}
		if ev.HeartbeatSeconds > 0 {
			d["heartbeatInSeconds"] = ev.HeartbeatSeconds
		}
		out["taskScheduledEventDetails"] = d
	case asl.EventTaskStarted:
		out["taskStartedEventDetails"] = task(nil)
	case asl.EventTaskSubmitted:
		out["taskSubmittedEventDetails"] = task(map[string]any{"output": data(ev.Output), "outputDetails": details})
	case asl.EventTaskSucceeded:
		out["taskSucceededEventDetails"] = task(map[string]any{"output": data(ev.Output), "outputDetails": details})
	case asl.EventLambdaFunctionScheduled:
		d := map[string]any{"resource": ev.Resource, "input": data(ev.Input), "inputDetails": details}
		if ev.TimeoutSeconds > 0 {
			d["timeoutInSeconds"] = ev.TimeoutSeconds
		}
		out["lambdaFunctionScheduledEventDetails"] = d
	case asl.EventLambdaFunctionSucceeded:
		out["lambdaFunctionSucceededEventDetails"] = map[string]any{"output": data(ev.Output), "outputDetails": details}
	case asl.EventMapStateStarted:
		out["mapStateStartedEventDetails"] = map[string]any{"length": ev.Index}
	default:
		if key, ok := errorDetails[ev.Type]; ok {
			out[key] = errCause()
		} else if key, ok := taskErrorDetails[ev.Type]; ok {
			out[key] = task(errCause())
		} else if key, ok := mapIterationDetails[ev.Type]; ok {
			out[key] = map[string]any{"name": ev.StateName, "index": ev.Index}
		}
	}
	for k, v := range out {
		if d, ok := v.(map[string]any); ok && strings.HasSuffix(k, "EventDetails") {
			for dk, dv := range d {
				if dv == "" {
					delete(d, dk)
				}
			}
		}
	}
	return out
}

// errorDetails names the details member of the events whose details are the
// error and cause alone.
var errorDetails = map[asl.EventType]string{
	asl.EventExecutionFailed:              "executionFailedEventDetails",
	asl.EventExecutionAborted:             "executionAbortedEventDetails",
	asl.EventExecutionTimedOut:            "executionTimedOutEventDetails",
	asl.EventLambdaFunctionFailed:         "lambdaFunctionFailedEventDetails",
	asl.EventLambdaFunctionTimedOut:       "lambdaFunctionTimedOutEventDetails",
	asl.EventLambdaFunctionScheduleFailed: "lambdaFunctionScheduleFailedEventDetails",
	asl.EventLambdaFunctionStartFailed:    "lambdaFunctionStartFailedEventDetails",
}

// taskErrorDetails names the details member of the task events whose details are
// the resource, the error and the cause.
var taskErrorDetails = map[asl.EventType]string{
	asl.EventTaskFailed:       "taskFailedEventDetails",
	asl.EventTaskTimedOut:     "taskTimedOutEventDetails",
	asl.EventTaskStartFailed:  "taskStartFailedEventDetails",
	asl.EventTaskSubmitFailed: "taskSubmitFailedEventDetails",
}

// mapIterationDetails names the details member of each Map iteration event.
var mapIterationDetails = map[asl.EventType]string{
	asl.EventMapIterationStarted:   "mapIterationStartedEventDetails",
	asl.EventMapIterationSucceeded: "mapIterationSucceededEventDetails",
	asl.EventMapIterationFailed:    "mapIterationFailedEventDetails",
	asl.EventMapIterationAborted:   "mapIterationAbortedEventDetails",
}

// splitResource gives the API's resourceType and resource for a Task's Resource:
// "arn:aws:states:::lambda:invoke.waitForTaskToken" → "lambda", "invoke.waitForTaskToken";
// a Lambda function ARN → "lambda", the ARN.
func splitResource(r string) (string, string) {
	if rest, ok := strings.CutPrefix(r, "arn:aws:states:::"); ok {
		if typ, res, ok := strings.Cut(rest, ":"); ok {
			return typ, res
		}
		return rest, ""
	}
	if p := strings.SplitN(r, ":", 6); len(p) == 6 && p[0] == "arn" {
		return p[2], r
	}
	return "", r
}

func (s *Server) getExecutionHistory(in listIn) (any, error) {
	e, err := s.lookupExecution(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	events := e.ex.History()
	if in.ReverseOrder {
		events = slices.Clone(events)
		slices.Reverse(events)
	}
	kind := "h:" + in.ExecutionArn
	if in.ReverseOrder {
		kind += ":r"
	}
	start, end, next, err := page(kind, len(events), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	include := in.IncludeData == nil || *in.IncludeData
	items := make([]map[string]any, 0, end-start)
	for _, ev := range events[start:end] {
		items = append(items, s.historyEvent(e, ev, include))
	}
	out := map[string]any{"events": items}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}
