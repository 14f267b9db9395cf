// Package asl executes Amazon States Language state machines locally.
//
// It implements the JSONPath flavour of the language as AWS Step Functions runs it:
// Task, Pass, Choice, Wait, Parallel, inline Map (at most 40 concurrent
// iterations, as AWS runs it), Succeed and Fail states;
// InputPath, Parameters, ResultSelector, ResultPath and OutputPath (with
// "$$" context paths and intrinsic functions in payload templates); Retry
// (IntervalSeconds, BackoffRate, MaxAttempts, MaxDelaySeconds, JitterStrategy)
// and Catch; TimeoutSeconds, HeartbeatSeconds and ".waitForTaskToken" callbacks;
// the execution TimeoutSeconds; the 256 KiB payload quota and the 25,000-event
// history quota. States.Runtime and States.DataLimitExceeded are terminal: no
// Retry or Catch handles them.
//
// Not implemented: JSONata (QueryLanguage, Arguments, Output), variables
// (Assign), distributed Map (ItemReader, ItemBatcher, ResultWriter,
// ToleratedFailure*, Label), activities as such (their ARNs go to the
// TaskInvoker like any resource), redrive, and heartbeat enforcement for tasks
// without a task token. Parse rejects the fields it does not implement with a
// *DefinitionError rather than ignoring them (Credentials is accepted and ignored).
//
// This file is the contract between the interpreter (this package) and its users:
// the Step Functions API server (sfnlocal/server), the task bindings
// (sfnlocal/tasks), the conformance tests and the demo. Keep these names stable;
// add to them rather than change them.
package asl

import (
	"context"
	"encoding/json"
	"time"
)

// Task is one invocation of a Task state's resource, as handed to a TaskInvoker.
type Task struct {
	// Resource is the state's Resource field after definition substitutions,
	// e.g. "arn:aws:lambda:us-east-1:123456789012:function:deploy" or
	// "arn:aws:states:::ecs:runTask.sync" or "arn:aws:states:::lambda:invoke.waitForTaskToken".
	Resource string
	// StateName is the name of the Task state.
	StateName string
	// Input is the effective input: the state input after InputPath and Parameters.
	Input json.RawMessage
	// TaskToken is set when Resource ends in ".waitForTaskToken". The invoker starts
	// the work and returns; the runner then waits for SendTaskSuccess/Failure with it.
	TaskToken string
	// Timeout is the state's TimeoutSeconds (zero when unset); the runner enforces it.
	Timeout time.Duration
	// Execution identifies the running execution.
	Execution ExecutionInfo
}

// TaskInvoker runs task resources. An invoker that returns a *TaskFailure makes the
// state fail with that error name and cause (so Retry and Catch can match it); any
// other error fails the state with "States.TaskFailed" and the error text as cause.
// For ".sync" resources the invoker itself waits for completion (polling as AWS does).
type TaskInvoker interface {
	InvokeTask(ctx context.Context, task Task) (json.RawMessage, error)
}

// TaskInvokerFunc adapts a function to TaskInvoker.
type TaskInvokerFunc func(ctx context.Context, task Task) (json.RawMessage, error)

// InvokeTask calls f.
func (f TaskInvokerFunc) InvokeTask(ctx context.Context, task Task) (json.RawMessage, error) {
	return f(ctx, task)
}

// TaskFailure is a named task error, as Step Functions reports it: Error is what
// ErrorEquals matches, Cause is free text (for Lambda, the JSON error object).
type TaskFailure struct {
	Name  string
	Cause string
}

func (e *TaskFailure) Error() string { return e.Name + ": " + e.Cause }

// ExecutionInfo identifies an execution; it fills the context object ($$.Execution.*,
// $$.StateMachine.*).
type ExecutionInfo struct {
	ARN              string
	Name             string
	StateMachineARN  string
	StateMachineName string
	RoleARN          string
	StartTime        time.Time
}

// Status of an execution, with the Step Functions API's values.
type Status string

const (
	StatusRunning   Status = "RUNNING"
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusTimedOut  Status = "TIMED_OUT"
	StatusAborted   Status = "ABORTED"
)

// HistoryEvent is one entry of an execution's history. Type is one of the
// EventType constants, the Step Functions API's HistoryEventType values, so that
// the server can map it one to one.
type HistoryEvent struct {
	ID              int64
	PreviousEventID int64
	Timestamp       time.Time
	Type            EventType
	StateName       string          // for state entered/exited events
	Resource        string          // for task events
	Input           json.RawMessage // for entered, started, scheduled events
	Output          json.RawMessage // for exited, succeeded events
	Error           string          // for failed/timed-out/aborted events
	Cause           string
	Index           int // for Map iteration events
	// TimeoutSeconds and HeartbeatSeconds are the task's effective TimeoutSeconds
	// and HeartbeatSeconds (after TimeoutSecondsPath and HeartbeatSecondsPath), for
	// TaskScheduled and LambdaFunctionScheduled events; 0 when the state sets none.
	TimeoutSeconds   int64
	HeartbeatSeconds int64
}

// Clock is the runner's time source. Tests scale time with it so that a Wait of five
// minutes, a Retry interval or a .sync poll does not take real minutes.
type Clock interface {
	Now() time.Time
	// Sleep waits for d (as the clock counts it) or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// Option configures a Runner.
type Option func(*Runner)

// WithInvoker sets the TaskInvoker for Task states.
func WithInvoker(inv TaskInvoker) Option { return func(r *Runner) { r.invoker = inv } }

// WithClock sets the clock (default: real time).
func WithClock(c Clock) Option { return func(r *Runner) { r.clock = c } }

// WithTimeoutClock sets the clock that measures Task states' TimeoutSeconds
// and HeartbeatSeconds (default: the runner's clock). A test that scales
// waits far down (a minute's Wait in milliseconds) can keep the timeouts of
// real calls scaled less, so that a real call is not timed out.
func WithTimeoutClock(c Clock) Option { return func(r *Runner) { r.timeouts = c } }

// The runner API (runner.go, task.go, parse.go, clock.go, errors.go):
//
//	func Parse(definition []byte) (*StateMachine, error)
//	    Validates and compiles a definition. Errors are *DefinitionError with a
//	    message naming the state and field.
//	func NewRunner(opts ...Option) *Runner
//	func (r *Runner) Start(ctx context.Context, sm *StateMachine, input json.RawMessage, info ExecutionInfo) (*Execution, error)
//	    Starts an execution in the background and returns at once.
//	func (r *Runner) Run(ctx context.Context, sm *StateMachine, input json.RawMessage, info ExecutionInfo) (*Execution, error)
//	    Start + Wait.
//	func (r *Runner) SendTaskSuccess(token string, output json.RawMessage) error
//	func (r *Runner) SendTaskFailure(token, errName, cause string) error
//	func (r *Runner) SendTaskHeartbeat(token string) error
//	    Return ErrTaskDoesNotExist / ErrTaskTimedOut / ErrInvalidOutput as the API does.
//	func (e *Execution) Wait(ctx context.Context) error            // until it ends
//	func (e *Execution) Done() <-chan struct{}
//	func (e *Execution) Stop(errName, cause string)                // ABORTED
//	func (e *Execution) Snapshot() ExecutionState                  // status, output, error, times
//	func (e *Execution) History() []HistoryEvent                    // copy, in order
//	func NewScaledClock(factor float64) Clock                       // factor 1000: 1 s → 1 ms
//
// Additions:
//
//	var ErrInvalidInput                          // Start: input not JSON or over 256 KiB (InvalidExecutionInput)
//	func (sm *StateMachine) Definition() json.RawMessage
//	func (sm *StateMachine) StateNames() []string
//	func (e *Execution) Info() ExecutionInfo     // with the defaults Start filled in
//
// The States.* error names the runner matches and raises are in package errname;
// history event types are the EventType constants (history.go).
//
// History details: for "MapStateStarted" events Index holds the number of items
// (the API's mapStateStartedEventDetails.length); for Map iteration events it is
// the iteration's index. A heartbeat timeout is reported as
// "States.HeartbeatTimeout" (ErrorEquals "States.Timeout" matches it too).
