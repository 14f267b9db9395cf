package asl

import (
	"fmt"
	"strings"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// EventType is the type of a history event, with the Step Functions API's
// HistoryEventType values. The interpreter records these and the API server maps
// them to the API's event details, so both use the constants below.
type EventType string

// The history event types this interpreter records (and a few the API defines for
// task failures it reports the same way).
const (
	EventExecutionStarted   EventType = "ExecutionStarted"
	EventExecutionSucceeded EventType = "ExecutionSucceeded"
	EventExecutionFailed    EventType = "ExecutionFailed"
	EventExecutionAborted   EventType = "ExecutionAborted"
	EventExecutionTimedOut  EventType = "ExecutionTimedOut"

	EventPassStateEntered     EventType = "PassStateEntered"
	EventPassStateExited      EventType = "PassStateExited"
	EventTaskStateEntered     EventType = "TaskStateEntered"
	EventTaskStateExited      EventType = "TaskStateExited"
	EventTaskStateAborted     EventType = "TaskStateAborted"
	EventChoiceStateEntered   EventType = "ChoiceStateEntered"
	EventChoiceStateExited    EventType = "ChoiceStateExited"
	EventWaitStateEntered     EventType = "WaitStateEntered"
	EventWaitStateExited      EventType = "WaitStateExited"
	EventWaitStateAborted     EventType = "WaitStateAborted"
	EventSucceedStateEntered  EventType = "SucceedStateEntered"
	EventSucceedStateExited   EventType = "SucceedStateExited"
	EventFailStateEntered     EventType = "FailStateEntered"
	EventParallelStateEntered EventType = "ParallelStateEntered"
	EventParallelStateExited  EventType = "ParallelStateExited"
	EventParallelStateAborted EventType = "ParallelStateAborted"
	EventMapStateEntered      EventType = "MapStateEntered"
	EventMapStateExited       EventType = "MapStateExited"
	EventMapStateAborted      EventType = "MapStateAborted"

	EventParallelStateStarted   EventType = "ParallelStateStarted"
	EventParallelStateSucceeded EventType = "ParallelStateSucceeded"
	EventParallelStateFailed    EventType = "ParallelStateFailed"
	EventMapStateStarted        EventType = "MapStateStarted"
	EventMapStateSucceeded      EventType = "MapStateSucceeded"
	EventMapStateFailed         EventType = "MapStateFailed"
	EventMapIterationStarted    EventType = "MapIterationStarted"
	EventMapIterationSucceeded  EventType = "MapIterationSucceeded"
	EventMapIterationFailed     EventType = "MapIterationFailed"
	EventMapIterationAborted    EventType = "MapIterationAborted"

	EventTaskScheduled                EventType = "TaskScheduled"
	EventTaskStarted                  EventType = "TaskStarted"
	EventTaskSubmitted                EventType = "TaskSubmitted"
	EventTaskSucceeded                EventType = "TaskSucceeded"
	EventTaskFailed                   EventType = "TaskFailed"
	EventTaskTimedOut                 EventType = "TaskTimedOut"
	EventTaskStartFailed              EventType = "TaskStartFailed"
	EventTaskSubmitFailed             EventType = "TaskSubmitFailed"
	EventLambdaFunctionScheduled      EventType = "LambdaFunctionScheduled"
	EventLambdaFunctionStarted        EventType = "LambdaFunctionStarted"
	EventLambdaFunctionSucceeded      EventType = "LambdaFunctionSucceeded"
	EventLambdaFunctionFailed         EventType = "LambdaFunctionFailed"
	EventLambdaFunctionTimedOut       EventType = "LambdaFunctionTimedOut"
	EventLambdaFunctionScheduleFailed EventType = "LambdaFunctionScheduleFailed"
	EventLambdaFunctionStartFailed    EventType = "LambdaFunctionStartFailed"
)

// stateEventTypes are the entered, exited and aborted events of one state type
// (empty where the API has none: a Fail state never exits, only states that wait
// can be aborted).
type stateEventTypes struct{ entered, exited, aborted EventType }

var stateEvents = map[string]stateEventTypes{
	"Pass":     {EventPassStateEntered, EventPassStateExited, ""},
	"Task":     {EventTaskStateEntered, EventTaskStateExited, EventTaskStateAborted},
	"Choice":   {EventChoiceStateEntered, EventChoiceStateExited, ""},
	"Wait":     {EventWaitStateEntered, EventWaitStateExited, EventWaitStateAborted},
	"Succeed":  {EventSucceedStateEntered, EventSucceedStateExited, ""},
	"Fail":     {EventFailStateEntered, "", ""},
	"Parallel": {EventParallelStateEntered, EventParallelStateExited, EventParallelStateAborted},
	"Map":      {EventMapStateEntered, EventMapStateExited, EventMapStateAborted},
}

// taskEventTypes are the events of one invocation of a Task state's resource.
type taskEventTypes struct{ scheduled, started, succeeded, failed, timedOut EventType }

var (
	serviceTaskEvents = taskEventTypes{EventTaskScheduled, EventTaskStarted, EventTaskSucceeded, EventTaskFailed, EventTaskTimedOut}
	lambdaTaskEvents  = taskEventTypes{EventLambdaFunctionScheduled, EventLambdaFunctionStarted, EventLambdaFunctionSucceeded, EventLambdaFunctionFailed, EventLambdaFunctionTimedOut}
)

// frame tracks one thread of control (the execution, or one Parallel branch or Map
// iteration) so that each event's PreviousEventID points at the event before it
// in the same thread.
type frame struct {
	prev int64
}

// record appends an event, stamping ID, PreviousEventID and Timestamp. It is safe
// to call from concurrent branches.
func (x *Execution) record(f *frame, ev HistoryEvent) {
	x.mu.Lock()
	x.appendLocked(f, &ev)
	full := len(x.events) == maxHistoryEvents
	x.mu.Unlock()
	if full {
		x.cancel(&endCause{status: StatusFailed, name: errname.Runtime,
			cause: fmt.Sprintf("the execution history reached the quota of %d events", maxHistoryEvents)})
	}
}

// appendLocked stamps and appends ev; x.mu must be held.
func (x *Execution) appendLocked(f *frame, ev *HistoryEvent) {
	ev.Timestamp = x.r.clock.Now() // under the lock: timestamps never go back as IDs grow
	ev.ID = int64(len(x.events) + 1)
	if f != nil {
		ev.PreviousEventID = f.prev
		f.prev = ev.ID
	}
	x.events = append(x.events, *ev)
}

// maxHistoryEvents is Step Functions' quota on one execution's history. Reaching it
// fails the execution (this runner reports States.Runtime), which also stops
// runaway loops.
const maxHistoryEvents = 25000

// History returns a copy of the execution's events, in order. It may be called
// while the execution runs.
func (e *Execution) History() []HistoryEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]HistoryEvent, len(e.events))
	copy(out, e.events)
	return out
}

// taskEvents are a Task state's scheduled/started/succeeded/failed/timed-out
// event types as Step Functions names them: a Resource that is a Lambda function
// ARN (the legacy direct integration) records LambdaFunction… events, every other
// resource (service integrations, arn:aws:states:::lambda:invoke) Task… events.
func (st *state) taskEvents() taskEventTypes {
	if st.directLambda {
		return lambdaTaskEvents
	}
	return serviceTaskEvents
}

// isLambdaFunctionARN reports whether a Task resource is a Lambda function ARN,
// "arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]".
func isLambdaFunctionARN(resource string) bool {
	p := strings.SplitN(resource, ":", 7)
	return len(p) >= 7 && p[0] == "arn" && p[2] == "lambda" && p[5] == "function" && p[6] != ""
}
