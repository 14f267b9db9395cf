package asl

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

func TestWaitState(t *testing.T) {
	future := time.Now().Add(10 * time.Second).UTC().Format(time.RFC3339Nano)
	tests := []struct {
		name, state, input string
		min, max           time.Duration
	}{
		{"Seconds", `"Seconds":30`, `{}`, 30 * time.Second, 30 * time.Second},
		{"Seconds zero", `"Seconds":0`, `{}`, 0, 0},
		{"SecondsPath", `"SecondsPath":"$.s"`, `{"s":12}`, 12 * time.Second, 12 * time.Second},
		{"SecondsPath beyond time.Duration", `"SecondsPath":"$.s"`, `{"s":10000000000}`, math.MaxInt64, math.MaxInt64},
		{"Timestamp past", `"Timestamp":"2020-01-01T00:00:00Z"`, `{}`, -1 << 62, 0},
		{"Timestamp future", `"Timestamp":"` + future + `"`, `{}`, 8 * time.Second, 10 * time.Second},
		{"TimestampPath", `"TimestampPath":"$.t"`, `{"t":"` + future + `"}`, 8 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &instantClock{}
			def := chain("W", `"W":{"Type":"Wait",`+tt.state+`,"OutputPath":"$","End":true}`)
			x, st := runWith(t, NewRunner(WithClock(clock)), def, tt.input)
			if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, tt.input) {
				t.Fatalf("status %s output %s", st.Status, st.Output)
			}
			sleeps := clock.recorded()
			if len(sleeps) != 1 || sleeps[0] < tt.min || sleeps[0] > tt.max {
				t.Errorf("slept %v, want between %v and %v", sleeps, tt.min, tt.max)
			}
			want := []string{"ExecutionStarted", "WaitStateEntered", "WaitStateExited", "ExecutionSucceeded"}
			if got := eventTypes(x); !slices.Equal(got, want) {
				t.Errorf("events %v", got)
			}
		})
	}
	t.Run("scaled clock", func(t *testing.T) {
		start := time.Now()
		_, st := runWith(t, NewRunner(WithClock(NewScaledClock(1000))), chain("W", `"W":{"Type":"Wait","Seconds":300,"End":true}`), `{}`)
		if st.Status != StatusSucceeded {
			t.Fatal(st.Status)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
			t.Errorf("a 300 s wait at ×1000 took %v, want about 300 ms", d)
		}
	})
}

func TestChoiceState(t *testing.T) {
	def := chain("C", `"C":{"Type":"Choice","InputPath":"$.in","OutputPath":"$.v","Choices":[
		{"Variable":"$.v","NumericGreaterThan":10,"Next":"Big"},
		{"And":[{"Variable":"$.v","IsNumeric":true},{"Variable":"$.v","NumericLessThan":0}],"Next":"Negative"}],"Default":"Other"},
		"Big":{"Type":"Pass","Result":"big","End":true},
		"Negative":{"Type":"Pass","Result":"negative","End":true},
		"Other":{"Type":"Pass","End":true}`)
	tests := []struct{ input, want string }{
		{`{"in":{"v":11}}`, `"big"`},
		{`{"in":{"v":-1}}`, `"negative"`},
		{`{"in":{"v":5}}`, `5`},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			_, st := runDef(t, def, tt.input, nil)
			if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, tt.want) {
				t.Fatalf("status %s output %s", st.Status, st.Output)
			}
		})
	}
	t.Run("no match, no Default", func(t *testing.T) {
		def := chain("C", `"C":{"Type":"Choice","Choices":[{"Variable":"$.v","IsNull":true,"Next":"S"}]},"S":{"Type":"Succeed"}`)
		_, st := runDef(t, def, `{"v":1}`, nil)
		if st.Status != StatusFailed || st.Error != errname.NoChoiceMatched {
			t.Fatalf("status %s error %s", st.Status, st.Error)
		}
	})
}

func TestFailState(t *testing.T) {
	tests := []struct {
		name, state, input, wantErr, wantCause string
		runtime                                bool
	}{
		{"static", `"Error":"E","Cause":"c"`, `{}`, "E", "c", false},
		{"empty", ``, `{}`, "", "", false},
		{"paths", `"ErrorPath":"$.e","CausePath":"$.c"`, `{"e":"E2","c":"c2"}`, "E2", "c2", false},
		{"context path", `"ErrorPath":"$$.State.Name"`, `{}`, "F", "", false},
		{"intrinsic", `"Error":"E","CausePath":"States.Format('bad {}', $.n)"`, `{"n":3}`, "E", "bad 3", false},
		{"path not string", `"ErrorPath":"$.e"`, `{"e":1}`, "", "", true},
		{"path missing", `"CausePath":"$.c"`, `{}`, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sep := ""
			if tt.state != "" {
				sep = ","
			}
			x, st := runDef(t, chain("F", `"F":{"Type":"Fail"`+sep+tt.state+`}`), tt.input, nil)
			if tt.runtime {
				if st.Error != errname.Runtime {
					t.Fatalf("error %s, want States.Runtime", st.Error)
				}
				return
			}
			if st.Status != StatusFailed || st.Error != tt.wantErr || st.Cause != tt.wantCause {
				t.Fatalf("status %s error %q cause %q", st.Status, st.Error, st.Cause)
			}
			want := []string{"ExecutionStarted", "FailStateEntered", "ExecutionFailed"}
			if got := eventTypes(x); !slices.Equal(got, want) {
				t.Errorf("events %v", got)
			}
		})
	}
}

func TestParallel(t *testing.T) {
	def := chain("P", `"P":{"Type":"Parallel","InputPath":"$.in","Parameters":{"v.$":"$.v"},"ResultSelector":{"both.$":"$"},"ResultPath":"$.out","Branches":[
		{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"$.v"},"End":true}}},
		{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"echo","End":true}}}],"End":true}`)
	x, st := runDef(t, def, `{"in":{"v":1}}`, &fakeTasks{})
	if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, `{"in":{"v":1},"out":{"both":[{"a":1},{"v":1}]}}`) {
		t.Fatalf("status %s output %s", st.Status, st.Output)
	}
	types := eventTypes(x)
	for _, want := range []string{"ParallelStateEntered", "ParallelStateStarted", "ParallelStateSucceeded", "ParallelStateExited", "PassStateEntered", "TaskStateExited"} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s in %v", want, types)
		}
	}

	t.Run("branch failure is the state's error and can be caught", func(t *testing.T) {
		// "bad" fails only once "slow" is running, so that "slow" is there to abort.
		started := make(chan struct{}, 1)
		tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
			"bad": func(ctx context.Context, t Task, n int) (json.RawMessage, error) {
				select {
				case <-started:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return failing("BranchBoom", 0)(ctx, t, n)
			},
			"slow": func(ctx context.Context, t Task, n int) (json.RawMessage, error) {
				started <- struct{}{}
				return blocking(ctx, t, n)
			},
		}}
		def := chain("P", `"P":{"Type":"Parallel","Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"bad","End":true}}},
			{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"slow","End":true}}}],
			"Catch":[{"ErrorEquals":["BranchBoom"],"ResultPath":"$.err","Next":"H"}],"End":true},"H":{"Type":"Pass","End":true}`)
		x, st := runDef(t, def, `{}`, tasks)
		if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, `{"err":{"Error":"BranchBoom","Cause":"cause of BranchBoom"}}`) {
			t.Fatalf("status %s output %s", st.Status, st.Output)
		}
		types := eventTypes(x)
		if !slices.Contains(types, "ParallelStateFailed") || !slices.Contains(types, "TaskStateAborted") {
			t.Errorf("events %v", types)
		}
	})
	t.Run("retry reruns all branches", func(t *testing.T) {
		// "bad" fails only once "good" has run in the same attempt, so that the
		// failure cannot cancel "good" before it starts.
		started := make(chan struct{}, 2)
		bad := failing("E", 2)
		tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
			"good": func(_ context.Context, t Task, _ int) (json.RawMessage, error) {
				started <- struct{}{}
				return t.Input, nil
			},
			"bad": func(ctx context.Context, t Task, n int) (json.RawMessage, error) {
				select {
				case <-started:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return bad(ctx, t, n)
			},
		}}
		def := chain("P", `"P":{"Type":"Parallel","Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"bad","End":true}}},
			{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"good","End":true}}}],
			"Retry":[{"ErrorEquals":["E"]}],"End":true}`)
		_, st := runDef(t, def, `{}`, tasks)
		if st.Status != StatusSucceeded || tasks.count("good") != 2 {
			t.Fatalf("status %s, good ran %d times", st.Status, tasks.count("good"))
		}
	})
}

func TestMap(t *testing.T) {
	tests := []struct {
		name, state, input, want string
	}{
		{"ItemsPath", `"ItemsPath":"$.items"`, `{"items":[1,2,3]}`, `[1,2,3]`},
		{"root array", ``, `[{"a":1},{"a":2}]`, `[{"a":1},{"a":2}]`},
		{"empty", `"ItemsPath":"$.items"`, `{"items":[]}`, `[]`},
		{"ItemSelector with context", `"ItemsPath":"$.items","ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","k.$":"$.k"}`, `{"items":["a","b"],"k":0}`, `[{"i":0,"v":"a","k":0},{"i":1,"v":"b","k":0}]`},
		{"legacy Parameters", `"ItemsPath":"$.items","Parameters":{"v.$":"$$.Map.Item.Value"}`, `{"items":[7]}`, `[{"v":7}]`},
		{"InputPath then ItemsPath", `"InputPath":"$.x","ItemsPath":"$.items"`, `{"x":{"items":[true]}}`, `[true]`},
		{"ResultPath", `"ItemsPath":"$.items","ResultPath":"$.out"`, `{"items":[1]}`, `{"items":[1],"out":[1]}`},
		{"ResultSelector", `"ItemsPath":"$.items","ResultSelector":{"n.$":"States.ArrayLength($)"}`, `{"items":[1,2]}`, `{"n":2}`},
	}
	for _, tt := range tests {
		for _, proc := range []string{"ItemProcessor", "Iterator"} {
			t.Run(tt.name+" "+proc, func(t *testing.T) {
				sep := ""
				if tt.state != "" {
					sep = ","
				}
				def := chain("M", `"M":{"Type":"Map"`+sep+tt.state+`,"`+proc+`":{"StartAt":"I","States":{"I":{"Type":"Task","Resource":"echo","End":true}}},"End":true}`)
				_, st := runDef(t, def, tt.input, &fakeTasks{})
				if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, tt.want) {
					t.Fatalf("status %s %s output %s", st.Status, st.Cause, st.Output)
				}
			})
		}
	}

	t.Run("MaxConcurrency", func(t *testing.T) {
		w, peak := peakTracking(5 * time.Millisecond)
		tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"w": w}}
		items := strings.Repeat("1,", 19) + "1"
		def := chain("M", `"M":{"Type":"Map","MaxConcurrency":3,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Task","Resource":"w","End":true}}},"End":true}`)
		x, st := runDef(t, def, `[`+items+`]`, tasks)
		if st.Status != StatusSucceeded {
			t.Fatal(st.Status)
		}
		if p := peak.Load(); p > 3 || p < 2 {
			t.Errorf("peak concurrency %d, want at most 3", p)
		}
		started := 0
		for _, e := range x.History() {
			if e.Type == "MapIterationStarted" {
				started++
			}
		}
		if started != 20 {
			t.Errorf("%d MapIterationStarted events", started)
		}
	})
	t.Run("iteration failure", func(t *testing.T) {
		tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){
			"f": func(_ context.Context, task Task, _ int) (json.RawMessage, error) {
				if string(task.Input) == "2" {
					return nil, &TaskFailure{Name: "ItemBad", Cause: "2"}
				}
				return task.Input, nil
			},
		}}
		def := chain("M", `"M":{"Type":"Map","MaxConcurrency":1,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Task","Resource":"f","End":true}}},"End":true}`)
		x, st := runDef(t, def, `[1,2,3]`, tasks)
		if st.Status != StatusFailed || st.Error != "ItemBad" {
			t.Fatalf("status %s error %s", st.Status, st.Error)
		}
		types := eventTypes(x)
		if !slices.Contains(types, "MapIterationFailed") || !slices.Contains(types, "MapStateFailed") {
			t.Errorf("events %v", types)
		}
	})
	// An inline Map runs at most 40 iterations at once, with MaxConcurrency 0 (no
	// limit) or above 40.
	for _, mc := range []string{"", `"MaxConcurrency":0,`, `"MaxConcurrency":100,`} {
		t.Run("inline limit "+mc, func(t *testing.T) {
			w, peak := peakTracking(50 * time.Millisecond)
			tasks := &fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"w": w}}
			items := strings.Repeat("1,", 99) + "1"
			def := chain("M", `"M":{"Type":"Map",`+mc+`"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Task","Resource":"w","End":true}}},"End":true}`)
			_, st := runDef(t, def, `[`+items+`]`, tasks)
			if st.Status != StatusSucceeded {
				t.Fatal(st.Status, st.Error, st.Cause)
			}
			if p := peak.Load(); p > maxInlineConcurrency || p < 2 {
				t.Errorf("peak concurrency %d, want at most %d", p, maxInlineConcurrency)
			}
		})
	}
	t.Run("MaxConcurrencyPath", func(t *testing.T) {
		def := chain("M", `"M":{"Type":"Map","ItemsPath":"$.i","MaxConcurrencyPath":"$.c","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}`)
		_, st := runDef(t, def, `{"i":[1,2],"c":1}`, nil)
		if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, `[1,2]`) {
			t.Fatalf("status %s output %s", st.Status, st.Output)
		}
	})
}

func TestContextObject(t *testing.T) {
	def := chain("T", `"T":{"Type":"Task","Resource":"echo","Parameters":{"ctx.$":"$$"},"End":true}`)
	_, st := runDef(t, def, `{"in":1}`, &fakeTasks{})
	var out struct {
		Ctx struct {
			Execution    map[string]any
			StateMachine map[string]any
			State        map[string]any
		}
	}
	if err := json.Unmarshal(st.Output, &out); err != nil {
		t.Fatal(err)
	}
	ex := out.Ctx.Execution
	if ex["Id"] != "arn:aws:states:us-east-1:123456789012:execution:sm:exec-1" || ex["Name"] != "exec-1" ||
		ex["RoleArn"] != "arn:aws:iam::123456789012:role/r" || ex["RedriveCount"] != float64(0) {
		t.Errorf("Execution %v", ex)
	}
	if in, _ := ex["Input"].(map[string]any); in["in"] != float64(1) {
		t.Errorf("Execution.Input %v", ex["Input"])
	}
	if _, err := time.Parse(time.RFC3339, ex["StartTime"].(string)); err != nil {
		t.Errorf("StartTime: %v", err)
	}
	if out.Ctx.StateMachine["Id"] != "arn:aws:states:us-east-1:123456789012:stateMachine:sm" || out.Ctx.StateMachine["Name"] != "sm" {
		t.Errorf("StateMachine %v", out.Ctx.StateMachine)
	}
	if out.Ctx.State["Name"] != "T" || out.Ctx.State["RetryCount"] != float64(0) || out.Ctx.State["EnteredTime"] == "" {
		t.Errorf("State %v", out.Ctx.State)
	}
}

func TestStop(t *testing.T) {
	r := NewRunner(WithInvoker(&fakeTasks{fn: map[string]func(context.Context, Task, int) (json.RawMessage, error){"block": blocking}}))
	x, err := r.Start(context.Background(), mustParse(t, chain("T", `"T":{"Type":"Task","Resource":"block","End":true}`)), nil, ExecutionInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for !slices.Contains(eventTypes(x), "TaskStarted") {
		time.Sleep(time.Millisecond)
	}
	x.Stop("Operator", "stopped by hand")
	st := x.Snapshot()
	if st.Status != StatusAborted || st.Error != "Operator" || st.Cause != "stopped by hand" || st.StopTime.IsZero() {
		t.Fatalf("state %+v", st)
	}
	want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskStateAborted", "ExecutionAborted"}
	if got := eventTypes(x); !slices.Equal(got, want) {
		t.Errorf("events %v", got)
	}
	x.Stop("again", "") // no-op
	if x.Snapshot().Error != "Operator" {
		t.Error("second Stop changed the execution")
	}
	if st.Info.Name == "" || !strings.Contains(st.Info.ARN, st.Info.Name) {
		t.Errorf("generated info %+v", st.Info)
	}
}

func TestExecutionTimeout(t *testing.T) {
	def := `{"TimeoutSeconds":60,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`
	x, st := runWith(t, NewRunner(WithClock(NewScaledClock(1000))), def, `{}`)
	if st.Status != StatusTimedOut || st.Error != errname.Timeout {
		t.Fatalf("status %s error %s", st.Status, st.Error)
	}
	if types := eventTypes(x); types[len(types)-1] != "ExecutionTimedOut" || !slices.Contains(types, "WaitStateAborted") {
		t.Errorf("events %v", types)
	}
}

func TestRunContextCancelStops(t *testing.T) {
	r := NewRunner()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	x, err := r.Run(ctx, mustParse(t, chain("W", `"W":{"Type":"Wait","Seconds":3600,"End":true}`)), nil, ExecutionInfo{})
	if err == nil {
		t.Fatal("Run returned no error")
	}
	if st := x.Snapshot(); st.Status != StatusAborted {
		t.Fatalf("status %s", st.Status)
	}
}

func TestHistory(t *testing.T) {
	def := chain("A", `"A":{"Type":"Pass","Next":"T"},"T":{"Type":"Task","Resource":"echo","Next":"S"},"S":{"Type":"Succeed"}`)
	x, _ := runDef(t, def, `{"k":"v"}`, &fakeTasks{})
	h := x.History()
	want := []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"}
	if got := eventTypes(x); !slices.Equal(got, want) {
		t.Fatalf("events %v", got)
	}
	for i, e := range h {
		if e.ID != int64(i+1) || e.PreviousEventID != int64(i) {
			t.Errorf("event %d: ID %d previous %d", i, e.ID, e.PreviousEventID)
		}
		if e.Timestamp.IsZero() || (i > 0 && e.Timestamp.Before(h[i-1].Timestamp)) {
			t.Errorf("event %d: timestamp %v", i, e.Timestamp)
		}
	}
	if string(h[1].Input) != `{"k":"v"}` || string(h[2].Output) != `{"k":"v"}` || h[4].Resource != "echo" || h[1].StateName != "A" {
		t.Errorf("entered/exited details: %+v %+v %+v", h[1], h[2], h[4])
	}

	t.Run("concurrent reads while running", func(t *testing.T) {
		items := strings.Repeat(`{"w":1},`, 49) + `{"w":1}`
		def := chain("M", `"M":{"Type":"Map","ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.w","Next":"P"},"P":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}},{"StartAt":"Y","States":{"Y":{"Type":"Pass","End":true}}}],"End":true}}},"End":true}`)
		r := NewRunner(WithClock(NewScaledClock(1000)))
		x, err := r.Start(context.Background(), mustParse(t, def), json.RawMessage(`[`+items+`]`), ExecutionInfo{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_ = x.History()
					_ = x.Snapshot()
					select {
					case <-x.Done():
						return
					default:
					}
				}
			}()
		}
		wg.Wait()
		if st := x.Snapshot(); st.Status != StatusSucceeded {
			t.Fatalf("status %s %s", st.Status, st.Cause)
		}
		ids := map[int64]bool{}
		for _, e := range x.History() {
			if ids[e.ID] {
				t.Fatalf("duplicate ID %d", e.ID)
			}
			ids[e.ID] = true
		}
	})
}

func TestHistoryQuota(t *testing.T) {
	def := chain("A", `"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}`)
	x, st := runDef(t, def, `{}`, nil)
	if st.Status != StatusFailed || st.Error != errname.Runtime || !strings.Contains(st.Cause, "25000") {
		t.Fatalf("status %s error %s cause %s", st.Status, st.Error, st.Cause)
	}
	if n := len(x.History()); n < maxHistoryEvents || n > maxHistoryEvents+2 {
		t.Errorf("%d events", n)
	}
}

// peakTracking returns a task that takes d and echoes its input, and the largest
// number of its calls that were ever running at once.
func peakTracking(d time.Duration) (func(context.Context, Task, int) (json.RawMessage, error), *atomic.Int32) {
	var running, peak atomic.Int32
	return func(_ context.Context, task Task, _ int) (json.RawMessage, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(d)
		running.Add(-1)
		return task.Input, nil
	}, &peak
}
