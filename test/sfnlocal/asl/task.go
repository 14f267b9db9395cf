package asl

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

var (
	errTaskTimeout      = errors.New("task timeout")
	errHeartbeatTimeout = errors.New("heartbeat timeout")
)

// taskWait is an open task token: the task waits on result; heartbeats arrive on
// beat.
type taskWait struct {
	x      *Execution
	result chan taskResult
	beat   chan struct{}
}

type taskResult struct {
	output      json.RawMessage
	failed      bool
	name, cause string
}

// taskAttempt runs one attempt of a Task state: InputPath → Parameters → invoke →
// ResultSelector → ResultPath → OutputPath.
func (x *Execution) taskAttempt(ctx context.Context, f *frame, st *state, raw any, sc *stateCtx) (any, error) {
	data, err := x.effectiveInput(st, raw, sc)
	if err != nil {
		return nil, err
	}
	timeout, heartbeat := st.timeout, st.heartbeat
	if st.timeoutPath != nil {
		if timeout, err = secondsAt(st.timeoutPath, "TimeoutSecondsPath", data, sc); err != nil {
			return nil, err
		}
	}
	if st.heartbeatPath != nil {
		if heartbeat, err = secondsAt(st.heartbeatPath, "HeartbeatSecondsPath", data, sc); err != nil {
			return nil, err
		}
	}
	sc.token = ""
	if st.waitForToken {
		sc.token = newToken()
	}
	sc.changed()
	params := data
	if st.parameters != nil {
		if params, err = st.parameters.eval(data, sc); err != nil {
			return nil, err
		}
	}
	in := mustEncode(params)
	if err := checkSize(in, "input of task "+quote(st.name)); err != nil {
		return nil, err
	}
	result, err := x.invoke(ctx, f, st, in, sc.token, timeout, heartbeat)
	if err != nil {
		return nil, err
	}
	return x.outputFrom(st, raw, result, sc)
}

// secondsAt reads a positive integer number of seconds at a reference path.
func secondsAt(p *path, field string, data any, sc *stateCtx) (int64, error) {
	v, err := p.get(data, sc)
	n, ok := toNonNegativeInt(v)
	if err != nil || !ok || n == 0 {
		return 0, runtimeErr(fmt.Sprintf("the %s %s must select a positive integer in the input", field, p.src))
	}
	return n, nil
}

// invoke hands the task to the TaskInvoker and, for ".waitForTaskToken"
// resources, waits for SendTaskSuccess or SendTaskFailure, enforcing the timeout
// and heartbeat (both in seconds, 0 for none).
func (x *Execution) invoke(ctx context.Context, f *frame, st *state, in json.RawMessage, token string, timeout, heartbeat int64) (any, error) {
	x.record(f, HistoryEvent{Type: st.taskEvents().scheduled, StateName: st.name, Resource: st.resource, Input: in,
		TimeoutSeconds: timeout, HeartbeatSeconds: heartbeat})
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if timeout > 0 {
		go func() {
			if x.r.timeouts.Sleep(tctx, seconds(timeout)) == nil {
				cancel(errTaskTimeout)
			}
		}()
	}
	x.record(f, HistoryEvent{Type: st.taskEvents().started, StateName: st.name, Resource: st.resource})
	var tw *taskWait
	if token != "" {
		tw = x.r.register(token, x)
		defer x.r.closeToken(token)
	}
	if x.r.invoker == nil {
		return nil, x.taskFailed(f, st, fail(errname.TaskFailed, "no TaskInvoker is configured for resource "+st.resource))
	}
	task := Task{
		Resource:  st.resource,
		StateName: st.name,
		Input:     in,
		TaskToken: token,
		Timeout:   seconds(timeout),
		Execution: x.info,
	}
	type reply struct {
		out json.RawMessage
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- reply{err: fmt.Errorf("task invoker panicked: %v", p)}
			}
		}()
		out, err := x.r.invoker.InvokeTask(tctx, task)
		ch <- reply{out, err}
	}()
	var rep reply
	select {
	case rep = <-ch:
	case <-tctx.Done():
		return nil, x.taskInterrupted(ctx, tctx, f, st)
	}
	if rep.err != nil {
		if tctx.Err() != nil {
			return nil, x.taskInterrupted(ctx, tctx, f, st)
		}
		return nil, x.taskFailed(f, st, invokerFailure(rep.err))
	}
	out := rep.out
	if tw != nil {
		submitted := orNull(rep.out)
		if !json.Valid(submitted) {
			submitted = json.RawMessage(`null`)
		}
		x.record(f, HistoryEvent{Type: EventTaskSubmitted, StateName: st.name, Resource: st.resource, Output: submitted})
		if heartbeat > 0 {
			go x.watchHeartbeat(tctx, cancel, tw, seconds(heartbeat))
		}
		select {
		case res := <-tw.result:
			if res.failed {
				return nil, x.taskFailed(f, st, fail(res.name, res.cause))
			}
			out = res.output
		case <-tctx.Done():
			return nil, x.taskInterrupted(ctx, tctx, f, st)
		}
	}
	out = orNull(out)
	if err := checkSize(out, "result of task "+quote(st.name)); err != nil {
		return nil, err
	}
	v, err := decodeJSON(out)
	if err != nil {
		return nil, x.taskFailed(f, st, runtimeErr(fmt.Sprintf("the task result is not valid JSON: %v", err)))
	}
	x.record(f, HistoryEvent{Type: st.taskEvents().succeeded, StateName: st.name, Resource: st.resource, Output: out})
	return v, nil
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(`null`)
	}
	return b
}

// invokerFailure turns an invoker's error into the state's error: a *TaskFailure
// keeps its name and cause, anything else is States.TaskFailed.
func invokerFailure(err error) *stateFailure {
	var tf *TaskFailure
	if errors.As(err, &tf) {
		name := tf.Name
		if name == "" {
			name = errname.TaskFailed
		}
		return fail(name, tf.Cause)
	}
	return fail(errname.TaskFailed, err.Error())
}

func (x *Execution) taskFailed(f *frame, st *state, sf *stateFailure) error {
	x.record(f, HistoryEvent{Type: st.taskEvents().failed, StateName: st.name, Resource: st.resource, Error: sf.name, Cause: sf.cause})
	return sf
}

// taskInterrupted reports why the task's context ended: the execution stopped
// (ctx's error is returned as is), or the task's timeout or heartbeat expired.
func (x *Execution) taskInterrupted(ctx, tctx context.Context, f *frame, st *state) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sf := fail(errname.Timeout, "the task did not complete within its TimeoutSeconds")
	if errors.Is(context.Cause(tctx), errHeartbeatTimeout) {
		sf = fail(errname.HeartbeatTimeout, "the task sent no heartbeat within its HeartbeatSeconds")
	}
	x.record(f, HistoryEvent{Type: st.taskEvents().timedOut, StateName: st.name, Resource: st.resource, Error: sf.name, Cause: sf.cause})
	return sf
}

// watchHeartbeat cancels the task with errHeartbeatTimeout when d passes without a
// heartbeat.
func (x *Execution) watchHeartbeat(tctx context.Context, cancel context.CancelCauseFunc, tw *taskWait, d time.Duration) {
	for {
		sctx, stop := context.WithCancel(tctx)
		slept := make(chan error, 1)
		go func() { slept <- x.r.timeouts.Sleep(sctx, d) }()
		select {
		case <-tw.beat:
			stop()
			<-slept
		case err := <-slept:
			stop()
			if err == nil {
				cancel(errHeartbeatTimeout)
			}
			return
		}
	}
}

func newToken() string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (r *Runner) register(token string, x *Execution) *taskWait {
	tw := &taskWait{x: x, result: make(chan taskResult, 1), beat: make(chan struct{}, 1)}
	r.mu.Lock()
	r.tokens[token] = tw
	r.mu.Unlock()
	return tw
}

// closeToken marks a token's task as ended: further calls with it get
// ErrTaskTimedOut.
func (r *Runner) closeToken(token string) {
	r.mu.Lock()
	if _, ok := r.tokens[token]; ok {
		delete(r.tokens, token)
		r.closeLocked(token)
	}
	r.mu.Unlock()
}

// closeLocked remembers token as closed, forgetting the oldest closed token past
// maxClosed; r.mu must be held.
func (r *Runner) closeLocked(token string) {
	r.closed[token] = struct{}{}
	r.closedOrder = append(r.closedOrder, token)
	if len(r.closedOrder) > r.maxClosed {
		delete(r.closed, r.closedOrder[0])
		r.closedOrder[0] = ""
		r.closedOrder = r.closedOrder[1:]
	}
}

// closeTokens closes every open token of an execution that ended.
func (r *Runner) closeTokens(x *Execution) {
	r.mu.Lock()
	for t, tw := range r.tokens {
		if tw.x == x {
			delete(r.tokens, t)
			r.closeLocked(t)
		}
	}
	r.mu.Unlock()
}

// take removes an open token for completion.
func (r *Runner) take(token string) (*taskWait, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tw, ok := r.tokens[token]
	if !ok {
		if _, was := r.closed[token]; was {
			return nil, ErrTaskTimedOut
		}
		return nil, ErrTaskDoesNotExist
	}
	delete(r.tokens, token)
	r.closeLocked(token)
	return tw, nil
}

// SendTaskSuccess completes the ".waitForTaskToken" task issued with token; output
// becomes its result. It returns ErrInvalidOutput when output is not JSON,
// ErrTaskDoesNotExist for an unknown token and ErrTaskTimedOut for a task that
// already ended.
func (r *Runner) SendTaskSuccess(token string, output json.RawMessage) error {
	if len(output) == 0 || !json.Valid(output) {
		return ErrInvalidOutput
	}
	tw, err := r.take(token)
	if err != nil {
		return err
	}
	tw.result <- taskResult{output: append(json.RawMessage(nil), output...)}
	return nil
}

// SendTaskFailure fails the task issued with token with errName and cause (an empty
// errName means States.TaskFailed). Errors as for SendTaskSuccess.
func (r *Runner) SendTaskFailure(token, errName, cause string) error {
	tw, err := r.take(token)
	if err != nil {
		return err
	}
	if errName == "" {
		errName = errname.TaskFailed
	}
	tw.result <- taskResult{failed: true, name: errName, cause: cause}
	return nil
}

// SendTaskHeartbeat resets the HeartbeatSeconds clock of the task issued with
// token. Errors as for SendTaskSuccess.
func (r *Runner) SendTaskHeartbeat(token string) error {
	r.mu.Lock()
	tw, ok := r.tokens[token]
	_, was := r.closed[token]
	r.mu.Unlock()
	switch {
	case ok:
		select {
		case tw.beat <- struct{}{}:
		default:
		}
		return nil
	case was:
		return ErrTaskTimedOut
	}
	return ErrTaskDoesNotExist
}
