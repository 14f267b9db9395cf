package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBodyBytes is the default body limit: 4 MiB. A Lambda Function
// URL carries at most 6 MB of event, and a body it passes base64-encoded
// grows by a third, so larger bodies could not reach the function anyway.
// GitHub itself caps payloads at 25 MB; pushes that large are truncated
// commit lists we do not need.
const DefaultMaxBodyBytes = 4 << 20

// DefaultTimestampTolerance is how far a Standard Webhooks timestamp
// (GitLab's signed form) may be from the receiver's clock.
const DefaultTimestampTolerance = 5 * time.Minute

// Receiver authenticates and parses deliveries. The zero value is not usable;
// build one with NewReceiver. It is safe for concurrent use.
type Receiver struct {
	maxBody   int
	tolerance time.Duration
	now       func() time.Time
}

// Option configures a Receiver.
type Option func(*Receiver)

// WithMaxBodyBytes sets the largest body accepted (default
// DefaultMaxBodyBytes). Values below 1 keep the default.
func WithMaxBodyBytes(n int) Option {
	return func(r *Receiver) {
		if n > 0 {
			r.maxBody = n
		}
	}
}

// WithTimestampTolerance sets how far a signed timestamp may be from now
// (default DefaultTimestampTolerance).
func WithTimestampTolerance(d time.Duration) Option {
	return func(r *Receiver) {
		if d > 0 {
			r.tolerance = d
		}
	}
}

// WithClock sets the clock timestamps are checked against (tests).
func WithClock(now func() time.Time) Option { return func(r *Receiver) { r.now = now } }

// NewReceiver returns a Receiver with the options applied.
func NewReceiver(opts ...Option) *Receiver {
	r := &Receiver{maxBody: DefaultMaxBodyBytes, tolerance: DefaultTimestampTolerance, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r
}

// MaxBodyBytes returns the largest body the receiver accepts.
func (r *Receiver) MaxBodyBytes() int { return r.maxBody }

// Receive bounds, authenticates and parses one delivery: ErrTooLarge,
// ErrUnauthorized, a *MalformedError, or the delivery's provider and events.
// secrets are tried in order (current first, then previous); empty secrets
// are ignored, and with none every delivery is unauthorized.
func (r *Receiver) Receive(h Header, body []byte, secrets [][]byte) (Provider, []Event, error) {
	if len(body) > r.maxBody {
		return "", nil, ErrTooLarge
	}
	p, err := Detect(h)
	if err != nil {
		return "", nil, err
	}
	if err := r.Verify(p, h, body, secrets); err != nil {
		return p, nil, err
	}
	events, err := Parse(p, h, body)
	return p, events, err
}

// Verify checks the delivery's signature (or GitLab's token) over the raw
// body with each secret, in constant time. It returns nil or ErrUnauthorized.
//
//   - GitHub: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(secret, body).
//     The SHA-1 X-Hub-Signature is never accepted.
//   - Bitbucket Cloud and Data Center: X-Hub-Signature = "sha256=" + hex
//     HMAC-SHA256(secret, body); any other algorithm is refused.
//   - GitLab, signed form (when webhook-signature is present): Standard
//     Webhooks, "v1," + base64 HMAC-SHA256(key, id + "." + timestamp + "." +
//     body), the key being the secret with its "whsec_" prefix removed and
//     base64-decoded (a secret without that prefix is used as is); the
//     timestamp must be within the tolerance. X-Gitlab-Token is then not
//     consulted.
//   - GitLab, token form: X-Gitlab-Token equals a secret.
func (r *Receiver) Verify(p Provider, h Header, body []byte, secrets [][]byte) error {
	ok := false
	switch p {
	case GitHub:
		ok = verifyHexHMAC(h.Get(hGitHubSig256), body, secrets)
	case Bitbucket:
		ok = verifyHexHMAC(h.Get(hHubSig), body, secrets)
	case GitLab:
		if sig := h.Get(hWebhookSignature); sig != "" {
			ok = r.verifyStandard(h.Get(hWebhookID), h.Get(hWebhookTimestamp), sig, body, secrets)
		} else {
			ok = verifyToken(h.Get(hGitLabToken), secrets)
		}
	}
	if !ok {
		return ErrUnauthorized
	}
	return nil
}

// verifyHexHMAC checks a "sha256=<hex>" header.
func verifyHexHMAC(header string, body []byte, secrets [][]byte) bool {
	hexSig, found := strings.CutPrefix(header, "sha256=")
	if !found || len(hexSig) != 2*sha256.Size {
		return false
	}
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], []byte(hexSig)); err != nil {
		return false
	}
	ok := 0
	var sum [sha256.Size]byte
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		m := hmac.New(sha256.New, s)
		m.Write(body)
		ok |= subtle.ConstantTimeCompare(m.Sum(sum[:0]), want[:])
	}
	return ok == 1
}

// verifyToken compares a plaintext token with each secret. Both sides are
// hashed first so that the comparison's time depends on neither length.
func verifyToken(token string, secrets [][]byte) bool {
	if token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	ok := 0
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		want := sha256.Sum256(s)
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1
}

// verifyStandard checks a Standard Webhooks signature header, which holds one
// or more space-separated "v1,<base64>" entries.
func (r *Receiver) verifyStandard(id, ts, header string, body []byte, secrets [][]byte) bool {
	if id == "" || ts == "" || len(ts) > 12 {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return false
	}
	if d := r.now().Sub(time.Unix(sec, 0)); d > r.tolerance || d < -r.tolerance {
		return false
	}
	var sigs [][]byte
	for _, entry := range strings.Fields(header) {
		v, found := strings.CutPrefix(entry, "v1,")
		if !found {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		sigs = append(sigs, b)
	}
	if len(sigs) == 0 {
		return false
	}
	ok := 0
	var sum [sha256.Size]byte
	for _, s := range secrets {
		key := standardKey(s)
		if len(key) == 0 {
			continue
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		got := m.Sum(sum[:0])
		for _, want := range sigs {
			ok |= subtle.ConstantTimeCompare(got, want)
		}
	}
	return ok == 1
}

// standardKey returns the HMAC key of a Standard Webhooks secret: the bytes
// base64-encoded after "whsec_", or the secret itself without that prefix.
func standardKey(secret []byte) []byte {
	rest, found := strings.CutPrefix(string(secret), "whsec_")
	if !found {
		return secret
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil
	}
	return key
}
