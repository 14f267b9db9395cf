package aslconformance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// retryDir holds the retry-schedule cases: the same files as testdata/cases
// (definition.asl.json, input.json, tasks.json), but what is checked is when
// the fake Lambda is called, against retrySchedules below.
const retryDir = "testdata/retry"

// retryDoc is where AWS documents the retrier fields and the worked examples
// the schedules below are taken from.
const retryDoc = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html#error-handling-retrying-after-an-error"

// window is the documented range of one wait between two attempts, in
// seconds: lo == hi when the schedule is exact, [0, d] under FULL jitter.
type window struct{ lo, hi float64 }

func exact(seconds ...float64) []window {
	w := make([]window, len(seconds))
	for i, s := range seconds {
		w[i] = window{s, s}
	}
	return w
}

func jittered(seconds ...float64) []window {
	w := make([]window, len(seconds))
	for i, s := range seconds {
		w[i] = window{0, s}
	}
	return w
}

// retrySchedule is the documented schedule of one case in retryDir. The
// waits are written here from the documentation (retryDoc): the n-th retry
// waits IntervalSeconds × BackoffRate^(n-1), at most MaxDelaySeconds, and
// under JitterStrategy FULL a random time between 0 and that. Neither our
// runner nor the reference computes them.
type retrySchedule struct {
	name   string
	why    string
	status string
	waits  []window
	spread bool // the jittered waits must spread over their range, not sit at one end
}

var retrySchedules = []retrySchedule{
	{
		name:   "backoff-doc-example",
		why:    `"say your IntervalSeconds is 3, MaxAttempts is 3, and BackoffRate is 2. The first retry attempt takes place three seconds after the error occurs. The second retry takes place six seconds after the first retry attempt. While the third retry takes place 12 seconds after the second retry attempt."`,
		status: "SUCCEEDED",
		waits:  exact(3, 6, 12),
	},
	{
		name:   "backoff-rate-one",
		why:    `Example 1 (IntervalSeconds 3, MaxAttempts 2, BackoffRate 1): "the second retry attempt starts after waiting for three seconds after the first retry."`,
		status: "SUCCEEDED",
		waits:  exact(3, 3),
	},
	{
		name:   "defaults-exhausted",
		why:    "IntervalSeconds is 1 by default, MaxAttempts 3 and BackoffRate 2.0; after the third retry \"retries cease and normal error handling resumes\"",
		status: "FAILED",
		waits:  exact(1, 2, 4),
	},
	{
		name:   "backoff-fractional",
		why:    "BackoffRate is \"the multiplier by which the retry interval denoted by IntervalSeconds increases after each retry attempt\": 1 × 1.5^n",
		status: "SUCCEEDED",
		waits:  exact(1, 1.5, 2.25, 3.375),
	},
	{
		name:   "max-delay",
		why:    `Example 2 (IntervalSeconds 3, BackoffRate 2, MaxDelaySeconds 5): "The first retry takes place after waiting for three seconds. The second and third retry attempts take place after waiting for five seconds"`,
		status: "SUCCEEDED",
		waits:  exact(3, 5, 5),
	},
	{
		name:   "max-delay-full-jitter",
		why:    "Example 2 as written, with JitterStrategy FULL: each wait is randomized between 0 and the capped interval (3, 5, 5)",
		status: "SUCCEEDED",
		waits:  jittered(3, 5, 5),
	},
	{
		name:   "full-jitter-doc-example",
		why:    `"If you set JitterStrategy as FULL, the first retry interval is randomized between 0 and 2 seconds, the second retry interval is randomized between 0 and 4 seconds, and the third retry interval is randomized between 0 and 8 seconds."`,
		status: "SUCCEEDED",
		waits:  jittered(2, 4, 8),
	},
	{
		name:   "full-jitter-spread",
		why:    "JitterStrategy FULL \"reduces simultaneous retry attempts by spreading these out over a randomized delay interval\": 100 waits of [0, 10] s (IntervalSeconds 10, BackoffRate 1)",
		status: "SUCCEEDED",
		waits:  jittered(slices.Repeat([]float64{10}, 100)...),
		spread: true,
	},
	{
		name:   "no-max-delay-no-limit",
		why:    `"If you don't specify this value, Step Functions doesn't limit the wait times between retry attempts.": 1000 × 10^n`,
		status: "SUCCEEDED",
		waits:  exact(1000, 10000, 100000),
	},
	{
		name:   "largest-interval-and-cap",
		why:    "IntervalSeconds \"has a maximum value of 99999999\"; MaxDelaySeconds must be \"less than 31622401\" and caps every wait",
		status: "SUCCEEDED",
		waits:  exact(31622400, 31622400),
	},
	{
		name:   "complex-doc-example",
		why:    `Example 4: "The first two errors match the first retrier and cause waits of one and two seconds. The third error matches the second retrier and causes a wait of five seconds." The fourth goes to Z through Catch.`,
		status: "SUCCEEDED",
		waits:  exact(1, 2, 5),
	},
}

// checkWaits compares measured waits (seconds) with a schedule.
func checkWaits(t *testing.T, sc retrySchedule, waits []float64) {
	t.Helper()
	const slack = 0.001 // the reference measures in whole milliseconds
	if len(waits) != len(sc.waits) {
		t.Fatalf("%d retries (waits %v), want %d (%s: %s)", len(waits), waits, len(sc.waits), retryDoc, sc.why)
	}
	for i, w := range waits {
		if want := sc.waits[i]; w < want.lo-slack || w > want.hi+slack {
			t.Errorf("wait before retry %d is %gs, want %s (%s: %s)", i+1, w, want, retryDoc, sc.why)
		}
	}
	if sc.spread {
		lo, hi := slices.Min(waits), slices.Max(waits)
		top := sc.waits[0].hi
		if lo > top/4 || hi < top*3/4 {
			t.Errorf("%d jittered waits all lie within [%g, %g]s; FULL jitter spreads them over [0, %g]s", len(waits), lo, hi, top)
		}
	}
}

func (w window) String() string {
	if w.lo == w.hi {
		return fmt.Sprintf("%gs", w.lo)
	}
	return fmt.Sprintf("between %gs and %gs", w.lo, w.hi)
}

// gaps turns attempt times into the waits between them, in seconds.
func gaps(times []time.Duration) []float64 {
	var out []float64
	for i := 1; i < len(times); i++ {
		out = append(out, (times[i] - times[i-1]).Seconds())
	}
	return out
}

// virtualClock is an asl.Clock whose time moves only when the runner sleeps:
// a retry interval of hours passes at once and is recorded exactly. It suits
// executions without TimeoutSeconds or HeartbeatSeconds, whose timers would
// sleep concurrently with the task.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newVirtualClock() *virtualClock {
	return &virtualClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// timedInvoker notes the clock's time of every task invocation, then answers
// it with the case's fake Lambda.
type timedInvoker struct {
	clock asl.Clock
	start time.Time
	next  asl.TaskInvoker

	mu    sync.Mutex
	times []time.Duration
}

func (i *timedInvoker) InvokeTask(ctx context.Context, task asl.Task) (json.RawMessage, error) {
	i.mu.Lock()
	i.times = append(i.times, i.clock.Now().Sub(i.start))
	i.mu.Unlock()
	return i.next.InvokeTask(ctx, task)
}

// scheduledTimes returns, relative to start, the times of the history events
// that schedule a task (TaskScheduled, LambdaFunctionScheduled, …): one per
// attempt.
func scheduledTimes(exe *asl.Execution, start time.Time) []time.Duration {
	var out []time.Duration
	for _, ev := range exe.History() {
		if strings.HasSuffix(string(ev.Type), "Scheduled") {
			out = append(out, ev.Timestamp.Sub(start))
		}
	}
	return out
}

// TestRetrySchedule checks when retries happen, which TestConformance cannot
// (the reference run there sets every retry pause to 0): our runner on a
// virtual clock, and aws-local-stepfunctions on a virtual clock of its own
// (run.mjs --virtual-clock), must both retry on the documented schedule. Our
// history must stamp every attempt at the time it was made.
func TestRetrySchedule(t *testing.T) {
	cases := map[string]tcase{}
	for _, c := range loadCasesIn(t, retryDir) {
		cases[c.Name] = c
	}
	scheduled := map[string]bool{}
	for _, sc := range retrySchedules {
		if _, ok := cases[sc.name]; !ok {
			t.Errorf("schedule %s has no directory in %s", sc.name, retryDir)
		}
		scheduled[sc.name] = true
	}
	for name := range cases {
		if !scheduled[name] {
			t.Errorf("%s/%s has no schedule in retrySchedules", retryDir, name)
		}
	}
	if t.Failed() {
		return
	}

	ref, err := runReference(retryDir, "--virtual-clock")
	if err != nil {
		t.Fatalf("running the reference interpreter: %v", err)
	}

	for _, sc := range retrySchedules {
		c := cases[sc.name]
		t.Run(sc.name, func(t *testing.T) {
			t.Run("ours", func(t *testing.T) {
				clock := newVirtualClock()
				inv := &timedInvoker{clock: clock, start: clock.Now(), next: newFakeLambda(c.Tasks)}
				res, exe, err := runWith(c, inv, clock)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != sc.status {
					t.Fatalf("status %s, want %s: %s", res.Status, sc.status, res)
				}
				checkWaits(t, sc, gaps(inv.times))
				if hist := scheduledTimes(exe, inv.start); !slices.Equal(hist, inv.times) {
					t.Errorf("the history schedules the task at %v, but it was invoked at %v", hist, inv.times)
				}
			})
			t.Run("reference", func(t *testing.T) {
				var r struct {
					Status      string    `json:"status"`
					Error       string    `json:"error"`
					Cause       string    `json:"cause"`
					Invocations []float64 `json:"invocations"` // milliseconds since the start
				}
				raw, ok := ref[sc.name]
				if !ok {
					t.Fatalf("the reference produced no result for %s", sc.name)
				}
				if err := json.Unmarshal(raw, &r); err != nil {
					t.Fatal(err)
				}
				if r.Status != sc.status {
					t.Fatalf("status %s, want %s: %s %s", r.Status, sc.status, r.Error, r.Cause)
				}
				times := make([]time.Duration, len(r.Invocations))
				for i, ms := range r.Invocations {
					times[i] = time.Duration(ms * float64(time.Millisecond))
				}
				checkWaits(t, sc, gaps(times))
			})
		})
	}
}

// TestRetryScheduleScaledClock runs the short exact schedules on the scaled
// clock TestConformance uses, where Now is real time: the history's attempts
// must be at least the documented wait apart (divided by the scale), and not
// much more.
func TestRetryScheduleScaledClock(t *testing.T) {
	cases := map[string]tcase{}
	for _, c := range loadCasesIn(t, retryDir) {
		cases[c.Name] = c
	}
	const slack = 250 * time.Millisecond // scheduling noise on a busy machine
	ran := 0
	for _, sc := range retrySchedules {
		total := 0.0
		for _, w := range sc.waits {
			total += w.hi
		}
		if total > 60 { // at most 60 ms of real time per case
			continue
		}
		ran++
		c := cases[sc.name]
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			res, exe, err := runWith(c, newFakeLambda(c.Tasks), asl.NewScaledClock(clockScale))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != sc.status {
				t.Fatalf("status %s, want %s: %s", res.Status, sc.status, res)
			}
			waits := gaps(scheduledTimes(exe, start))
			if len(waits) != len(sc.waits) {
				t.Fatalf("%d retries, want %d", len(waits), len(sc.waits))
			}
			for i, w := range waits {
				lo := time.Duration(sc.waits[i].lo / clockScale * float64(time.Second))
				hi := time.Duration(sc.waits[i].hi/clockScale*float64(time.Second)) + slack
				if got := time.Duration(w * float64(time.Second)); got < lo || got > hi {
					t.Errorf("retry %d came %v after the attempt before it, want %v to %v (%s at 1/%d)", i+1, got, lo, hi, sc.waits[i], clockScale)
				}
			}
		})
	}
	if ran == 0 {
		t.Fatal("no schedule is short enough to run on the scaled clock")
	}
}
