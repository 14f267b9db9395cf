package intake

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

// deadlineKeys is a KeySource that records how long its context had left.
type deadlineKeys struct{ left *time.Duration }

func (k deadlineKeys) Keyring(ctx context.Context) (webhook.Keyring, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("no deadline")
	}
	*k.left = time.Until(d)
	return keys, nil
}

// The AWS calls of one request run under the timeout; an option of zero or
// less keeps the default.
func TestTimeout(t *testing.T) {
	body := fixture(t, "github-push.json")
	req := post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)
	tests := []struct {
		name     string
		opts     []Option
		min, max time.Duration
	}{
		{"default", nil, DefaultTimeout - time.Second, DefaultTimeout},
		{"two seconds", []Option{WithTimeout(2 * time.Second)}, time.Second, 2 * time.Second},
		{"zero keeps the default", []Option{WithTimeout(0)}, DefaultTimeout - time.Second, DefaultTimeout},
		{"negative keeps the default", []Option{WithTimeout(-time.Second)}, DefaultTimeout - time.Second, DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var left time.Duration
			hs := newHarness(t, deadlineKeys{left: &left}, tt.opts...)
			if status, _, raw := hs.do(t, req); status != 202 {
				t.Fatalf("answer = %d %s, want 202", status, raw)
			}
			if left <= tt.min || left > tt.max {
				t.Errorf("the key source had %s left, want (%s, %s]", left, tt.min, tt.max)
			}
		})
	}
}

// Every answer is logged once: at error level when the failure is ours (5xx),
// else at info, with what the delivery was and, when nothing or not
// everything deployed, why.
func TestAnswerLogLine(t *testing.T) {
	body := fixture(t, "github-push.json")
	signed := webhooktest.GitHubHeaders("push", delivery, secret, body)
	deleted := fixture(t, "github-branch-delete.json")
	tests := []struct {
		name    string
		req     events.LambdaFunctionURLRequest
		keys    KeySource
		want    map[string]any
		without []string // keys the line must not have
	}{
		{"deploy", post(signed, body), nil,
			map[string]any{"level": "INFO", "status": 202.0, "event": "push", "kind": "push", "repository": "acme/web", "ref": "refs/heads/main", "commit": pushed, "executions": 2.0},
			[]string{"reason", "error"}},
		{"nothing to deploy", post(webhooktest.GitHubHeaders("push", delivery, secret, deleted), deleted), nil,
			map[string]any{"level": "INFO", "status": 202.0, "kind": "branch_delete", "ref": "refs/heads/feature/pricing", "executions": 0.0,
				"reason": "branch feature/pricing deleted; nothing to deploy"},
			[]string{"error"}},
		{"no ref changes", post(webhooktest.BitbucketCloudHeaders("repo:push", delivery, secret, []byte(`{"push":{"changes":[]}}`)), []byte(`{"push":{"changes":[]}}`)), nil,
			map[string]any{"level": "INFO", "status": 202.0, "executions": 0.0, "reason": "no ref changes; nothing to deploy"},
			[]string{"event", "kind", "ref", "error"}},
		{"refused", post(webhooktest.With(signed, "x-hub-signature-256", ""), body), nil,
			map[string]any{"level": "INFO", "status": 401.0},
			[]string{"event", "kind", "executions", "error"}},
		{"keys unavailable", post(signed, body), staticKeys{err: errors.New("throttled")}, map[string]any{"level": "ERROR", "status": 503.0, "error": "throttled"},
			[]string{"event", "executions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.keys)
			hs.do(t, tt.req)
			lines := strings.Split(strings.TrimSpace(hs.logs.String()), "\n")
			var m map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil || m["msg"] != "webhook answered" {
				t.Fatalf("last log line %q is not the answer's (%v)", lines[len(lines)-1], err)
			}
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			for _, k := range tt.without {
				if _, ok := m[k]; ok {
					t.Errorf("line has %s = %v, want none", k, m[k])
				}
			}
		})
	}
}
