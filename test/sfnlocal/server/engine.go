package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// Engine is what the server needs from a state-machine interpreter. The default,
// NewASLEngine, is sfnlocal/asl; tests may substitute a fake.
type Engine interface {
	// Parse validates a definition. The error's text becomes InvalidDefinition's message.
	Parse(definition []byte) (Machine, error)
	// Start starts an execution in the background.
	Start(ctx context.Context, m Machine, input json.RawMessage, info asl.ExecutionInfo) (Execution, error)
	// SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat return errors matching
	// asl.ErrTaskDoesNotExist, asl.ErrTaskTimedOut or asl.ErrInvalidOutput.
	SendTaskSuccess(token string, output json.RawMessage) error
	SendTaskFailure(token, errName, cause string) error
	SendTaskHeartbeat(token string) error
}

// Machine is a parsed definition, opaque to the server.
type Machine any

// Execution is a running or finished execution.
type Execution interface {
	Done() <-chan struct{}
	Stop(errName, cause string)
	Snapshot() asl.ExecutionState
	History() []asl.HistoryEvent
}

// ASLEngine adapts an *asl.Runner to Engine.
type ASLEngine struct{ Runner *asl.Runner }

// NewASLEngine returns an Engine running tasks with inv and sleeping with clock
// (nil clock: real time); extra options follow.
func NewASLEngine(inv asl.TaskInvoker, clock asl.Clock, extra ...asl.Option) *ASLEngine {
	opts := []asl.Option{asl.WithInvoker(inv)}
	if clock != nil {
		opts = append(opts, asl.WithClock(clock))
	}
	opts = append(opts, extra...)
	return &ASLEngine{Runner: asl.NewRunner(opts...)}
}

// Parse implements Engine.
func (e *ASLEngine) Parse(def []byte) (Machine, error) {
	sm, err := asl.Parse(def)
	if err != nil {
		return nil, err
	}
	return sm, nil
}

// Start implements Engine.
func (e *ASLEngine) Start(ctx context.Context, m Machine, input json.RawMessage, info asl.ExecutionInfo) (Execution, error) {
	sm, ok := m.(*asl.StateMachine)
	if !ok {
		return nil, errors.New("machine was not parsed by the asl engine")
	}
	ex, err := e.Runner.Start(ctx, sm, input, info)
	if err != nil {
		return nil, err
	}
	return ex, nil
}

// SendTaskSuccess implements Engine.
func (e *ASLEngine) SendTaskSuccess(token string, output json.RawMessage) error {
	return e.Runner.SendTaskSuccess(token, output)
}

// SendTaskFailure implements Engine.
func (e *ASLEngine) SendTaskFailure(token, errName, cause string) error {
	return e.Runner.SendTaskFailure(token, errName, cause)
}

// SendTaskHeartbeat implements Engine.
func (e *ASLEngine) SendTaskHeartbeat(token string) error {
	return e.Runner.SendTaskHeartbeat(token)
}

// epoch renders t as the awsJson protocol's timestamp: seconds since the epoch with
// millisecond precision.
func epoch(t time.Time) json.Number {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 { // before 1970: keep the millisecond part non-negative
		sec--
		frac += 1000
	}
	return json.Number(fmt.Sprintf("%d.%03d", sec, frac))
}
