package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Parse turns an authenticated delivery into events. Call it only after
// Verify succeeded: it trusts the body. Errors are *MalformedError.
//
// Every push event has a Repository and a Ref (refs/heads/… or refs/tags/…);
// a push that is not a deletion has a Commit of 40 or 64 lower-case hex
// digits, which may still be all zeros on GitHub when "deleted" is false (the
// caller decides what that means).
func Parse(p Provider, h Header, body []byte) ([]Event, error) {
	switch p {
	case GitHub:
		return parseGitHub(h, body)
	case GitLab:
		return parseGitLab(h, body)
	case Bitbucket:
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
func DeliveryID(p Provider, h Header) string {
	var keys []string
	switch p {
	case GitHub:
		keys = []string{hGitHubDelivery}
	case GitLab:
		keys = []string{hWebhookID, hIdempotencyKey, hGitLabEventUUID}
	case Bitbucket:
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

const (
	branchPrefix = "refs/heads/"
	tagPrefix    = "refs/tags/"
)

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return malformed("body is not the expected JSON")
	}
	return nil
}

func validCommit(sha string) bool {
	if len(sha) != 40 && len(sha) != 64 {
		return false
	}
	for i := 0; i < len(sha); i++ {
		c := sha[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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
	case strings.HasPrefix(ref, branchPrefix):
		name, branch = ref[len(branchPrefix):], true
	case strings.HasPrefix(ref, tagPrefix):
		name = ref[len(tagPrefix):]
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
	if !deleted && !validCommit(e.Commit) {
		return e, malformed("commit SHA missing or invalid")
	}
	return e, nil
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
		FullName string `json:"full_name"`
	} `json:"repository"`
	Pusher struct {
		Name string `json:"name"`
	} `json:"pusher"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

func parseGitHub(h Header, body []byte) ([]Event, error) {
	e := Event{Provider: GitHub, Name: h.Get(hGitHubEvent), DeliveryID: DeliveryID(GitHub, h)}
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
	if strings.HasPrefix(p.Ref, tagPrefix) && !p.Deleted && p.HeadCommit != nil && p.HeadCommit.ID != "" {
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
	e := Event{Provider: GitLab, Name: h.Get(hGitLabEvent), DeliveryID: DeliveryID(GitLab, h)}
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
	deleted := validCommit(p.After) && IsZeroCommit(p.After)
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
const maxRefChanges = 100

func parseBitbucket(h Header, body []byte) ([]Event, error) {
	base := Event{Provider: Bitbucket, Name: h.Get(hEventKey), DeliveryID: DeliveryID(Bitbucket, h)}
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
			e.Ref = branchPrefix + ref.Name
		case "tag", "annotated_tag":
			e.Ref = tagPrefix + ref.Name
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
			e.Commit = ZeroCommit
		}
		e, err := finish(e, deleted)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}
