package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// passChain is a definition of n Pass states in a chain.
func passChain(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == n-1 {
			fmt.Fprintf(&b, `"P%d":{"Type":"Pass","End":true}`, i)
		} else {
			fmt.Fprintf(&b, `"P%d":{"Type":"Pass","Next":"P%d"}`, i, i+1)
		}
	}
	return chain("P0", b.String())
}

// BenchmarkPassTransitions reports state transitions per second through 1,000
// Pass states.
func BenchmarkPassTransitions(b *testing.B) {
	const n = 1000
	sm := mustParse(b, passChain(n))
	r := NewRunner(WithClock(&instantClock{}))
	input := json.RawMessage(`{"service":"api","commit":"abc123","environment":"prod"}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x, err := r.Run(ctx, sm, input, ExecutionInfo{Name: "bench"})
		if err != nil || x.Snapshot().Status != StatusSucceeded {
			b.Fatalf("run: %v %v", err, x.Snapshot())
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

// deployTasks answers the deploy-like machine's tasks in process, doing nothing.
var deployTasks = TaskInvokerFunc(func(_ context.Context, t Task) (json.RawMessage, error) {
	switch {
	case strings.HasSuffix(t.Resource, ":build"):
		return json.RawMessage(`{"image":"api:abc123","status":"SUCCEEDED","logs":"…"}`), nil
	case strings.HasSuffix(t.Resource, ":migrate"):
		return json.RawMessage(`{"applied":2}`), nil
	case strings.HasSuffix(t.Resource, ":deploy"):
		return t.Input, nil
	case strings.HasSuffix(t.Resource, ":verify"):
		return json.RawMessage(`{"ok":true}`), nil
	}
	return json.RawMessage(`{}`), nil
})

func loadDeployLike(tb testing.TB) *StateMachine {
	def, err := os.ReadFile("testdata/deploy-like.asl.json")
	if err != nil {
		tb.Fatal(err)
	}
	return mustParse(tb, string(def))
}

func TestDeployLike(t *testing.T) {
	sm := loadDeployLike(t)
	r := NewRunner(WithInvoker(deployTasks)) // real clock: the machine waits 0 s
	x, err := r.Run(context.Background(), sm, json.RawMessage(`{"service":"api","commit":"abc123","environment":"prod"}`), ExecutionInfo{})
	if err != nil {
		t.Fatal(err)
	}
	st := x.Snapshot()
	if st.Status != StatusSucceeded {
		t.Fatalf("status %s %s %s", st.Status, st.Error, st.Cause)
	}
	entered := 0
	for _, e := range x.History() {
		if strings.HasSuffix(string(e.Type), "StateEntered") {
			entered++
		}
	}
	if entered < 30 {
		t.Errorf("only %d states entered", entered)
	}
}

// BenchmarkDeployExecution reports the runner's overhead for one execution of a
// 42-state deploy-like machine whose tasks are in-process no-ops.
func BenchmarkDeployExecution(b *testing.B) {
	sm := loadDeployLike(b)
	r := NewRunner(WithInvoker(deployTasks)) // real clock: the machine waits 0 s
	input := json.RawMessage(`{"service":"api","commit":"abc123","environment":"prod"}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x, err := r.Run(ctx, sm, input, ExecutionInfo{})
		if err != nil || x.Snapshot().Status != StatusSucceeded {
			b.Fatalf("run: %v %+v", err, x.Snapshot())
		}
	}
}

func BenchmarkParse(b *testing.B) {
	def, err := os.ReadFile("testdata/deploy-like.asl.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(def); err != nil {
			b.Fatal(err)
		}
	}
}
