package webhook_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/git"
	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

var (
	secret   = []byte("s3cr3t-current")
	previous = []byte("s3cr3t-previous")
	// A GitLab signing token has the whsec_ form (32 random bytes, base64).
	signingToken = []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7ozWmT3Pl/I=")
	now          = time.Unix(1795780810, 0)
)

const (
	pushed    = "3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4"
	deliverID = "7c1e2a40-cb0b-11f0-8d4b-2b1e5f0a9c11"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatalf("failed to read fixture: %v", err)
	}
	return b
}

func receiver() *webhook.Receiver {
	return webhook.NewReceiver(webhook.WithClock(func() time.Time { return now }))
}

// ring returns a keyring with the secrets as keys of provider p, for every
// repository.
func ring(p git.Provider, secrets ...[]byte) webhook.Keyring {
	var k webhook.Keyring
	for _, s := range secrets {
		k = append(k, webhook.Key{Provider: p, Secret: s})
	}
	return k
}

// every holds the test secrets for every host: HMAC keys for GitHub and
// Bitbucket, tokens and a signing secret for GitLab.
var every = append(append(ring(git.GitHub, secret, previous), ring(git.Bitbucket, secret, previous)...),
	ring(git.GitLab, secret, previous, signingToken)...)

func receive(h map[string]string, body []byte, keys webhook.Keyring) (webhook.Delivery, error) {
	return receiver().Receive(webhook.Request{Header: webhook.NewHeader(h), Body: string(body)}, keys)
}

// The documented test vector of GitHub's "Validating webhook deliveries".
func TestGitHubDocumentedVector(t *testing.T) {
	body := []byte("Hello, World!")
	h := webhook.Header{
		"x-github-event":      "ping",
		"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	}
	if err := receiver().Verify(git.GitHub, h, body, ring(git.GitHub, []byte("It's a Secret to Everybody"))); err != nil {
		t.Fatalf("Verify(documented vector) = %v, want nil", err)
	}
	if got := webhooktest.HexSignature([]byte("It's a Secret to Everybody"), body); got != h["x-hub-signature-256"] {
		t.Errorf("HexSignature = %s", got)
	}
	if err := receiver().Verify(git.GitHub, h, []byte("Hello, World?"), ring(git.GitHub, []byte("It's a Secret to Everybody"))); !errors.Is(err, webhook.ErrUnauthorized) {
		t.Errorf("Verify(altered body) = %v, want ErrUnauthorized", err)
	}
}

func TestVerify(t *testing.T) {
	body := fixture(t, "github-push.json")
	gh := webhooktest.GitHubHeaders("push", deliverID, secret, body)
	bbc := webhooktest.BitbucketCloudHeaders("repo:push", deliverID, secret, body)
	bbdc := webhooktest.BitbucketDCHeaders("repo:refs_changed", deliverID, secret, body)
	glToken := webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(secret))
	ts := now.Unix()
	glSigned := webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts, body)
	sha1 := "sha1=" + "0123456789abcdef0123456789abcdef01234567"
	both := [][]byte{secret, previous}

	tests := []struct {
		name    string
		h       map[string]string
		body    []byte
		secrets [][]byte
		ok      bool
	}{
		{"github", gh, body, both, true},
		{"github previous secret during rotation", webhooktest.GitHubHeaders("push", deliverID, previous, body), body, both, true},
		{"github secret no longer listed", webhooktest.GitHubHeaders("push", deliverID, previous, body), body, [][]byte{secret}, false},
		{"github altered body", gh, append(bytes.Clone(body), ' '), both, false},
		{"github no secrets", gh, body, nil, false},
		{"github empty secret is ignored", webhooktest.GitHubHeaders("push", deliverID, []byte{}, body), body, [][]byte{{}}, false},
		{"github missing signature", webhooktest.With(gh, "x-hub-signature-256", ""), body, both, false},
		{"github SHA-1 only is never accepted", webhooktest.With(gh, "x-hub-signature-256", "", "x-hub-signature", sha1), body, both, false},
		{"github upper-case hex", webhooktest.With(gh, "x-hub-signature-256", "sha256="+upperHex(gh["x-hub-signature-256"][7:])), body, both, true},
		{"github truncated signature", webhooktest.With(gh, "x-hub-signature-256", gh["x-hub-signature-256"][:40]), body, both, false},
		{"github no prefix", webhooktest.With(gh, "x-hub-signature-256", gh["x-hub-signature-256"][7:]), body, both, false},
		{"github not hex", webhooktest.With(gh, "x-hub-signature-256", "sha256="+string(bytes.Repeat([]byte("zz"), 32))), body, both, false},
		{"bitbucket cloud", bbc, body, both, true},
		{"bitbucket data center", bbdc, body, both, true},
		{"bitbucket sha1 refused", webhooktest.With(bbc, "x-hub-signature", sha1), body, both, false},
		{"bitbucket wrong secret", webhooktest.BitbucketCloudHeaders("repo:push", deliverID, []byte("nope"), body), body, both, false},
		{"gitlab token", glToken, body, both, true},
		{"gitlab previous token", webhooktest.With(glToken, "x-gitlab-token", string(previous)), body, both, true},
		{"gitlab wrong token", webhooktest.With(glToken, "x-gitlab-token", "s3cr3t"), body, both, false},
		{"gitlab missing token", webhooktest.With(glToken, "x-gitlab-token", ""), body, both, false},
		{"gitlab signed", glSigned, body, [][]byte{secret, signingToken}, true},
		{"gitlab signed altered body", glSigned, body[1:], [][]byte{signingToken}, false},
		{"gitlab signed wrong id", webhooktest.With(glSigned, "webhook-id", "other"), body, [][]byte{signingToken}, false},
		{"gitlab signed missing id", webhooktest.With(glSigned, "webhook-id", ""), body, [][]byte{signingToken}, false},
		{"gitlab signed missing timestamp", webhooktest.With(glSigned, "webhook-timestamp", ""), body, [][]byte{signingToken}, false},
		{"gitlab signed 5 minutes old", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts-300, body), body, [][]byte{signingToken}, true},
		{"gitlab signed too old", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts-301, body), body, [][]byte{signingToken}, false},
		{"gitlab signed from the future", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts+301, body), body, [][]byte{signingToken}, false},
		{"gitlab signed timestamp not a number", webhooktest.With(glSigned, "webhook-timestamp", "17957808x0"), body, [][]byte{signingToken}, false},
		{"gitlab signed several signatures, one valid", webhooktest.With(glSigned, "webhook-signature", "v1,AAAA v1a,xyz "+glSigned["webhook-signature"]), body, [][]byte{signingToken}, true},
		{"gitlab signed other version only", webhooktest.With(glSigned, "webhook-signature", "v2,"+glSigned["webhook-signature"][3:]), body, [][]byte{signingToken}, false},
		{"gitlab signed ignores a valid token", webhooktest.With(glSigned, "x-gitlab-token", string(secret)), body[1:], [][]byte{secret, signingToken}, false},
		{"gitlab signed with a token is never accepted", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, secret, ts, body), body, [][]byte{secret}, false},
		{"gitlab signing secret sent as a token is never accepted", webhooktest.With(glToken, "x-gitlab-token", string(signingToken)), body, [][]byte{signingToken}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := webhook.NewHeader(tt.h)
			p, err := webhook.Detect(h)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			err = receiver().Verify(p, h, tt.body, ring(p, tt.secrets...))
			switch {
			case tt.ok && err != nil:
				t.Errorf("Verify = %v, want nil", err)
			case !tt.ok && !errors.Is(err, webhook.ErrUnauthorized):
				t.Errorf("Verify = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func upperHex(s string) string { return string(bytes.ToUpper([]byte(s))) }

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		h    map[string]string
		want git.Provider
		err  error
	}{
		{"github", map[string]string{"X-GitHub-Event": "push"}, git.GitHub, nil},
		{"gitlab any case", map[string]string{"X-GITLAB-EVENT": "Push Hook"}, git.GitLab, nil},
		{"bitbucket", map[string]string{"x-event-key": "repo:push"}, git.Bitbucket, nil},
		{"nothing", map[string]string{"content-type": "application/json"}, "", webhook.ErrUnauthorized},
		{"SHA-1 signature alone says nothing", map[string]string{"x-hub-signature": "sha1=00"}, "", webhook.ErrUnauthorized},
		{"two providers", map[string]string{"x-github-event": "push", "x-event-key": "repo:push"}, "", webhook.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.Detect(webhook.NewHeader(tt.h))
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("Detect = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseFixtures(t *testing.T) {
	// The times each host signs: GitHub's repository.pushed_at (Unix seconds
	// in push payloads, ISO 8601 elsewhere), GitLab's signed
	// webhook-timestamp, Bitbucket Data Center's date. None for GitLab's
	// token form and Bitbucket Cloud.
	ghPushedAt := time.Unix(1795776000, 0).UTC()
	ghISO := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		fixture string
		headers func(body []byte) map[string]string
		want    []webhook.Event
	}{
		{"github-push.json", func(b []byte) map[string]string { return webhooktest.GitHubHeaders("push", deliverID, secret, b) },
			[]webhook.Event{{Provider: "github", Kind: webhook.KindPush, Name: "push", Repository: "acme/web", Ref: "refs/heads/main", Commit: pushed, DeliveryID: deliverID, Pusher: "dana-ops", PushedAt: ghPushedAt}}},
		// An annotated tag: "after" is the tag object, head_commit the commit.
		{"github-tag-push.json", func(b []byte) map[string]string { return webhooktest.GitHubHeaders("push", deliverID, secret, b) },
			[]webhook.Event{{Provider: "github", Kind: webhook.KindTagPush, Name: "push", Repository: "acme/web", Ref: "refs/tags/v1.4.0", Commit: pushed, DeliveryID: deliverID, Pusher: "dana-ops", PushedAt: ghPushedAt}}},
		{"github-branch-delete.json", func(b []byte) map[string]string { return webhooktest.GitHubHeaders("push", deliverID, secret, b) },
			[]webhook.Event{{Provider: "github", Kind: webhook.KindBranchDelete, Name: "push", Repository: "acme/web", Ref: "refs/heads/feature/pricing", Commit: git.ZeroCommit, DeliveryID: deliverID, Pusher: "dana-ops", PushedAt: ghPushedAt}}},
		{"github-ping.json", func(b []byte) map[string]string { return webhooktest.GitHubHeaders("ping", deliverID, secret, b) },
			[]webhook.Event{{Provider: "github", Kind: webhook.KindPing, Name: "ping", Repository: "acme/web", DeliveryID: deliverID, Pusher: "dana-ops", PushedAt: ghISO}}},
		{"github-pull-request.json", func(b []byte) map[string]string {
			return webhooktest.GitHubHeaders("pull_request", deliverID, secret, b)
		}, []webhook.Event{{Provider: "github", Kind: webhook.KindOther, Name: "pull_request", Repository: "acme/web", DeliveryID: deliverID, Pusher: "dana-ops", PushedAt: ghISO}}},
		{"gitlab-push.json", func(b []byte) map[string]string {
			return webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(secret))
		}, []webhook.Event{{Provider: "gitlab", Kind: webhook.KindPush, Name: "Push Hook", Repository: "acme/web", Ref: "refs/heads/main", Commit: pushed, DeliveryID: deliverID, Pusher: "dana-ops"}}},
		// checkout_sha is the tagged commit; "after" the tag object.
		{"gitlab-tag-push.json", func(b []byte) map[string]string {
			return webhooktest.GitLabSignedHeaders("Tag Push Hook", deliverID, signingToken, now.Unix(), b)
		}, []webhook.Event{{Provider: "gitlab", Kind: webhook.KindTagPush, Name: "Tag Push Hook", Repository: "acme/web", Ref: "refs/tags/v1.4.0", Commit: pushed, DeliveryID: deliverID, Pusher: "dana-ops"}}},
		{"gitlab-branch-delete.json", func(b []byte) map[string]string {
			return webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(secret))
		}, []webhook.Event{{Provider: "gitlab", Kind: webhook.KindBranchDelete, Name: "Push Hook", Repository: "acme/web", Ref: "refs/heads/feature/pricing", Commit: git.ZeroCommit, DeliveryID: deliverID, Pusher: "dana-ops"}}},
		{"gitlab-merge-request.json", func(b []byte) map[string]string {
			return webhooktest.GitLabTokenHeaders("Merge Request Hook", deliverID, string(secret))
		}, []webhook.Event{{Provider: "gitlab", Kind: webhook.KindOther, Name: "Merge Request Hook", Repository: "acme/web", DeliveryID: deliverID}}},
		{"bitbucket-cloud-push.json", func(b []byte) map[string]string {
			return webhooktest.BitbucketCloudHeaders("repo:push", deliverID, secret, b)
		}, []webhook.Event{{Provider: "bitbucket", Kind: webhook.KindPush, Name: "repo:push", Repository: "acme/web", Ref: "refs/heads/main", Commit: pushed, DeliveryID: deliverID, Pusher: "dana-ops"}}},
		{"bitbucket-cloud-branch-delete.json", func(b []byte) map[string]string {
			return webhooktest.BitbucketCloudHeaders("repo:push", deliverID, secret, b)
		}, []webhook.Event{{Provider: "bitbucket", Kind: webhook.KindBranchDelete, Name: "repo:push", Repository: "acme/web", Ref: "refs/heads/feature/pricing", DeliveryID: deliverID, Pusher: "dana-ops"}}},
		{"bitbucket-dc-push.json", func(b []byte) map[string]string {
			return webhooktest.BitbucketDCHeaders("repo:refs_changed", deliverID, secret, b)
		}, []webhook.Event{{Provider: "bitbucket", Kind: webhook.KindPush, Name: "repo:refs_changed", Repository: "PLAT/web", Ref: "refs/heads/main", Commit: pushed, DeliveryID: deliverID, Pusher: "dana.ops", PushedAt: time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)}}},
		{"bitbucket-dc-tag-push.json", func(b []byte) map[string]string {
			return webhooktest.BitbucketDCHeaders("repo:refs_changed", deliverID, secret, b)
		}, []webhook.Event{{Provider: "bitbucket", Kind: webhook.KindTagPush, Name: "repo:refs_changed", Repository: "PLAT/web", Ref: "refs/tags/v1.4.0", Commit: pushed, DeliveryID: deliverID, Pusher: "dana.ops", PushedAt: time.Date(2026, 11, 26, 10, 10, 0, 0, time.UTC)}}},
		{"bitbucket-dc-ping.json", func(b []byte) map[string]string {
			return webhooktest.BitbucketDCHeaders("diagnostics:ping", deliverID, secret, b)
		}, []webhook.Event{{Provider: "bitbucket", Kind: webhook.KindPing, Name: "diagnostics:ping", DeliveryID: deliverID}}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			body := fixture(t, tt.fixture)
			d, err := receive(tt.headers(body), body, every)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if d.Provider != tt.want[0].Provider || d.DeliveryID != deliverID || d.Digest != sha256.Sum256(body) {
				t.Errorf("delivery = %s %s %x, want %s %s and the body's digest", d.Provider, d.DeliveryID, d.Digest, tt.want[0].Provider, deliverID)
			}
			if !reflect.DeepEqual(d.Events, tt.want) {
				t.Errorf("events =\n%+v\nwant\n%+v", d.Events, tt.want)
			}
		})
	}
}

func TestParseBitbucketCloudSeveralChanges(t *testing.T) {
	body := []byte(`{"push":{"changes":[
		{"new":{"type":"branch","name":"main","target":{"hash":"` + pushed + `"}},"old":null},
		{"new":null,"old":{"type":"tag","name":"v0.9","target":{"hash":"` + pushed + `"}}},
		{"new":{"type":"bookmark","name":"b","target":{"hash":"` + pushed + `"}},"old":null}
	]},"repository":{"full_name":"acme/web"},"actor":{"display_name":"Dana Ops"}}`)
	h := webhook.Header{"x-event-key": "repo:push", "x-request-uuid": "r1"}
	got, err := webhook.Parse(git.Bitbucket, h, body)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var kinds []webhook.Kind
	for _, e := range got {
		kinds = append(kinds, e.Kind)
		if e.Pusher != "Dana Ops" || e.Repository != "acme/web" || e.DeliveryID != "r1" {
			t.Errorf("event %+v lacks the delivery's common fields", e)
		}
	}
	if want := []webhook.Kind{webhook.KindPush, webhook.KindTagDelete, webhook.KindOther}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
}

func TestParseMalformed(t *testing.T) {
	push := fixture(t, "github-push.json")
	replace := func(b []byte, old, new string) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) }
	gl := fixture(t, "gitlab-push.json")
	tests := []struct {
		name string
		p    git.Provider
		h    webhook.Header
		body []byte
	}{
		{"github missing delivery", git.GitHub, webhook.Header{"x-github-event": "push"}, push},
		{"github not JSON", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, []byte("ref=main")},
		{"github truncated JSON", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, push[:len(push)/2]},
		{"github short SHA", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, replace(push, `"after": "`+pushed, `"after": "3f2a9c1"`)},
		{"github upper-case SHA", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, replace(push, `"after": "3f2a9c1e`, `"after": "3F2A9C1E`)},
		{"github SHA with a shell", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, replace(push, `"after": "3f2a9c1e`, `"after": "$(id)9c1e`)},
		{"github missing repository", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, replace(push, `"full_name": "acme/web"`, `"full_name": ""`)},
		{"github empty ref name", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, replace(push, `"ref": "refs/heads/main"`, `"ref": "refs/heads/"`)},
		{"github missing ref", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, replace(push, `"ref": "refs/heads/main"`, `"ref": ""`)},
		{"github control character in ref", git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, replace(push, `"ref": "refs/heads/main"`, `"ref": "refs/heads/ma\nin"`)},
		{"gitlab missing ids", git.GitLab, webhook.Header{"x-gitlab-event": "Push Hook"}, gl},
		{"gitlab kind mismatch", git.GitLab, webhook.Header{"x-gitlab-event": "Tag Push Hook", "idempotency-key": "k"}, gl},
		{"gitlab missing after", git.GitLab, webhook.Header{"x-gitlab-event": "Push Hook", "idempotency-key": "k"}, []byte(`{"object_kind":"push","ref":"refs/heads/main","project":{"path_with_namespace":"acme/web"}}`)},
		{"bitbucket missing request id", git.Bitbucket, webhook.Header{"x-event-key": "repo:push"}, []byte(`{}`)},
		{"bitbucket change without refs", git.Bitbucket, webhook.Header{"x-event-key": "repo:push", "x-request-uuid": "u"}, []byte(`{"push":{"changes":[{}]},"repository":{"full_name":"a/b"}}`)},
		{"bitbucket dc bad hash", git.Bitbucket, webhook.Header{"x-event-key": "repo:refs_changed", "x-request-id": "u"}, []byte(`{"changes":[{"ref":{"id":"refs/heads/main"},"toHash":"abc","type":"UPDATE"}],"repository":{"slug":"web","project":{"key":"PLAT"}}}`)},
		{"bitbucket dc no repository", git.Bitbucket, webhook.Header{"x-event-key": "repo:refs_changed", "x-request-id": "u"}, []byte(`{"changes":[{"ref":{"id":"refs/heads/main"},"toHash":"` + pushed + `","type":"UPDATE"}]}`)},
		{"bitbucket ping not JSON", git.Bitbucket, webhook.Header{"x-event-key": "diagnostics:ping", "x-request-id": "u"}, []byte(`test`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.Parse(tt.p, tt.h, tt.body)
			var me *webhook.MalformedError
			if !errors.As(err, &me) || !errors.Is(err, webhook.ErrMalformed) || me.Reason == "" {
				t.Fatalf("Parse = %v, want a *MalformedError with a reason", err)
			}
		})
	}
}

func TestGitHubZeroAfterWithoutDeletedIsAPush(t *testing.T) {
	body := bytes.Replace(fixture(t, "github-push.json"), []byte(`"after": "`+pushed), []byte(`"after": "`+git.ZeroCommit), 1)
	got, err := webhook.Parse(git.GitHub, webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}, body)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got[0].Kind != webhook.KindPush || !git.IsZeroCommit(got[0].Commit) {
		t.Errorf("got %+v, want a push with a zero commit (the caller refuses it)", got[0])
	}
}

func TestReceiveOrder(t *testing.T) {
	body := fixture(t, "github-push.json")
	h := webhook.NewHeader(webhooktest.GitHubHeaders("push", deliverID, secret, body))
	b64 := base64.StdEncoding.EncodeToString(body)
	keys := ring(git.GitHub, secret)
	tests := []struct {
		name    string
		r       *webhook.Receiver
		req     webhook.Request
		wantErr error
	}{
		{"over the limit", webhook.NewReceiver(webhook.WithMaxBodyBytes(len(body) - 1)), webhook.Request{Header: h, Body: string(body)}, webhook.ErrTooLarge},
		{"at the limit", webhook.NewReceiver(webhook.WithMaxBodyBytes(len(body))), webhook.Request{Header: h, Body: string(body)}, nil},
		{"over the limit, base64", webhook.NewReceiver(webhook.WithMaxBodyBytes(len(body) - 1)), webhook.Request{Header: h, Body: b64, Base64: true}, webhook.ErrTooLarge},
		{"at the limit, base64", webhook.NewReceiver(webhook.WithMaxBodyBytes(len(body))), webhook.Request{Header: h, Body: b64, Base64: true}, nil},
		{"far over the limit, base64, not decoded", webhook.NewReceiver(webhook.WithMaxBodyBytes(10)), webhook.Request{Header: h, Body: "!!!!" + b64, Base64: true}, webhook.ErrTooLarge},
		{"not base64", receiver(), webhook.Request{Header: h, Body: string(body), Base64: true}, webhook.ErrBadEncoding},
		// A body that is not JSON but wrongly signed is unauthorized, not
		// malformed: nothing is parsed before the signature holds.
		{"bad signature and bad body", receiver(), webhook.Request{Header: h, Body: "{"}, webhook.ErrUnauthorized},
		{"no provider", receiver(), webhook.Request{Header: webhook.Header{"content-type": "application/json"}, Body: string(body)}, webhook.ErrUnauthorized},
		{"empty keyring", receiver(), webhook.Request{Header: h, Body: string(body)}, webhook.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := keys
			if tt.name == "empty keyring" {
				k = nil
			}
			d, err := tt.r.Receive(tt.req, k)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Receive = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (d.Digest != sha256.Sum256(body) || len(d.Events) != 1) {
				t.Errorf("delivery %+v: want one event and the digest of the decoded body", d)
			}
		})
	}
	if got := webhook.NewReceiver().MaxBodyBytes(); got != webhook.DefaultMaxBodyBytes {
		t.Errorf("default MaxBodyBytes = %d", got)
	}
}

// Each host's keys verify only that host's deliveries; a repository with a key
// of its own accepts only that key; a GitLab signing secret is never a token
// and a token never an HMAC key.
func TestReceivePerHostKeys(t *testing.T) {
	gh := fixture(t, "github-push.json")
	ghAPI := bytes.ReplaceAll(gh, []byte(`"full_name": "acme/web"`), []byte(`"full_name": "acme/api"`))
	gl := fixture(t, "gitlab-push.json")
	bb := fixture(t, "bitbucket-cloud-push.json")
	hostKey := []byte("github-host-key-0123456789")
	repoKey := []byte("github-acme-web-key-0123456789")
	glToken := []byte("gitlab-token-0123456789")
	webOwn := webhook.Keyring{{Provider: git.GitHub, Secret: hostKey}, {Provider: git.GitHub, Repository: "Acme/Web", Secret: repoKey}}
	tests := []struct {
		name string
		h    map[string]string
		body []byte
		keys webhook.Keyring
		ok   bool
	}{
		{"github key, github push", webhooktest.GitHubHeaders("push", deliverID, hostKey, gh), gh, ring(git.GitHub, hostKey), true},
		{"github key only, gitlab token delivery", webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(hostKey)), gl, ring(git.GitHub, hostKey), false},
		{"github key only, gitlab signed delivery", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, hostKey, now.Unix(), gl), gl, ring(git.GitHub, hostKey), false},
		{"github key only, bitbucket delivery", webhooktest.BitbucketCloudHeaders("repo:push", deliverID, hostKey, bb), bb, ring(git.GitHub, hostKey), false},
		{"gitlab token cannot sign a github push", webhooktest.GitHubHeaders("push", deliverID, glToken, gh), gh, ring(git.GitLab, glToken), false},
		{"gitlab token as a token", webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(glToken)), gl, ring(git.GitLab, glToken), true},
		{"gitlab token cannot sign the standard form", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, glToken, now.Unix(), gl), gl, ring(git.GitLab, glToken), false},
		{"gitlab signing secret signs", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, now.Unix(), gl), gl, ring(git.GitLab, signingToken), true},
		{"gitlab signing secret is never a token", webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(signingToken)), gl, ring(git.GitLab, signingToken), false},
		{"bitbucket key cannot sign a github push", webhooktest.GitHubHeaders("push", deliverID, hostKey, gh), gh, ring(git.Bitbucket, hostKey), false},
		{"repository key, its repository", webhooktest.GitHubHeaders("push", deliverID, repoKey, gh), gh, webOwn, true},
		{"host key, a repository with its own key", webhooktest.GitHubHeaders("push", deliverID, hostKey, gh), gh, webOwn, false},
		{"repository key, another repository", webhooktest.GitHubHeaders("push", deliverID, repoKey, ghAPI), ghAPI, webOwn, false},
		{"host key, another repository", webhooktest.GitHubHeaders("push", deliverID, hostKey, ghAPI), ghAPI, webOwn, true},
		{"repository key of another host", webhooktest.GitHubHeaders("push", deliverID, repoKey, gh), gh,
			webhook.Keyring{{Provider: git.GitHub, Secret: hostKey}, {Provider: git.GitLab, Repository: "acme/web", Secret: repoKey}}, false},
		{"another host's repository key does not shadow the host key", webhooktest.GitHubHeaders("push", deliverID, hostKey, gh), gh,
			webhook.Keyring{{Provider: git.GitHub, Secret: hostKey}, {Provider: git.GitLab, Repository: "acme/web", Secret: repoKey}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := receive(tt.h, tt.body, tt.keys)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Receive = %v, want accepted", err)
			case !tt.ok && !errors.Is(err, webhook.ErrUnauthorized):
				t.Fatalf("Receive = %v, want ErrUnauthorized", err)
			case !tt.ok && d.Events != nil:
				t.Errorf("a refused delivery returned events: %+v", d.Events)
			}
			// Keys of other hosts are not even tried: Verify alone refuses.
			h := webhook.NewHeader(tt.h)
			p, _ := webhook.Detect(h)
			if !slices.ContainsFunc(tt.keys, func(k webhook.Key) bool { return k.Provider == p }) {
				if err := receiver().Verify(p, h, tt.body, tt.keys); !errors.Is(err, webhook.ErrUnauthorized) {
					t.Errorf("Verify with no %s key = %v, want ErrUnauthorized", p, err)
				}
			}
		})
	}
}

func TestParseKeyring(t *testing.T) {
	const (
		host   = "host-secret-0123456789"
		other  = "other-host-secret-0123456789"
		token  = "gitlab-token-0123456789"
		signed = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7ozWmT3Pl/I="
	)
	tests := []struct {
		name    string
		value   string
		want    webhook.Keyring
		wantErr string
		secret  string // must not appear in the error
	}{
		{name: "every host", value: `{"github":"` + host + `","gitlab":"` + signed + `","bitbucket":"` + other + `"}`,
			want: webhook.Keyring{{Provider: git.Bitbucket, Secret: []byte(other)}, {Provider: git.GitHub, Secret: []byte(host)}, {Provider: git.GitLab, Secret: []byte(signed)}}},
		// A GitLab token travels in clear: were it also GitHub's HMAC key, one
		// seen request would sign GitHub pushes.
		{name: "one secret under two hosts", value: `{"github":"` + token + `","gitlab":"` + token + `"}`,
			wantErr: `keys "github" and "gitlab" have the same secret: give each its own`, secret: token},
		{name: "one secret for a host and a repository", value: `{"github":"` + host + `","github:acme/web":"` + host + `"}`,
			wantErr: `have the same secret`, secret: host},
		{name: "signing secret of 9 bytes", value: `{"gitlab":"whsec_AAAAAAAAAAAA"}`,
			wantErr: `key "gitlab": a whsec_ signing secret must be base64 of at least 16 bytes`, secret: "AAAAAAAAAAAA"},
		{name: "gitlab token", value: `{"gitlab":"` + token + `"}`, want: webhook.Keyring{{Provider: git.GitLab, Secret: []byte(token)}}},
		{name: "repository key", value: `{"github":"` + host + `","github:acme/web":"` + token + `"}`,
			want: webhook.Keyring{{Provider: git.GitHub, Secret: []byte(host)}, {Provider: git.GitHub, Repository: "acme/web", Secret: []byte(token)}}},
		{name: "gitlab subgroup key", value: `{"gitlab:acme/platform/worker":"` + token + `"}`,
			want: webhook.Keyring{{Provider: git.GitLab, Repository: "acme/platform/worker", Secret: []byte(token)}}},
		{name: "plain string", value: host, wantErr: "the value is not a JSON object of strings", secret: host},
		{name: "JSON string", value: `"` + host + `"`, wantErr: "the value is not a JSON object of strings", secret: host},
		{name: "number value", value: `{"github":12345678901234567890}`, wantErr: "not a JSON object of strings", secret: "12345678901234567890"},
		{name: "empty object", value: `{}`, wantErr: "the object names no git host"},
		// The name is not echoed: a secret pasted as a name would reach the logs.
		{name: "unknown host", value: `{"gitea":"` + host + `"}`, wantErr: `a key is neither github, gitlab, bitbucket nor HOST:owner/repo`, secret: "gitea"},
		{name: "host in another case", value: `{"GitHub":"` + host + `"}`, wantErr: `a key is neither github`, secret: "GitHub"},
		{name: "a secret pasted as a name", value: `{"` + host + `":"github-secret-0123456789"}`, wantErr: `a key is neither github`, secret: host},
		{name: "short secret", value: `{"github":"short-secret"}`, wantErr: `key "github": the secret is shorter than 16 characters`, secret: "short-secret"},
		{name: "empty secret", value: `{"bitbucket":""}`, wantErr: `key "bitbucket": the secret is shorter than 16 characters`},
		{name: "repository without owner", value: `{"github:web":"` + host + `"}`, wantErr: `key "github:web": a repository key is HOST:owner/repo`, secret: host},
		{name: "empty repository", value: `{"github:":"` + host + `"}`, wantErr: `a repository key is HOST:owner/repo`, secret: host},
		{name: "signing secret not base64", value: `{"gitlab":"whsec_not!base64!at!all"}`, wantErr: `key "gitlab": a whsec_ signing secret must be base64`, secret: "not!base64!at!all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.ParseKeyring([]byte(tt.value))
			if tt.wantErr == "" {
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ParseKeyring = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var ke *webhook.KeyringError
			if !errors.As(err, &ke) || got != nil {
				t.Fatalf("ParseKeyring = %+v, %v; want a *KeyringError", got, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), webhook.KeyringFormat) {
				t.Errorf("error %q does not say %q and show the format", err, tt.wantErr)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

// PushedAt is the time the host signed, never a header's.
func TestReceivePushedAt(t *testing.T) {
	gh := fixture(t, "github-push.json")
	ghISO := bytes.Replace(gh, []byte(`"pushed_at": 1795776000`), []byte(`"pushed_at": "2026-11-27T10:40:00Z"`), 1)
	ghNone := bytes.Replace(gh, []byte(`"pushed_at": 1795776000`), []byte(`"pushed_at": null`), 1)
	ghJunk := bytes.Replace(gh, []byte(`"pushed_at": 1795776000`), []byte(`"pushed_at": "last tuesday"`), 1)
	gl := fixture(t, "gitlab-push.json")
	dc := fixture(t, "bitbucket-dc-push.json")
	dcPlus10 := bytes.Replace(dc, []byte(`"date": "2026-11-26T10:00:05+0000"`), []byte(`"date": "2026-11-26T20:00:05+1000"`), 1)
	dcColon := bytes.Replace(dc, []byte(`"date": "2026-11-26T10:00:05+0000"`), []byte(`"date": "2026-11-26T20:00:05+10:00"`), 1)
	dcMillis := bytes.Replace(dc, []byte(`"date": "2026-11-26T10:00:05+0000"`), []byte(`"date": "2026-11-26T20:00:05.250+1000"`), 1)
	bbc := fixture(t, "bitbucket-cloud-push.json")
	dcAt := time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)
	tests := []struct {
		name string
		h    map[string]string
		body []byte
		want time.Time
	}{
		{"github Unix seconds", webhooktest.GitHubHeaders("push", deliverID, secret, gh), gh, time.Unix(1795776000, 0).UTC()},
		{"github ISO string", webhooktest.GitHubHeaders("push", deliverID, secret, ghISO), ghISO, time.Unix(1795776000, 0).UTC()},
		{"github null", webhooktest.GitHubHeaders("push", deliverID, secret, ghNone), ghNone, time.Time{}},
		{"github not a time", webhooktest.GitHubHeaders("push", deliverID, secret, ghJunk), ghJunk, time.Time{}},
		// The signed webhook-timestamp is the delivery's (Delivery.SignedAt), new
		// on every retry: never the push's time, which goes into the deploy input.
		{"gitlab signed timestamp is not the push's", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, now.Unix()-60, gl), gl, time.Time{}},
		{"gitlab token form signs no time", webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(secret)), gl, time.Time{}},
		{"gitlab token form ignores an unsigned timestamp", webhooktest.With(webhooktest.GitLabTokenHeaders("Push Hook", deliverID, string(secret)), "webhook-timestamp", strconv.FormatInt(now.Unix(), 10)), gl, time.Time{}},
		{"bitbucket data center", webhooktest.BitbucketDCHeaders("repo:refs_changed", deliverID, secret, dc), dc, dcAt},
		{"bitbucket data center +1000", webhooktest.BitbucketDCHeaders("repo:refs_changed", deliverID, secret, dcPlus10), dcPlus10, dcAt},
		{"bitbucket data center +10:00", webhooktest.BitbucketDCHeaders("repo:refs_changed", deliverID, secret, dcColon), dcColon, dcAt},
		{"bitbucket data center milliseconds", webhooktest.BitbucketDCHeaders("repo:refs_changed", deliverID, secret, dcMillis), dcMillis, dcAt.Add(250 * time.Millisecond)},
		{"bitbucket cloud signs no time", webhooktest.BitbucketCloudHeaders("repo:push", deliverID, secret, bbc), bbc, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := receive(tt.h, tt.body, every)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			for _, e := range d.Events {
				if !e.PushedAt.Equal(tt.want) || e.PushedAt.Location() != time.UTC {
					t.Errorf("PushedAt = %v, want %v (UTC)", e.PushedAt, tt.want)
				}
			}
		})
	}
}

func TestNewHeaderKeepsLowerCaseMap(t *testing.T) {
	m := map[string]string{"x-github-event": "push"}
	h := webhook.NewHeader(m)
	m["x-github-delivery"] = "d"
	if h.Get("x-github-delivery") != "d" {
		t.Error("NewHeader copied a map whose names were already lower case")
	}
	if webhook.NewHeader(map[string]string{"X-GitHub-Delivery": "d"}).Get("x-github-delivery") != "d" {
		t.Error("NewHeader did not lower-case names")
	}
}

// Fuzz targets. Each asserts the security property, not only the absence of
// a panic: a body that is not byte-for-byte the signed one is never accepted.

// FuzzReceive: whatever the body (raw or claimed base64), a delivery is
// accepted only when its decoded body is byte-for-byte the signed one, and an
// accepted delivery carries that body's digest.
func FuzzReceive(f *testing.F) {
	signed := fixture(f, "github-push.json")
	b64 := base64.StdEncoding.EncodeToString(signed)
	f.Add(signed, false, true)
	f.Add(signed[:len(signed)-1], false, false)
	f.Add(append(bytes.Clone(signed), '\n'), false, true)
	f.Add([]byte(b64), true, true)
	f.Add([]byte(b64+"="), true, false)
	f.Add([]byte{}, false, false)
	sig := webhooktest.HexSignature(secret, signed)
	f.Fuzz(func(t *testing.T, body []byte, isBase64, github bool) {
		h := webhook.Header{"x-event-key": "repo:push", "x-request-uuid": "d", "x-hub-signature": sig}
		if github {
			h = webhook.Header{"x-github-event": "push", "x-github-delivery": "d", "x-hub-signature-256": sig}
		}
		d, err := receiver().Receive(webhook.Request{Header: h, Body: string(body), Base64: isBase64}, every)
		raw := body
		if isBase64 {
			raw, _ = base64.StdEncoding.DecodeString(string(body))
		}
		if !bytes.Equal(raw, signed) {
			if err == nil {
				t.Fatalf("altered body (%d bytes) accepted", len(body))
			}
			return
		}
		if errors.Is(err, webhook.ErrUnauthorized) {
			t.Fatalf("signed body refused")
		}
		if err == nil && d.Digest != sha256.Sum256(signed) {
			t.Fatalf("digest %x is not the signed body's", d.Digest)
		}
	})
}

func FuzzVerifyGitLabSigned(f *testing.F) {
	signed := fixture(f, "gitlab-push.json")
	ts := now.Unix()
	h := webhook.Header(webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts, signed))
	f.Add(signed, deliverID, strconv.FormatInt(ts, 10))
	f.Add(signed, deliverID+"x", strconv.FormatInt(ts, 10))
	f.Add(signed, deliverID, strconv.FormatInt(ts+1, 10))
	f.Add(signed[1:], deliverID, strconv.FormatInt(ts, 10))
	f.Fuzz(func(t *testing.T, body []byte, id, timestamp string) {
		hh := webhooktest.With(h, "webhook-id", id, "webhook-timestamp", timestamp)
		err := receiver().Verify(git.GitLab, webhook.Header(hh), body, ring(git.GitLab, secret, signingToken))
		same := bytes.Equal(body, signed) && id == deliverID && timestamp == strconv.FormatInt(ts, 10)
		if !same && err == nil {
			t.Fatalf("altered delivery accepted: id=%q ts=%q body %d bytes", id, timestamp, len(body))
		}
		if same && err != nil {
			t.Fatalf("signed delivery refused: %v", err)
		}
	})
}

// FuzzParseKeyring: a secret's value either parses into keys of known hosts,
// each at least 16 bytes, or fails with a *KeyringError that shows the format
// and none of the value's strings.
func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte(`{"github":"s3cr3t-current-0123","gitlab":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7ozWmT3Pl/I="}`))
	f.Add([]byte(`{"github:acme/web":"s3cr3t-current-0123"}`))
	f.Add([]byte(`s3cr3t-current-0123`))
	f.Add([]byte(`{"gitea":"s3cr3t-current-0123"}`))
	f.Add([]byte(`{"gitlab":"whsec_!!!!!!!!!!!!!!!!!"}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		keys, err := webhook.ParseKeyring(value)
		if err != nil {
			var ke *webhook.KeyringError
			if !errors.As(err, &ke) || !strings.Contains(err.Error(), webhook.KeyringFormat) {
				t.Fatalf("error %v is not a *KeyringError showing the format", err)
			}
			var m map[string]string
			if json.Unmarshal(value, &m) == nil {
				for _, v := range m {
					if len(v) >= 4 && strings.Contains(ke.Problem, v) {
						t.Fatalf("error %q contains the secret %q", err, v)
					}
				}
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a keyring without keys")
		}
		for _, k := range keys {
			if !k.Provider.Valid() || len(k.Secret) < 16 || (k.Repository != "" && !strings.Contains(k.Repository, "/")) {
				t.Fatalf("accepted key %+v", k)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []struct{ p, name, file string }{
		{"github", "push", "github-push.json"},
		{"github", "push", "github-tag-push.json"},
		{"github", "ping", "github-ping.json"},
		{"gitlab", "Push Hook", "gitlab-push.json"},
		{"gitlab", "Tag Push Hook", "gitlab-tag-push.json"},
		{"gitlab", "System Hook", "gitlab-branch-delete.json"},
		{"bitbucket", "repo:push", "bitbucket-cloud-push.json"},
		{"bitbucket", "repo:refs_changed", "bitbucket-dc-push.json"},
	} {
		f.Add(s.p, s.name, fixture(f, s.file))
	}
	f.Fuzz(func(t *testing.T, provider, name string, body []byte) {
		h := webhook.Header{
			"x-github-event": name, "x-gitlab-event": name, "x-event-key": name,
			"x-github-delivery": "d", "idempotency-key": "d", "x-request-uuid": "d",
		}
		events, err := webhook.Parse(git.Provider(provider), h, body)
		if err != nil {
			if !errors.Is(err, webhook.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, e := range events {
			switch e.Kind {
			case webhook.KindPush, webhook.KindTagPush:
				if e.Repository == "" || e.Ref == "" || !git.ValidCommit(e.Commit) {
					t.Fatalf("incomplete push accepted: %+v", e)
				}
			case webhook.KindBranchDelete, webhook.KindTagDelete, webhook.KindPing, webhook.KindOther:
			default:
				t.Fatalf("unknown kind %q", e.Kind)
			}
		}
	})
}

func BenchmarkReceiveGitHubPush25KB(b *testing.B) {
	body, err := webhooktest.PadGitHubPush(fixture(b, "github-push.json"), 25<<10)
	if err != nil {
		b.Fatal(err)
	}
	req := webhook.Request{Header: webhook.NewHeader(webhooktest.GitHubHeaders("push", deliverID, secret, body)), Body: string(body)}
	r := webhook.NewReceiver()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Receive(req, every); err != nil {
			b.Fatal(err)
		}
	}
}

// Two names that differ only in case are one header: NewHeader joins their values
// as HTTP does, so a forged copy beside a valid signature fails closed instead of
// winning or losing by map order.
func TestNewHeaderJoinsNamesThatDifferInCase(t *testing.T) {
	body := fixture(t, "github-push.json")
	valid := webhooktest.GitHubHeaders("push", deliverID, secret, body)
	forged := webhooktest.With(valid, "X-Hub-Signature-256", webhooktest.HexSignature([]byte("guess"), body))
	for range 64 {
		h := webhook.NewHeader(forged)
		if got := h.Get("x-hub-signature-256"); !strings.Contains(got, ",") {
			t.Fatalf("x-hub-signature-256 = %q, want both values joined", got)
		}
		if err := receiver().Verify(git.GitHub, h, body, ring(git.GitHub, secret)); !errors.Is(err, webhook.ErrUnauthorized) {
			t.Fatalf("Verify with a forged duplicate signature header = %v, want ErrUnauthorized", err)
		}
	}
	if h := webhook.NewHeader(map[string]string{"X-A": "1", "x-a": "2"}); h.Get("x-a") != "1,2" {
		t.Errorf("joined value %q, want \"1,2\" (sorted by original name)", h.Get("x-a"))
	}
}
