package integration

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stepship/stepship/shared/webhook/webhooktest"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/localenv/localenvtest"
)

// BenchmarkWebhookColdStart measures the webhook function's cold start under the
// Lambda runtime emulator: each iteration starts a fresh emulator with the built
// bootstrap and times its first invocation (process start, config and catalog
// load, secret fetch from the AWS emulator, verify, answer) — reported as
// cold-ms — and a second one on the same, now warm, process (warm-ms).
//
//	go test -run '^$' -bench WebhookColdStart -benchtime 10x ./test/integration/
func BenchmarkWebhookColdStart(b *testing.B) {
	e := localenvtest.StartT(b)
	body := localenvtest.Fixture(b, e, "github-ping.json")
	headers := webhooktest.GitHubHeaders("ping", "bench-ping", []byte(e.Spec.GitHubSecret), body)
	req := events.LambdaFunctionURLRequest{
		Headers: lower(headers),
		Body:    string(body),
		RequestContext: events.LambdaFunctionURLRequestContext{
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/"},
		},
	}
	bootstrap := harness.Bootstrap(b, "webhook")
	ctx := context.Background()
	var cold, warm time.Duration
	var initMs float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fn := harness.StartLambda(b, bootstrap, e.WebhookEnv)
		b.StartTimer()
		start := time.Now()
		if _, ferr, err := fn.Invoke(ctx, req); err != nil || ferr != nil {
			b.Fatalf("cold invocation: %v %v", err, ferr)
		}
		cold += time.Since(start)
		b.StopTimer()
		m := initReport.FindStringSubmatch(fn.Logs())
		if m == nil {
			b.Fatalf("no INIT REPORT in the emulator's log:\n%s", fn.Logs())
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		initMs += v
		start = time.Now()
		if _, ferr, err := fn.Invoke(ctx, req); err != nil || ferr != nil {
			b.Fatalf("warm invocation: %v %v", err, ferr)
		}
		warm += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(cold.Microseconds())/1000/float64(b.N), "cold-ms")
	b.ReportMetric(float64(warm.Microseconds())/1000/float64(b.N), "warm-ms")
	b.ReportMetric(initMs/float64(b.N), "init-ms")
}

// initReport is the runtime emulator's line for the init phase (process start to
// the runtime's first /next call).
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

func lower(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = v
	}
	return out
}
