package asl

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"
)

func TestProbeLeakTmp(t *testing.T) {
	before := runtime.NumGoroutine()
	defs := []string{
		chain("T", `"T":{"Type":"Task","Resource":"arn:aws:states:::sns:publish.waitForTaskToken","TimeoutSeconds":100,"HeartbeatSeconds":10,"End":true}`),
		chain("M", `"M":{"Type":"Map","ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}},"End":true}`),
		chain("P", `"P":{"Type":"Parallel","Branches":[{"StartAt":"W","States":{"W":{"Type":"Task","Resource":"x","TimeoutSeconds":50,"End":true}}}],"End":true}`),
		`{"StartAt":"W","TimeoutSeconds":1000,"States":{"W":{"Type":"Wait","Seconds":100,"End":true}}}`,
	}
	inv := TaskInvokerFunc(func(ctx context.Context, task Task) (json.RawMessage, error) {
		if task.TaskToken != "" {
			return json.RawMessage(`{}`), nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	r := NewRunner(WithInvoker(inv))
	for i := 0; i < 20; i++ {
		for _, d := range defs {
			x, err := r.Start(context.Background(), mustParse(t, d), json.RawMessage(`[1,2,3]`), ExecutionInfo{})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
			x.Stop("x", "y")
		}
	}
	// finished executions too
	for i := 0; i < 20; i++ {
		_, _ = r.Run(context.Background(), mustParse(t, chain("T", `"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":100,"Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":1,"IntervalSeconds":1}],"End":true}`)), json.RawMessage(`{}`), ExecutionInfo{})
	}
	time.Sleep(200 * time.Millisecond)
	after := runtime.NumGoroutine()
	t.Logf("goroutines before %d after %d", before, after)
	if after > before+2 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Logf("%s", buf[:n])
	}
}
