package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/tasks/internal/failfn"
)

// handler fails in every way a Go handler can (its built twin is testdata/errfn).
var handler = failfn.Handler

// fakeRIE serves one function the way the Lambda Runtime Interface Emulator does:
// POST /2015-03-31/functions/function/invocations, a failed invocation answered with
// 200 and the error object in the body, and a crash on two concurrent calls.
func fakeRIE(t *testing.T, h any) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	fn := InProcess(h)
	var busy, calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/function/invocations" {
			http.NotFound(w, r)
			return
		}
		if !busy.CompareAndSwap(0, 1) {
			t.Errorf("two concurrent invocations reached the emulator")
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		defer busy.Store(0)
		calls.Add(1)
		time.Sleep(2 * time.Millisecond)
		payload, _ := io.ReadAll(r.Body)
		res, _ := fn.Invoke(r.Context(), payload)
		w.WriteHeader(http.StatusOK) // also for failures, as the emulator does
		_, _ = w.Write(res.Payload)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func task(resource, state, input string) asl.Task {
	return asl.Task{Resource: resource, StateName: state, Input: json.RawMessage(input),
		Execution: asl.ExecutionInfo{ARN: "arn:aws:states:us-east-1:123456789012:execution:deploy:e1", Name: "e1", StateMachineName: "deploy"}}
}

// TestErrorNamingInProcessAndOverHTTP checks the Error and Cause of every kind of
// handler failure, for a handler run in-process and for the same in-process
// handler reached over HTTP through the RIE client (fakeRIE). Both sides run
// InProcess, so it tests the naming and the client's decoding, not the real
// emulator: TestSameErrorsUnderTheRuntimeEmulator (rie_test.go) compares
// in-process with a built function under aws-lambda-rie.
func TestErrorNamingInProcessAndOverHTTP(t *testing.T) {
	srv, _ := fakeRIE(t, handler)
	bindings := map[string]*Lambda{
		"in-process": NewLambda().Bind("deploy", InProcess(handler)),
		"over-http":  NewLambda().Bind("deploy", NewRIE(srv.URL)),
	}
	cases := []struct{ mode, name, message string }{
		{"pointer", "DeployError", "deploy of api failed"},
		{"value", "ValueError", "value error"},
		{"wrapped", "wrapError", "deploying: deploy of api failed"},
		{"plain", "errorString", "plain"},
		{"panic", "string", "kaboom"},
		{"typed", "Custom.Name", "custom"},
	}
	for kind, l := range bindings {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.mode, func(t *testing.T) {
				for _, res := range []string{"arn:aws:lambda:us-east-1:123456789012:function:deploy", "arn:aws:states:::lambda:invoke"} {
					in := fmt.Sprintf(`{"service":"api","mode":%q}`, tc.mode)
					if strings.HasPrefix(res, "arn:aws:states") {
						in = fmt.Sprintf(`{"FunctionName":"deploy","Payload":%s}`, in)
					}
					_, err := l.InvokeTask(context.Background(), task(res, "Deploy", in))
					var tf *asl.TaskFailure
					if !errors.As(err, &tf) {
						t.Fatalf("%s: error %v is not a TaskFailure", res, err)
					}
					if tf.Name != tc.name {
						t.Errorf("%s: Error = %q, want %q", res, tf.Name, tc.name)
					}
					var cause struct{ ErrorMessage, ErrorType string }
					if err := json.Unmarshal([]byte(tf.Cause), &cause); err != nil || cause.ErrorMessage != tc.message || cause.ErrorType != tc.name {
						t.Errorf("%s: Cause = %s", res, tf.Cause)
					}
				}
			})
		}
		t.Run(kind+"/success", func(t *testing.T) {
			out, err := l.InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:123456789012:function:deploy:live", "Deploy", `{"service":"api"}`))
			if err != nil || string(out) != `{"deployed":"api"}` {
				t.Fatalf("function ARN: %s %v", out, err)
			}
			out, err = l.InvokeTask(context.Background(), task("arn:aws:states:::lambda:invoke", "Deploy", `{"FunctionName":"arn:aws:lambda:us-east-1:123456789012:function:deploy","Payload":{"service":"api"}}`))
			if err != nil {
				t.Fatal(err)
			}
			var o struct {
				ExecutedVersion string
				Payload         map[string]string
				StatusCode      int
				SdkHttpMetadata struct {
					HttpStatusCode int
					HttpHeaders    map[string]string
				}
				SdkResponseMetadata struct{ RequestId string }
			}
			if err := json.Unmarshal(out, &o); err != nil || o.ExecutedVersion != "$LATEST" || o.Payload["deployed"] != "api" || o.StatusCode != 200 || o.SdkHttpMetadata.HttpStatusCode != 200 || o.SdkResponseMetadata.RequestId == "" {
				t.Fatalf("lambda:invoke output %s", out)
			}
		})
	}
}

func TestRIESerializesCalls(t *testing.T) {
	srv, calls := fakeRIE(t, handler)
	l := NewLambda().Bind("deploy", NewRIE(srv.URL))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := l.InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:123456789012:function:deploy", "D", `{"service":"x"}`)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 8 {
		t.Fatalf("calls = %d", calls.Load())
	}
}

func TestRIEFunctionErrorHeaderAndFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "header":
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = w.Write([]byte(`{"errorType":"Runtime.ExitError","errorMessage":"exit status 2","extra":1}`))
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`oops`))
		case "text":
			_, _ = w.Write([]byte(`not json`))
		default:
			_, _ = w.Write([]byte(`{"errorType":"x","errorMessage":"a real output that looks odd","more":true}`))
		}
	}))
	defer srv.Close()
	base := srv.URL + "/2015-03-31/functions/function/invocations"
	_, err := NewLambda().Bind("f", NewRIE(base+"?case=header")).InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:1:function:f", "S", `{}`))
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "Runtime.ExitError" {
		t.Fatalf("header case: %v", err)
	}
	_, err = NewLambda().Bind("f", NewRIE(base+"?case=500")).InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:1:function:f", "S", `{}`))
	if !errors.As(err, &tf) || tf.Name != "Lambda.ServiceException" {
		t.Fatalf("500 case: %v", err)
	}
	out, err := NewLambda().Bind("f", NewRIE(base+"?case=text")).InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:1:function:f", "S", `{}`))
	if err != nil || string(out) != `"not json"` {
		t.Fatalf("text case: %s %v", out, err)
	}
	out, err = NewLambda().Bind("f", NewRIE(base)).InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:1:function:f", "S", `{}`))
	if err != nil || !strings.Contains(string(out), "odd") {
		t.Fatalf("object with extra fields is output: %s %v", out, err)
	}
	_, err = NewLambda().InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:1:function:missing", "S", `{}`))
	if !errors.As(err, &tf) || tf.Name != "Lambda.ResourceNotFoundException" {
		t.Fatalf("unbound: %v", err)
	}
	_, err = NewLambda().Bind("f", NewRIE("http://127.0.0.1:1")).InvokeTask(context.Background(), task("arn:aws:lambda:us-east-1:1:function:f", "S", `{}`))
	if !errors.As(err, &tf) || tf.Name != "Lambda.ServiceException" {
		t.Fatalf("emulator down: %v", err)
	}
}

func TestParseFunctionError(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"errorMessage":"m","errorType":"T"}`, "T: m"},
		{`{"errorType":"T","errorMessage":"m","stackTrace":[]}`, "T: m"},
		{`{"errorType":"Error","errorMessage":"m","trace":["at x"]}`, "Error: m"},           // Node.js
		{`{"errorType":"E","errorMessage":"m","requestId":"r","stackTrace":["f"]}`, "E: m"}, // Python
		{`{"errorType":"Runtime.ExitError","errorMessage":"RequestId: r Error: exit status 2"}`, "Runtime.ExitError: RequestId: r Error: exit status 2"},
		{`{"errorType":"T"}`, "T: "},
		{`{"errorType":"T","errorMessage":"m","extra":1}`, ""},
		{`{"errorType":"","errorMessage":"m"}`, ""},
		{`{"errorType":1,"errorMessage":"m"}`, ""},
		{`{"ok":true}`, ""},
		{`"errorType"`, ""},
		{`null`, ""},
		{`not json`, ""},
	} {
		got := ""
		if fe := ParseFunctionError([]byte(tc.body)); fe != nil {
			got = fe.Error()
		}
		if got != tc.want {
			t.Errorf("ParseFunctionError(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestProxy drives the emulator proxy the way another process would: raw HTTP,
// concurrently, against a fake emulator that fails the test on overlapping calls.
func TestProxy(t *testing.T) {
	emu, calls := fakeRIE(t, handler)
	proxy := httptest.NewServer(Proxy(NewRIE(emu.URL), nil))
	defer proxy.Close()
	post := func(path, body string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(proxy.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			resp, err := http.Post(proxy.URL+InvocationsPath, "application/json", strings.NewReader(fmt.Sprintf(`{"service":"s%d"}`, i)))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(b) != fmt.Sprintf(`{"deployed":"s%d"}`, i) {
				t.Errorf("call %d: %s %s", i, resp.Status, b)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 6 {
		t.Errorf("the emulator saw %d calls, want 6", calls.Load())
	}

	resp, body := post(InvocationsPath, `{"service":"api","mode":"pointer"}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "Unhandled" {
		t.Errorf("function error: %s, X-Amz-Function-Error %q", resp.Status, resp.Header.Get("X-Amz-Function-Error"))
	}
	if fe := ParseFunctionError([]byte(body)); fe == nil || fe.Type != "DeployError" {
		t.Errorf("function error body %s", body)
	}
	if resp, _ := post("/other", `{}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another path: %s, want 404", resp.Status)
	}

	down := httptest.NewServer(Proxy(NewRIE("http://127.0.0.1:1"), func(err error) string { return "emulator gone: " + err.Error() }))
	defer down.Close()
	resp, err := http.Post(down.URL+InvocationsPath, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(string(b), "emulator gone: ") {
		t.Errorf("emulator down: %s %s", resp.Status, b)
	}
}

func TestFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"deploy":                       "deploy|",
		"deploy:live":                  "deploy|live",
		"123456789012:function:deploy": "deploy|",
		"arn:aws:lambda:us-east-1:123456789012:function:deploy":   "deploy|",
		"arn:aws:lambda:us-east-1:123456789012:function:deploy:7": "deploy|7",
	} {
		n, q := FunctionName(in)
		if n+"|"+q != want {
			t.Errorf("FunctionName(%q) = %s|%s", in, n, q)
		}
	}
}

func TestRouter(t *testing.T) {
	hit := func(name string) asl.TaskInvoker {
		return asl.TaskInvokerFunc(func(context.Context, asl.Task) (json.RawMessage, error) {
			return json.RawMessage(`"` + name + `"`), nil
		})
	}
	r := NewRouter().
		Handle("arn:aws:lambda:*:function:deploy*", hit("deploy")).
		Handle("arn:aws:lambda:*", hit("lambda")).
		Handle("arn:aws:states:::dynamodb:*", hit("dynamo")).
		Handle("arn:aws:states:::sns:publish", hit("sns-exact"))
	for res, want := range map[string]string{
		"arn:aws:lambda:us-east-1:1:function:deploy":      `"deploy"`,
		"arn:aws:lambda:us-east-1:1:function:deploy:live": `"deploy"`,
		"arn:aws:lambda:us-east-1:1:function:migrate":     `"lambda"`,
		"arn:aws:states:::dynamodb:putItem":               `"dynamo"`,
		"arn:aws:states:::sns:publish":                    `"sns-exact"`,
	} {
		out, err := r.InvokeTask(context.Background(), asl.Task{Resource: res})
		if err != nil || string(out) != want {
			t.Errorf("%s → %s %v, want %s", res, out, err, want)
		}
	}
	_, err := r.InvokeTask(context.Background(), asl.Task{Resource: "arn:aws:states:::sqs:sendMessage"})
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "States.Runtime" {
		t.Fatalf("unrouted: %v", err)
	}
	for _, tc := range []struct {
		p, s string
		ok   bool
	}{{"a*c", "abc", true}, {"a*c", "ac", true}, {"a*c", "acb", false}, {"*", "", true}, {"a*b*c", "aXbYc", true}, {"ab*b", "ab", false}} {
		if Match(tc.p, tc.s) != tc.ok {
			t.Errorf("Match(%q, %q) != %v", tc.p, tc.s, tc.ok)
		}
	}
}

func TestRIECancelledCallKeepsEmulatorReserved(t *testing.T) {
	release := make(chan struct{})
	var busy atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !busy.CompareAndSwap(0, 1) {
			t.Errorf("concurrent invocation")
		}
		defer busy.Store(0)
		if r.URL.Query().Get("slow") == "1" {
			<-release
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	base := srv.URL + "/2015-03-31/functions/function/invocations"
	slow, fast := NewRIE(base+"?slow=1"), NewRIE(base)
	// Same emulator process behind two URLs is not detectable; bind one URL twice instead.
	fast.URL = slow.URL
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := slow.Invoke(ctx, []byte(`{}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out call: %v", err)
	}
	got := make(chan error, 1)
	go func() { _, err := fast.Invoke(context.Background(), []byte(`{}`)); got <- err }()
	select {
	case <-got:
		t.Fatal("second call ran while the emulator was still busy")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
