package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

const (
	secretARN       = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stepship/webhook-AbCdEf"
	stateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:stepship-deploy"
	githubSecret    = "s3cr3t-current-0123"
	// createdDate is when the fake secret's AWSCURRENT version was created.
	createdDate = 1795776000
)

// fakeAWS answers the AWS JSON operations the function calls the way the
// services do (GetSecretValue with CreatedDate; StartExecution with
// ExecutionAlreadyExists for a taken name; DescribeExecution), so the real
// SDK clients, their endpoint resolution and their error types are exercised
// on loopback.
type fakeAWS struct {
	mu      sync.Mutex
	current string            // AWSCURRENT value
	execs   map[string]string // execution ARN → input
	ops     []string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var in map[string]string
	_ = json.NewDecoder(r.Body).Decode(&in)
	fail := func(code, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	target := r.Header.Get("X-Amz-Target")
	if target != "secretsmanager.GetSecretValue" || in["VersionStage"] == "AWSCURRENT" {
		f.ops = append(f.ops, target) // AWSPREVIOUS is read or not depending on the clock
	}
	switch target {
	case "secretsmanager.GetSecretValue":
		if in["VersionStage"] != "AWSCURRENT" {
			fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: "+in["VersionStage"])
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in["SecretId"], "Name": "stepship/webhook", "SecretString": f.current,
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": createdDate})
	case "AWSStepFunctions.StartExecution":
		arn := strings.Replace(in["stateMachineArn"], ":stateMachine:", ":execution:", 1) + ":" + in["name"]
		if _, ok := f.execs[arn]; ok {
			fail("ExecutionAlreadyExists", "Execution Already Exists: '"+arn+"'")
			return
		}
		f.execs[arn] = in["input"]
		_ = json.NewEncoder(w).Encode(map[string]any{"executionArn": arn, "startDate": createdDate})
	case "AWSStepFunctions.DescribeExecution":
		input, ok := f.execs[in["executionArn"]]
		if !ok {
			fail("ExecutionDoesNotExist", "Execution Does Not Exist: '"+in["executionArn"]+"'")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"executionArn": in["executionArn"], "stateMachineArn": stateMachineARN,
			"input": input, "status": "SUCCEEDED", "startDate": createdDate})
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// awsEnv points the SDK's default configuration at srv with static
// credentials and no shared files.
func awsEnv(t *testing.T, srv *httptest.Server) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            srv.URL,
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "secret-key",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

func newFakeAWS(t *testing.T, current string) *fakeAWS {
	f := &fakeAWS{current: current, execs: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	awsEnv(t, srv)
	return f
}

func env(kv ...string) config.Getenv {
	m := map[string]string{
		config.EnvWebhookSecretARN:      secretARN,
		config.EnvDeployStateMachineARN: stateMachineARN,
		config.EnvCatalog:               "../../catalog.yaml",
		// The fixture was pushed on 2026-11-27: accept it whenever the test runs.
		config.EnvReplayWindow: "876000h",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return os.Getenv(k) // the AWS variables awsEnv sets
	}
}

// setupWith runs the function's setup as function.Run does, and returns its
// handler.
func setupWith(getenv config.Getenv) (func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error), error) {
	e, err := function.Load(getenv, discard())
	if err != nil {
		return nil, err
	}
	h, err := setup(e)
	if err != nil {
		return nil, err
	}
	return h.(func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error)), nil
}

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// setup reads the secret at start: a value that is not a keyring stops the
// function with the expected format, never the value.
func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		env     config.Getenv
		wantErr []string // substrings; nil: setup succeeds
		leak    string
	}{
		{name: "keyring", secret: `{"github": "` + githubSecret + `"}`, env: env()},
		{name: "plain-string secret", secret: "plain-string-secret-0123", env: env(),
			wantErr: []string{"failed to read the webhook secret at start", "not a JSON object", webhook.KeyringFormat}, leak: "plain-string-secret-0123"},
		{name: "short secret", secret: `{"github": "short-0123"}`, env: env(),
			wantErr: []string{`key "github": the secret is shorter than 16 characters`, webhook.KeyringFormat}, leak: "short-0123"},
		{name: "missing secret ARN", secret: `{"github": "` + githubSecret + `"}`, env: env(config.EnvWebhookSecretARN, ""),
			wantErr: []string{config.EnvWebhookSecretARN + " is required"}},
		{name: "missing state machine", secret: `{"github": "` + githubSecret + `"}`, env: env(config.EnvDeployStateMachineARN, ""),
			wantErr: []string{config.EnvDeployStateMachineARN + " is required"}},
		{name: "bad body limit", secret: `{"github": "` + githubSecret + `"}`, env: env(config.EnvMaxBodyBytes, "lots"),
			wantErr: []string{config.EnvMaxBodyBytes}},
		{name: "bad replay window", secret: `{"github": "` + githubSecret + `"}`, env: env(config.EnvReplayWindow, "1 hour"),
			wantErr: []string{config.EnvReplayWindow}},
		{name: "bad overlap", secret: `{"github": "` + githubSecret + `"}`, env: env(config.EnvSecretOverlap, "0s"),
			wantErr: []string{config.EnvSecretOverlap}},
		{name: "missing catalog", secret: `{"github": "` + githubSecret + `"}`, env: env(config.EnvCatalog, "does-not-exist.yaml"),
			wantErr: []string{"does-not-exist.yaml"}},
		{name: "state machine ARN not an ARN", secret: `{"github": "` + githubSecret + `"}`, env: env(config.EnvDeployStateMachineARN, "stepship-deploy"),
			wantErr: []string{"not a state machine ARN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newFakeAWS(t, tt.secret)
			h, err := setupWith(tt.env)
			if tt.wantErr == nil {
				if err != nil || h == nil {
					t.Fatalf("setup: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("setup succeeded")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.leak != "" && strings.Contains(err.Error(), tt.leak) {
				t.Errorf("error %q shows the secret's value", err)
			}
		})
	}
}

// The function as deployed, over real SDK clients: a push starts its deploy,
// and the same push re-sent under another delivery id answers the same
// execution through ExecutionAlreadyExists and DescribeExecution.
func TestWithRealSDKClients(t *testing.T) {
	f := newFakeAWS(t, `{"github": "`+githubSecret+`"}`)
	h, err := setupWith(env())
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../../events/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	for _, id := range []string{"7c1e2a40-cb0b-11f0-8d4b-2b1e5f0a9c11", "0f9e8d7c-re-sent"} {
		resp, err := h(context.Background(), events.LambdaFunctionURLRequest{
			Headers:        webhooktest.GitHubHeaders("push", id, []byte(githubSecret), body),
			Body:           string(body),
			RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST"}},
		})
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("delivery %s: %d %s, %v", id, resp.StatusCode, resp.Body, err)
		}
		answers = append(answers, resp.Body)
	}
	if answers[0] != answers[1] || !strings.Contains(answers[0], `"executionArn":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:web-production-`) {
		t.Errorf("answers = %s, %s; want the same execution twice", answers[0], answers[1])
	}
	if len(f.execs) != 1 {
		t.Errorf("%d executions started, want 1", len(f.execs))
	}
	want := []string{"secretsmanager.GetSecretValue", "AWSStepFunctions.StartExecution", "AWSStepFunctions.StartExecution", "AWSStepFunctions.DescribeExecution"}
	if strings.Join(f.ops, " ") != strings.Join(want, " ") {
		t.Errorf("operations = %v, want %v (the keyring read once, at start)", f.ops, want)
	}
}

// run hands the handler to lambda.Start, or says why the function cannot
// start, in the log and on stderr, and exits 1 without starting.
func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		env        config.Getenv
		wantCode   int
		wantStderr string
	}{
		{name: "starts", env: env(), wantCode: 0},
		{name: "cannot start", env: env(config.EnvWebhookSecretARN, ""), wantCode: 1,
			wantStderr: "webhook: " + config.EnvWebhookSecretARN + " is required\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newFakeAWS(t, `{"github": "`+githubSecret+`"}`)
			var stdout, stderr strings.Builder
			var handlers []any
			code := function.Run("webhook", tt.env, &stdout, &stderr, func(h any) { handlers = append(handlers, h) }, setup)
			if code != tt.wantCode || stderr.String() != tt.wantStderr {
				t.Fatalf("run = %d, stderr %q; want %d, %q", code, stderr.String(), tt.wantCode, tt.wantStderr)
			}
			if tt.wantCode != 0 {
				if len(handlers) != 0 {
					t.Error("a function that cannot start was started")
				}
				var line map[string]any
				if err := json.Unmarshal([]byte(stdout.String()), &line); err != nil || line["level"] != "ERROR" ||
					line["msg"] != "webhook function failed to start" || !strings.Contains(fmt.Sprint(line["error"]), config.EnvWebhookSecretARN) {
					t.Errorf("log = %q (%v), want one error line naming the cause", stdout.String(), err)
				}
				return
			}
			if len(handlers) != 1 {
				t.Fatalf("started %d times, want once", len(handlers))
			}
			h, ok := handlers[0].(func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error))
			if !ok {
				t.Fatalf("handler is a %T, want the intake's Handle", handlers[0])
			}
			resp, err := h(context.Background(), events.LambdaFunctionURLRequest{
				RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "GET"}}})
			if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("GET = %d, %v; want 405", resp.StatusCode, err)
			}
		})
	}
}
