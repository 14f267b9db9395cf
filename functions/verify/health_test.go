package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// The health check of environment "checked": 2 passes in a row of status
// 200, at most 4 attempts, 10 s apart; the deployment completes at the
// first poll unless answers say otherwise.
func TestHealthCheck(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		answers  []ecsAnswer
		// deadline is the invocation's deadline after the clock's start
		// (0: none).
		deadline  time.Duration
		sleepErr  error
		wantSlept int
		check     func(t *testing.T, got payload.VerifyResult, err error)
	}{
		{name: "passes twice", statuses: []int{200}, wantSlept: 1, check: passedWith(2)},
		{name: "flaps, then passes", statuses: []int{200, 503, 200, 200}, wantSlept: 3, check: passedWith(4)},
		{name: "fails: stops when the attempts left cannot make the passes", statuses: []int{503}, wantSlept: 2, check: func(t *testing.T, got payload.VerifyResult, err error) {
			e := wantError[taskerr.HealthCheckFailed](t, err, "health check of "+healthURL+" failed: 0 of 2 consecutive passes after 3 attempts (last answers: 503, 503, 503); stopped early: the 1 attempts left cannot make 2 passes in a row")
			if e.Passes != 0 || e.Wanted != 2 || e.Attempts != 3 || e.URL != healthURL {
				t.Errorf("error %#v", e)
			}
		}},
		{name: "fails at the last attempt", statuses: []int{200, 503, 200, 503}, wantSlept: 3, check: func(t *testing.T, got payload.VerifyResult, err error) {
			e := wantError[taskerr.HealthCheckFailed](t, err)
			if e.Passes != 1 || e.Attempts != 4 || !slices.Equal(e.Answers, []string{"503", "200", "503"}) || e.Reason != "" {
				t.Errorf("error %#v", e)
			}
		}},
		{name: "another 2xx is not the status", statuses: []int{204}, wantSlept: 2, check: func(t *testing.T, got payload.VerifyResult, err error) {
			wantError[taskerr.HealthCheckFailed](t, err, "last answers: 204, 204, 204")
		}},
		{name: "connection refused", statuses: []int{0}, wantSlept: 2, check: func(t *testing.T, got payload.VerifyResult, err error) {
			wantError[taskerr.HealthCheckFailed](t, err, `Get "`+healthURL+`": dial tcp 10.0.0.1:443: connect: connection refused`)
		}},
		{name: "the invocation's time runs out", statuses: []int{200}, deadline: 42 * time.Second, check: func(t *testing.T, got payload.VerifyResult, err error) {
			e := wantError[taskerr.HealthCheckFailed](t, err, "after 1 attempts", "this invocation's time ran out")
			if e.Passes != 1 || e.Attempts != 1 {
				t.Errorf("error %#v", e)
			}
		}},
		{name: "just enough time for the second attempt", statuses: []int{200}, deadline: 45 * time.Second, wantSlept: 1, check: passedWith(2)},
		{name: "the context ends while waiting", statuses: []int{200}, sleepErr: context.Canceled, wantSlept: 1, check: func(t *testing.T, got payload.VerifyResult, err error) {
			wantError[taskerr.HealthCheckFailed](t, err, "this invocation's time ran out")
		}},
		// The check takes at most 3 × 10 s + 4 × 5 s = 50 s. The deployment
		// completes at the second poll (15 s in): with 50 s left the check
		// runs, with less it waits for the next invocation.
		{name: "completed late: the check runs when it fits", statuses: []int{200}, answers: []ecsAnswer{inProgress, completed}, deadline: 95 * time.Second, wantSlept: 1, check: passedWith(2)},
		{name: "completed late: the check waits for the next invocation", statuses: []int{200}, answers: []ecsAnswer{inProgress, completed}, deadline: 94 * time.Second, check: func(t *testing.T, got payload.VerifyResult, err error) {
			if err != nil || got.Status != payload.RolloutInProgress || got.Polls != 2 || got.HealthPasses != 0 {
				t.Errorf("got %+v, %v; want IN_PROGRESS", got, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers := tt.answers
			if answers == nil {
				answers = []ecsAnswer{completed}
			}
			w := newWorld(answers...)
			w.http.statuses = tt.statuses
			w.clock.sleepErr = tt.sleepErr
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, w.clock.t.Add(tt.deadline))
				defer cancel()
			}
			got, err := w.verifier(t).Handle(ctx, request("checked"))
			tt.check(t, got, err)
			if want := slices.Repeat([]time.Duration{10 * time.Second}, tt.wantSlept); !slices.Equal(w.clock.slept, want) {
				t.Errorf("slept %v, want %v", w.clock.slept, want)
			}
			for _, r := range w.http.requests {
				if r.Method != http.MethodGet || r.URL.String() != healthURL || r.Header.Get("User-Agent") != "stepship-verify" {
					t.Errorf("request %s %s (User-Agent %q)", r.Method, r.URL, r.Header.Get("User-Agent"))
				}
			}
			if len(w.http.requests) > 0 && w.http.read != len(w.http.requests)*maxHealthBody && tt.statuses[0] != 0 {
				t.Errorf("read %d bytes of %d answers, want %d each", w.http.read, len(w.http.requests), maxHealthBody)
			}
			if t.Failed() {
				t.Logf("log:\n%s", w.log.String())
			}
		})
	}
}

// passedWith: COMPLETED with 2 passes after that many requests.
func passedWith(requests int) func(t *testing.T, got payload.VerifyResult, err error) {
	return func(t *testing.T, got payload.VerifyResult, err error) {
		t.Helper()
		if err != nil || got.Status != payload.RolloutCompleted || got.HealthPasses != 2 {
			t.Errorf("got %+v, %v; want COMPLETED with 2 passes", got, err)
		}
	}
}

// The real client against real servers: a redirect on the same host is
// followed, one to another host is the answer; each request is bounded.
func TestHealthClient(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { otherHits.Add(1) }))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, strings.Repeat("x", 1<<20)) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other.URL+"/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := newHealthClient()
	if client.Timeout != healthRequestTimeout {
		t.Errorf("client timeout %v", client.Timeout)
	}
	for _, tt := range []struct{ path, want string }{{"/ok", "200"}, {"/moved", "200"}, {"/away", "302"}} {
		w := newWorld()
		v := w.verifier(t)
		v.http = client
		got, ok := v.probe(context.Background(), &catalog.Health{URL: srv.URL + tt.path, Status: 200})
		if got != tt.want || ok != (tt.want == "200") {
			t.Errorf("GET %s: %s, %v; want %s", tt.path, got, ok, tt.want)
		}
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the redirect to another host was followed (%d requests there)", n)
	}

	// A request that does not answer is given up on: here when the
	// invocation's context ends (the client's own bound is 5 s).
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	v := newWorld().verifier(t)
	v.http = client
	if got, ok := v.probe(ctx, &catalog.Health{URL: srv.URL + "/slow", Status: 200}); ok || !strings.Contains(got, "context deadline exceeded") {
		t.Errorf("slow answer: %s, %v", got, ok)
	}
}

func TestSameHost(t *testing.T) {
	req := func(u string) *http.Request { r, _ := http.NewRequest(http.MethodGet, u, nil); return r }
	first := req("https://web.example.com/health")
	via := func(n int) []*http.Request { return slices.Repeat([]*http.Request{first}, n) }
	tests := []struct {
		name   string
		next   string
		via    int
		follow bool
	}{
		{"same host", "https://web.example.com/healthz", 1, true},
		{"fifth redirect", "https://web.example.com/healthz", 5, true},
		{"sixth redirect", "https://web.example.com/healthz", 6, false},
		{"other host", "https://login.example.com/", 1, false},
		{"other port", "https://web.example.com:8443/health", 1, false},
	}
	for _, tt := range tests {
		err := sameHost(req(tt.next), via(tt.via))
		if (err == nil) != tt.follow || (err != nil && !errors.Is(err, http.ErrUseLastResponse)) {
			t.Errorf("%s: %v, want follow %v", tt.name, err, tt.follow)
		}
	}
}

// The stable phase (a rollback's wait) waits for the deployment only: no
// health check and no alarm call, even where the catalog has both, and even
// with the health check failing and an alarm in ALARM.
func TestStablePhaseWaitsForTheRolloutOnly(t *testing.T) {
	w := newWorld(inProgress, completed)
	w.http.statuses = []int{503}
	got, err := w.verifier(t).Handle(context.Background(), request("checked", func(in *payload.VerifyInput) { in.Phase = payload.VerifyStable }))
	if err != nil || got.Status != payload.RolloutCompleted || got.Polls != 2 || got.HealthPasses != 0 || got.CompletedAt == "" {
		t.Fatalf("got %+v, %v; want COMPLETED after 2 polls", got, err)
	}
	if len(w.http.requests)+len(w.cw.alarmInputs) != 0 {
		t.Errorf("the stable phase ran %d health checks and %d alarm calls", len(w.http.requests), len(w.cw.alarmInputs))
	}
	// The same deployment in the rollout phase runs both.
	w = newWorld(completed)
	w.http.statuses = []int{200}
	if _, err := w.verifier(t).Handle(context.Background(), request("checked")); err != nil || len(w.http.requests) == 0 || len(w.cw.alarmInputs) == 0 {
		t.Errorf("rollout phase: %v, %d health checks, %d alarm calls", err, len(w.http.requests), len(w.cw.alarmInputs))
	}
}
