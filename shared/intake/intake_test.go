package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
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
	"github.com/stepship/stepship/shared/git"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	stateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:stepship-deploy"
	pushed          = "3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4"
	delivery        = "7c1e2a40-cb0b-11f0-8d4b-2b1e5f0a9c11"
	// githubPushedAt is repository.pushed_at in events/github-*push.json.
	githubPushedAt = 1795776000
)

var (
	secret       = []byte("s3cr3t-current-0123")
	previous     = []byte("s3cr3t-previous-0123")
	signingToken = []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7ozWmT3Pl/I=")
	// now is ten minutes after the GitHub fixtures' push.
	now = time.Unix(githubPushedAt+600, 0)
	// keys: the GitHub and Bitbucket HMAC key, the GitLab token and the
	// GitLab signing secret.
	keys = webhook.Keyring{
		{Provider: git.GitHub, Secret: secret},
		{Provider: git.GitLab, Secret: secret},
		{Provider: git.GitLab, Secret: signingToken},
		{Provider: git.Bitbucket, Secret: secret},
	}
)

const testCatalog = `
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: codebuild, project: web-build}
    environments:
      - {name: production, branches: [main], tags: ["v*"], cluster: stepship-demo, service: web, container: web}
      - {name: staging, branches: [main], cluster: stepship-staging, service: web, container: web}
  - name: web-gl
    repository: {provider: gitlab, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments: [{name: production, branches: [main], tags: ["v*"], cluster: stepship-demo, service: web, container: web}]
  - name: web-bb
    repository: {provider: bitbucket, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments: [{name: production, branches: [main], cluster: stepship-demo, service: web, container: web}]
  - name: web-dc
    repository: {provider: bitbucket, name: PLAT/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments: [{name: production, branches: [main], tags: ["release-*"], cluster: stepship-demo, service: web, container: web}]
`

// staticKeys is a KeySource with a fixed keyring.
type staticKeys struct {
	ring webhook.Keyring
	err  error
}

func (s staticKeys) Keyring(context.Context) (webhook.Keyring, error) { return s.ring, s.err }

// fakeSFN behaves like Step Functions for named executions as the intake
// sees them: a name that exists is ExecutionAlreadyExists (whatever the
// input), and DescribeExecution returns the input the execution was started
// with.
type fakeSFN struct {
	mu          sync.Mutex
	execs       map[string]string // execution ARN → input
	calls       int               // StartExecution calls
	describes   int
	failOn      int // the failOn-th StartExecution call (1-based) fails with a service error
	describeErr error
}

func (f *fakeSFN) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failOn == f.calls {
		return nil, &sfntypes.InvalidArn{Message: aws.String("injected failure")}
	}
	arn := strings.Replace(aws.ToString(in.StateMachineArn), ":stateMachine:", ":execution:", 1) + ":" + aws.ToString(in.Name)
	if _, ok := f.execs[arn]; ok {
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: '" + arn + "'")}
	}
	if f.execs == nil {
		f.execs = map[string]string{}
	}
	f.execs[arn] = aws.ToString(in.Input)
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(now)}, nil
}

func (f *fakeSFN) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes++
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	input, ok := f.execs[aws.ToString(in.ExecutionArn)]
	if !ok {
		return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("Execution Does Not Exist")}
	}
	return &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Input: aws.String(input), Status: sfntypes.ExecutionStatusSucceeded}, nil
}

func (f *fakeSFN) started() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.execs)
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatalf("failed to read fixture: %v", err)
	}
	return b
}

func testCatalogParsed(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return cat
}

type harness struct {
	h    *Intake
	sfn  *fakeSFN
	logs *bytes.Buffer
}

// newHarness returns an intake over the fake Step Functions, with the test
// keys unless a KeySource is given. Its replay window is 48h: the fixtures
// were signed at different times (Bitbucket Data Center's a day before
// GitHub's); replay tests set their own.
func newHarness(t testing.TB, src KeySource, opts ...Option) *harness {
	t.Helper()
	if src == nil {
		src = staticKeys{ring: keys}
	}
	f := &fakeSFN{}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	opts = append([]Option{WithClock(func() time.Time { return now }), WithReplayWindow(48 * time.Hour)}, opts...)
	h, err := New(testCatalogParsed(t), src, f, stateMachineARN, log, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
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
	if resp.StatusCode < 300 || resp.StatusCode == 409 {
		if err := json.Unmarshal([]byte(resp.Body), &a); err != nil {
			t.Fatalf("answer %q is not JSON: %v", resp.Body, err)
		}
		if a.Executions == nil {
			t.Errorf("answer %s has no executions list", resp.Body)
		}
	}
	return resp.StatusCode, a, resp.Body
}

// execARN is the ARN of the execution that deploys a push of body (ref) to
// service/environment.
func execARN(body []byte, ref, target string) Execution {
	service, env, _ := strings.Cut(target, "/")
	name := ExecutionName(sha256.Sum256(body), ref, service, env)
	return Execution{Service: service, Environment: env,
		ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:" + name}
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
		ref        string   // of the deploys
		wantExecs  []string // service/environment
		wantReason string
	}{
		{name: "github push deploys every matching environment", fixture: "github-push.json", headers: gh("push"), wantStatus: 202,
			ref: "refs/heads/main", wantExecs: []string{"web/production", "web/staging"}},
		{name: "github tag push matching a tag pattern", fixture: "github-tag-push.json", headers: gh("push"), wantStatus: 202,
			ref: "refs/tags/v1.4.0", wantExecs: []string{"web/production"}},
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
				return bytes.Replace(b, []byte(`"after": "1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"`), []byte(`"after": "`+git.ZeroCommit+`"`), 1)
			},
			wantStatus: 202, wantReason: "tag v1.4.0 deleted; nothing to deploy"},
		{name: "github zero after without deleted", fixture: "github-push.json", headers: gh("push"),
			body: func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"after": "`+pushed), []byte(`"after": "`+git.ZeroCommit), 1)
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
			headers: glToken("Push Hook"), ref: "refs/heads/main", wantExecs: []string{"web-gl/production"}},
		{name: "gitlab tag push signed", fixture: "gitlab-tag-push.json", wantStatus: 202,
			headers: func(b []byte) map[string]string {
				return webhooktest.GitLabSignedHeaders("Tag Push Hook", delivery, signingToken, now.Unix(), b)
			},
			ref: "refs/tags/v1.4.0", wantExecs: []string{"web-gl/production"}},
		{name: "gitlab branch delete", fixture: "gitlab-branch-delete.json", wantStatus: 202,
			headers:    glToken("Push Hook"),
			wantReason: "branch feature/pricing deleted; nothing to deploy"},
		{name: "gitlab merge request", fixture: "gitlab-merge-request.json", wantStatus: 202,
			headers:    glToken("Merge Request Hook"),
			wantReason: `gitlab event "Merge Request Hook" is not a push; nothing to deploy`},
		{name: "bitbucket cloud push", fixture: "bitbucket-cloud-push.json", wantStatus: 202,
			headers: bbc("repo:push"), ref: "refs/heads/main", wantExecs: []string{"web-bb/production"}},
		{name: "bitbucket cloud push without ref changes", fixture: "bitbucket-cloud-push.json", wantStatus: 202,
			body:       func([]byte) []byte { return []byte(`{"push":{"changes":[]},"repository":{"full_name":"acme/web"}}`) },
			headers:    bbc("repo:push"),
			wantReason: "no ref changes; nothing to deploy"},
		{name: "bitbucket cloud branch delete", fixture: "bitbucket-cloud-branch-delete.json", wantStatus: 202,
			headers:    bbc("repo:push"),
			wantReason: "branch feature/pricing deleted; nothing to deploy"},
		{name: "bitbucket data center push", fixture: "bitbucket-dc-push.json", wantStatus: 202,
			headers: bbdc("repo:refs_changed"), ref: "refs/heads/main", wantExecs: []string{"web-dc/production"}},
		{name: "bitbucket data center tag matching no pattern", fixture: "bitbucket-dc-tag-push.json", wantStatus: 202,
			headers:    bbdc("repo:refs_changed"),
			wantReason: "tag v1.4.0 matches no tag pattern of PLAT/web; nothing to deploy"},
		{name: "bitbucket data center test connection", fixture: "bitbucket-dc-ping.json", wantStatus: 200,
			headers:    bbdc("diagnostics:ping"),
			wantReason: "ping: webhook reachable and signature valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, nil)
			body := fixture(t, tt.fixture)
			if tt.body != nil {
				body = tt.body(body)
			}
			status, a, raw := hs.do(t, post(tt.headers(body), body))
			if status != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", status, raw, tt.wantStatus)
			}
			want := []Execution{}
			for _, target := range tt.wantExecs {
				want = append(want, execARN(body, tt.ref, target))
			}
			if fmt.Sprint(a.Executions) != fmt.Sprint(want) {
				t.Errorf("executions = %v, want %v", a.Executions, want)
			}
			if a.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", a.Reason, tt.wantReason)
			}
			if hs.sfn.started() != len(tt.wantExecs) {
				t.Errorf("%d executions started, want %d", hs.sfn.started(), len(tt.wantExecs))
			}
		})
	}
}

// The execution input is the deploy request, golden: what the state machine
// receives for the demo's push. It names no target and no delivery id.
func TestExecutionInputGolden(t *testing.T) {
	hs := newHarness(t, nil)
	body := fixture(t, "github-push.json")
	if status, _, raw := hs.do(t, post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)); status != 202 {
		t.Fatalf("status %d: %s", status, raw)
	}
	got := hs.sfn.execs[execARN(body, "refs/heads/main", "web/production").ExecutionARN]
	golden := filepath.Join("testdata", "execution-input.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got+"\n" != string(want) {
		t.Errorf("input =\n%s\nwant (%s)\n%s", got, golden, want)
	}
	// What the webhook starts, the resolve function accepts.
	if _, err := payload.DecodeDeployRequest([]byte(got)); err != nil {
		t.Errorf("the input does not decode into a valid DeployRequest: %v", err)
	}
	if strings.Contains(got, delivery) {
		t.Errorf("the input carries the unsigned delivery id: %s", got)
	}
}

// A re-sent push, under any delivery id, answers the executions it started
// the first time and starts nothing new; a push signed too long ago starts
// nothing; a name taken by another input is a conflict.
func TestReplay(t *testing.T) {
	gh := fixture(t, "github-push.json")
	ghHeaders := webhooktest.GitHubHeaders("push", delivery, secret, gh)
	first := []Execution{execARN(gh, "refs/heads/main", "web/production"), execARN(gh, "refs/heads/main", "web/staging")}
	gl := fixture(t, "gitlab-push.json")
	dc := fixture(t, "bitbucket-dc-push.json")
	bbc := fixture(t, "bitbucket-cloud-push.json")
	noPushedAt := bytes.Replace(gh, []byte(`"pushed_at": 1795776000,`), nil, 1)
	future := webhooktest.WithPushedAt(gh, now.Add(10*time.Minute))
	tests := []struct {
		name string
		opts []Option
		// before runs on the fake before the request (an earlier delivery).
		before     func(t *testing.T, hs *harness)
		req        events.LambdaFunctionURLRequest
		wantStatus int
		wantExecs  []Execution
		wantReason string
		wantNew    int // executions started by req
	}{
		{name: "first delivery", req: post(ghHeaders, gh), wantStatus: 202, wantExecs: first, wantNew: 2},
		{name: "same delivery again",
			before: func(t *testing.T, hs *harness) { hs.do(t, post(ghHeaders, gh)) },
			req:    post(ghHeaders, gh), wantStatus: 202, wantExecs: first},
		{name: "same signed body under a new delivery id",
			before: func(t *testing.T, hs *harness) { hs.do(t, post(ghHeaders, gh)) },
			req:    post(webhooktest.GitHubHeaders("push", "0f9e8d7c-new-delivery", secret, gh), gh), wantStatus: 202, wantExecs: first},
		{name: "same signed body, headers in another case",
			before: func(t *testing.T, hs *harness) { hs.do(t, post(ghHeaders, gh)) },
			req:    post(upperKeys(webhooktest.GitHubHeaders("push", "other", secret, gh)), gh), wantStatus: 202, wantExecs: first},
		{name: "push older than the window", opts: []Option{WithReplayWindow(5 * time.Minute)},
			req: post(ghHeaders, gh), wantStatus: 202,
			wantReason: "push of main at 2026-11-27T10:40:00Z is older than the replay window (5m0s): a re-sent delivery deploys nothing; push again or start the deploy from the console"},
		{name: "push just inside the window", opts: []Option{WithReplayWindow(10 * time.Minute)},
			req: post(ghHeaders, gh), wantStatus: 202, wantExecs: first, wantNew: 2},
		{name: "push one second outside the window", opts: []Option{WithReplayWindow(10*time.Minute - time.Second)},
			req: post(ghHeaders, gh), wantStatus: 202,
			wantReason: "push of main at 2026-11-27T10:40:00Z is older than the replay window (9m59s): a re-sent delivery deploys nothing; push again or start the deploy from the console"},
		// The harness's window is 48h: a window option of zero or less keeps it.
		{name: "zero window keeps the window", opts: []Option{WithReplayWindow(0)},
			req: post(ghHeaders, gh), wantStatus: 202, wantExecs: first, wantNew: 2},
		{name: "negative window keeps the window", opts: []Option{WithReplayWindow(-time.Hour)},
			req: post(ghHeaders, gh), wantStatus: 202, wantExecs: first, wantNew: 2},
		{name: "gitlab signed push older than the window", opts: []Option{WithReplayWindow(time.Minute)},
			req: post(webhooktest.GitLabSignedHeaders("Push Hook", delivery, signingToken, now.Unix()-120, gl), gl), wantStatus: 202,
			wantReason: "push of main at 2026-11-27T10:48:00Z is older than the replay window (1m0s): a re-sent delivery deploys nothing; push again or start the deploy from the console"},
		{name: "bitbucket data center push older than the window", opts: []Option{WithReplayWindow(time.Hour)},
			req: post(webhooktest.BitbucketDCHeaders("repo:refs_changed", delivery, secret, dc), dc), wantStatus: 202,
			wantReason: "push of main at 2026-11-26T10:00:05Z is older than the replay window (1h0m0s): a re-sent delivery deploys nothing; push again or start the deploy from the console"},
		{name: "bitbucket cloud signs no time: the window does not apply", opts: []Option{WithReplayWindow(time.Minute)},
			req: post(webhooktest.BitbucketCloudHeaders("repo:push", delivery, secret, bbc), bbc), wantStatus: 202,
			wantExecs: []Execution{execARN(bbc, "refs/heads/main", "web-bb/production")}, wantNew: 1},
		// A GitLab retry re-signs with a new webhook-timestamp: the same push, so
		// the same execution and the same input (the timestamp is not in it).
		{name: "gitlab signed retry with a new timestamp",
			before: func(t *testing.T, hs *harness) {
				hs.do(t, post(webhooktest.GitLabSignedHeaders("Push Hook", delivery, signingToken, now.Unix()-60, gl), gl))
			},
			req: post(webhooktest.GitLabSignedHeaders("Push Hook", delivery, signingToken, now.Unix(), gl), gl), wantStatus: 202,
			wantExecs: []Execution{execARN(gl, "refs/heads/main", "web-gl/production")}},
		{name: "github push without pushed_at",
			req: post(webhooktest.GitHubHeaders("push", delivery, secret, noPushedAt), noPushedAt), wantStatus: 202,
			wantReason: "push of main carries no signed push time (repository.pushed_at); nothing to deploy"},
		{name: "github push time in the future",
			req: post(webhooktest.GitHubHeaders("push", delivery, secret, future), future), wantStatus: 202,
			wantReason: "push of main at 2026-11-27T11:00:00Z is in the future; nothing to deploy (check the host's clock)"},
		{name: "name taken by another input",
			before: func(t *testing.T, hs *harness) {
				hs.sfn.execs = map[string]string{first[0].ExecutionARN: `{"service":"web","environment":"production","commit":"` + strings.Repeat("9", 40) + `"}`}
			},
			req: post(ghHeaders, gh), wantStatus: 409, wantExecs: first[1:], wantNew: 1,
			wantReason: "web/production: conflict: execution " + first[0].ExecutionARN + " already exists with a different input; not started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, nil, tt.opts...)
			if tt.before != nil {
				tt.before(t, hs)
			}
			before, calls := hs.sfn.started(), hs.sfn.calls
			status, a, raw := hs.do(t, tt.req)
			if status != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", status, raw, tt.wantStatus)
			}
			if fmt.Sprint(a.Executions) != fmt.Sprint(orEmpty(tt.wantExecs)) {
				t.Errorf("executions = %v, want %v", a.Executions, tt.wantExecs)
			}
			if a.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", a.Reason, tt.wantReason)
			}
			if n := hs.sfn.started() - before; n != tt.wantNew {
				t.Errorf("%d executions started, want %d", n, tt.wantNew)
			}
			if len(tt.wantExecs) == 0 && hs.sfn.calls != calls {
				t.Errorf("StartExecution called %d times for a refused push", hs.sfn.calls-calls)
			}
		})
	}
}

func TestExistingExecutionCannotBeDescribed(t *testing.T) {
	hs := newHarness(t, nil)
	body := fixture(t, "github-push.json")
	req := post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)
	hs.do(t, req)
	hs.sfn.describeErr = errors.New("ThrottlingException: Rate exceeded")
	if status, _, raw := hs.do(t, req); status != 503 || strings.Contains(raw, "Throttling") {
		t.Errorf("answer = %d %s, want 503 without internal detail", status, raw)
	}
}

func orEmpty(x []Execution) []Execution {
	if x == nil {
		return []Execution{}
	}
	return x
}

func TestFailedDeliveryCanBeRedelivered(t *testing.T) {
	hs := newHarness(t, nil)
	hs.sfn.failOn = 2 // the second StartExecution fails
	body := fixture(t, "github-push.json")
	req := post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)
	if status, _, raw := hs.do(t, req); status != 503 {
		t.Fatalf("status = %d (%s), want 503 when AWS fails", status, raw)
	}
	status, a, raw := hs.do(t, req)
	want := []Execution{execARN(body, "refs/heads/main", "web/production"), execARN(body, "refs/heads/main", "web/staging")}
	if status != 202 || fmt.Sprint(a.Executions) != fmt.Sprint(want) {
		t.Fatalf("redelivery = %d %s, want 202 with %v", status, raw, want)
	}
	if hs.sfn.started() != 2 {
		t.Errorf("%d executions exist, want 2", hs.sfn.started())
	}
}

func TestRefusals(t *testing.T) {
	body := fixture(t, "github-push.json")
	signed := webhooktest.GitHubHeaders("push", delivery, secret, body)
	gl := fixture(t, "gitlab-push.json")
	b64 := func(r events.LambdaFunctionURLRequest) events.LambdaFunctionURLRequest {
		r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(r.Body)), true
		return r
	}
	githubOnly := staticKeys{ring: webhook.Keyring{{Provider: git.GitHub, Secret: secret}}}
	tests := []struct {
		name   string
		req    events.LambdaFunctionURLRequest
		keys   KeySource
		opts   []Option
		status int
		body   string
	}{
		{"GET", func() events.LambdaFunctionURLRequest {
			r := post(signed, body)
			r.RequestContext.HTTP.Method = "GET"
			return r
		}(), nil, nil, 405, "method not allowed"},
		{"over the limit", post(signed, body), nil, []Option{WithMaxBodyBytes(len(body) - 1)}, 413, "body over"},
		{"over the limit, base64", b64(post(signed, body)), nil, []Option{WithMaxBodyBytes(len(body) - 1)}, 413, "body over"},
		{"at the limit, base64", b64(post(signed, body)), nil, []Option{WithMaxBodyBytes(len(body))}, 202, "executions"},
		{"bad base64", func() events.LambdaFunctionURLRequest { r := post(signed, body); r.IsBase64Encoded = true; return r }(), nil, nil, 400, "base64"},
		{"no provider", post(map[string]string{"content-type": "application/json"}, body), nil, nil, 401, `{"error":"unauthorized"}`},
		{"missing signature", post(webhooktest.With(signed, "x-hub-signature-256", ""), body), nil, nil, 401, `{"error":"unauthorized"}`},
		{"SHA-1 signature only", post(webhooktest.With(signed, "x-hub-signature-256", "", "x-hub-signature", "sha1=0123456789abcdef0123456789abcdef01234567"), body), nil, nil, 401, `{"error":"unauthorized"}`},
		{"wrong secret", post(webhooktest.GitHubHeaders("push", delivery, []byte("guess"), body), body), nil, nil, 401, `{"error":"unauthorized"}`},
		{"altered body", post(signed, bytes.Replace(body, []byte("refs/heads/main"), []byte("refs/heads/mail"), 1)), nil, nil, 401, `{"error":"unauthorized"}`},
		{"gitlab delivery, github key only", post(webhooktest.GitLabTokenHeaders("Push Hook", delivery, string(secret)), gl), githubOnly, nil, 401, `{"error":"unauthorized"}`},
		{"github key only, github push", post(signed, body), githubOnly, nil, 202, "executions"},
		{"header names in any case", post(upperKeys(signed), body), nil, nil, 202, "executions"},
		{"signed but not JSON", post(webhooktest.GitHubHeaders("push", delivery, secret, []byte("nope")), []byte("nope")), nil, nil, 400, "malformed: body is not the expected JSON"},
		{"signed, missing delivery id", post(webhooktest.With(signed, "x-github-delivery", ""), body), nil, nil, 400, "malformed: X-GitHub-Delivery header missing"},
		{"keys unavailable", post(signed, body), staticKeys{err: errors.New("failed to read the AWSCURRENT value of secret x: throttled")}, nil, 503, "temporarily unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.keys, tt.opts...)
			status, _, raw := hs.do(t, tt.req)
			if status != tt.status || !strings.Contains(raw, tt.body) {
				t.Errorf("answer = %d %s, want %d containing %q", status, raw, tt.status, tt.body)
			}
			if strings.Contains(raw, "throttled") {
				t.Errorf("answer %s shows internal detail", raw)
			}
			if status != 202 && hs.sfn.calls != 0 {
				t.Errorf("%d executions started on a refusal", hs.sfn.calls)
			}
		})
	}
}

func TestLogsCarryDeliveryIDButNoSecret(t *testing.T) {
	hs := newHarness(t, nil)
	body := fixture(t, "github-push.json")
	h := webhooktest.GitHubHeaders("push", delivery, secret, body)
	hs.do(t, post(h, body))
	hs.do(t, post(webhooktest.With(h, "x-hub-signature-256", webhooktest.HexSignature([]byte("guess"), body)), body))
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
	d1, d2 := sha256.Sum256([]byte("push one")), sha256.Sum256([]byte("push two"))
	names := map[string]bool{}
	for _, c := range []struct {
		name   string
		digest [sha256.Size]byte
		ref    string
		s, e   string
	}{
		{"base", d1, "refs/heads/main", "web", "production"},
		{"another body", d2, "refs/heads/main", "web", "production"},
		{"another ref of the same delivery", d1, "refs/heads/develop", "web", "production"},
		{"another environment", d1, "refs/heads/main", "web", "staging"},
		{"boundary between service and environment", d1, "refs/heads/main", "web-production", ""},
		{"long names", d1, "refs/heads/main", long, long},
		{"long names differing past the cut", d1, "refs/heads/main", long, long[:39] + "b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := ExecutionName(c.digest, c.ref, c.s, c.e)
			if !valid.MatchString(n) {
				t.Errorf("ExecutionName = %q: not a valid execution name", n)
			}
			if names[n] {
				t.Errorf("ExecutionName = %q collides", n)
			}
			names[n] = true
			if n != ExecutionName(c.digest, c.ref, c.s, c.e) {
				t.Error("ExecutionName is not deterministic")
			}
		})
	}
	if n := ExecutionName(d1, "refs/heads/main", "web", "production"); !strings.HasPrefix(n, "web-production-") {
		t.Errorf("name %q does not start with service-environment", n)
	}
}

func TestNewChecksItsArguments(t *testing.T) {
	cat := testCatalogParsed(t)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tests := []struct {
		name    string
		cat     *catalog.Catalog
		keys    KeySource
		starter Starter
		arn     string
		log     *slog.Logger
		ok      bool
	}{
		{"valid", cat, staticKeys{}, &fakeSFN{}, stateMachineARN, log, true},
		{"aws-cn state machine", cat, staticKeys{}, &fakeSFN{}, "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:d", log, true},
		{"empty ARN", cat, staticKeys{}, &fakeSFN{}, "", log, false},
		{"a name, not an ARN", cat, staticKeys{}, &fakeSFN{}, "stepship-deploy", log, false},
		{"an execution ARN", cat, staticKeys{}, &fakeSFN{}, "arn:aws:states:us-east-1:123456789012:execution:x:y", log, false},
		{"a function ARN", cat, staticKeys{}, &fakeSFN{}, "arn:aws:lambda:us-east-1:123456789012:function:x", log, false},
		{"no catalog", nil, staticKeys{}, &fakeSFN{}, stateMachineARN, log, false},
		{"no keys", cat, nil, &fakeSFN{}, stateMachineARN, log, false},
		{"no starter", cat, staticKeys{}, nil, stateMachineARN, log, false},
		{"no logger", cat, staticKeys{}, &fakeSFN{}, stateMachineARN, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cat, tt.keys, tt.starter, tt.arn, tt.log)
			if (err == nil) != tt.ok {
				t.Errorf("New = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func upperKeys(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToUpper(k)] = v
	}
	return out
}

// FuzzHandle: whatever the body, the intake answers without a 5xx, and a
// body that is not the signed one starts nothing and is not accepted.
func FuzzHandle(f *testing.F) {
	signed := fixture(f, "github-push.json")
	f.Add(signed, false)
	f.Add(signed[:100], false)
	f.Add(append(bytes.Clone(signed), ' '), false)
	f.Add([]byte(base64.StdEncoding.EncodeToString(signed)), true)
	hs := newHarness(f, nil)
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
		if !bytes.Equal(raw, signed) && (hs.sfn.calls != before || resp.StatusCode < 300) {
			t.Fatalf("an altered body was accepted (%d) or started an execution", resp.StatusCode)
		}
	})
}

type noopStarter struct{}

func (noopStarter) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	return &sfn.StartExecutionOutput{ExecutionArn: in.Name}, nil
}

func (noopStarter) DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return nil, errors.New("not called")
}

// BenchmarkHandleGitHubPush25KB: verify + parse + route + start (no-op
// starter) for a 25 KB GitHub push deploying two environments.
func BenchmarkHandleGitHubPush25KB(b *testing.B) {
	body, err := webhooktest.PadGitHubPush(fixture(b, "github-push.json"), 25<<10)
	if err != nil {
		b.Fatal(err)
	}
	ring := append(keys, webhook.Key{Provider: git.GitHub, Secret: previous})
	h, err := New(testCatalogParsed(b), staticKeys{ring: ring}, noopStarter{}, stateMachineARN, slog.New(slog.NewJSONHandler(io.Discard, nil)),
		WithClock(func() time.Time { return now }))
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
