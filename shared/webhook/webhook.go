// Package webhook authenticates and parses git hosts' push webhooks: GitHub,
// GitLab, Bitbucket Cloud and Bitbucket Data Center.
//
// A delivery goes through three steps, always in this order:
//
//  1. Detect names the provider from the request headers.
//  2. Verify checks the signature (or GitLab's token) over the raw body bytes,
//     in constant time, against every key of that provider in the Keyring (the
//     current and, during a rotation, the previous secret; a host-wide key and
//     keys of single repositories). Nothing of the body is parsed before.
//  3. Parse turns the body into normalized Events; then the repository the
//     body names must be one the matching key may sign for.
//
// Receiver.Receive is the one way in: it decodes the body (base64 when the
// Function URL says so), bounds its size once, and does all three.
package webhook

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/git"
)

// Kind is what a delivery means for deploys.
type Kind string

// Kinds of events.
const (
	// KindPush is a push that created or moved a branch.
	KindPush Kind = "push"
	// KindTagPush is a push that created or moved a tag.
	KindTagPush Kind = "tag_push"
	// KindBranchDelete is a push that deleted a branch.
	KindBranchDelete Kind = "branch_delete"
	// KindTagDelete is a push that deleted a tag.
	KindTagDelete Kind = "tag_delete"
	// KindPing is the host's test delivery, sent when a webhook is created.
	KindPing Kind = "ping"
	// KindOther is any other event (pull or merge requests, issues, …).
	KindOther Kind = "other"
)

// Event is one normalized git event. A delivery yields one Event, except a
// Bitbucket push that updated several refs, which yields one per ref.
type Event struct {
	Provider git.Provider
	Kind     Kind
	// Name is the host's own event name: "push", "Push Hook", "repo:push", …
	Name string
	// Repository is the repository's full name ("owner/repo"; GitLab
	// "group/sub/project"; Bitbucket Data Center "PROJECTKEY/slug"). Empty
	// for some pings.
	Repository string
	// Ref is the full ref pushed: refs/heads/NAME or refs/tags/NAME.
	Ref string
	// Commit is the commit the ref points to after the push (for an annotated
	// tag, the tagged commit where the host says which it is). All zeros, or
	// empty, for a deletion.
	Commit string
	// DeliveryID identifies the delivery; a redelivery of the same event
	// carries the same one.
	DeliveryID string
	// Pusher is the user who pushed, as the host names them.
	Pusher string
	// PushedAt is when the push happened, as the host signed it: GitHub's
	// repository.pushed_at, GitLab's signed webhook-timestamp, Bitbucket Data
	// Center's date. Zero when the host signs no time (GitLab's token form,
	// Bitbucket Cloud).
	PushedAt time.Time
}

// ErrUnauthorized is returned when a delivery's signature or token is missing
// or wrong, or when no known provider sent it. It never says which.
var ErrUnauthorized = errors.New("webhook: unauthorized")

// ErrTooLarge is returned for a body over the receiver's limit.
var ErrTooLarge = errors.New("webhook: body too large")

// ErrMalformed matches every *MalformedError (errors.Is).
var ErrMalformed = errors.New("webhook: malformed delivery")

// MalformedError is an authenticated delivery that cannot be understood:
// missing headers, a body that is not the expected JSON, a bad commit SHA.
type MalformedError struct {
	// Reason says what is wrong; it names no secret and may be shown to the
	// sender.
	Reason string
}

func (e *MalformedError) Error() string { return "webhook: malformed delivery: " + e.Reason }

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(reason string) error { return &MalformedError{Reason: reason} }

// Header is a request's headers with lower-case names, as Lambda Function
// URLs and API Gateway HTTP APIs deliver them. Build one with NewHeader when
// the names may be in any case.
type Header map[string]string

// NewHeader returns h with lower-case names. It returns h itself when its
// names already are. Names that differ only in case are one header: their
// values are joined with "," (in the order of the original names), as HTTP
// combines a repeated header, so a duplicate never silently replaces a
// signature and the result does not depend on map order.
func NewHeader(h map[string]string) Header {
	for k := range h {
		if k != strings.ToLower(k) {
			out := make(Header, len(h))
			for _, k := range slices.Sorted(maps.Keys(h)) {
				lk := strings.ToLower(k)
				if prev, ok := out[lk]; ok {
					out[lk] = prev + "," + h[k]
				} else {
					out[lk] = h[k]
				}
			}
			return out
		}
	}
	return Header(h)
}

// Get returns the value of the header with the lower-case name.
func (h Header) Get(name string) string { return h[name] }

// Header names (lower case).
const (
	hGitHubEvent      = "x-github-event"
	hGitHubDelivery   = "x-github-delivery"
	hGitHubSig256     = "x-hub-signature-256"
	hHubSig           = "x-hub-signature" // GitHub: SHA-1, never accepted; Bitbucket: sha256
	hGitLabEvent      = "x-gitlab-event"
	hGitLabToken      = "x-gitlab-token"
	hGitLabEventUUID  = "x-gitlab-event-uuid"
	hIdempotencyKey   = "idempotency-key"
	hWebhookID        = "webhook-id"
	hWebhookTimestamp = "webhook-timestamp"
	hWebhookSignature = "webhook-signature"
	hEventKey         = "x-event-key"
	hRequestUUID      = "x-request-uuid" // Bitbucket Cloud
	hRequestID        = "x-request-id"   // Bitbucket Data Center
)

// Detect names the provider that sent a delivery, from its headers: GitHub's
// X-GitHub-Event, GitLab's X-Gitlab-Event, Bitbucket's X-Event-Key. It
// returns ErrUnauthorized when none is present (such a request cannot be
// authenticated) or when headers of several providers are.
func Detect(h Header) (git.Provider, error) {
	var found git.Provider
	n := 0
	if h.Get(hGitHubEvent) != "" {
		found, n = git.GitHub, n+1
	}
	if h.Get(hGitLabEvent) != "" {
		found, n = git.GitLab, n+1
	}
	if h.Get(hEventKey) != "" {
		found, n = git.Bitbucket, n+1
	}
	if n != 1 {
		return "", ErrUnauthorized
	}
	return found, nil
}
