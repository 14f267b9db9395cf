package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/git"
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

// Request is a delivery as a Lambda Function URL (or API Gateway HTTP API)
// hands it over: headers, the body, and whether the body is base64.
type Request struct {
	Header Header
	Body   string
	// Base64 says the body is base64-encoded (the Function URL does so for
	// bodies that are not text).
	Base64 bool
}

// Delivery is an authenticated, parsed delivery.
type Delivery struct {
	// Provider is the host that sent it. Set as soon as it is detected, so
	// that a refused delivery can still be logged with it.
	Provider git.Provider
	// DeliveryID is the host's delivery id. Hosts do not sign it: it is for
	// logs and never decides anything.
	DeliveryID string
	// Events are the delivery's events (one, or one per ref for Bitbucket).
	Events []Event
	// Digest is the SHA-256 of the raw body: what the host signed, so the
	// same digest means the same push, whatever delivery id it came under.
	Digest [sha256.Size]byte
	// SignedAt is the delivery's signed time when the host signs one apart
	// from the body (GitLab's signed form: webhook-timestamp, within the
	// tolerance of now). Each retry of a delivery signs a new one, so it is
	// for the replay window only, never part of what the push starts.
	SignedAt time.Time
}

// ErrBadEncoding is returned for a body that claims to be base64 and is not.
var ErrBadEncoding = errors.New("webhook: body is not valid base64")

// Receive is the one way from a raw request to a verified push: it decodes
// and bounds the body (ErrBadEncoding, ErrTooLarge), detects the provider,
// verifies the signature or token with the keys of that provider
// (ErrUnauthorized), parses the body (*MalformedError) and checks that the
// key that verified may sign for the repository the body names
// (ErrUnauthorized). With an empty keyring every delivery is unauthorized.
func (r *Receiver) Receive(req Request, keys Keyring) (Delivery, error) {
	var d Delivery
	body, err := r.decodeBody(req)
	if err != nil {
		return d, err
	}
	p, err := Detect(req.Header)
	if err != nil {
		return d, err
	}
	d.Provider, d.DeliveryID = p, DeliveryID(p, req.Header)
	matched, signedAt, err := r.verify(p, req.Header, body, keys)
	if err != nil {
		return d, err
	}
	events, err := Parse(p, req.Header, body)
	if err != nil {
		return d, err
	}
	for i := range events {
		if !keys.mayAuthorize(p, events[i].Repository, matched) {
			return d, ErrUnauthorized
		}
	}
	d.Events, d.Digest, d.SignedAt = events, sha256.Sum256(body), signedAt
	return d, nil
}

// decodeBody returns the raw body, decoded once from base64 when the request
// says so, checking the size limit before and after decoding.
func (r *Receiver) decodeBody(req Request) ([]byte, error) {
	if !req.Base64 {
		if len(req.Body) > r.maxBody {
			return nil, ErrTooLarge
		}
		return []byte(req.Body), nil
	}
	if base64.StdEncoding.DecodedLen(len(req.Body)) > r.maxBody+2 {
		return nil, ErrTooLarge
	}
	body, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, ErrBadEncoding
	}
	if len(body) > r.maxBody {
		return nil, ErrTooLarge
	}
	return body, nil
}

// Verify checks the delivery's signature (or GitLab's token) over the raw
// body with every key of provider p, in constant time. It returns nil or
// ErrUnauthorized. It does not check which repository a key may sign for:
// Receive does, after parsing.
//
//   - GitHub: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(secret, body).
//     The SHA-1 X-Hub-Signature is never accepted.
//   - Bitbucket Cloud and Data Center: X-Hub-Signature = "sha256=" + hex
//     HMAC-SHA256(secret, body); any other algorithm is refused.
//   - GitLab, signed form (when webhook-signature is present): Standard
//     Webhooks, "v1," + base64 HMAC-SHA256(key, id + "." + timestamp + "." +
//     body), the key being a "whsec_" secret's base64-decoded rest; the
//     timestamp must be within the tolerance. X-Gitlab-Token is then not
//     consulted.
//   - GitLab, token form: X-Gitlab-Token equals a secret that does not start
//     with "whsec_". A signing secret is never compared with a token (a token
//     travels in clear: one seen request would give the signing key away),
//     and a token is never an HMAC key.
func (r *Receiver) Verify(p git.Provider, h Header, body []byte, keys Keyring) error {
	_, _, err := r.verify(p, h, body, keys)
	return err
}

// verify returns which keys verified the delivery, and the signed time
// (GitLab's signed form), or ErrUnauthorized.
func (r *Receiver) verify(p git.Provider, h Header, body []byte, keys Keyring) ([]bool, time.Time, error) {
	secrets := make([][]byte, len(keys))
	for i, k := range keys {
		if k.Provider == p {
			secrets[i] = k.Secret
		}
	}
	var matched []bool
	var signedAt time.Time
	switch p {
	case git.GitHub:
		matched = verifyHexHMAC(h.Get(hGitHubSig256), body, secrets)
	case git.Bitbucket:
		matched = verifyHexHMAC(h.Get(hHubSig), body, secrets)
	case git.GitLab:
		signing, tokens := make([][]byte, len(secrets)), make([][]byte, len(secrets))
		for i, s := range secrets {
			if isSigningSecret(s) {
				signing[i] = s
			} else {
				tokens[i] = s
			}
		}
		if sig := h.Get(hWebhookSignature); sig != "" {
			matched, signedAt = r.verifyStandard(h.Get(hWebhookID), h.Get(hWebhookTimestamp), sig, body, signing)
		} else {
			matched = verifyToken(h.Get(hGitLabToken), tokens)
		}
	}
	if !slices.Contains(matched, true) {
		return nil, time.Time{}, ErrUnauthorized
	}
	return matched, signedAt, nil
}

// verifyHexHMAC checks a "sha256=<hex>" header with every non-empty secret
// (each one is computed and compared, so the time does not say which one
// matched) and reports which matched.
func verifyHexHMAC(header string, body []byte, secrets [][]byte) []bool {
	hexSig, found := strings.CutPrefix(header, "sha256=")
	if !found || len(hexSig) != 2*sha256.Size {
		return nil
	}
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], []byte(hexSig)); err != nil {
		return nil
	}
	matched := make([]bool, len(secrets))
	var sum [sha256.Size]byte
	for i, s := range secrets {
		if len(s) == 0 {
			continue
		}
		m := hmac.New(sha256.New, s)
		m.Write(body)
		matched[i] = subtle.ConstantTimeCompare(m.Sum(sum[:0]), want[:]) == 1
	}
	return matched
}

// verifyToken compares a plaintext token with each secret. Both sides are
// hashed first so that the comparison's time depends on neither length.
func verifyToken(token string, secrets [][]byte) []bool {
	if token == "" {
		return nil
	}
	got := sha256.Sum256([]byte(token))
	matched := make([]bool, len(secrets))
	for i, s := range secrets {
		if len(s) == 0 {
			continue
		}
		want := sha256.Sum256(s)
		matched[i] = subtle.ConstantTimeCompare(got[:], want[:]) == 1
	}
	return matched
}

// verifyStandard checks a Standard Webhooks signature header, which holds one
// or more space-separated "v1,<base64>" entries, and returns which secrets
// matched and the signed timestamp.
func (r *Receiver) verifyStandard(id, ts, header string, body []byte, secrets [][]byte) ([]bool, time.Time) {
	if id == "" || ts == "" || len(ts) > 12 {
		return nil, time.Time{}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return nil, time.Time{}
	}
	signedAt := time.Unix(sec, 0).UTC()
	if d := r.now().Sub(signedAt); d > r.tolerance || d < -r.tolerance {
		return nil, time.Time{}
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
		return nil, time.Time{}
	}
	matched := make([]bool, len(secrets))
	var sum [sha256.Size]byte
	for i, s := range secrets {
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
			if subtle.ConstantTimeCompare(got, want) == 1 {
				matched[i] = true
			}
		}
	}
	return matched, signedAt
}

// signingPrefix starts a Standard Webhooks signing secret.
const signingPrefix = "whsec_"

func isSigningSecret(s []byte) bool { return strings.HasPrefix(string(s), signingPrefix) }

// standardKey returns the HMAC key of a Standard Webhooks secret: the bytes
// base64-encoded after "whsec_"; nil for anything else.
func standardKey(secret []byte) []byte {
	rest, found := strings.CutPrefix(string(secret), signingPrefix)
	if !found {
		return nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil
	}
	return key
}
