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

// manualClock is a clock that moves only when the test calls Advance: Sleep
// blocks until Advance has moved the clock to its deadline (or ctx ends). With it
// a test about durations does not depend on how fast the machine runs.
type manualClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[*sleeper]struct{}
	changed  chan struct{} // closed (and replaced) whenever sleepers change
}

type sleeper struct {
	from, until time.Time
	wake        chan struct{}
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), sleepers: map[*sleeper]struct{}{}, changed: make(chan struct{})}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c.mu.Lock()
	s := &sleeper{from: c.now, until: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers[s] = struct{}{}
	c.signalLocked()
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.sleepers, s)
		c.signalLocked()
		c.mu.Unlock()
		return ctx.Err()
	}
}

func (c *manualClock) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the clock by d and wakes every Sleep whose deadline it reached.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for s := range c.sleepers {
		if !s.until.After(c.now) {
			delete(c.sleepers, s)
			close(s.wake)
		}
	}
	c.signalLocked()
}

// awaitSleep blocks until a Sleep of d that started at the clock's current time
// is pending: the interpreter has armed that timer and an Advance will reach it.
func (c *manualClock) awaitSleep(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for s := range c.sleepers {
			if s.from.Equal(c.now) && s.until.Equal(c.now.Add(d)) {
				c.mu.Unlock()
				return
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no Sleep(%v) started at %v", d, c.Now())
		}
	}
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
