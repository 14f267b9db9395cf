package asl

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// instantClock returns from Sleep at once and records what was asked.
type instantClock struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *instantClock) Now() time.Time { return time.Now() }

func (c *instantClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *instantClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// fakeTasks answers Task states by resource name (the part after the last ':').
type fakeTasks struct {
	mu    sync.Mutex
	calls []Task
	fn    map[string]func(ctx context.Context, t Task, n int) (json.RawMessage, error)
}

func (f *fakeTasks) InvokeTask(ctx context.Context, t Task) (json.RawMessage, error) {
	f.mu.Lock()
	f.calls = append(f.calls, t)
	n := 0
	for _, c := range f.calls {
		if c.Resource == t.Resource {
			n++
		}
	}
	f.mu.Unlock()
	name := t.Resource[strings.LastIndex(t.Resource, ":")+1:]
	if fn, ok := f.fn[name]; ok {
		return fn(ctx, t, n)
	}
	return t.Input, nil // echo
}

func (f *fakeTasks) count(resourceSuffix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasSuffix(c.Resource, resourceSuffix) {
			n++
		}
	}
	return n
}

func mustParse(t testing.TB, def string) *StateMachine {
	t.Helper()
	sm, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return sm
}

// runDef parses and runs def to completion with an instant clock.
func runDef(t testing.TB, def, input string, inv TaskInvoker) (*Execution, ExecutionState) {
	t.Helper()
	return runWith(t, NewRunner(WithInvoker(inv), WithClock(&instantClock{})), def, input)
}

func runWith(t testing.TB, r *Runner, def, input string) (*Execution, ExecutionState) {
	t.Helper()
	sm := mustParse(t, def)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := r.Run(ctx, sm, json.RawMessage(input), ExecutionInfo{
		Name: "exec-1", StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:sm", StateMachineName: "sm",
		RoleARN: "arn:aws:iam::123456789012:role/r",
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return x, x.Snapshot()
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t testing.TB, got json.RawMessage, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("output %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func eventTypes(x *Execution) []string {
	var out []string
	for _, e := range x.History() {
		out = append(out, string(e.Type))
	}
	return out
}

// chain builds a definition body: states is the JSON of the States object.
func chain(startAt, states string) string {
	return `{"StartAt":"` + startAt + `","States":{` + states + `}}`
}

func (f *fakeTasks) call(i int) Task {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[i]
}
