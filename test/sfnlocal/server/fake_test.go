package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// fakeEngine stands in for the interpreter so the API surface can be tested alone.
// A definition's "Comment" picks the behaviour: "succeed" echoes the input,
// "fail" fails with Error "Boom", "wait" waits for a task token
// ("token-" + execution name), anything else runs until stopped.
type fakeEngine struct {
	mu     sync.Mutex
	tokens map[string]*fakeExec
}

type fakeMachine struct{ mode string }

func newFakeEngine() *fakeEngine { return &fakeEngine{tokens: map[string]*fakeExec{}} }

func (f *fakeEngine) Parse(def []byte) (Machine, error) {
	var d struct {
		Comment string
		StartAt string
		States  map[string]json.RawMessage
	}
	if err := json.Unmarshal(def, &d); err != nil {
		return nil, fmt.Errorf("definition is not JSON: %v", err)
	}
	if d.StartAt == "" {
		return nil, &asl.DefinitionError{Field: "StartAt", Message: "is required"}
	}
	return &fakeMachine{mode: d.Comment}, nil
}

type fakeExec struct {
	mu     sync.Mutex
	done   chan struct{}
	st     asl.ExecutionState
	events []asl.HistoryEvent
}

func (e *fakeExec) add(typ asl.EventType, mod func(*asl.HistoryEvent)) {
	ev := asl.HistoryEvent{ID: int64(len(e.events) + 1), PreviousEventID: int64(len(e.events)), Timestamp: time.Now(), Type: typ}
	if mod != nil {
		mod(&ev)
	}
	e.events = append(e.events, ev)
}

func (e *fakeExec) finish(status asl.Status, output json.RawMessage, errName, cause string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.Status != asl.StatusRunning {
		return
	}
	e.st.Status, e.st.Output, e.st.Error, e.st.Cause, e.st.StopTime = status, output, errName, cause, time.Now()
	switch status {
	case asl.StatusSucceeded:
		e.add("TaskSucceeded", func(ev *asl.HistoryEvent) {
			ev.Resource = "arn:aws:states:::lambda:invoke.waitForTaskToken"
			ev.Output = output
		})
		e.add("TaskStateExited", func(ev *asl.HistoryEvent) { ev.StateName = "Work"; ev.Output = output })
		e.add("ExecutionSucceeded", func(ev *asl.HistoryEvent) { ev.Output = output })
	case asl.StatusFailed:
		e.add("TaskFailed", func(ev *asl.HistoryEvent) {
			ev.Resource = "arn:aws:states:::lambda:invoke.waitForTaskToken"
			ev.Error, ev.Cause = errName, cause
		})
		e.add("ExecutionFailed", func(ev *asl.HistoryEvent) { ev.Error, ev.Cause = errName, cause })
	case asl.StatusAborted:
		e.add("ExecutionAborted", func(ev *asl.HistoryEvent) { ev.Error, ev.Cause = errName, cause })
	}
	close(e.done)
}

func (f *fakeEngine) Start(ctx context.Context, m Machine, input json.RawMessage, info asl.ExecutionInfo) (Execution, error) {
	e := &fakeExec{done: make(chan struct{}), st: asl.ExecutionState{Info: info, Status: asl.StatusRunning, Input: input, StartTime: info.StartTime}}
	e.add("ExecutionStarted", func(ev *asl.HistoryEvent) { ev.Input = input })
	e.add("TaskStateEntered", func(ev *asl.HistoryEvent) { ev.StateName = "Work"; ev.Input = input })
	e.add("TaskScheduled", func(ev *asl.HistoryEvent) {
		ev.Resource = "arn:aws:states:::lambda:invoke.waitForTaskToken"
		ev.Input = input
	})
	switch m.(*fakeMachine).mode {
	case "succeed":
		e.finish(asl.StatusSucceeded, input, "", "")
	case "fail":
		e.finish(asl.StatusFailed, nil, "Boom", "it broke")
	case "wait":
		f.mu.Lock()
		f.tokens["token-"+info.Name] = e
		f.mu.Unlock()
	}
	return e, nil
}

func (f *fakeEngine) task(token string) (*fakeExec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token == "timedout" {
		return nil, asl.ErrTaskTimedOut
	}
	e, ok := f.tokens[token]
	if !ok {
		return nil, asl.ErrTaskDoesNotExist
	}
	delete(f.tokens, token)
	return e, nil
}

func (f *fakeEngine) SendTaskSuccess(token string, output json.RawMessage) error {
	e, err := f.task(token)
	if err != nil {
		return err
	}
	e.finish(asl.StatusSucceeded, output, "", "")
	return nil
}

func (f *fakeEngine) SendTaskFailure(token, errName, cause string) error {
	e, err := f.task(token)
	if err != nil {
		return err
	}
	e.finish(asl.StatusFailed, nil, errName, cause)
	return nil
}

func (f *fakeEngine) SendTaskHeartbeat(token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tokens[token]; !ok {
		return errors.Join(asl.ErrTaskDoesNotExist)
	}
	return nil
}

func (e *fakeExec) Done() <-chan struct{} { return e.done }
func (e *fakeExec) Stop(errName, cause string) {
	e.finish(asl.StatusAborted, nil, errName, cause)
}
func (e *fakeExec) Snapshot() asl.ExecutionState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}
func (e *fakeExec) History() []asl.HistoryEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]asl.HistoryEvent(nil), e.events...)
}
