package asl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// Runner executes state machines: Task states go to its TaskInvoker, time goes
// through its Clock, and it keeps the registry of task tokens that
// SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat complete. It is safe for
// concurrent use; one Runner serves any number of executions.
type Runner struct {
	invoker TaskInvoker
	clock   Clock
	// timeouts measures Task TimeoutSeconds and HeartbeatSeconds (default clock).
	timeouts Clock
	random   func() float64 // in [0, 1), for FULL retry jitter; tests set it

	mu          sync.Mutex
	tokens      map[string]*taskWait // open tokens
	closed      map[string]struct{}  // tokens of tasks that ended (the newest maxClosed)
	closedOrder []string             // closed, oldest first
	maxClosed   int
}

// maxClosedTokens bounds how many ended tasks' tokens a Runner remembers (to answer
// TaskTimedOut rather than TaskDoesNotExist); older ones are forgotten.
const maxClosedTokens = 100000

// NewRunner returns a Runner configured by opts. Without WithInvoker every Task
// state fails with States.TaskFailed; without WithClock time is real.
func NewRunner(opts ...Option) *Runner {
	r := &Runner{tokens: map[string]*taskWait{}, closed: map[string]struct{}{}, maxClosed: maxClosedTokens}
	for _, o := range opts {
		o(r)
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if r.timeouts == nil {
		r.timeouts = r.clock
	}
	if r.random == nil {
		r.random = rand.Float64
	}
	return r
}

// Execution is one running or finished execution. Its methods are safe for
// concurrent use.
type Execution struct {
	r          *Runner
	sm         *StateMachine
	info       ExecutionInfo
	input      json.RawMessage
	inputValue any

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu     sync.Mutex
	events []HistoryEvent
	state  ExecutionState
}

// ExecutionState is a point-in-time view of an execution, as DescribeExecution
// reports it.
type ExecutionState struct {
	Info      ExecutionInfo
	Status    Status
	Input     json.RawMessage
	Output    json.RawMessage // when SUCCEEDED
	Error     string          // when FAILED, TIMED_OUT or ABORTED
	Cause     string
	StartTime time.Time
	StopTime  time.Time // zero while RUNNING
}

// endCause is why an execution's context was cancelled: Stop, its timeout or the
// history quota.
type endCause struct {
	status Status
	name   string
	cause  string
}

func (e *endCause) Error() string { return string(e.status) + ": " + e.name + ": " + e.cause }

// Start starts an execution of sm in the background and returns at once. ctx
// supplies values only: cancelling it does not stop the execution (use Stop).
// Empty input means {}. Missing info fields are filled in: StartTime (now), Name
// (a random UUID) and ARN (from StateMachineARN and Name).
func (r *Runner) Start(ctx context.Context, sm *StateMachine, input json.RawMessage, info ExecutionInfo) (*Execution, error) {
	if sm == nil || sm.root == nil {
		return nil, errors.New("start execution: no state machine (use Parse)")
	}
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage(`{}`)
	}
	if len(input) > statemachines.MaxPayloadBytes {
		return nil, fmt.Errorf("start execution: input of %d bytes exceeds the maximum of %d bytes: %w", len(input), statemachines.MaxPayloadBytes, ErrInvalidInput)
	}
	v, err := decodeJSON(input)
	if err != nil {
		return nil, fmt.Errorf("start execution: %v: %w", err, ErrInvalidInput)
	}
	if info.StartTime.IsZero() {
		info.StartTime = r.clock.Now()
	}
	if info.Name == "" {
		info.Name = uuid.NewString()
	}
	if info.ARN == "" {
		info.ARN = executionARN(info)
	}
	xctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	x := &Execution{
		r: r, sm: sm, info: info,
		input:      append(json.RawMessage(nil), input...),
		inputValue: v,
		ctx:        xctx, cancel: cancel,
		done: make(chan struct{}),
	}
	x.state = ExecutionState{Info: info, Status: StatusRunning, Input: x.input, StartTime: info.StartTime}
	f := &frame{}
	x.record(f, HistoryEvent{Type: EventExecutionStarted, Input: x.input})
	if sm.TimeoutSeconds > 0 {
		d := seconds(sm.TimeoutSeconds)
		go func() {
			if r.clock.Sleep(xctx, d) == nil {
				cancel(&endCause{status: StatusTimedOut, name: errname.Timeout, cause: fmt.Sprintf("the execution ran longer than its TimeoutSeconds of %d", sm.TimeoutSeconds)})
			}
		}()
	}
	go x.run(f)
	return x, nil
}

// Run starts an execution and waits for it to end. If ctx ends first, the
// execution is stopped (ABORTED) and ctx's error returned.
func (r *Runner) Run(ctx context.Context, sm *StateMachine, input json.RawMessage, info ExecutionInfo) (*Execution, error) {
	x, err := r.Start(ctx, sm, input, info)
	if err != nil {
		return nil, err
	}
	if err := x.Wait(ctx); err != nil {
		x.Stop("", "the caller's context ended: "+err.Error())
		return x, err
	}
	return x, nil
}

// Wait blocks until the execution ends or ctx is done; it returns ctx's error in
// the latter case. How the execution ended is in Snapshot.
func (e *Execution) Wait(ctx context.Context) error {
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the execution has ended.
func (e *Execution) Done() <-chan struct{} { return e.done }

// Stop aborts a running execution (status ABORTED, with errName and cause) and
// returns once it has ended. It does nothing to an execution that has ended.
func (e *Execution) Stop(errName, cause string) {
	select {
	case <-e.done:
		return
	default:
	}
	e.cancel(&endCause{status: StatusAborted, name: errName, cause: cause})
	<-e.done
}

// Snapshot returns the execution's current status, output, error and times.
func (e *Execution) Snapshot() ExecutionState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// Info returns the execution's identity.
func (e *Execution) Info() ExecutionInfo { return e.info }

func (x *Execution) run(f *frame) {
	out, err := guard(func() (any, error) { return x.runMachine(x.ctx, f, x.sm.root, x.inputValue) })
	var output json.RawMessage
	if err == nil {
		output = mustEncode(out)
		err = checkSize(output, "execution output")
	}
	var end *endCause
	if err != nil && !errors.As(context.Cause(x.ctx), &end) {
		end = nil
	}
	ev := HistoryEvent{}
	st := ExecutionState{}
	switch {
	case err == nil:
		ev.Type, ev.Output = EventExecutionSucceeded, output
		st.Status, st.Output = StatusSucceeded, output
	case end != nil:
		switch end.status {
		case StatusTimedOut:
			ev.Type = EventExecutionTimedOut
		case StatusFailed:
			ev.Type = EventExecutionFailed
		default:
			ev.Type = EventExecutionAborted
		}
		ev.Error, ev.Cause = end.name, end.cause
		st.Status, st.Error, st.Cause = end.status, end.name, end.cause
	default:
		name, cause := errname.Runtime, err.Error()
		var sf *stateFailure
		if errors.As(err, &sf) {
			name, cause = sf.name, sf.cause
		}
		ev.Type, ev.Error, ev.Cause = EventExecutionFailed, name, cause
		st.Status, st.Error, st.Cause = StatusFailed, name, cause
	}
	// The final event and the final status appear together to concurrent readers.
	x.mu.Lock()
	x.appendLocked(f, &ev)
	x.state.Status, x.state.Output, x.state.Error, x.state.Cause = st.Status, st.Output, st.Error, st.Cause
	x.state.StopTime = ev.Timestamp
	x.mu.Unlock()
	x.cancel(nil)
	x.r.closeTokens(x)
	close(x.done)
}

// runMachine runs one scope from its StartAt to a terminal state.
func (x *Execution) runMachine(ctx context.Context, f *frame, m *machine, input any) (any, error) {
	name, data := m.startAt, input
	var encoded json.RawMessage // data as JSON, when known
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st := m.states[name]
		out, outJSON, next, err := x.runState(ctx, f, st, data, encoded)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		name, data, encoded = next, out, outJSON
	}
}

// runState runs one state: its entered event, its work with Retry and Catch, and
// its exited event. It returns the output (also as JSON) and the next state (""
// at the end). rawJSON is raw encoded, or nil.
func (x *Execution) runState(ctx context.Context, f *frame, st *state, raw any, rawJSON json.RawMessage) (any, json.RawMessage, string, error) {
	sc := &stateCtx{x: x, state: st.name, entered: x.r.clock.Now()}
	if rawJSON == nil {
		rawJSON = mustEncode(raw)
	}
	x.record(f, HistoryEvent{Type: stateEvents[st.typ].entered, StateName: st.name, Input: rawJSON})
	var (
		out  any
		next = st.next
		err  error
	)
	switch st.typ {
	case "Pass":
		out, err = x.runPass(st, raw, sc)
	case "Task":
		out, next, err = x.withRetryCatch(ctx, st, raw, sc, func() (any, error) { return x.taskAttempt(ctx, f, st, raw, sc) })
	case "Parallel":
		out, next, err = x.withRetryCatch(ctx, st, raw, sc, func() (any, error) { return x.parallelAttempt(ctx, f, st, raw, sc) })
	case "Map":
		out, next, err = x.withRetryCatch(ctx, st, raw, sc, func() (any, error) { return x.mapAttempt(ctx, f, st, raw, sc) })
	case "Choice":
		out, next, err = x.runChoice(st, raw, sc)
	case "Wait":
		out, err = x.runWait(ctx, st, raw, sc)
	case "Succeed":
		out, err = x.inputOutput(st, raw, sc)
	case "Fail":
		err = x.runFail(st, raw, sc)
	}
	if err != nil {
		if ctx.Err() != nil {
			if typ := stateEvents[st.typ].aborted; typ != "" {
				x.record(f, HistoryEvent{Type: typ, StateName: st.name})
			}
			return nil, nil, "", ctx.Err()
		}
		return nil, nil, "", err
	}
	output := mustEncode(out)
	if err := checkSize(output, "output of state "+quote(st.name)); err != nil {
		return nil, nil, "", err
	}
	x.record(f, HistoryEvent{Type: stateEvents[st.typ].exited, StateName: st.name, Output: output})
	return out, output, next, nil
}

// effectiveInput applies InputPath to the state input.
func (x *Execution) effectiveInput(st *state, raw any, sc *stateCtx) (any, error) {
	return selectPath("InputPath", "the input ", st.inputNull, st.inputPath, raw, sc)
}

// selectPath applies an InputPath or OutputPath (field) to v: null gives {}, no
// path v itself; a path that selects nothing is a States.Runtime error that
// names v (described by what).
func selectPath(field, what string, null bool, p *path, v any, sc *stateCtx) (any, error) {
	switch {
	case null:
		return map[string]any{}, nil
	case p != nil:
		got, err := p.get(v, sc)
		if err != nil {
			return nil, runtimeErr(fmt.Sprintf("invalid path %s specified for %s: no results in %s%s", p.src, field, what, truncate(mustEncode(v))))
		}
		return got, nil
	}
	return v, nil
}

// parametersInput applies InputPath, then Parameters.
func (x *Execution) parametersInput(st *state, raw any, sc *stateCtx) (data, effective any, err error) {
	data, err = x.effectiveInput(st, raw, sc)
	if err != nil || st.parameters == nil {
		return data, data, err
	}
	effective, err = st.parameters.eval(data, sc)
	return data, effective, err
}

// outputFrom applies ResultSelector, ResultPath and OutputPath to a state's result.
func (x *Execution) outputFrom(st *state, raw, result any, sc *stateCtx) (any, error) {
	var err error
	if st.resultSelector != nil {
		if result, err = st.resultSelector.eval(result, sc); err != nil {
			return nil, err
		}
	}
	out := result
	switch {
	case st.resultDiscard:
		out = raw
	case st.resultPath != nil:
		if out, err = st.resultPath.set(raw, result); err != nil {
			return nil, fail(errname.ResultPathMatchFailure, fmt.Sprintf("unable to apply ResultPath %s to the state input: %v", st.resultPath.src, err))
		}
	}
	return x.outputPath(st, out, sc)
}

// outputPath applies OutputPath.
func (x *Execution) outputPath(st *state, out any, sc *stateCtx) (any, error) {
	return selectPath("OutputPath", "", st.outputNull, st.outputPath, out, sc)
}

// inputOutput is the Succeed state: InputPath, then OutputPath.
func (x *Execution) inputOutput(st *state, raw any, sc *stateCtx) (any, error) {
	data, err := x.effectiveInput(st, raw, sc)
	if err != nil {
		return nil, err
	}
	return x.outputPath(st, data, sc)
}

func executionARN(info ExecutionInfo) string {
	if arn, err := statemachines.ExecutionARN(info.StateMachineARN, info.Name); err == nil {
		return arn
	}
	sm := info.StateMachineName
	if sm == "" {
		sm = "local"
	}
	return "arn:aws:states:local:000000000000:execution:" + sm + ":" + info.Name
}

// guard runs fn, turning a panic (a bug in the runner) into a States.Runtime
// failure of the execution instead of a crash of the process hosting it.
func guard(fn func() (any, error)) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, runtimeErr(fmt.Sprintf("internal error in the state machine runner: %v", p))
		}
	}()
	return fn()
}
