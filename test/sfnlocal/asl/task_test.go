package asl

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// blocking never answers until its context ends.
func blocking(ctx context.Context, _ Task, _ int) (json.RawMessage, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestTaskTimeout(t *testing.T) {
	tests := []struct {
		name, state, input, wantErr string
	}{
		{"TimeoutSeconds", `"TimeoutSeconds":5`, `{}`, errname.Timeout},
		{"TimeoutSecondsPath", `"TimeoutSecondsPath":"$.t"`, `{"t":5}`, errname.Timeout},
		{"caught by States.Timeout", `"TimeoutSeconds":5,"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"OK"}]`, `{}`, ""},
		{"not caught by States.TaskFailed", `"TimeoutSeconds":5,"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"OK"}]`, `{}`, errname.Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"block": blocking}}
			def := chain("T", `"T":{"Type":"Task","Resource":"block",`+tt.state+`,"Next":"OK"},"OK":{"Type":"Succeed"}`)
			start := time.Now()
			x, st := runWith(t, NewRunner(WithInvoker(tasks), WithClock(NewScaledClock(1000))), def, tt.input)
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %v: the clock was not scaled", time.Since(start))
			}
			if tt.wantErr == "" {
				if st.Status != StatusSucceeded {
					t.Fatalf("status %s %s", st.Status, st.Error)
				}
			} else if st.Status != StatusFailed || st.Error != tt.wantErr {
				t.Fatalf("status %s error %s, want FAILED %s", st.Status, st.Error, tt.wantErr)
			}
			if !slices.Contains(eventTypes(x), "TaskTimedOut") {
				t.Errorf("no TaskTimedOut event in %v", eventTypes(x))
			}
			if tasks.call(0).Timeout != 5*time.Second {
				t.Errorf("Task.Timeout = %v", tasks.call(0).Timeout)
			}
		})
	}
}

// tokenRunner starts def with an invoker that hands each task token to tokens.
func tokenRunner(t *testing.T, def string, clock Clock) (*Runner, *Execution, chan Task) {
	t.Helper()
	tasks := make(chan Task, 10)
	r := NewRunner(WithClock(clock), WithInvoker(TaskInvokerFunc(func(ctx context.Context, task Task) (json.RawMessage, error) {
		tasks <- task
		return json.RawMessage(`{"MessageId":"m-1"}`), nil
	})))
	x, err := r.Start(context.Background(), mustParse(t, def), json.RawMessage(`{"a":1}`), ExecutionInfo{Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	return r, x, tasks
}

func waitDone(t *testing.T, x *Execution) ExecutionState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := x.Wait(ctx); err != nil {
		t.Fatalf("execution did not end: %v", err)
	}
	return x.Snapshot()
}

const tokenDef = `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","Parameters":{"token.$":"$$.Task.Token","a.$":"$.a"},"ResultPath":"$.r","TimeoutSeconds":3600,"HeartbeatSeconds":60,"End":true}}}`

func TestWaitForTaskToken(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		r, x, tasks := tokenRunner(t, tokenDef, NewScaledClock(1))
		task := <-tasks
		var in struct{ Token string }
		_ = json.Unmarshal(task.Input, &in)
		if task.TaskToken == "" || in.Token != task.TaskToken {
			t.Fatalf("token %q, in input %q", task.TaskToken, in.Token)
		}
		if err := r.SendTaskHeartbeat(task.TaskToken); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		if err := r.SendTaskSuccess(task.TaskToken, json.RawMessage(`not json`)); !errors.Is(err, ErrInvalidOutput) {
			t.Fatalf("invalid output: %v", err)
		}
		if err := r.SendTaskSuccess(task.TaskToken, json.RawMessage(`{"done":true}`)); err != nil {
			t.Fatalf("success: %v", err)
		}
		st := waitDone(t, x)
		if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, `{"a":1,"r":{"done":true}}`) {
			t.Fatalf("status %s output %s", st.Status, st.Output)
		}
		if err := r.SendTaskSuccess(task.TaskToken, json.RawMessage(`{}`)); !errors.Is(err, ErrTaskTimedOut) {
			t.Errorf("second success: %v, want ErrTaskTimedOut", err)
		}
		if err := r.SendTaskHeartbeat(task.TaskToken); !errors.Is(err, ErrTaskTimedOut) {
			t.Errorf("late heartbeat: %v, want ErrTaskTimedOut", err)
		}
		want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"}
		if got := eventTypes(x); !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})
	t.Run("failure", func(t *testing.T) {
		r, x, tasks := tokenRunner(t, tokenDef, NewScaledClock(1))
		task := <-tasks
		if err := r.SendTaskFailure(task.TaskToken, "Rejected", "no"); err != nil {
			t.Fatal(err)
		}
		st := waitDone(t, x)
		if st.Status != StatusFailed || st.Error != "Rejected" || st.Cause != "no" {
			t.Fatalf("status %s %s %s", st.Status, st.Error, st.Cause)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		r := NewRunner()
		if err := r.SendTaskSuccess("nope", json.RawMessage(`{}`)); !errors.Is(err, ErrTaskDoesNotExist) {
			t.Errorf("success: %v", err)
		}
		if err := r.SendTaskFailure("nope", "E", ""); !errors.Is(err, ErrTaskDoesNotExist) {
			t.Errorf("failure: %v", err)
		}
		if err := r.SendTaskHeartbeat("nope"); !errors.Is(err, ErrTaskDoesNotExist) {
			t.Errorf("heartbeat: %v", err)
		}
	})
	t.Run("invoker answers before returning", func(t *testing.T) {
		var r *Runner
		r = NewRunner(WithInvoker(TaskInvokerFunc(func(ctx context.Context, task Task) (json.RawMessage, error) {
			return nil, r.SendTaskSuccess(task.TaskToken, json.RawMessage(`"sync"`))
		})))
		_, st := runWith(t, r, tokenDef, `{"a":2}`)
		if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, `{"a":2,"r":"sync"}`) {
			t.Fatalf("status %s output %s error %s %s", st.Status, st.Output, st.Error, st.Cause)
		}
	})
}

// The heartbeat tests run on a manualClock: tokenDef's 60 s HeartbeatSeconds
// window only moves when the test advances the clock, so they do not depend on
// the machine's speed.

func TestHeartbeatsKeepTaskAlive(t *testing.T) {
	clock := newManualClock()
	r, x, tasks := tokenRunner(t, tokenDef, clock)
	task := <-tasks
	clock.awaitSleep(t, 60*time.Second) // the heartbeat watch is armed
	// Six heartbeats 50 s apart: 300 s in all, five times the window, and never
	// 60 s without one.
	for i := range 6 {
		clock.Advance(50 * time.Second)
		if err := r.SendTaskHeartbeat(task.TaskToken); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
		clock.awaitSleep(t, 60*time.Second) // the watch restarted from this heartbeat
	}
	if st := x.Snapshot(); st.Status != StatusRunning {
		t.Fatalf("after 300 s with heartbeats: status %s %s, want RUNNING", st.Status, st.Error)
	}
	if err := r.SendTaskSuccess(task.TaskToken, json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if st := waitDone(t, x); st.Status != StatusSucceeded {
		t.Fatalf("status %s %s", st.Status, st.Error)
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	clock := newManualClock()
	r, x, tasks := tokenRunner(t, tokenDef, clock)
	task := <-tasks
	clock.awaitSleep(t, 60*time.Second)
	clock.Advance(30 * time.Second)
	if err := r.SendTaskHeartbeat(task.TaskToken); err != nil {
		t.Fatal(err)
	}
	clock.awaitSleep(t, 60*time.Second) // restarted at 30 s
	clock.Advance(59 * time.Second)
	if st := x.Snapshot(); st.Status != StatusRunning {
		t.Fatalf("59 s after a heartbeat (89 s after the start): status %s %s, want RUNNING", st.Status, st.Error)
	}
	clock.Advance(time.Second)
	st := waitDone(t, x)
	if st.Status != StatusFailed || st.Error != errname.HeartbeatTimeout {
		t.Fatalf("status %s error %s, want States.HeartbeatTimeout", st.Status, st.Error)
	}
	if err := r.SendTaskSuccess(task.TaskToken, json.RawMessage(`{}`)); !errors.Is(err, ErrTaskTimedOut) {
		t.Errorf("success after timeout: %v, want ErrTaskTimedOut", err)
	}
}

func TestInvokerErrors(t *testing.T) {
	t.Run("no invoker", func(t *testing.T) {
		_, st := runWith(t, NewRunner(), chain("T", `"T":{"Type":"Task","Resource":"x","End":true}`), `{}`)
		if st.Status != StatusFailed || st.Error != errname.TaskFailed {
			t.Fatalf("status %s %s", st.Status, st.Error)
		}
	})
	t.Run("invalid JSON result", func(t *testing.T) {
		tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
			"x": func(context.Context, Task, int) (json.RawMessage, error) { return json.RawMessage(`{`), nil },
		}}
		_, st := runDef(t, chain("T", `"T":{"Type":"Task","Resource":"x","End":true}`), `{}`, tasks)
		if st.Status != StatusFailed || st.Error != errname.Runtime {
			t.Fatalf("status %s %s", st.Status, st.Error)
		}
	})
	t.Run("empty result is null", func(t *testing.T) {
		tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
			"x": func(context.Context, Task, int) (json.RawMessage, error) { return nil, nil },
		}}
		_, st := runDef(t, chain("T", `"T":{"Type":"Task","Resource":"x","End":true}`), `{}`, tasks)
		if st.Status != StatusSucceeded || string(st.Output) != "null" {
			t.Fatalf("status %s output %s", st.Status, st.Output)
		}
	})
	t.Run("panic", func(t *testing.T) {
		tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
			"x": func(context.Context, Task, int) (json.RawMessage, error) { panic("oops") },
		}}
		_, st := runDef(t, chain("T", `"T":{"Type":"Task","Resource":"x","End":true}`), `{}`, tasks)
		if st.Status != StatusFailed || st.Error != errname.TaskFailed {
			t.Fatalf("status %s %s", st.Status, st.Error)
		}
	})
	t.Run("task fields", func(t *testing.T) {
		tasks := &fakeTasks{}
		runDef(t, chain("T", `"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Parameters":{"a":1},"End":true}`), `{}`, tasks)
		c := tasks.call(0)
		if c.StateName != "T" || c.Resource != "arn:aws:lambda:us-east-1:1:function:f" || string(c.Input) != `{"a":1}` || c.Execution.Name != "exec-1" || c.TaskToken != "" {
			t.Errorf("task %+v", c)
		}
	})
}

func TestTaskEventNames(t *testing.T) {
	tests := []struct {
		resource string
		fails    bool
		want     []string
	}{
		{"arn:aws:lambda:us-east-1:123456789012:function:deploy", false, []string{"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"}},
		{"arn:aws:lambda:us-east-1:123456789012:function:deploy:live", true, []string{"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed"}},
		{"arn:aws:states:::lambda:invoke", false, []string{"TaskScheduled", "TaskStarted", "TaskSucceeded"}},
		{"arn:aws:states:::dynamodb:putItem", true, []string{"TaskScheduled", "TaskStarted", "TaskFailed"}},
		{"arn:aws:lambda:us-east-1:123456789012:layer:x", false, []string{"TaskScheduled", "TaskStarted", "TaskSucceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			inv := TaskInvokerFunc(func(context.Context, Task) (json.RawMessage, error) {
				if tt.fails {
					return nil, &TaskFailure{Name: "E"}
				}
				return json.RawMessage(`{}`), nil
			})
			x, _ := runDef(t, chain("T", `"T":{"Type":"Task","Resource":"`+tt.resource+`","End":true}`), `{}`, inv)
			got := eventTypes(x)
			if len(got) < 5 || !slices.Equal(got[2:5], tt.want) {
				t.Errorf("events %v, want %v after entering", got, tt.want)
			}
		})
	}
}

func TestTaskScheduledTimeouts(t *testing.T) {
	tests := []struct {
		name, state, input string
		timeout, heartbeat int64
	}{
		{"none", ``, `{}`, 0, 0},
		{"fields", `"TimeoutSeconds":30,"HeartbeatSeconds":10,`, `{}`, 30, 10},
		{"paths", `"TimeoutSecondsPath":"$.t","HeartbeatSecondsPath":"$.h",`, `{"t":40,"h":20}`, 40, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, resource := range []string{"arn:aws:states:::sns:publish", "arn:aws:lambda:us-east-1:123456789012:function:f"} {
				def := chain("T", `"T":{"Type":"Task","Resource":"`+resource+`",`+tt.state+`"End":true}`)
				// Real time: the timeouts must not expire before the task answers.
				x, st := runWith(t, NewRunner(WithInvoker(&fakeTasks{}), WithClock(NewScaledClock(1))), def, tt.input)
				if st.Status != StatusSucceeded {
					t.Fatalf("%s: status %s %s", resource, st.Status, st.Error)
				}
				var got *HistoryEvent
				for _, ev := range x.History() {
					if ev.Type == "TaskScheduled" || ev.Type == "LambdaFunctionScheduled" {
						got = &ev
					}
				}
				if got == nil {
					t.Fatalf("%s: no scheduled event in %v", resource, eventTypes(x))
				}
				if got.TimeoutSeconds != tt.timeout || got.HeartbeatSeconds != tt.heartbeat {
					t.Errorf("%s: %s TimeoutSeconds %d HeartbeatSeconds %d, want %d %d", resource, got.Type, got.TimeoutSeconds, got.HeartbeatSeconds, tt.timeout, tt.heartbeat)
				}
			}
		})
	}
}

// A TimeoutSecondsPath past time.Duration's range must not overflow into an
// immediate timeout.
func TestTaskTimeoutPathHuge(t *testing.T) {
	tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
		"slow": func(ctx context.Context, _ Task, _ int) (json.RawMessage, error) {
			select {
			case <-time.After(50 * time.Millisecond):
				return json.RawMessage(`{}`), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}}
	def := chain("T", `"T":{"Type":"Task","Resource":"slow","TimeoutSecondsPath":"$.t","End":true}`)
	_, st := runWith(t, NewRunner(WithInvoker(tasks), WithClock(NewScaledClock(1))), def, `{"t":10000000000}`)
	if st.Status != StatusSucceeded {
		t.Fatalf("status %s %s %s", st.Status, st.Error, st.Cause)
	}
	if got := tasks.call(0).Timeout; got <= 0 {
		t.Errorf("Task.Timeout = %v", got)
	}
}

// The tokens of ended tasks are remembered up to a bound, not forever.
func TestClosedTokensBounded(t *testing.T) {
	r := NewRunner()
	r.maxClosed = 2
	for _, tok := range []string{"t1", "t2", "t3"} {
		r.register(tok, nil)
		r.closeToken(tok)
	}
	if len(r.closed) != 2 {
		t.Errorf("%d closed tokens remembered, want 2", len(r.closed))
	}
	if err := r.SendTaskHeartbeat("t1"); !errors.Is(err, ErrTaskDoesNotExist) {
		t.Errorf("oldest token: %v, want ErrTaskDoesNotExist", err)
	}
	if err := r.SendTaskHeartbeat("t3"); !errors.Is(err, ErrTaskTimedOut) {
		t.Errorf("newest token: %v, want ErrTaskTimedOut", err)
	}
}

// WithTimeoutClock measures Task timeouts apart from the waits: a minute's
// Wait takes a microsecond while a 1-second Task timeout still allows a
// 50 ms call; with one clock for both, that call times out.
func TestTimeoutClock(t *testing.T) {
	slow := func(ctx context.Context, _ Task, _ int) (json.RawMessage, error) {
		select {
		case <-time.After(50 * time.Millisecond):
			return json.RawMessage(`{}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	def := chain("W", `"W":{"Type":"Wait","Seconds":60,"Next":"T"},"T":{"Type":"Task","Resource":"slow","TimeoutSeconds":1,"Next":"OK"},"OK":{"Type":"Succeed"}`)
	for _, c := range []struct {
		name     string
		opts     []Option
		want     Status
		maxTaken time.Duration
	}{
		{"timeouts scaled apart", []Option{WithClock(NewScaledClock(6e7)), WithTimeoutClock(NewScaledClock(1))}, StatusSucceeded, 2 * time.Second},
		{"one clock", []Option{WithClock(NewScaledClock(6e7))}, StatusFailed, 2 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"slow": slow}}
			start := time.Now()
			_, st := runWith(t, NewRunner(append(c.opts, WithInvoker(tasks))...), def, `{}`)
			if st.Status != c.want || time.Since(start) > c.maxTaken {
				t.Errorf("status %s %s after %v, want %s", st.Status, st.Error, time.Since(start), c.want)
			}
		})
	}
}
