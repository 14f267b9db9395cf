package asl

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// History event types, as the Step Functions API's HistoryEventType names them.
const (
	evExecutionStarted   = "ExecutionStarted"
	evExecutionSucceeded = "ExecutionSucceeded"
	evExecutionFailed    = "ExecutionFailed"
	evExecutionAborted   = "ExecutionAborted"
	evExecutionTimedOut  = "ExecutionTimedOut"

	evTaskSubmitted = "TaskSubmitted"

	evMapIterationStarted   = "MapIterationStarted"
	evMapIterationSucceeded = "MapIterationSucceeded"
	evMapIterationFailed    = "MapIterationFailed"
	evMapIterationAborted   = "MapIterationAborted"
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

func stateEvent(typ, suffix, name string, payload json.RawMessage) HistoryEvent {
	ev := HistoryEvent{Type: typ + suffix, StateName: name}
	switch suffix {
	case "StateEntered", "StateStarted":
		ev.Input = payload
	default:
		ev.Output = payload
	}
	return ev
}

// taskEvent names a Task state's scheduled/started/succeeded/failed/timed-out
// event as Step Functions does: a Resource that is a Lambda function ARN (the
// legacy direct integration) records LambdaFunction… events, every other
// resource (service integrations, arn:aws:states:::lambda:invoke) Task… events.
func (st *state) taskEvent(what string) string {
	if st.directLambda {
		return "LambdaFunction" + what
	}
	return "Task" + what
}

// isLambdaFunctionARN reports whether a Task resource is a Lambda function ARN,
// "arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]".
func isLambdaFunctionARN(resource string) bool {
	p := strings.SplitN(resource, ":", 7)
	return len(p) >= 7 && p[0] == "arn" && p[2] == "lambda" && p[5] == "function" && p[6] != ""
}
