package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
	"github.com/stepship/stepship/test/golden"
)

const commit = "9fceb02d0ae598e95dc970b74767f19372d61af8"

const testCatalog = `
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: codebuild, project: web-build}
    environments:
      - {name: production, branches: [main], cluster: stepship-demo, service: web, container: web, roles: ["arn:aws:iam::123456789012:role/web-*"]}
  - name: worker
    repository: {provider: gitlab, name: acme/platform/worker}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/worker
    build: {mode: prebuilt}
    environments:
      - {name: staging, tags: ["v*"], cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/staging", service: worker, container: app}
`

func newResolver(t *testing.T) *Resolver {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(cat, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolverHandle(t *testing.T) {
	r := newResolver(t)
	tests := []struct {
		name        string
		input       string
		wantTarget  string // service/environment/cluster
		wantErrType string // the Go type name, which is the Step Functions error
		wantErrText string
	}{
		{name: "console input", input: `{"service":"web","environment":"production","commit":"` + commit + `","reason":"redeploy","requestedBy":"alice"}`,
			wantTarget: "web/production/stepship-demo"},
		{name: "webhook input", input: `{"service":"web","environment":"production","commit":"` + commit + `",
			"source":{"provider":"github","repository":"acme/web","ref":"refs/heads/main","pusher":"dana-ops","pushedAt":"2026-11-27T10:40:00Z"}}`,
			wantTarget: "web/production/stepship-demo"},
		{name: "repository name in another case", input: `{"service":"worker","environment":"staging","commit":"` + commit + `",
			"source":{"provider":"gitlab","repository":"Acme/Platform/Worker","ref":"refs/tags/v2.0.0"}}`,
			wantTarget: "worker/staging/arn:aws:ecs:us-east-1:123456789012:cluster/staging"},
		{name: "target field", input: `{"service":"web","environment":"production","commit":"` + commit + `","cluster":"prod-admin"}`,
			wantErrType: "InvalidDeployRequest", wantErrText: `field "cluster" is not allowed`},
		{name: "image field", input: `{"service":"web","environment":"production","commit":"` + commit + `","image":"evil.example/web:x"}`,
			wantErrType: "InvalidDeployRequest", wantErrText: `field "image" is not allowed`},
		{name: "unknown field", input: `{"service":"web","environment":"production","commit":"` + commit + `","force":true}`,
			wantErrType: "InvalidDeployRequest", wantErrText: `unknown field "force"`},
		{name: "wrong type", input: `{"service":"web","environment":"production","commit":42}`,
			wantErrType: "InvalidDeployRequest", wantErrText: `field "commit" must be a string`},
		{name: "short commit", input: `{"service":"web","environment":"production","commit":"9fceb02"}`,
			wantErrType: "InvalidDeployRequest", wantErrText: "commit must be a full commit id"},
		{name: "missing fields", input: `{}`,
			wantErrType: "InvalidDeployRequest", wantErrText: "service is required; environment is required; commit is required"},
		{name: "not an object", input: `"web"`,
			wantErrType: "InvalidDeployRequest", wantErrText: "the input is not a JSON object"},
		{name: "unknown service", input: `{"service":"api","environment":"production","commit":"` + commit + `"}`,
			wantErrType: "UnknownTarget", wantErrText: `service "api" is not in the catalog; nothing was changed`},
		{name: "unknown environment", input: `{"service":"web","environment":"staging","commit":"` + commit + `"}`,
			wantErrType: "UnknownTarget", wantErrText: `service "web" has no environment "staging" in the catalog; nothing was changed`},
		{name: "source from another repository", input: `{"service":"web","environment":"production","commit":"` + commit + `",
			"source":{"provider":"github","repository":"acme/api","ref":"refs/heads/main"}}`,
			wantErrType: "InvalidDeployRequest", wantErrText: "source github acme/api is not the repository of service web (github acme/web); nothing was changed"},
		{name: "source from another host", input: `{"service":"web","environment":"production","commit":"` + commit + `",
			"source":{"provider":"gitlab","repository":"acme/web","ref":"refs/heads/main"}}`,
			wantErrType: "InvalidDeployRequest", wantErrText: "source gitlab acme/web is not the repository of service web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := payloadInvocation(tt.input)
			got, err := r.Handle(context.Background(), in)
			if tt.wantErrType == "" {
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if got.Request.Service != got.Target.Service || got.Request.Environment != got.Target.Environment {
					t.Errorf("request %+v resolved to another target %+v", got.Request, got.Target)
				}
				if s := got.Target.Service + "/" + got.Target.Environment + "/" + got.Target.Cluster; s != tt.wantTarget {
					t.Errorf("target %s, want %s", s, tt.wantTarget)
				}
				return
			}
			if err == nil {
				t.Fatalf("Handle = %+v, want %s", got, tt.wantErrType)
			}
			// aws-lambda-go reports the returned error's type name as the
			// Step Functions error: it must be the taskerr type itself,
			// unwrapped (shared/taskerr tests that the Resolve state
			// catches these names).
			name := reflect.TypeOf(err).Elem().Name()
			if name != tt.wantErrType || reflect.TypeOf(err).Elem().PkgPath() != reflect.TypeFor[taskerr.UnknownTarget]().PkgPath() {
				t.Fatalf("error type %T, want *taskerr.%s", err, tt.wantErrType)
			}
			if !strings.Contains(err.Error(), tt.wantErrText) {
				t.Errorf("error %q does not contain %q", err, tt.wantErrText)
			}
			if !reflect.DeepEqual(got, payload.Resolved{}) {
				t.Errorf("a refusal returned a target: %+v", got)
			}
		})
	}
}

// The target is the catalog's, whole: what the state machine's later states
// read from $.target.
func TestResolverReturnsTheCatalogTarget(t *testing.T) {
	r := newResolver(t)
	got, err := r.Handle(context.Background(), payloadInvocation(`{"service":"web","environment":"production","commit":"`+commit+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.catalog.Resolve("web", "production")
	if !reflect.DeepEqual(got.Target, want) || got.Target.Image.Repository != "web" || got.Target.Build.Project != "web-build" || len(got.Target.Roles) != 1 {
		t.Errorf("target = %+v, want %+v", got.Target, want)
	}
	if got.Request.Commit != commit || got.Request.Service != "web" {
		t.Errorf("request = %+v", got.Request)
	}
}

func TestNewResolverChecksItsArguments(t *testing.T) {
	if _, err := NewResolver(nil, slog.New(slog.NewJSONHandler(io.Discard, nil))); err == nil {
		t.Error("NewResolver accepted a nil catalog")
	}
	if _, err := NewResolver(&catalog.Catalog{}, nil); err == nil {
		t.Error("NewResolver accepted a nil logger")
	}
}

// FuzzResolverHandle: whatever the input, the resolver returns a catalog
// target or one of the errors the state machine catches; never a panic, never
// another error type.
func FuzzResolverHandle(f *testing.F) {
	f.Add([]byte(`{"service":"web","environment":"production","commit":"` + commit + `"}`))
	f.Add([]byte(`{"service":"web","environment":"production","commit":"` + commit + `","cluster":"x"}`))
	f.Add([]byte(`{"service":"worker","environment":"staging","commit":"` + commit + `","source":{"provider":"gitlab","repository":"acme/platform/worker","ref":"refs/tags/v1"}}`))
	f.Add([]byte(`null`))
	cat, _ := catalog.Parse([]byte(testCatalog))
	r, _ := NewResolver(cat, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, input []byte) {
		got, err := r.Handle(context.Background(), payloadInvocation(string(input)))
		switch err.(type) {
		case nil:
			if got.Request.Service != got.Target.Service || got.Request.Environment != got.Target.Environment {
				t.Fatalf("request %+v resolved to another target %+v", got.Request, got.Target)
			}
			if _, rerr := cat.Resolve(got.Target.Service, got.Target.Environment); rerr != nil {
				t.Fatalf("returned a target the catalog does not have: %+v", got)
			}
		case *taskerr.InvalidDeployRequest, *taskerr.UnknownTarget:
		default:
			t.Fatalf("error %T is not one the state machine catches: %v", err, err)
		}
	})
}

func payloadInvocation(input string) payload.ResolveInvocation {
	return payload.ResolveInvocation{ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:x",
		StartTime: "2026-11-27T10:41:02.5Z", Input: json.RawMessage(input)}
}

// The state a deploy starts with: the lock of its target, its order (the
// signed push time first, else its arrival), the ledger's fixed fields and
// an empty slot for every result the ledger reads. Golden files, since the
// state machine's paths read every field (testdata/*.golden.json; -update
// rewrites them).
func TestResolverStartsTheDeployState(t *testing.T) {
	r := newResolver(t)
	for _, tt := range []struct{ name, input string }{
		{"webhook", `{"service":"web","environment":"production","commit":"` + commit + `",
			"source":{"provider":"github","repository":"acme/web","ref":"refs/heads/main","pusher":"dana-ops","pushedAt":"2026-11-27T10:40:00Z"}}`},
		{"webhook-unsigned-time", `{"service":"worker","environment":"staging","commit":"` + commit + `",
			"source":{"provider":"gitlab","repository":"acme/platform/worker","ref":"refs/tags/v2.0.0","pusher":"erin"}}`},
		{"console-rollback", `{"service":"web","environment":"production","commit":"` + commit + `","allowOlder":true,
			"reason":"back to the release before the incident","requestedBy":"alice"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Handle(context.Background(), payloadInvocation(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.MarshalIndent(got, "", "  ")
			golden.Check(t, filepath.Join("testdata", tt.name+".golden.json"), append(b, '\n'), *update)
		})
	}
	// An older push sorts before a newer one whatever their arrival.
	older, _ := r.Handle(context.Background(), payloadInvocation(`{"service":"web","environment":"production","commit":"`+commit+`",
		"source":{"provider":"github","repository":"acme/web","ref":"refs/heads/main","pushedAt":"2026-11-27T10:39:59Z"}}`))
	newer := payloadInvocation(`{"service":"web","environment":"production","commit":"` + commit + `",
		"source":{"provider":"github","repository":"acme/web","ref":"refs/heads/main","pushedAt":"2026-11-27T10:40:00Z"}}`)
	newer.StartTime = "2026-11-27T10:30:00Z"
	n, _ := r.Handle(context.Background(), newer)
	if !(older.Order.Key < n.Order.Key) {
		t.Errorf("order %q is not before %q", older.Order.Key, n.Order.Key)
	}
}

// A state machine that passes no execution ARN or start time is a bug the
// resolver reports, not a deploy it starts.
func TestResolverNeedsTheExecution(t *testing.T) {
	r := newResolver(t)
	in := `{"service":"web","environment":"production","commit":"` + commit + `"}`
	for _, inv := range []payload.ResolveInvocation{
		{ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:d:x", StartTime: "yesterday", Input: json.RawMessage(in)},
		{ExecutionID: "x", StartTime: "2026-11-27T10:41:02Z", Input: json.RawMessage(in)},
		{ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:d:", StartTime: "2026-11-27T10:41:02Z", Input: json.RawMessage(in)},
	} {
		if got, err := r.Handle(context.Background(), inv); err == nil {
			t.Errorf("%+v: resolved %+v", inv, got)
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files")
