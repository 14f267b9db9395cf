package asl

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func failing(name string, succeedOn int) func(context.Context, Task, int) (json.RawMessage, error) {
	return func(_ context.Context, t Task, n int) (json.RawMessage, error) {
		if succeedOn > 0 && n >= succeedOn {
			return json.RawMessage(`{"ok":true}`), nil
		}
		if name == "plain" {
			return nil, errors.New("boom")
		}
		return nil, &TaskFailure{Name: name, Cause: "cause of " + name}
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name      string
		retry     string
		errName   string
		succeedOn int
		wantCalls int
		wantSleep []time.Duration
		wantOK    bool
	}{
		{"defaults: 3 retries, 1s ×2", `[{"ErrorEquals":["E"]}]`, "E", 0, 4, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, false},
		{"succeeds on retry", `[{"ErrorEquals":["E"]}]`, "E", 2, 2, []time.Duration{time.Second}, true},
		{"MaxAttempts 0 never retries", `[{"ErrorEquals":["E"],"MaxAttempts":0}]`, "E", 0, 1, nil, false},
		{"interval and backoff", `[{"ErrorEquals":["E"],"IntervalSeconds":3,"BackoffRate":1.5,"MaxAttempts":3}]`, "E", 0, 4, []time.Duration{3 * time.Second, 4500 * time.Millisecond, 6750 * time.Millisecond}, false},
		{"MaxDelaySeconds caps", `[{"ErrorEquals":["E"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":3,"MaxDelaySeconds":5}]`, "E", 0, 4, []time.Duration{2 * time.Second, 5 * time.Second, 5 * time.Second}, false},
		{"no match", `[{"ErrorEquals":["Other"]}]`, "E", 0, 1, nil, false},
		{"first matching retrier wins", `[{"ErrorEquals":["E"],"MaxAttempts":1},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}]`, "E", 0, 2, []time.Duration{time.Second}, false},
		{"States.ALL", `[{"ErrorEquals":["States.ALL"],"MaxAttempts":1}]`, "E", 0, 2, []time.Duration{time.Second}, false},
		{"States.TaskFailed matches named error", `[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}]`, "E", 0, 2, []time.Duration{time.Second}, false},
		{"States.TaskFailed matches plain error", `[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}]`, "plain", 0, 2, []time.Duration{time.Second}, false},
		{"States.TaskFailed does not match States.Timeout", `[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}]`, "States.Timeout", 0, 1, nil, false},
		{"States.Timeout matches", `[{"ErrorEquals":["States.Timeout"],"MaxAttempts":1}]`, "States.Timeout", 0, 2, []time.Duration{time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"f": failing(tt.errName, tt.succeedOn)}}
			clock := &instantClock{}
			def := chain("T", `"T":{"Type":"Task","Resource":"f","Retry":`+tt.retry+`,"End":true}`)
			_, st := runWith(t, NewRunner(WithInvoker(tasks), WithClock(clock)), def, `{}`)
			if got := tasks.count("f"); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if (st.Status == StatusSucceeded) != tt.wantOK {
				t.Errorf("status %s (%s)", st.Status, st.Error)
			}
			sleeps := clock.recorded()
			if len(sleeps) != len(tt.wantSleep) {
				t.Fatalf("sleeps %v, want %v", sleeps, tt.wantSleep)
			}
			for i := range sleeps {
				if sleeps[i] != tt.wantSleep[i] {
					t.Errorf("sleep %d = %v, want %v", i, sleeps[i], tt.wantSleep[i])
				}
			}
		})
	}
}

// TestRetryJitterFull: with JitterStrategy FULL each wait is the computed interval
// times a value of the runner's random source (uniform in [0, 1)); the test fixes
// those values, so ignoring the jitter gives the un-jittered 10 s, 20 s, 40 s.
func TestRetryJitterFull(t *testing.T) {
	tests := []struct {
		name   string
		jitter string
		want   []time.Duration
	}{
		{"FULL", `"FULL"`, []time.Duration{2500 * time.Millisecond, 0, 39960 * time.Millisecond}},
		{"NONE", `"NONE"`, []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"f": failing("E", 0)}}
			clock := &instantClock{}
			r := NewRunner(WithInvoker(tasks), WithClock(clock))
			values := []float64{0.25, 0, 0.999}
			r.random = func() float64 {
				v := values[0]
				values = values[1:]
				return v
			}
			def := chain("T", `"T":{"Type":"Task","Resource":"f","Retry":[{"ErrorEquals":["E"],"IntervalSeconds":10,"BackoffRate":2,"MaxAttempts":3,"JitterStrategy":`+tt.jitter+`}],"End":true}`)
			runWith(t, r, def, `{}`)
			if got := clock.recorded(); !slices.Equal(got, tt.want) {
				t.Errorf("retry waits %v, want %v", got, tt.want)
			}
		})
	}
	// MaxDelaySeconds caps the interval before the jitter scales it.
	capped := &retrier{interval: 10, backoffRate: 2, maxDelay: 15, fullJitter: true}
	if d := capped.delay(3, func() float64 { return 0.5 }); d != 7500*time.Millisecond {
		t.Errorf("capped jittered delay %v, want 7.5s", d)
	}
	// The default source spreads the delays over [0, interval].
	dflt := NewRunner().random
	r := &retrier{interval: 10, backoffRate: 2, fullJitter: true}
	below := false
	for range 100 {
		d := r.delay(1, dflt)
		if d < 0 || d > 20*time.Second {
			t.Fatalf("delay %v outside [0, 20s]", d)
		}
		below = below || d < 20*time.Second
	}
	if !below {
		t.Error("100 delays with FULL jitter were all the full 20 s")
	}
}

func TestRetryCountInContext(t *testing.T) {
	tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
		"f": func(_ context.Context, t Task, n int) (json.RawMessage, error) {
			if n < 3 {
				return nil, &TaskFailure{Name: "E"}
			}
			return t.Input, nil
		},
	}}
	def := chain("T", `"T":{"Type":"Task","Resource":"f","Parameters":{"rc.$":"$$.State.RetryCount"},"Retry":[{"ErrorEquals":["E"]}],"End":true}`)
	_, st := runDef(t, def, `{}`, tasks)
	if !jsonEqual(t, st.Output, `{"rc":2}`) {
		t.Errorf("output %s, want RetryCount 2", st.Output)
	}
}

func TestCatch(t *testing.T) {
	tests := []struct {
		name, catch, errName, wantNext, wantOut string
	}{
		{"States.ALL replaces output", `[{"ErrorEquals":["States.ALL"],"Next":"H"}]`, "E", "H", `{"Error":"E","Cause":"cause of E"}`},
		{"ResultPath keeps input", `[{"ErrorEquals":["E"],"ResultPath":"$.err","Next":"H"}]`, "E", "H", `{"in":1,"err":{"Error":"E","Cause":"cause of E"}}`},
		{"ResultPath null", `[{"ErrorEquals":["E"],"ResultPath":null,"Next":"H"}]`, "E", "H", `{"in":1}`},
		{"first match in order", `[{"ErrorEquals":["X"],"Next":"G"},{"ErrorEquals":["E","Y"],"Next":"H"},{"ErrorEquals":["States.ALL"],"Next":"G"}]`, "E", "H", `{"Error":"E","Cause":"cause of E"}`},
		{"TaskFailed catches plain error", `[{"ErrorEquals":["States.TaskFailed"],"Next":"H"}]`, "plain", "H", `{"Error":"States.TaskFailed","Cause":"boom"}`},
		{"no match fails", `[{"ErrorEquals":["X"],"Next":"G"}]`, "E", "", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"f": failing(tt.errName, 0)}}
			// T always fails; Next and the leading catcher only keep G and H reachable.
			catch := `[{"ErrorEquals":["NeverThrown"],"Next":"H"},` + tt.catch[1:]
			def := chain("T", `"T":{"Type":"Task","Resource":"f","Catch":`+catch+`,"Next":"G"},"H":{"Type":"Pass","End":true},"G":{"Type":"Fail","Error":"Wrong"}`)
			x, st := runDef(t, def, `{"in":1}`, tasks)
			if tt.wantNext == "" {
				if st.Status != StatusFailed || st.Error != tt.errName {
					t.Fatalf("status %s error %s, want FAILED %s", st.Status, st.Error, tt.errName)
				}
				return
			}
			if st.Status != StatusSucceeded {
				t.Fatalf("status %s: %s %s", st.Status, st.Error, st.Cause)
			}
			if !jsonEqual(t, st.Output, tt.wantOut) {
				t.Errorf("output %s, want %s", st.Output, tt.wantOut)
			}
			var entered []string
			for _, e := range x.History() {
				if e.Type == "PassStateEntered" {
					entered = append(entered, e.StateName)
				}
			}
			if len(entered) != 1 || entered[0] != tt.wantNext {
				t.Errorf("went to %v, want %s", entered, tt.wantNext)
			}
		})
	}
}

func TestErrorMatches(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"States.ALL", "Custom", true},
		{"States.ALL", "States.Timeout", true},
		{"States.ALL", "States.Runtime", false},
		{"States.ALL", "States.DataLimitExceeded", false},
		{"States.Runtime", "States.Runtime", false},
		{"States.TaskFailed", "Custom", true},
		{"States.TaskFailed", "States.Timeout", false},
		{"States.TaskFailed", "States.HeartbeatTimeout", false},
		{"States.Timeout", "States.HeartbeatTimeout", true},
		{"States.HeartbeatTimeout", "States.HeartbeatTimeout", true},
		{"States.HeartbeatTimeout", "States.Timeout", false},
		{"Custom", "Custom", true},
		{"Custom", "custom", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.name, func(t *testing.T) {
			if got := errorMatches(tt.pattern, tt.name); got != tt.want {
				t.Errorf("errorMatches = %v, want %v", got, tt.want)
			}
		})
	}
}
