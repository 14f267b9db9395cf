package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/git"
	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

// Every limit is tested exactly at the limit and one over it.

func TestReceiverOptionsKeepDefaultsForNonPositiveValues(t *testing.T) {
	tests := []struct {
		name string
		opt  webhook.Option
		want int
	}{
		{"zero keeps the default", webhook.WithMaxBodyBytes(0), webhook.DefaultMaxBodyBytes},
		{"negative keeps the default", webhook.WithMaxBodyBytes(-1), webhook.DefaultMaxBodyBytes},
		{"one is a limit", webhook.WithMaxBodyBytes(1), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webhook.NewReceiver(tt.opt).MaxBodyBytes(); got != tt.want {
				t.Errorf("MaxBodyBytes = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestReceiveTimestampTolerance(t *testing.T) {
	body := fixture(t, "gitlab-tag-push.json")
	keys := ring(git.GitLab, signingToken)
	tests := []struct {
		name    string
		opts    []webhook.Option
		age     time.Duration // how long before now the delivery was signed
		wantErr error
	}{
		{"default, at five minutes", nil, webhook.DefaultTimestampTolerance, nil},
		{"default, one second over", nil, webhook.DefaultTimestampTolerance + time.Second, webhook.ErrUnauthorized},
		{"default, five minutes in the future", nil, -webhook.DefaultTimestampTolerance, nil},
		{"default, one second further in the future", nil, -webhook.DefaultTimestampTolerance - time.Second, webhook.ErrUnauthorized},
		{"zero keeps the default", []webhook.Option{webhook.WithTimestampTolerance(0)}, 4 * time.Minute, nil},
		{"negative keeps the default", []webhook.Option{webhook.WithTimestampTolerance(-time.Minute)}, 4 * time.Minute, nil},
		{"one minute, at the limit", []webhook.Option{webhook.WithTimestampTolerance(time.Minute)}, time.Minute, nil},
		{"one minute, one second over", []webhook.Option{webhook.WithTimestampTolerance(time.Minute)}, time.Minute + time.Second, webhook.ErrUnauthorized},
		{"one minute, from the future", []webhook.Option{webhook.WithTimestampTolerance(time.Minute)}, -time.Minute - time.Second, webhook.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := webhook.NewReceiver(append(tt.opts, webhook.WithClock(func() time.Time { return now }))...)
			signed := now.Add(-tt.age).Unix()
			h := webhook.NewHeader(webhooktest.GitLabSignedHeaders("Tag Push Hook", deliverID, signingToken, signed, body))
			d, err := r.Receive(webhook.Request{Header: h, Body: string(body)}, keys)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Receive = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (!d.SignedAt.Equal(time.Unix(signed, 0)) || !d.Events[0].PushedAt.IsZero()) {
				t.Errorf("SignedAt = %v, PushedAt = %v, want the signed time %v apart from the push (a retry signs a new one)", d.SignedAt, d.Events[0].PushedAt, time.Unix(signed, 0))
			}
		})
	}
}

func TestDeliveryIDLimits(t *testing.T) {
	tests := []struct {
		name string
		p    git.Provider
		h    webhook.Header
		want string
	}{
		{"github, 200 bytes", git.GitHub, webhook.Header{"x-github-delivery": strings.Repeat("d", 200)}, strings.Repeat("d", 200)},
		{"github, 201 bytes", git.GitHub, webhook.Header{"x-github-delivery": strings.Repeat("d", 201)}, ""},
		{"github, space is printable", git.GitHub, webhook.Header{"x-github-delivery": "a b"}, "a b"},
		{"github, control character", git.GitHub, webhook.Header{"x-github-delivery": "a\x1fb"}, ""},
		{"github, DEL", git.GitHub, webhook.Header{"x-github-delivery": "a\x7fb"}, ""},
		{"gitlab, webhook-id first", git.GitLab, webhook.Header{"webhook-id": "w", "idempotency-key": "i", "x-gitlab-event-uuid": "u"}, "w"},
		{"gitlab, idempotency key before event uuid", git.GitLab, webhook.Header{"idempotency-key": "i", "x-gitlab-event-uuid": "u"}, "i"},
		{"gitlab, event uuid last", git.GitLab, webhook.Header{"x-gitlab-event-uuid": "u"}, "u"},
		{"bitbucket cloud", git.Bitbucket, webhook.Header{"x-request-uuid": "c"}, "c"},
		{"bitbucket data center", git.Bitbucket, webhook.Header{"x-request-id": "dc"}, "dc"},
		{"unknown provider", git.Provider("gitea"), webhook.Header{"x-github-delivery": "d"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webhook.DeliveryID(tt.p, tt.h); got != tt.want {
				t.Errorf("DeliveryID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRefNameLimits(t *testing.T) {
	push := fixture(t, "github-push.json")
	h := webhook.Header{"x-github-event": "push", "x-github-delivery": "d"}
	withRef := func(ref string) []byte {
		return bytes.Replace(push, []byte(`"ref": "refs/heads/main"`), []byte(`"ref": "`+ref+`"`), 1)
	}
	tests := []struct {
		name     string
		ref      string
		wantKind webhook.Kind // empty: malformed
	}{
		{"branch name of 1024 bytes", "refs/heads/" + strings.Repeat("b", 1024), webhook.KindPush},
		{"branch name of 1025 bytes", "refs/heads/" + strings.Repeat("b", 1025), ""},
		{"other ref of 1024 bytes", "refs/notes/" + strings.Repeat("n", 1024-len("refs/notes/")), webhook.KindOther},
		{"other ref of 1025 bytes", "refs/notes/" + strings.Repeat("n", 1025-len("refs/notes/")), ""},
		{"space is allowed", "refs/heads/with space", webhook.KindPush},
		{"unit separator is not", `refs/heads/with\u001fus`, ""},
		{"DEL is not", `refs/heads/with\u007fdel`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.Parse(git.GitHub, h, withRef(tt.ref))
			if tt.wantKind == "" {
				if !errors.Is(err, webhook.ErrMalformed) {
					t.Fatalf("Parse = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got[0].Kind != tt.wantKind || got[0].Ref != tt.ref {
				t.Errorf("event = %s %q, want %s %q", got[0].Kind, got[0].Ref, tt.wantKind, tt.ref)
			}
		})
	}
}

func TestParseBitbucketRefChangeLimit(t *testing.T) {
	cloud := func(n int) []byte {
		c := `{"new":{"type":"branch","name":"main","target":{"hash":"` + pushed + `"}}}`
		return []byte(`{"push":{"changes":[` + strings.TrimSuffix(strings.Repeat(c+",", n), ",") + `]},"repository":{"full_name":"acme/web"}}`)
	}
	dc := func(n int) []byte {
		c := `{"ref":{"id":"refs/heads/main"},"toHash":"` + pushed + `","type":"UPDATE"}`
		return []byte(`{"changes":[` + strings.TrimSuffix(strings.Repeat(c+",", n), ",") + `],"repository":{"slug":"web","project":{"key":"PLAT"}}}`)
	}
	cloudH := webhook.Header{"x-event-key": "repo:push", "x-request-uuid": "u"}
	dcH := webhook.Header{"x-event-key": "repo:refs_changed", "x-request-id": "u"}
	tests := []struct {
		name string
		h    webhook.Header
		body []byte
		want int // events; -1: malformed
	}{
		{"cloud, 1000 changes", cloudH, cloud(1000), 1000},
		{"cloud, 1001 changes", cloudH, cloud(1001), -1},
		{"data center, 1000 changes", dcH, dc(1000), 1000},
		{"data center, 1001 changes", dcH, dc(1001), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.Parse(git.Bitbucket, tt.h, tt.body)
			if tt.want < 0 {
				if !errors.Is(err, webhook.ErrMalformed) {
					t.Fatalf("Parse = %d events, %v; want ErrMalformed", len(got), err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("Parse = %d events, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestParseBitbucketDCRefForms(t *testing.T) {
	h := webhook.Header{"x-event-key": "repo:refs_changed", "x-request-id": "u"}
	body := func(change string) []byte {
		return []byte(`{"changes":[` + change + `],"repository":{"slug":"web","project":{"key":"PLAT"}}}`)
	}
	tests := []struct {
		name    string
		change  string
		wantRef string // empty: malformed
	}{
		{"ref object only", `{"ref":{"id":"refs/heads/main"},"toHash":"` + pushed + `","type":"UPDATE"}`, "refs/heads/main"},
		{"refId only", `{"refId":"refs/tags/v1","toHash":"` + pushed + `","type":"ADD"}`, "refs/tags/v1"},
		{"ref object wins", `{"ref":{"id":"refs/heads/main"},"refId":"refs/heads/other","toHash":"` + pushed + `","type":"UPDATE"}`, "refs/heads/main"},
		{"neither", `{"toHash":"` + pushed + `","type":"UPDATE"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.Parse(git.Bitbucket, h, body(tt.change))
			if tt.wantRef == "" {
				if !errors.Is(err, webhook.ErrMalformed) {
					t.Fatalf("Parse = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != 1 || got[0].Ref != tt.wantRef || got[0].Commit != pushed {
				t.Errorf("events = %+v, want one at %s, commit %s", got, tt.wantRef, pushed)
			}
		})
	}
}

func TestParseBitbucketOtherEvents(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []webhook.Event // nil: malformed
	}{
		{"pull request with repository", `{"repository":{"full_name":"acme/web"},"pullrequest":{"id":1}}`,
			[]webhook.Event{{Provider: git.Bitbucket, Kind: webhook.KindOther, Name: "pullrequest:created", Repository: "acme/web", DeliveryID: "u"}}},
		{"without repository", `{"pullrequest":{"id":1}}`,
			[]webhook.Event{{Provider: git.Bitbucket, Kind: webhook.KindOther, Name: "pullrequest:created", DeliveryID: "u"}}},
		{"not JSON", `pullrequest`, nil},
	}
	h := webhook.Header{"x-event-key": "pullrequest:created", "x-request-uuid": "u"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.Parse(git.Bitbucket, h, []byte(tt.body))
			if tt.want == nil {
				if !errors.Is(err, webhook.ErrMalformed) {
					t.Fatalf("Parse = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseKeyringSecretLength(t *testing.T) {
	tests := []struct {
		name    string
		len     int
		wantErr bool
	}{
		{"15 characters", 15, true},
		{"16 characters", 16, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.ParseKeyring([]byte(fmt.Sprintf(`{"github":%q}`, strings.Repeat("k", tt.len))))
			if (err != nil) != tt.wantErr {
				t.Errorf("ParseKeyring = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// A base64 body's decoded length is first bounded from its encoded length,
// which overstates it by up to two bytes of padding: a body of 3k+1 bytes at
// the limit must still be accepted.
func TestReceiveBase64BodyAtTheLimit(t *testing.T) {
	body := fixture(t, "github-push.json")
	body = append(body, bytes.Repeat([]byte(" "), (1-len(body)%3+3)%3)...)
	if len(body)%3 != 1 {
		t.Fatalf("body of %d bytes, want 3k+1", len(body))
	}
	h := webhook.NewHeader(webhooktest.GitHubHeaders("push", deliverID, secret, body))
	b64 := base64.StdEncoding.EncodeToString(body)
	tests := []struct {
		name    string
		max     int
		body    string
		wantErr error
	}{
		{"at the limit", len(body), b64, nil},
		{"one byte over", len(body) - 1, b64, webhook.ErrTooLarge},
		{"not base64", len(body), "!" + b64[1:], webhook.ErrBadEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := webhook.NewReceiver(webhook.WithMaxBodyBytes(tt.max))
			d, err := r.Receive(webhook.Request{Header: h, Body: tt.body, Base64: true}, ring(git.GitHub, secret))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Receive = %v, want %v", err, tt.wantErr)
			}
			if err == nil && d.Digest != sha256.Sum256(body) {
				t.Errorf("digest %x, want the decoded body's", d.Digest)
			}
		})
	}
}

// The webhook-timestamp header is at most 12 digits and not negative; it is
// signed as sent, leading zeros included.
func TestReceiveStandardTimestampForms(t *testing.T) {
	body := fixture(t, "gitlab-tag-push.json")
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(signingToken), "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(ts string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(deliverID + "." + ts + "."))
		m.Write(body)
		return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	tests := []struct {
		name    string
		clock   time.Time
		ts      string
		wantErr error
	}{
		{"12 digits", now, fmt.Sprintf("%012d", now.Unix()), nil},
		{"13 digits", now, fmt.Sprintf("%013d", now.Unix()), webhook.ErrUnauthorized},
		{"zero", time.Unix(0, 0), "0", nil},
		{"negative", time.Unix(0, 0), "-1", webhook.ErrUnauthorized},
		{"not a number", now, "1e9", webhook.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := webhooktest.GitLabSignedHeaders("Tag Push Hook", deliverID, signingToken, 0, body)
			h["webhook-timestamp"], h["webhook-signature"] = tt.ts, sign(tt.ts)
			r := webhook.NewReceiver(webhook.WithClock(func() time.Time { return tt.clock }))
			_, err := r.Receive(webhook.Request{Header: webhook.NewHeader(h), Body: string(body)}, ring(git.GitLab, signingToken))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Receive = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestMalformedErrorText(t *testing.T) {
	_, err := webhook.Parse(git.Bitbucket, webhook.Header{"x-event-key": "repo:push"}, []byte(`{}`))
	want := "webhook: malformed delivery: X-Request-UUID (Cloud) or X-Request-Id (Data Center) header missing"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
