package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/git"
)

// Parse turns an authenticated delivery into events. Call it only after
// Verify succeeded: it trusts the body. Errors are *MalformedError.
//
// Every push event has a Repository and a Ref (refs/heads/… or refs/tags/…);
// a push that is not a deletion has a Commit of 40 or 64 lower-case hex
// digits, which may still be all zeros on GitHub when "deleted" is false (the
// caller decides what that means).
func Parse(p git.Provider, h Header, body []byte) ([]Event, error) {
	switch p {
	case git.GitHub:
		return parseGitHub(h, body)
	case git.GitLab:
		return parseGitLab(h, body)
	case git.Bitbucket:
		return parseBitbucket(h, body)
	default:
		return nil, malformed(fmt.Sprintf("unknown provider %q", p))
	}
}

// maxDeliveryIDLen bounds a delivery id (hosts send UUIDs or GUIDs).
const maxDeliveryIDLen = 200

// DeliveryID returns the delivery id the headers carry: X-GitHub-Delivery;
// GitLab's webhook-id (signed form), else Idempotency-Key (the same across
// retries), else X-Gitlab-Event-UUID; Bitbucket Cloud's X-Request-UUID or
// Data Center's X-Request-Id. Empty when missing or longer than 200 bytes.
// Before Verify succeeds it is only a claim, fit for logs.
func DeliveryID(p git.Provider, h Header) string {
	var keys []string
	switch p {
	case git.GitHub:
		keys = []string{hGitHubDelivery}
	case git.GitLab:
		keys = []string{hWebhookID, hIdempotencyKey, hGitLabEventUUID}
	case git.Bitbucket:
		keys = []string{hRequestUUID, hRequestID}
	}
	for _, k := range keys {
		if v := h.Get(k); v != "" {
			if len(v) > maxDeliveryIDLen || !validRefName(v) {
				return ""
			}
			return v
		}
	}
	return ""
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return malformed("body is not the expected JSON")
	}
	return nil
}

// validRefName rejects empty names and control characters; git itself
// refuses far more, but what we do with a name is only match and log it.
func validRefName(name string) bool {
	if name == "" || len(name) > 1024 {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// pushKind classifies a ref update. deleted says whether the ref is gone.
func pushKind(ref string, deleted bool) (Kind, bool) {
	var name string
	var branch bool
	switch {
	case strings.HasPrefix(ref, git.BranchPrefix):
		name, branch = ref[len(git.BranchPrefix):], true
	case strings.HasPrefix(ref, git.TagPrefix):
		name = ref[len(git.TagPrefix):]
	case strings.HasPrefix(ref, "refs/") && validRefName(ref):
		return KindOther, false
	default:
		return "", false
	}
	if !validRefName(name) {
		return "", false
	}
	switch {
	case branch && deleted:
		return KindBranchDelete, true
	case branch:
		return KindPush, true
	case deleted:
		return KindTagDelete, true
	default:
		return KindTagPush, true
	}
}

// finish checks what every push event needs and fills the event's kind.
func finish(e Event, deleted bool) (Event, error) {
	if e.Repository == "" {
		return e, malformed("repository full name missing")
	}
	kind, ok := pushKind(e.Ref, deleted)
	if !ok {
		if kind == KindOther {
			// A ref outside branches and tags (notes, pull refs): not a deploy.
			e.Kind = KindOther
			return e, nil
		}
		return e, malformed("ref missing or invalid")
	}
	e.Kind = kind
	if !deleted && !git.ValidCommit(e.Commit) {
		return e, malformed("commit SHA missing or invalid")
	}
	return e, nil
}

// parseTime reads a signed time: Unix seconds (GitHub's push payloads), or
// an ISO 8601 string with or without a colon in the offset (other GitHub
// events, Bitbucket Data Center). Anything else is the zero time: no signed
// time, which the caller treats as such.
func parseTime(raw json.RawMessage) time.Time {
	var sec int64
	if err := json.Unmarshal(raw, &sec); err == nil && sec > 0 {
		return time.Unix(sec, 0).UTC()
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// single finishes the one event of a delivery.
func single(e Event, deleted bool) ([]Event, error) {
	e, err := finish(e, deleted)
	if err != nil {
		return nil, err
	}
	return []Event{e}, nil
}

// GitHub

type githubPayload struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit"`
	Repository *struct {
		FullName string          `json:"full_name"`
		PushedAt json.RawMessage `json:"pushed_at"`
	} `json:"repository"`
	Pusher struct {
		Name string `json:"name"`
	} `json:"pusher"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

func parseGitHub(h Header, body []byte) ([]Event, error) {
	e := Event{Provider: git.GitHub, Name: h.Get(hGitHubEvent), DeliveryID: DeliveryID(git.GitHub, h)}
	if e.DeliveryID == "" {
		return nil, malformed("X-GitHub-Delivery header missing")
	}
	if strings.HasPrefix(h.Get("content-type"), "application/x-www-form-urlencoded") {
		return nil, malformed("form-encoded payload: set the webhook's content type to application/json")
	}
	var p githubPayload
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	if p.Repository != nil {
		e.Repository = p.Repository.FullName
		e.PushedAt = parseTime(p.Repository.PushedAt)
	}
	e.Pusher = p.Pusher.Name
	if e.Pusher == "" {
		e.Pusher = p.Sender.Login
	}
	switch e.Name {
	case "ping":
		e.Kind = KindPing
		return []Event{e}, nil
	case "push":
	default:
		e.Kind = KindOther
		return []Event{e}, nil
	}
	e.Ref, e.Commit = p.Ref, p.After
	// For an annotated tag, "after" is the tag object; head_commit is the
	// commit it points to.
	if strings.HasPrefix(p.Ref, git.TagPrefix) && !p.Deleted && p.HeadCommit != nil && p.HeadCommit.ID != "" {
		e.Commit = p.HeadCommit.ID
	}
	return single(e, p.Deleted)
}

// GitLab

type gitlabPayload struct {
	ObjectKind   string  `json:"object_kind"`
	Ref          string  `json:"ref"`
	After        string  `json:"after"`
	CheckoutSHA  *string `json:"checkout_sha"`
	UserUsername string  `json:"user_username"`
	UserName     string  `json:"user_name"`
	Project      *struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
}

func parseGitLab(h Header, body []byte) ([]Event, error) {
	e := Event{Provider: git.GitLab, Name: h.Get(hGitLabEvent), DeliveryID: DeliveryID(git.GitLab, h)}
	if e.DeliveryID == "" {
		return nil, malformed("Idempotency-Key and X-Gitlab-Event-UUID headers missing")
	}
	var p gitlabPayload
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	if p.Project != nil {
		e.Repository = p.Project.PathWithNamespace
	}
	e.Pusher = p.UserUsername
	if e.Pusher == "" {
		e.Pusher = p.UserName
	}
	var wantKind string
	switch e.Name {
	case "Push Hook":
		wantKind = "push"
	case "Tag Push Hook":
		wantKind = "tag_push"
	case "System Hook":
		wantKind = p.ObjectKind
	}
	if wantKind != "push" && wantKind != "tag_push" {
		e.Kind = KindOther
		return []Event{e}, nil
	}
	if p.ObjectKind != wantKind {
		return nil, malformed(fmt.Sprintf("object_kind %q does not match the event header", p.ObjectKind))
	}
	e.Ref = p.Ref
	deleted := git.ValidCommit(p.After) && git.IsZeroCommit(p.After)
	e.Commit = p.After
	// checkout_sha is the commit the ref points to: for an annotated tag the
	// tagged commit, where "after" is the tag object. Null when deleted.
	if !deleted && p.CheckoutSHA != nil && *p.CheckoutSHA != "" {
		e.Commit = *p.CheckoutSHA
	}
	return single(e, deleted)
}

// Bitbucket

type bitbucketCloudRef struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Target struct {
		Hash string `json:"hash"`
	} `json:"target"`
}

type bitbucketCloudPayload struct {
	Push struct {
		Changes []struct {
			New *bitbucketCloudRef `json:"new"`
			Old *bitbucketCloudRef `json:"old"`
		} `json:"changes"`
	} `json:"push"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Actor struct {
		Nickname    string `json:"nickname"`
		DisplayName string `json:"display_name"`
	} `json:"actor"`
}

type bitbucketDCPayload struct {
	Date    json.RawMessage `json:"date"`
	Changes []struct {
		Ref struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"ref"`
		RefID  string `json:"refId"`
		ToHash string `json:"toHash"`
		Type   string `json:"type"`
	} `json:"changes"`
	Repository *struct {
		Slug    string `json:"slug"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
	} `json:"repository"`
	Actor struct {
		Name string `json:"name"`
	} `json:"actor"`
}

// maxRefChanges bounds the events one Bitbucket delivery may yield.
const maxRefChanges = 1000

func parseBitbucket(h Header, body []byte) ([]Event, error) {
	base := Event{Provider: git.Bitbucket, Name: h.Get(hEventKey), DeliveryID: DeliveryID(git.Bitbucket, h)}
	if base.DeliveryID == "" {
		return nil, malformed("X-Request-UUID (Cloud) or X-Request-Id (Data Center) header missing")
	}
	switch base.Name {
	case "repo:push":
		return parseBitbucketCloud(base, body)
	case "repo:refs_changed":
		return parseBitbucketDC(base, body)
	case "diagnostics:ping":
		if err := decode(body, new(map[string]any)); err != nil {
			return nil, err
		}
		base.Kind = KindPing
		return []Event{base}, nil
	default:
		var p struct {
			Repository *struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		}
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		if p.Repository != nil {
			base.Repository = p.Repository.FullName
		}
		base.Kind = KindOther
		return []Event{base}, nil
	}
}

func parseBitbucketCloud(base Event, body []byte) ([]Event, error) {
	var p bitbucketCloudPayload
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	if p.Repository != nil {
		base.Repository = p.Repository.FullName
	}
	base.Pusher = p.Actor.Nickname
	if base.Pusher == "" {
		base.Pusher = p.Actor.DisplayName
	}
	if len(p.Push.Changes) > maxRefChanges {
		return nil, malformed("too many ref changes")
	}
	events := make([]Event, 0, len(p.Push.Changes))
	for _, c := range p.Push.Changes {
		ref, deleted := c.New, false
		if ref == nil {
			ref, deleted = c.Old, true
		}
		if ref == nil {
			return nil, malformed("ref change without new or old")
		}
		e := base
		switch ref.Type {
		case "branch":
			e.Ref = git.BranchPrefix + ref.Name
		case "tag", "annotated_tag":
			e.Ref = git.TagPrefix + ref.Name
		default: // Mercurial bookmarks and named branches
			e.Kind = KindOther
			events = append(events, e)
			continue
		}
		if !deleted {
			e.Commit = ref.Target.Hash
		}
		e, err := finish(e, deleted)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

func parseBitbucketDC(base Event, body []byte) ([]Event, error) {
	var p bitbucketDCPayload
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	if p.Repository != nil && p.Repository.Project.Key != "" && p.Repository.Slug != "" {
		base.Repository = p.Repository.Project.Key + "/" + p.Repository.Slug
	}
	base.Pusher = p.Actor.Name
	base.PushedAt = parseTime(p.Date)
	if len(p.Changes) > maxRefChanges {
		return nil, malformed("too many ref changes")
	}
	events := make([]Event, 0, len(p.Changes))
	for _, c := range p.Changes {
		e := base
		e.Ref = c.Ref.ID
		if e.Ref == "" {
			e.Ref = c.RefID
		}
		deleted := c.Type == "DELETE"
		e.Commit = c.ToHash
		if deleted {
			e.Commit = git.ZeroCommit
		}
		e, err := finish(e, deleted)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}
