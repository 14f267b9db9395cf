package webhook_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
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

func with(h map[string]string, kv ...string) map[string]string {
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
		{"github missing signature", with(gh, "x-hub-signature-256", ""), body, both, false},
		{"github SHA-1 only is never accepted", with(gh, "x-hub-signature-256", "", "x-hub-signature", sha1), body, both, false},
		{"github upper-case hex", with(gh, "x-hub-signature-256", "sha256="+upperHex(gh["x-hub-signature-256"][7:])), body, both, true},
		{"github truncated signature", with(gh, "x-hub-signature-256", gh["x-hub-signature-256"][:40]), body, both, false},
		{"github no prefix", with(gh, "x-hub-signature-256", gh["x-hub-signature-256"][7:]), body, both, false},
		{"github not hex", with(gh, "x-hub-signature-256", "sha256="+string(bytes.Repeat([]byte("zz"), 32))), body, both, false},
		{"bitbucket cloud", bbc, body, both, true},
		{"bitbucket data center", bbdc, body, both, true},
		{"bitbucket sha1 refused", with(bbc, "x-hub-signature", sha1), body, both, false},
		{"bitbucket wrong secret", webhooktest.BitbucketCloudHeaders("repo:push", deliverID, []byte("nope"), body), body, both, false},
		{"gitlab token", glToken, body, both, true},
		{"gitlab previous token", with(glToken, "x-gitlab-token", string(previous)), body, both, true},
		{"gitlab wrong token", with(glToken, "x-gitlab-token", "s3cr3t"), body, both, false},
		{"gitlab missing token", with(glToken, "x-gitlab-token", ""), body, both, false},
		{"gitlab signed", glSigned, body, [][]byte{secret, signingToken}, true},
		{"gitlab signed altered body", glSigned, body[1:], [][]byte{signingToken}, false},
		{"gitlab signed wrong id", with(glSigned, "webhook-id", "other"), body, [][]byte{signingToken}, false},
		{"gitlab signed missing id", with(glSigned, "webhook-id", ""), body, [][]byte{signingToken}, false},
		{"gitlab signed missing timestamp", with(glSigned, "webhook-timestamp", ""), body, [][]byte{signingToken}, false},
		{"gitlab signed 5 minutes old", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts-300, body), body, [][]byte{signingToken}, true},
		{"gitlab signed too old", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts-301, body), body, [][]byte{signingToken}, false},
		{"gitlab signed from the future", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, signingToken, ts+301, body), body, [][]byte{signingToken}, false},
		{"gitlab signed timestamp not a number", with(glSigned, "webhook-timestamp", "17957808x0"), body, [][]byte{signingToken}, false},
		{"gitlab signed several signatures, one valid", with(glSigned, "webhook-signature", "v1,AAAA v1a,xyz "+glSigned["webhook-signature"]), body, [][]byte{signingToken}, true},
		{"gitlab signed other version only", with(glSigned, "webhook-signature", "v2,"+glSigned["webhook-signature"][3:]), body, [][]byte{signingToken}, false},
		{"gitlab signed ignores a valid token", with(glSigned, "x-gitlab-token", string(secret)), body[1:], [][]byte{secret, signingToken}, false},
		{"gitlab signed with a token is never accepted", webhooktest.GitLabSignedHeaders("Push Hook", deliverID, secret, ts, body), body, [][]byte{secret}, false},
		{"gitlab signing secret sent as a token is never accepted", with(glToken, "x-gitlab-token", string(signingToken)), body, [][]byte{signingToken}, false},
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
		}, []webhook.Event{{Provider: "gitlab", Kind: webhook.KindTagPush, Name: "Tag Push Hook", Repository: "acme/web", Ref: "refs/tags/v1.4.0", Commit: pushed, DeliveryID: deliverID, Pusher: "dana-ops", PushedAt: now.UTC()}}},
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
	small := webhook.NewReceiver(webhook.WithMaxBodyBytes(len(body) - 1))
	if _, _, err := small.Receive(h, body, [][]byte{secret}); !errors.Is(err, webhook.ErrTooLarge) {
		t.Errorf("over the limit: %v, want ErrTooLarge", err)
	}
	exact := webhook.NewReceiver(webhook.WithMaxBodyBytes(len(body)))
	if _, _, err := exact.Receive(h, body, [][]byte{secret}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	// A body that is not JSON but wrongly signed is unauthorized, not
	// malformed: nothing is parsed before the signature holds.
	if _, _, err := receiver().Receive(h, []byte("{"), [][]byte{secret}); !errors.Is(err, webhook.ErrUnauthorized) {
		t.Errorf("bad signature and bad body: %v, want ErrUnauthorized", err)
	}
	if _, _, err := receiver().Receive(webhook.Header{"content-type": "application/json"}, body, [][]byte{secret}); !errors.Is(err, webhook.ErrUnauthorized) {
		t.Errorf("no provider: %v, want ErrUnauthorized", err)
	}
	if got := webhook.NewReceiver().MaxBodyBytes(); got != webhook.DefaultMaxBodyBytes {
		t.Errorf("default MaxBodyBytes = %d", got)
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

func FuzzVerifyHexHMAC(f *testing.F) {
	signed := fixture(f, "github-push.json")
	f.Add(signed, true)
	f.Add(signed[:len(signed)-1], false)
	f.Add(append(bytes.Clone(signed), '\n'), true)
	f.Add([]byte{}, false)
	ghSig := webhooktest.HexSignature(secret, signed)
	f.Fuzz(func(t *testing.T, body []byte, github bool) {
		var h webhook.Header
		p := webhook.Bitbucket
		if github {
			p = webhook.GitHub
			h = webhook.Header{"x-github-event": "push", "x-github-delivery": "d", "x-hub-signature-256": ghSig}
		} else {
			h = webhook.Header{"x-event-key": "repo:push", "x-request-uuid": "d", "x-hub-signature": ghSig}
		}
		_, _, err := receiver().Receive(h, body, [][]byte{previous, secret})
		if !bytes.Equal(body, signed) {
			if !errors.Is(err, webhook.ErrUnauthorized) {
				t.Fatalf("altered body (%d bytes) not refused: %v", len(body), err)
			}
			return
		}
		if errors.Is(err, webhook.ErrUnauthorized) {
			t.Fatalf("signed body refused")
		}
		if err := receiver().Verify(p, h, body, [][]byte{secret}); err != nil {
			t.Fatalf("Verify(signed) = %v", err)
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
		hh := with(h, "webhook-id", id, "webhook-timestamp", timestamp)
		err := receiver().Verify(webhook.GitLab, webhook.Header(hh), body, [][]byte{secret, signingToken})
		same := bytes.Equal(body, signed) && id == deliverID && timestamp == strconv.FormatInt(ts, 10)
		if !same && err == nil {
			t.Fatalf("altered delivery accepted: id=%q ts=%q body %d bytes", id, timestamp, len(body))
		}
		if same && err != nil {
			t.Fatalf("signed delivery refused: %v", err)
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
		events, err := webhook.Parse(webhook.Provider(provider), h, body)
		if err != nil {
			if !errors.Is(err, webhook.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, e := range events {
			switch e.Kind {
			case webhook.KindPush, webhook.KindTagPush:
				if e.Repository == "" || e.Ref == "" || len(e.Commit) < 40 {
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
	h := webhook.NewHeader(webhooktest.GitHubHeaders("push", deliverID, secret, body))
	r := webhook.NewReceiver()
	secrets := [][]byte{secret, previous}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Receive(h, body, secrets); err != nil {
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
	forged := with(valid, "X-Hub-Signature-256", webhooktest.HexSignature([]byte("guess"), body))
	for range 64 {
		h := webhook.NewHeader(forged)
		if got := h.Get("x-hub-signature-256"); !strings.Contains(got, ",") {
			t.Fatalf("x-hub-signature-256 = %q, want both values joined", got)
		}
		if err := receiver().Verify(webhook.GitHub, h, body, [][]byte{secret}); !errors.Is(err, webhook.ErrUnauthorized) {
			t.Fatalf("Verify with a forged duplicate signature header = %v, want ErrUnauthorized", err)
		}
	}
	if h := webhook.NewHeader(map[string]string{"X-A": "1", "x-a": "2"}); h.Get("x-a") != "1,2" {
		t.Errorf("joined value %q, want \"1,2\" (sorted by original name)", h.Get("x-a"))
	}
}
