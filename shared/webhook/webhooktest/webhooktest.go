// Package webhooktest signs deliveries the way each git host does, for tests,
// benchmarks and the demo: a delivery built here is what a real host sends.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HexSignature returns "sha256=" + hex HMAC-SHA256(secret, body): GitHub's
// X-Hub-Signature-256 and Bitbucket's X-Hub-Signature.
func HexSignature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// StandardSignature returns a Standard Webhooks signature entry ("v1," +
// base64 HMAC-SHA256 over id.timestamp.body), GitLab's signed form. A secret
// starting with "whsec_" is base64-decoded first, as the specification says.
func StandardSignature(secret []byte, id string, timestamp int64, body []byte) string {
	key := secret
	if rest, ok := strings.CutPrefix(string(secret), "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(rest); err == nil {
			key = k
		}
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, timestamp)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// GitHubHeaders returns the headers GitHub sends with a delivery, signed with
// secret (header names as a Lambda Function URL passes them: lower case).
func GitHubHeaders(event, deliveryID string, secret, body []byte) map[string]string {
	return map[string]string{
		"content-type":        "application/json",
		"user-agent":          "GitHub-Hookshot/4f2a1b0",
		"x-github-event":      event,
		"x-github-delivery":   deliveryID,
		"x-github-hook-id":    "512340987",
		"x-hub-signature-256": HexSignature(secret, body),
	}
}

// GitLabTokenHeaders returns the headers GitLab sends with a delivery in its
// token form (X-Gitlab-Token carries the secret).
func GitLabTokenHeaders(event, idempotencyKey string, token string) map[string]string {
	return map[string]string{
		"content-type":          "application/json",
		"user-agent":            "GitLab/18.6.0",
		"x-gitlab-event":        event,
		"x-gitlab-event-uuid":   "e2b1c0a9-8f7e-4d6c-b5a4-93827160f5e4",
		"x-gitlab-webhook-uuid": "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a",
		"x-gitlab-instance":     "https://gitlab.example.com",
		"idempotency-key":       idempotencyKey,
		"x-gitlab-token":        token,
	}
}

// GitLabSignedHeaders returns the headers GitLab sends with a delivery in its
// signed form (Standard Webhooks; webhook-id equals Idempotency-Key).
func GitLabSignedHeaders(event, idempotencyKey string, secret []byte, timestamp int64, body []byte) map[string]string {
	h := GitLabTokenHeaders(event, idempotencyKey, "")
	delete(h, "x-gitlab-token")
	h["webhook-id"] = idempotencyKey
	h["webhook-timestamp"] = strconv.FormatInt(timestamp, 10)
	h["webhook-signature"] = StandardSignature(secret, idempotencyKey, timestamp, body)
	return h
}

// BitbucketCloudHeaders returns the headers Bitbucket Cloud sends.
func BitbucketCloudHeaders(eventKey, requestUUID string, secret, body []byte) map[string]string {
	return map[string]string{
		"content-type":     "application/json",
		"user-agent":       "Bitbucket-Webhooks/2.0",
		"x-event-key":      eventKey,
		"x-request-uuid":   requestUUID,
		"x-hook-uuid":      "3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f",
		"x-attempt-number": "1",
		"x-hub-signature":  HexSignature(secret, body),
	}
}

// BitbucketDCHeaders returns the headers Bitbucket Data Center sends.
func BitbucketDCHeaders(eventKey, requestID string, secret, body []byte) map[string]string {
	return map[string]string{
		"content-type":    "application/json; charset=utf-8",
		"user-agent":      "Atlassian HttpClient 4.2.0 / Bitbucket-9.4.1 (9004001) / Default",
		"x-event-key":     eventKey,
		"x-request-id":    requestID,
		"x-hub-signature": HexSignature(secret, body),
	}
}

// With returns a copy of headers h with each name of kv set to the value
// after it, or removed when that value is empty: a delivery with one header
// changed, added or missing.
func With(h map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(h)+len(kv)/2)
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

// PadGitHubPush returns a GitHub push payload of at least size bytes: push
// with its commits list repeated (GitHub lists up to 20 commits, each with
// its changed files). It fails when push is not a push payload.
func PadGitHubPush(push []byte, size int) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(push, &doc); err != nil {
		return nil, fmt.Errorf("failed to decode the push payload: %w", err)
	}
	var commits []json.RawMessage
	if err := json.Unmarshal(doc["commits"], &commits); err != nil || len(commits) == 0 {
		return nil, fmt.Errorf("push payload has no commits to repeat")
	}
	seed := commits
	for i := 0; ; i++ {
		doc["commits"], _ = json.Marshal(commits)
		out, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("failed to encode the padded payload: %w", err)
		}
		if len(out) >= size {
			return out, nil
		}
		commits = append(commits, seed[i%len(seed)])
	}
}

// pushedAtRE matches GitHub's push-payload repository.pushed_at (Unix seconds).
var pushedAtRE = regexp.MustCompile(`"pushed_at":\s*[0-9]+`)

// WithPushedAt returns a GitHub push payload whose repository.pushed_at is at:
// the fixtures carry a fixed time, which the replay window refuses once it is
// old. Sign the result, not the fixture.
func WithPushedAt(push []byte, at time.Time) []byte {
	return pushedAtRE.ReplaceAll(push, []byte(`"pushed_at": `+strconv.FormatInt(at.Unix(), 10)))
}
