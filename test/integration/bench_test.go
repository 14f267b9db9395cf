package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/localenv"
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

// BenchmarkColdStart measures each function's cold start under the Lambda
// runtime emulator against a hello-world aws-lambda-go function built with the
// same flags in the same run (harness.HelloBootstrap), and against the
// function's SDK floor (harness.FloorBootstrap: hello-world plus the AWS
// configuration and one client of each AWS service the function links, built
// the same way): one sub-benchmark per function the build builds
// (harness.FunctionNames), after `hello`, each after its floor `floor-NAME`.
// Each iteration starts a fresh emulator with the bootstrap and the
// environment the local stack gives that function (localenv's FunctionEnv:
// the catalog, region, credentials, AWS calls through the proxy to moto; the
// webhook's secret and state machine; a floor gets its function's), untimed,
// then times one invocation with an input the handler refuses at once (a
// named error, or the webhook's 401; a floor and hello answer it), so that
// the figure is process start, init and one trivial handle:
//
//   - init-ms: the emulator's INIT REPORT (process start to the runtime's
//     first /next), the median of the iterations;
//   - cold-ms: the first invocation's wall time, as the caller sees it, the
//     median (the timed part: ns/op is its mean);
//   - x-hello: init-ms over hello's init-ms in this run (the budget of the
//     README's Performance section is 1.2×); only when hello ran too;
//   - x-floor: a function's init-ms over its floor's in this run: what
//     stepship's code adds to what linking the AWS SDK costs.
//
// Medians, since on a shared machine one iteration in ten may take twice as
// long as the others. Run it with:
//
//	go test -run '^$' -bench ColdStart -benchtime 10x ./test/integration/
func BenchmarkColdStart(b *testing.B) {
	e := localenvtest.StartT(b, localenv.WithBackups())
	hello := harness.HelloBootstrap(b)
	names := harness.FunctionNames(b)
	var helloInit float64 // hello's init-ms, once its sub-benchmark ran
	b.Run("hello", func(b *testing.B) {
		helloInit = coldStarts(b, hello, nil, coldInput{payload: "{}", check: answered(`"hello"`)})
	})
	for _, name := range names {
		env, ok := e.FunctionEnv(name)
		if !ok {
			b.Fatalf("the local stack does not run functions/%s: start it in test/localenv so that its environment is known", name)
		}
		in, ok := coldInputs[name]
		if !ok {
			in = coldInput{payload: "{}", check: namedError}
		}
		floor, services := harness.FloorBootstrap(b, name)
		var floorInit float64
		b.Run("floor-"+name, func(b *testing.B) {
			floorInit = coldStarts(b, floor, env, coldInput{payload: "{}", check: answered(fmt.Sprintf(`"hello from %d clients"`, len(services)))})
			if helloInit > 0 {
				b.ReportMetric(floorInit/helloInit, "x-hello")
			}
		})
		bootstrap := harness.Bootstrap(b, name)
		b.Run(name, func(b *testing.B) {
			initMs := coldStarts(b, bootstrap, env, in)
			if helloInit > 0 {
				b.ReportMetric(initMs/helloInit, "x-hello")
			}
			if floorInit > 0 {
				b.ReportMetric(initMs/floorInit, "x-floor")
			}
		})
	}
}

// answered accepts exactly the answer want (JSON), no function error.
func answered(want string) func(body []byte, ferr *harness.FunctionError) error {
	return func(body []byte, ferr *harness.FunctionError) error {
		if ferr != nil || string(body) != want {
			return fmt.Errorf("answered %s, %v; want %s", body, ferr, want)
		}
		return nil
	}
}

// coldInput is what a cold-start iteration sends and how it checks the
// answer: something the handler answers without calling anything.
type coldInput struct {
	payload any
	check   func(body []byte, ferr *harness.FunctionError) error
}

// coldInputs are the functions whose input is not "{}" answered with a named
// error (namedError).
var coldInputs = map[string]coldInput{
	// An unsigned delivery: refused before any AWS call.
	"webhook": {
		payload: events.LambdaFunctionURLRequest{
			Headers: map[string]string{"content-type": "application/json"},
			Body:    "{}",
			RequestContext: events.LambdaFunctionURLRequestContext{
				HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/"},
			},
		},
		check: func(body []byte, ferr *harness.FunctionError) error {
			var resp events.LambdaFunctionURLResponse
			if err := json.Unmarshal(body, &resp); ferr != nil || err != nil || resp.StatusCode != http.StatusUnauthorized {
				return fmt.Errorf("answered %s, %v; want HTTP 401", body, ferr)
			}
			return nil
		},
	},
}

// namedError accepts a function error the handler named (an Invalid…Request
// of shared/taskerr), not a crash of the runtime.
func namedError(body []byte, ferr *harness.FunctionError) error {
	if ferr == nil || ferr.Type == "" || strings.HasPrefix(ferr.Type, "Runtime.") {
		return fmt.Errorf("answered %s, %v; want a named error", body, ferr)
	}
	return nil
}

// coldStarts runs b.N cold starts of bootstrap under the runtime emulator
// with env, each invoked once with in, timing only the invocation, reports
// init-ms and cold-ms (medians), and returns init-ms.
func coldStarts(b *testing.B, bootstrap string, env map[string]string, in coldInput) float64 {
	ctx := context.Background()
	var cold, inits []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fn := harness.StartLambda(b, bootstrap, env)
		b.StartTimer()
		start := time.Now()
		body, ferr, err := fn.Invoke(ctx, in.payload)
		took := time.Since(start)
		b.StopTimer()
		cold = append(cold, float64(took.Microseconds())/1000)
		if err != nil {
			b.Fatalf("cold invocation: %v", err)
		}
		if err := in.check(body, ferr); err != nil {
			b.Fatalf("cold invocation: %v", err)
		}
		m := initReport.FindStringSubmatch(fn.Logs())
		if m == nil {
			b.Fatalf("no INIT REPORT in the emulator's log:\n%s", fn.Logs())
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			b.Fatal(err)
		}
		inits = append(inits, v)
		if err := fn.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	initMs := median(inits)
	b.ReportMetric(initMs, "init-ms")
	b.ReportMetric(median(cold), "cold-ms")
	return initMs
}

// median of a non-empty list (which it sorts).
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}

// BenchmarkDeploy measures what a deploy costs on the local stack, read from
// each execution's history (localenv.Measure): state transitions (the
// budget is 40 per successful deploy), Lambda invocations, GB-seconds at the
// functions' memory sizes, and the list price — for a deploy with a SQL
// migration, a health check and a bake (catalog.yaml's web/production),
// and for a release whose ECS deployment fails and is rolled back.
//
//	go test -run '^$' -bench BenchmarkDeploy -benchtime 5x ./test/integration/
func BenchmarkDeploy(b *testing.B) {
	e := localenvtest.StartT(b)
	p := &pipeline{e: e, t0: time.Now().Add(-time.Hour).Truncate(time.Second)}
	measure := func(b *testing.B, want string, script awsproxy.ECSScript) {
		var transitions, invocations, gbs, usd float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r := p.push(b, nil)
			e.ScriptECS(script)
			b.StartTimer()
			arn := p.start(b, r)
			outcome, cause := p.ended(b, arn)
			b.StopTimer()
			if outcome != want {
				b.Fatalf("ended %s (%s), want %s", outcome, cause, want)
			}
			hist, err := e.History(context.Background(), arn)
			if err != nil {
				b.Fatal(err)
			}
			run := localenv.Measure(hist)
			transitions += float64(run.Transitions)
			invocations += float64(run.Invocations)
			gbs += run.GBSeconds
			usd += run.Cost()
			b.StartTimer()
		}
		n := float64(b.N)
		b.ReportMetric(transitions/n, "transitions/op")
		b.ReportMetric(invocations/n, "invocations/op")
		b.ReportMetric(gbs/n, "GB-s/op")
		b.ReportMetric(usd/n*1e6, "µUSD/op")
	}
	b.Run("succeeded", func(b *testing.B) {
		measure(b, payload.OutcomeSucceeded, awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
	})
	b.Run("rolled-back", func(b *testing.B) {
		measure(b, payload.OutcomeRolledBack, awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{
			{Outcome: awsproxy.RolloutFailed, InProgressPolls: 1}, {Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
	})
}
