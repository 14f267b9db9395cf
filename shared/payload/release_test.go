package payload

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/catalog"
)

func TestNewResolvedOrderAndLock(t *testing.T) {
	pushed := time.Date(2026, 11, 27, 10, 40, 0, 0, time.FixedZone("CET", 3600))
	target := catalog.Target{Service: "web", Environment: "production", Cluster: "c", ECSService: "s"}
	const arn = "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:abc"
	for _, tt := range []struct {
		name                       string
		req                        DeployRequest
		start                      string
		push, key, author, trigger string
		lease, wait, expires       string
		rollback                   bool
	}{
		{name: "webhook with a signed push time", start: "2026-11-27T10:41:02.5Z",
			req:  DeployRequest{Commit: "c", RequestedBy: "", Source: &Source{Pusher: "dana", PushedAt: &pushed}},
			push: "2026-11-27T09:40:00.000Z", key: "2026-11-27T09:40:00.000Z|2026-11-27T10:41:02.500Z|abc", author: "dana", trigger: "webhook",
			lease: "2026-11-27T14:41:02.500Z", wait: "2026-11-27T11:41:02.500Z", expires: "1796395262"},
		{name: "webhook without a signed time: ordered by arrival", start: "2026-11-27T10:41:02Z",
			req:  DeployRequest{RequestedBy: "ops-bot", Source: &Source{Pusher: "dana"}},
			push: "2026-11-27T10:41:02.000Z", key: "2026-11-27T10:41:02.000Z|2026-11-27T10:41:02.000Z|abc", author: "ops-bot", trigger: "webhook",
			lease: "2026-11-27T14:41:02.000Z", wait: "2026-11-27T11:41:02.000Z", expires: "1796395262"},
		{name: "console rollback request", start: "2026-11-27T10:41:02.123456789+01:00",
			req:  DeployRequest{RequestedBy: "alice", Reason: "r", AllowOlder: true},
			push: "2026-11-27T09:41:02.123Z", key: "2026-11-27T09:41:02.123Z|2026-11-27T09:41:02.123Z|abc", author: "alice", trigger: "console",
			lease: "2026-11-27T13:41:02.123Z", wait: "2026-11-27T10:41:02.123Z", expires: "1796391662", rollback: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewResolved(tt.req, target, arn, tt.start)
			if err != nil {
				t.Fatal(err)
			}
			if r.Order.Push != tt.push || r.Order.Key != tt.key || r.Order.High != tt.push || r.Order.Name != "abc" {
				t.Errorf("order %+v, want push %s key %s", r.Order, tt.push, tt.key)
			}
			if r.Lock.Key != "deploy#web#production" || r.Lock.LeaseUntil != tt.lease || r.Lock.WaitUntil != tt.wait || r.Lock.ExpiresAt != tt.expires {
				t.Errorf("lock %+v, want lease %s wait until %s expires %s", r.Lock, tt.lease, tt.wait, tt.expires)
			}
			if r.Record.Author != tt.author || r.Record.Trigger != tt.trigger || r.Record.RollbackRequest != tt.rollback ||
				r.Record.SortKey != "release#"+r.Order.Arrival+"#abc" || r.Record.Reason != tt.req.Reason {
				t.Errorf("record %+v", r.Record)
			}
			if r.Release.Cluster != "c" || r.Release.ECSService != "s" || r.Target.Service != "web" {
				t.Errorf("release slot %+v, target %+v", r.Release, r.Target)
			}
		})
	}
	for _, bad := range []struct{ arn, start string }{{arn, "soon"}, {"x", "2026-11-27T10:41:02Z"}, {"arn:aws:states:us-east-1:1:execution:d:", "2026-11-27T10:41:02Z"}} {
		if _, err := NewResolved(DeployRequest{}, target, bad.arn, bad.start); err == nil {
			t.Errorf("NewResolved(%q, %q) succeeded", bad.arn, bad.start)
		}
	}
}

// The order key sorts as the deploys' order: push time first, then arrival.
func TestOrderKeySorts(t *testing.T) {
	a := OrderKey("2026-11-27T09:00:00.000Z", "2026-11-27T10:00:00.000Z", "z")
	b := OrderKey("2026-11-27T09:00:01.000Z", "2026-11-27T09:00:02.000Z", "a")
	c := OrderKey("2026-11-27T09:00:01.000Z", "2026-11-27T09:00:03.000Z", "a")
	if !(a < b && b < c) {
		t.Errorf("%s, %s, %s not in order", a, b, c)
	}
}

func TestAllowOlderIsAConsoleRollbackRequest(t *testing.T) {
	const c = "9fceb02d0ae598e95dc970b74767f19372d61af8"
	for _, tt := range []struct {
		name, input, want string
	}{
		{"with a reason", `{"service":"web","environment":"production","commit":"` + c + `","allowOlder":true,"reason":"back to yesterday"}`, ""},
		{"without a reason", `{"service":"web","environment":"production","commit":"` + c + `","allowOlder":true}`, "allowOlder is a console rollback request"},
		{"blank reason", `{"service":"web","environment":"production","commit":"` + c + `","allowOlder":true,"reason":"  "}`, "needs a reason"},
		{"from a push", `{"service":"web","environment":"production","commit":"` + c + `","allowOlder":true,"reason":"x",
			"source":{"provider":"github","repository":"acme/web","ref":"refs/heads/main"}}`, "and no source"},
		{"not a boolean", `{"service":"web","environment":"production","commit":"` + c + `","allowOlder":"yes","reason":"x"}`, `field "allowOlder" must be a bool`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeDeployRequest([]byte(tt.input))
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("DecodeDeployRequest: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestVerifyInputValidate(t *testing.T) {
	const td = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
	ok := VerifyInput{Service: "web", Environment: "production", TaskDefinition: td, Phase: VerifyRollout}
	for _, tt := range []struct {
		name string
		edit func(*VerifyInput)
		want string
	}{
		{"rollout", func(*VerifyInput) {}, ""},
		{"rollout, a later round", func(v *VerifyInput) { v.StartedAt = "2026-11-27T10:00:00Z" }, ""},
		{"stable", func(v *VerifyInput) { v.Phase = VerifyStable }, ""},
		{"bake", func(v *VerifyInput) { v.Phase, v.Since = VerifyBake, "2026-11-27T10:00:00.5Z" }, ""},
		{"bake without since", func(v *VerifyInput) { v.Phase = VerifyBake }, "since is required in the bake phase"},
		{"unknown phase", func(v *VerifyInput) { v.Phase = "soak" }, `phase must be "rollout", "bake" or "stable"`},
		{"no phase", func(v *VerifyInput) { v.Phase = "" }, "phase must be"},
		{"not a task definition", func(v *VerifyInput) { v.TaskDefinition = "web:2" }, "taskDefinition must be a task definition ARN"},
		{"another ARN", func(v *VerifyInput) { v.TaskDefinition = "arn:aws:ecs:us-east-1:123456789012:service/web" }, "taskDefinition must be"},
		{"bad time", func(v *VerifyInput) { v.StartedAt = "yesterday" }, "startedAt must be an RFC 3339 time"},
		{"bad since", func(v *VerifyInput) { v.Since = "later" }, "since must be an RFC 3339 time"},
		{"no target", func(v *VerifyInput) { v.Service, v.Environment = "", "" }, "service is required; environment is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := ok
			tt.edit(&v)
			err := v.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "invalid verify request") {
				t.Errorf("error %q does not name the verify request", err)
			}
		})
	}
}

// The documented console inputs decode: events/deploy-input.json and the
// rollback request events/deploy-rollback-request.json.
func TestDocumentedDeployInputsDecode(t *testing.T) {
	for name, rollback := range map[string]bool{"deploy-input.json": false, "deploy-rollback-request.json": true} {
		raw, err := os.ReadFile("../../events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeDeployRequest(raw)
		if err != nil || r.AllowOlder != rollback || r.Reason == "" || r.Source != nil {
			t.Errorf("%s: %+v, %v", name, r, err)
		}
	}
}
