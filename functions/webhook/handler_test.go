package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

const (
	stateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:stepship-deploy"
	pushed          = "3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4"
	delivery        = "7c1e2a40-cb0b-11f0-8d4b-2b1e5f0a9c11"
)

var (
	secret       = []byte("s3cr3t-current")
	previous     = []byte("s3cr3t-previous")
	signingToken = []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7ozWmT3Pl/I=")
	now          = time.Unix(1795780810, 0)
)

const testCatalog = `
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: codebuild, project: web-build}
    environments:
      - name: production
        branches: [main]
        tags: ["v*"]
        cluster: stepship-demo
        service: web
        container: web
      - name: staging
        branches: [main]
        cluster: stepship-staging
        service: web
        container: web
  - name: web-gl
    repository: {provider: gitlab, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments:
      - name: production
        branches: [main]
        tags: ["v*"]
        cluster: stepship-demo
        service: web
        container: web
  - name: web-bb
    repository: {provider: bitbucket, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments:
      - name: production
        branches: [main]
        cluster: stepship-demo
        service: web
        container: web
  - name: web-dc
    repository: {provider: bitbucket, name: PLAT/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments:
      - name: production
        branches: [main]
        tags: ["release-*"]
        cluster: stepship-demo
        service: web
        container: web
`

// staticSecrets is a SecretSource with fixed values.
type staticSecrets struct {
	values [][]byte
	err    error
}

func (s staticSecrets) Secrets(context.Context) ([][]byte, error) { return s.values, s.err }

// fakeSFN behaves like Step Functions' StartExecution for named executions:
// the same name and input while the execution runs returns it again; once it
// has closed, or with another input, ExecutionAlreadyExists.
type fakeSFN struct {
	mu     sync.Mutex
	execs  map[string]*fakeExecution
	calls  int
	failOn int // the failOn-th call (1-based) fails with a service error
}

type fakeExecution struct {
	input  string
	closed bool
	arn    string
}

func (f *fakeSFN) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failOn == f.calls {
		return nil, &sfntypes.InvalidArn{Message: aws.String("injected failure")}
	}
	if f.execs == nil {
		f.execs = map[string]*fakeExecution{}
	}
	name, input := aws.ToString(in.Name), aws.ToString(in.Input)
	if x, ok := f.execs[name]; ok {
		if x.closed || x.input != input {
			return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: '" + x.arn + "'")}
		}
		return &sfn.StartExecutionOutput{ExecutionArn: aws.String(x.arn), StartDate: aws.Time(now)}, nil
	}
	arn := strings.Replace(aws.ToString(in.StateMachineArn), ":stateMachine:", ":execution:", 1) + ":" + name
	f.execs[name] = &fakeExecution{input: input, arn: arn}
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(now)}, nil
}

func (f *fakeSFN) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.execs {
		x.closed = true
	}
}

func (f *fakeSFN) inputs() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for n, x := range f.execs {
		out[n] = x.input
	}
	return out
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatalf("failed to read fixture: %v", err)
	}
	return b
}

type harness struct {
	h    *Handler
	sfn  *fakeSFN
	logs *bytes.Buffer
}

func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	f := &fakeSFN{}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	opts = append([]Option{WithReceiverOptions(webhook.WithClock(func() time.Time { return now }))}, opts...)
	h, err := NewHandler(cat, staticSecrets{values: [][]byte{secret, signingToken}}, f, stateMachineARN, log, opts...)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return &harness{h: h, sfn: f, logs: logs}
}

func post(headers map[string]string, body []byte) events.LambdaFunctionURLRequest {
	return events.LambdaFunctionURLRequest{
		Version: "2.0",
		RawPath: "/",
		Headers: headers,
		Body:    string(body),
		RequestContext: events.LambdaFunctionURLRequestContext{
			RequestID: "req-1",
			HTTP:      events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/"},
		},
	}
}

func (hs *harness) do(t testing.TB, req events.LambdaFunctionURLRequest) (int, Answer, string) {
	t.Helper()
	resp, err := hs.h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	if ct := resp.Headers["content-type"]; ct != "application/json" {
		t.Errorf("content-type = %q", ct)
	}
	var a Answer
	if resp.StatusCode < 300 {
		if err := json.Unmarshal([]byte(resp.Body), &a); err != nil {
			t.Fatalf("answer %q is not JSON: %v", resp.Body, err)
		}
		if a.Executions == nil {
			t.Errorf("answer %s has no executions list", resp.Body)
		}
	}
	return resp.StatusCode, a, resp.Body
}

func execARN(service, env string, p webhook.Provider) string {
	return "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:" + ExecutionName(p, delivery, service, env)
}

func TestHandleDeliveries(t *testing.T) {
	gh := func(event string) func([]byte) map[string]string {
		return func(b []byte) map[string]string { return webhooktest.GitHubHeaders(event, delivery, secret, b) }
	}
	glToken := func(event string) func([]byte) map[string]string {
		return func([]byte) map[string]string { return webhooktest.GitLabTokenHeaders(event, delivery, string(secret)) }
	}
	bbc := func(event string) func([]byte) map[string]string {
		return func(b []byte) map[string]string { return webhooktest.BitbucketCloudHeaders(event, delivery, secret, b) }
	}
	bbdc := func(event string) func([]byte) map[string]string {
		return func(b []byte) map[string]string { return webhooktest.BitbucketDCHeaders(event, delivery, secret, b) }
	}
	tests := []struct {
		name       string
		fixture    string
		body       func([]byte) []byte
		headers    func([]byte) map[string]string
		wantStatus int
		wantExecs  []Execution
		wantReason string
	}{
		{name: "github push deploys every matching environment", fixture: "github-push.json", headers: gh("push"), wantStatus: 202,
			wantExecs: []Execution{{"web", "production", execARN("web", "production", "github")}, {"web", "staging", execARN("web", "staging", "github")}}},
		{name: "github tag push matching a tag pattern", fixture: "github-tag-push.json", headers: gh("push"), wantStatus: 202,
			wantExecs: []Execution{{"web", "production", execARN("web", "production", "github")}}},
		{name: "github tag matching no pattern", fixture: "github-tag-push.json", headers: gh("push"),
			body: func(b []byte) []byte {
				return bytes.ReplaceAll(b, []byte("refs/tags/v1.4.0"), []byte("refs/tags/nightly"))
			},
			wantStatus: 202, wantReason: "tag nightly matches no tag pattern of acme/web; nothing to deploy"},
		{name: "github branch matching no pattern", fixture: "github-push.json", headers: gh("push"),
			body: func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"refs/heads/main"`), []byte(`"refs/heads/feature/x"`), 1)
			},
			wantStatus: 202, wantReason: "branch feature/x matches no branch pattern of acme/web; nothing to deploy"},
		{name: "github branch delete", fixture: "github-branch-delete.json", headers: gh("push"), wantStatus: 202,
			wantReason: "branch feature/pricing deleted; nothing to deploy"},
		{name: "github tag delete", fixture: "github-tag-push.json", headers: gh("push"),
			body: func(b []byte) []byte {
				b = bytes.Replace(b, []byte(`"deleted": false`), []byte(`"deleted": true`), 1)
				return bytes.Replace(b, []byte(`"after": "1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"`), []byte(`"after": "`+webhook.ZeroCommit+`"`), 1)
			},
			wantStatus: 202, wantReason: "tag v1.4.0 deleted; nothing to deploy"},
		{name: "github zero after without deleted", fixture: "github-push.json", headers: gh("push"),
			body: func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"after": "`+pushed), []byte(`"after": "`+webhook.ZeroCommit), 1)
			},
			wantStatus: 202, wantReason: "refs/heads/main: after SHA is zero; nothing to deploy"},
		{name: "github push to a ref neither branch nor tag", fixture: "github-push.json", headers: gh("push"),
			body: func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"refs/heads/main"`), []byte(`"refs/notes/commits"`), 1)
			},
			wantStatus: 202, wantReason: "ref refs/notes/commits is neither a branch nor a tag; nothing to deploy"},
		{name: "github ping", fixture: "github-ping.json", headers: gh("ping"), wantStatus: 200,
			wantReason: "ping: webhook reachable and signature valid"},
		{name: "github pull request", fixture: "github-pull-request.json", headers: gh("pull_request"), wantStatus: 202,
			wantReason: `github event "pull_request" is not a push; nothing to deploy`},
		{name: "github unknown event", fixture: "github-ping.json", headers: gh("deployment_status"), wantStatus: 202,
			wantReason: `github event "deployment_status" is not a push; nothing to deploy`},
		{name: "bitbucket cloud pull request", fixture: "bitbucket-cloud-push.json", wantStatus: 202,
			body:       func([]byte) []byte { return []byte(`{"repository":{"full_name":"acme/web"},"pullrequest":{"id":43}}`) },
			headers:    bbc("pullrequest:created"),
			wantReason: `bitbucket event "pullrequest:created" is not a push; nothing to deploy`},
		{name: "github unknown repository", fixture: "github-push.json", headers: gh("push"),
			body: func(b []byte) []byte {
				return bytes.ReplaceAll(b, []byte(`"full_name": "acme/web"`), []byte(`"full_name": "acme/api"`))
			},
			wantStatus: 202, wantReason: "repository github acme/api is not in the catalog; nothing to deploy"},
		{name: "gitlab push with token", fixture: "gitlab-push.json", wantStatus: 202,
			headers:   glToken("Push Hook"),
			wantExecs: []Execution{{"web-gl", "production", execARN("web-gl", "production", "gitlab")}}},
		{name: "gitlab tag push signed", fixture: "gitlab-tag-push.json", wantStatus: 202,
			headers: func(b []byte) map[string]string {
				return webhooktest.GitLabSignedHeaders("Tag Push Hook", delivery, signingToken, now.Unix(), b)
			},
			wantExecs: []Execution{{"web-gl", "production", execARN("web-gl", "production", "gitlab")}}},
		{name: "gitlab branch delete", fixture: "gitlab-branch-delete.json", wantStatus: 202,
			headers:    glToken("Push Hook"),
			wantReason: "branch feature/pricing deleted; nothing to deploy"},
		{name: "gitlab merge request", fixture: "gitlab-merge-request.json", wantStatus: 202,
			headers:    glToken("Merge Request Hook"),
			wantReason: `gitlab event "Merge Request Hook" is not a push; nothing to deploy`},
		{name: "bitbucket cloud push", fixture: "bitbucket-cloud-push.json", wantStatus: 202,
			headers:   bbc("repo:push"),
			wantExecs: []Execution{{"web-bb", "production", execARN("web-bb", "production", "bitbucket")}}},
		{name: "bitbucket cloud branch delete", fixture: "bitbucket-cloud-branch-delete.json", wantStatus: 202,
			headers:    bbc("repo:push"),
			wantReason: "branch feature/pricing deleted; nothing to deploy"},
		{name: "bitbucket data center push", fixture: "bitbucket-dc-push.json", wantStatus: 202,
			headers:   bbdc("repo:refs_changed"),
			wantExecs: []Execution{{"web-dc", "production", execARN("web-dc", "production", "bitbucket")}}},
		{name: "bitbucket data center tag matching no pattern", fixture: "bitbucket-dc-tag-push.json", wantStatus: 202,
			headers:    bbdc("repo:refs_changed"),
			wantReason: "tag v1.4.0 matches no tag pattern of PLAT/web; nothing to deploy"},
		{name: "bitbucket data center test connection", fixture: "bitbucket-dc-ping.json", wantStatus: 200,
			headers:    bbdc("diagnostics:ping"),
			wantReason: "ping: webhook reachable and signature valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			body := fixture(t, tt.fixture)
			if tt.body != nil {
				body = tt.body(body)
			}
			status, a, raw := hs.do(t, post(tt.headers(body), body))
			if status != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", status, raw, tt.wantStatus)
			}
			if fmt.Sprint(a.Executions) != fmt.Sprint(orEmpty(tt.wantExecs)) {
				t.Errorf("executions = %v, want %v", a.Executions, tt.wantExecs)
			}
			if a.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", a.Reason, tt.wantReason)
			}
			if len(tt.wantExecs) == 0 && hs.sfn.calls != 0 {
				t.Errorf("%d executions started, want none", hs.sfn.calls)
			}
		})
	}
}

func orEmpty(x []Execution) []Execution {
	if x == nil {
		return []Execution{}
	}
	return x
}

// The execution input is the deploy request, golden: what the state
// machine receives for the demo's push.
func TestExecutionInput(t *testing.T) {
	hs := newHarness(t)
	body := fixture(t, "github-push.json")
	if status, _, raw := hs.do(t, post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)); status != 202 {
		t.Fatalf("status %d: %s", status, raw)
	}
	got := hs.sfn.inputs()[ExecutionName("github", delivery, "web", "production")]
	want := payload.DeployRequest{
		Service: "web", Environment: "production", Cluster: "stepship-demo", ECSService: "web", Container: "web",
		Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:" + pushed,
		Build: payload.Build{Mode: "codebuild", Project: "web-build", Repository: "web"},
		Source: payload.Source{Provider: "github", Repository: "acme/web", Ref: "refs/heads/main", Commit: pushed,
			DeliveryID: delivery, Pusher: "dana-ops"},
	}
	wantJSON, _ := json.Marshal(want)
	if got != string(wantJSON) {
		t.Errorf("input =\n%s\nwant\n%s", got, wantJSON)
	}
	var req payload.DeployRequest
	if err := json.Unmarshal([]byte(got), &req); err != nil || req.Validate() != nil {
		t.Errorf("input does not decode into a valid DeployRequest: %v %v", err, req.Validate())
	}
}

func TestIdempotentRedelivery(t *testing.T) {
	hs := newHarness(t)
	body := fixture(t, "github-push.json")
	req := post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)
	_, first, _ := hs.do(t, req)
	if len(first.Executions) != 2 {
		t.Fatalf("first delivery: %+v", first)
	}
	// Redelivered while the executions run: Step Functions returns them.
	status, again, _ := hs.do(t, req)
	if status != 202 || fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("redelivery while running = %d %+v, want 202 %+v", status, again, first)
	}
	// Redelivered after they closed: ExecutionAlreadyExists, same ARNs.
	hs.sfn.closeAll()
	status, late, _ := hs.do(t, req)
	if status != 202 || fmt.Sprint(late) != fmt.Sprint(first) {
		t.Errorf("redelivery after close = %d %+v, want 202 %+v", status, late, first)
	}
	if n := len(hs.sfn.execs); n != 2 {
		t.Errorf("%d executions exist, want 2", n)
	}
	// Another delivery of the same push is a new deploy.
	req2 := post(webhooktest.GitHubHeaders("push", "another-delivery", secret, body), body)
	if _, other, _ := hs.do(t, req2); len(other.Executions) != 2 || other.Executions[0].ExecutionARN == first.Executions[0].ExecutionARN {
		t.Errorf("a new delivery reused an execution: %+v", other)
	}
}

func TestFailedDeliveryCanBeRedelivered(t *testing.T) {
	hs := newHarness(t)
	hs.sfn.failOn = 2 // the second StartExecution fails
	body := fixture(t, "github-push.json")
	req := post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)
	if status, _, raw := hs.do(t, req); status != 503 {
		t.Fatalf("status = %d (%s), want 503 when AWS fails", status, raw)
	}
	status, a, raw := hs.do(t, req)
	if status != 202 || len(a.Executions) != 2 {
		t.Fatalf("redelivery = %d %s, want 202 with both executions", status, raw)
	}
	if a.Executions[0].ExecutionARN != execARN("web", "production", "github") {
		t.Errorf("first execution's ARN changed: %s", a.Executions[0].ExecutionARN)
	}
}

func TestRefusals(t *testing.T) {
	body := fixture(t, "github-push.json")
	signed := webhooktest.GitHubHeaders("push", delivery, secret, body)
	b64 := func(r events.LambdaFunctionURLRequest) events.LambdaFunctionURLRequest {
		r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(r.Body)), true
		return r
	}
	tests := []struct {
		name   string
		req    events.LambdaFunctionURLRequest
		opts   []Option
		status int
		body   string
	}{
		{"GET", func() events.LambdaFunctionURLRequest {
			r := post(signed, body)
			r.RequestContext.HTTP.Method = "GET"
			return r
		}(), nil, 405, "method not allowed"},
		{"over the limit", post(signed, body), []Option{WithMaxBodyBytes(len(body) - 1)}, 413, "body over"},
		{"over the limit, base64", b64(post(signed, body)), []Option{WithMaxBodyBytes(len(body) - 1)}, 413, "body over"},
		{"at the limit, base64", b64(post(signed, body)), []Option{WithMaxBodyBytes(len(body))}, 202, "executions"},
		{"bad base64", func() events.LambdaFunctionURLRequest { r := post(signed, body); r.IsBase64Encoded = true; return r }(), nil, 400, "base64"},
		{"no provider", post(map[string]string{"content-type": "application/json"}, body), nil, 401, `{"error":"unauthorized"}`},
		{"missing signature", post(with(signed, "x-hub-signature-256", ""), body), nil, 401, `{"error":"unauthorized"}`},
		{"SHA-1 signature only", post(with(signed, "x-hub-signature-256", "", "x-hub-signature", "sha1=0123456789abcdef0123456789abcdef01234567"), body), nil, 401, `{"error":"unauthorized"}`},
		{"wrong secret", post(webhooktest.GitHubHeaders("push", delivery, []byte("guess"), body), body), nil, 401, `{"error":"unauthorized"}`},
		{"altered body", post(signed, bytes.Replace(body, []byte("refs/heads/main"), []byte("refs/heads/mail"), 1)), nil, 401, `{"error":"unauthorized"}`},
		{"header names in any case", post(upperKeys(signed), body), nil, 202, "executions"},
		{"signed but not JSON", post(webhooktest.GitHubHeaders("push", delivery, secret, []byte("nope")), []byte("nope")), nil, 400, "malformed: body is not the expected JSON"},
		{"signed, missing delivery id", post(with(signed, "x-github-delivery", ""), body), nil, 400, "malformed: X-GitHub-Delivery header missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.opts...)
			status, _, raw := hs.do(t, tt.req)
			if status != tt.status || !strings.Contains(raw, tt.body) {
				t.Errorf("answer = %d %s, want %d containing %q", status, raw, tt.status, tt.body)
			}
			if status != 202 && hs.sfn.calls != 0 {
				t.Errorf("%d executions started on a refusal", hs.sfn.calls)
			}
		})
	}
}

func TestSecretsUnavailable(t *testing.T) {
	cat, _ := catalog.Parse([]byte(testCatalog))
	f := &fakeSFN{}
	h, err := NewHandler(cat, staticSecrets{err: errors.New("failed to read the AWSCURRENT value of secret x: throttled")}, f, stateMachineARN, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	body := fixture(t, "github-push.json")
	resp, _ := h.Handle(context.Background(), post(webhooktest.GitHubHeaders("push", delivery, secret, body), body))
	if resp.StatusCode != 503 || strings.Contains(resp.Body, "throttled") {
		t.Errorf("answer = %d %s, want 503 without internal detail", resp.StatusCode, resp.Body)
	}
}

func TestLogsCarryDeliveryIDButNoSecret(t *testing.T) {
	hs := newHarness(t)
	body := fixture(t, "github-push.json")
	h := webhooktest.GitHubHeaders("push", delivery, secret, body)
	hs.do(t, post(h, body))
	hs.do(t, post(with(h, "x-hub-signature-256", webhooktest.HexSignature([]byte("guess"), body)), body))
	get := post(h, body)
	get.RequestContext.HTTP.Method = "GET"
	hs.do(t, get)
	hs.do(t, post(webhooktest.GitHubHeaders("push", delivery, secret, []byte("{")), []byte("{")))
	gl := fixture(t, "gitlab-push.json")
	hs.do(t, post(webhooktest.GitLabTokenHeaders("Push Hook", delivery, string(secret)), gl))
	hs.do(t, post(webhooktest.GitLabTokenHeaders("Push Hook", delivery, "a-guessed-token"), gl))
	glSigned := webhooktest.GitLabSignedHeaders("Push Hook", delivery, signingToken, now.Unix(), gl)
	hs.do(t, post(glSigned, gl))
	logs := hs.logs.String()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["deliveryId"] != delivery {
			t.Errorf("log line without the delivery id: %s", line)
		}
	}
	sig := h["x-hub-signature-256"]
	for _, leak := range []string{string(secret), string(signingToken), sig, sig[len("sha256="):], "a-guessed-token", glSigned["webhook-signature"]} {
		if strings.Contains(logs, leak) {
			t.Errorf("logs contain a secret or signature %q", leak)
		}
	}
}

func TestExecutionName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9-]{1,80}$`)
	long := strings.Repeat("a", 40)
	names := map[string]bool{}
	for _, c := range []struct{ p, d, s, e string }{
		{"github", delivery, "web", "production"},
		{"gitlab", delivery, "web", "production"},
		{"github", delivery + "x", "web", "production"},
		{"github", delivery, "web", "staging"},
		{"github", delivery, long, long},
		{"github", delivery, long, long[:39] + "b"},
	} {
		n := ExecutionName(webhook.Provider(c.p), c.d, c.s, c.e)
		if !valid.MatchString(n) {
			t.Errorf("ExecutionName(%v) = %q: not a valid execution name", c, n)
		}
		if names[n] {
			t.Errorf("ExecutionName(%v) = %q collides", c, n)
		}
		names[n] = true
		if n != ExecutionName(webhook.Provider(c.p), c.d, c.s, c.e) {
			t.Errorf("ExecutionName(%v) is not deterministic", c)
		}
	}
	if n := ExecutionName("github", delivery, "web", "production"); !strings.HasPrefix(n, "web-production-") {
		t.Errorf("name %q does not start with service-environment", n)
	}
}

func TestNewHandlerChecksItsArguments(t *testing.T) {
	cat, _ := catalog.Parse([]byte(testCatalog))
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, arn := range []string{"", "stepship-deploy", "arn:aws:states:us-east-1:123456789012:execution:x:y", "arn:aws:lambda:us-east-1:123456789012:function:x"} {
		if _, err := NewHandler(cat, staticSecrets{}, &fakeSFN{}, arn, log); err == nil {
			t.Errorf("NewHandler accepted state machine ARN %q", arn)
		}
	}
	if _, err := NewHandler(nil, staticSecrets{}, &fakeSFN{}, stateMachineARN, log); err == nil {
		t.Error("NewHandler accepted a nil catalog")
	}
	if _, err := NewHandler(cat, staticSecrets{}, &fakeSFN{}, "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:d", log); err != nil {
		t.Errorf("NewHandler refused an aws-cn ARN: %v", err)
	}
}

func with(h map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func upperKeys(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToUpper(k)] = v
	}
	return out
}

// FuzzHandle: whatever the body, the handler answers without a 5xx, and a
// body that is not the signed one starts nothing and gets 401.
func FuzzHandle(f *testing.F) {
	signed := fixture(f, "github-push.json")
	f.Add(signed, false)
	f.Add(signed[:100], false)
	f.Add(append(bytes.Clone(signed), ' '), false)
	f.Add([]byte(base64.StdEncoding.EncodeToString(signed)), true)
	hs := newHarness(f)
	headers := webhooktest.GitHubHeaders("push", delivery, secret, signed)
	f.Fuzz(func(t *testing.T, body []byte, b64 bool) {
		req := post(headers, body)
		req.IsBase64Encoded = b64
		before := hs.sfn.calls
		resp, err := hs.h.Handle(context.Background(), req)
		if err != nil || resp.StatusCode >= 500 {
			t.Fatalf("answer %d, %v", resp.StatusCode, err)
		}
		raw := body
		if b64 {
			raw, _ = base64.StdEncoding.DecodeString(string(body))
		}
		if !bytes.Equal(raw, signed) && hs.sfn.calls != before {
			t.Fatalf("an altered body started an execution")
		}
		if !bytes.Equal(raw, signed) && resp.StatusCode == 202 {
			t.Fatalf("an altered body was accepted")
		}
	})
}

type noopStarter struct{}

func (noopStarter) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	return &sfn.StartExecutionOutput{ExecutionArn: in.Name}, nil
}

// BenchmarkHandleGitHubPush25KB: verify + parse + route + start (no-op
// starter) for a 25 KB GitHub push deploying two environments.
func BenchmarkHandleGitHubPush25KB(b *testing.B) {
	body, err := webhooktest.PadGitHubPush(fixture(b, "github-push.json"), 25<<10)
	if err != nil {
		b.Fatal(err)
	}
	cat, _ := catalog.Parse([]byte(testCatalog))
	h, err := NewHandler(cat, staticSecrets{values: [][]byte{secret, previous}}, noopStarter{}, stateMachineARN, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	req := post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, _ := h.Handle(context.Background(), req)
		if resp.StatusCode != 202 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}
