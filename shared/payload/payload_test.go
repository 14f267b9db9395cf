package payload

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/git"
)

const commit = "9fceb02d0ae598e95dc970b74767f19372d61af8"

// The console inputs documented in events/ must decode strictly and validate: they
// are what an engineer pastes into StartExecution.
func TestDocumentedDeployInputsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../events/deploy-input*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events/deploy-input*.json found (err %v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := DecodeDeployRequest(raw)
			if err != nil {
				t.Fatal(err)
			}
			if r.Service == "" || r.Environment == "" || !git.ValidCommit(r.Commit) {
				t.Errorf("decoded %+v", r)
			}
		})
	}
}

func TestDecodeDeployRequest(t *testing.T) {
	pushedAt := time.Date(2026, 11, 27, 10, 40, 0, 0, time.UTC)
	tests := []struct {
		name string
		raw  string
		want DeployRequest
		// wantProblems are the exact problems; nil: valid.
		wantProblems []string
	}{
		{name: "minimal", raw: `{"service":"web","environment":"production","commit":"` + commit + `"}`,
			want: DeployRequest{Service: "web", Environment: "production", Commit: commit}},
		{name: "webhook source", raw: `{"service":"web","environment":"production","commit":"` + commit + `",
			"source":{"provider":"github","repository":"acme/web","ref":"refs/tags/v1.4.0","pusher":"dana-ops","pushedAt":"2026-11-27T10:40:00Z"}}`,
			want: DeployRequest{Service: "web", Environment: "production", Commit: commit,
				Source: &Source{Provider: git.GitHub, Repository: "acme/web", Ref: "refs/tags/v1.4.0", Pusher: "dana-ops", PushedAt: &pushedAt}}},
		{name: "sha-256 commit", raw: `{"service":"web","environment":"production","commit":"` + strings.Repeat("ab", 32) + `"}`,
			want: DeployRequest{Service: "web", Environment: "production", Commit: strings.Repeat("ab", 32)}},
		{name: "unknown field", raw: `{"service":"web","environment":"production","commit":"` + commit + `","branch":"main"}`,
			wantProblems: []string{`unknown field "branch"`}},
		{name: "unknown field in source", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":{"provider":"github","repository":"acme/web","ref":"refs/heads/main","deliveryId":"d"}}`,
			wantProblems: []string{`unknown field "source.deliveryId"`}},
		{name: "every target field at once, sorted", raw: `{"service":"web","image":"x","cluster":"c"}`,
			wantProblems: []string{
				`field "cluster" is not allowed: the catalog names every target`,
				`field "image" is not allowed: the catalog names every target`}},
		{name: "service is a number", raw: `{"service":1,"environment":"production","commit":"` + commit + `"}`,
			wantProblems: []string{`field "service" must be a string`}},
		{name: "commit is a number", raw: `{"service":"web","environment":"production","commit":9}`,
			wantProblems: []string{`field "commit" must be a string`}},
		{name: "source is a string", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":"github"}`,
			wantProblems: []string{"source is not a JSON object"}},
		{name: "pushedAt not a time", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":{"provider":"github","repository":"acme/web","ref":"refs/heads/main","pushedAt":"yesterday"}}`,
			wantProblems: []string{"the input is not valid JSON"}},
		{name: "array", raw: `[]`, wantProblems: []string{"the input is not a JSON object"}},
		{name: "string", raw: `"web"`, wantProblems: []string{"the input is not a JSON object"}},
		{name: "not JSON", raw: `service=web`, wantProblems: []string{"the input is not a JSON object"}},
		{name: "trailing object", raw: `{"service":"web","environment":"production","commit":"` + commit + `"}{}`,
			wantProblems: []string{"the input is not a JSON object"}},
		{name: "null", raw: `null`, wantProblems: []string{"the input is not a JSON object"}},
		// encoding/json alone folds case (and ſ, K) and keeps the last of a
		// repeated key: the state machine would then read another value than
		// the one checked.
		{name: "a key in another case", raw: `{"Service":"web","environment":"production","commit":"` + commit + `"}`,
			wantProblems: []string{`unknown field "Service"`}},
		{name: "a key with a Unicode fold", raw: `{"service":"api","ſervice":"web","environment":"production","commit":"` + commit + `"}`,
			wantProblems: []string{`unknown field "ſervice"`}},
		{name: "a repeated key", raw: `{"service":"web","environment":"production","environment":"staging","commit":"` + commit + `"}`,
			wantProblems: []string{`field "environment" appears more than once`}},
		{name: "a null value", raw: `{"service":"web","environment":"production","commit":null,"Commit":"` + commit + `"}`,
			wantProblems: []string{`unknown field "Commit"`, `field "commit" must not be null`}},
		{name: "a target field in another case", raw: `{"service":"web","environment":"production","commit":"` + commit + `","Cluster":"prod"}`,
			wantProblems: []string{`field "Cluster" is not allowed: the catalog names every target`}},
		{name: "a repeated key in source", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":{"provider":"github","provider":"gitlab","repository":"acme/web","ref":"refs/heads/main"}}`,
			wantProblems: []string{`field "source.provider" appears more than once`}},
		{name: "every missing field is named", raw: `{}`, wantProblems: []string{"service is required", "environment is required", "commit is required"}},
		{name: "bad names", raw: `{"service":"Web","environment":"prod_1","commit":"` + commit + `"}`,
			wantProblems: []string{"service must be a catalog service name ([a-z0-9-], 1-40 characters)", "environment must be a catalog environment name ([a-z0-9-], 1-40 characters)"}},
		{name: "short commit", raw: `{"service":"web","environment":"production","commit":"9fceb02"}`,
			wantProblems: []string{"commit must be a full commit id (40 lower-case hex digits)"}},
		{name: "upper-case commit", raw: `{"service":"web","environment":"production","commit":"` + strings.ToUpper(commit) + `"}`,
			wantProblems: []string{"commit must be a full commit id (40 lower-case hex digits)"}},
		{name: "zero commit", raw: `{"service":"web","environment":"production","commit":"` + git.ZeroCommit + `"}`,
			wantProblems: []string{"commit must be a full commit id (40 lower-case hex digits)"}},
		{name: "branch name as commit", raw: `{"service":"web","environment":"production","commit":"main"}`,
			wantProblems: []string{"commit must be a full commit id (40 lower-case hex digits)"}},
		{name: "long reason", raw: `{"service":"web","environment":"production","commit":"` + commit + `","reason":"` + strings.Repeat("x", 513) + `"}`,
			wantProblems: []string{"reason is longer than 512 bytes"}},
		{name: "reason and requestedBy of 512 bytes", raw: `{"service":"web","environment":"production","commit":"` + commit + `","reason":"` + strings.Repeat("x", 512) + `","requestedBy":"` + strings.Repeat("y", 512) + `"}`,
			want: DeployRequest{Service: "web", Environment: "production", Commit: commit, Reason: strings.Repeat("x", 512), RequestedBy: strings.Repeat("y", 512)}},
		{name: "requestedBy of 513 bytes", raw: `{"service":"web","environment":"production","commit":"` + commit + `","requestedBy":"` + strings.Repeat("y", 513) + `"}`,
			wantProblems: []string{"requestedBy is longer than 512 bytes"}},
		{name: "source fields of 512 bytes", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":{"provider":"gitlab","repository":"` + strings.Repeat("r", 512) + `","ref":"refs/heads/main","pusher":"` + strings.Repeat("p", 512) + `"}}`,
			want: DeployRequest{Service: "web", Environment: "production", Commit: commit,
				Source: &Source{Provider: git.GitLab, Repository: strings.Repeat("r", 512), Ref: "refs/heads/main", Pusher: strings.Repeat("p", 512)}}},
		{name: "source repository of 513 bytes", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":{"provider":"gitlab","repository":"` + strings.Repeat("r", 513) + `","ref":"refs/heads/main"}}`,
			wantProblems: []string{"source.repository is required and source fields are at most 512 bytes"}},
		{name: "source pusher of 513 bytes", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":{"provider":"gitlab","repository":"acme/web","ref":"refs/heads/main","pusher":"` + strings.Repeat("p", 513) + `"}}`,
			wantProblems: []string{"source.repository is required and source fields are at most 512 bytes"}},
		{name: "bad source", raw: `{"service":"web","environment":"production","commit":"` + commit + `","source":{"provider":"gitea","ref":"main"}}`,
			wantProblems: []string{"source.provider must be github, gitlab or bitbucket", "source.ref must be refs/heads/NAME or refs/tags/NAME",
				"source.repository is required and source fields are at most 512 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeDeployRequest([]byte(tt.raw))
			if tt.wantProblems == nil {
				if err != nil {
					t.Fatalf("DecodeDeployRequest: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			var ie *InvalidRequestError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want *InvalidRequestError", err, err)
			}
			if !reflect.DeepEqual(ie.Problems, tt.wantProblems) {
				t.Errorf("problems = %q, want %q", ie.Problems, tt.wantProblems)
			}
			if !strings.HasSuffix(err.Error(), "(see events/deploy-input.json; targets come from the catalog)") {
				t.Errorf("error %q does not point at the documented input", err)
			}
		})
	}
}

// Every target field is refused by name, even with an otherwise valid input,
// and the value given is never echoed. The list is written out here, not
// read from TargetFields, so that dropping one from it fails this test.
func TestDecodeRefusesEveryTargetField(t *testing.T) {
	for _, field := range []string{"cluster", "ecsService", "container", "image", "build", "target", "imageDigest", "taskDefinition", "role", "database"} {
		t.Run(field, func(t *testing.T) {
			raw := `{"service":"web","environment":"production","commit":"` + commit + `","` + field + `":"VALUE-GIVEN"}`
			_, err := DecodeDeployRequest([]byte(raw))
			var ie *InvalidRequestError
			if !errors.As(err, &ie) || len(ie.Problems) != 1 || !strings.Contains(ie.Problems[0], `field "`+field+`" is not allowed`) {
				t.Fatalf("error = %v, want %q named as not allowed", err, field)
			}
			if strings.Contains(err.Error(), "VALUE-GIVEN") {
				t.Errorf("error echoes the value: %v", err)
			}
		})
	}
}

func TestDeployInputValidate(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0a", 32)
	tests := []struct {
		name string
		in   DeployInput
		want string // empty: valid
	}{
		{"valid", DeployInput{Service: "web", Environment: "production", Commit: commit, ImageDigest: digest}, ""},
		{"missing digest", DeployInput{Service: "web", Environment: "production", Commit: commit}, "imageDigest must be sha256: and 64 hex digits"},
		{"tag instead of digest", DeployInput{Service: "web", Environment: "production", Commit: commit, ImageDigest: commit}, "imageDigest must be"},
		{"upper-case digest", DeployInput{Service: "web", Environment: "production", Commit: commit, ImageDigest: strings.ToUpper(digest)}, "imageDigest must be"},
		{"digest with a suffix", DeployInput{Service: "web", Environment: "production", Commit: commit, ImageDigest: digest + "\n"}, "imageDigest must be"},
		{"every problem is named", DeployInput{}, "service is required; environment is required; commit is required; imageDigest must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// The deploy function's input as the state machine builds it.
func TestDeployInputJSON(t *testing.T) {
	raw := `{"service":"web","environment":"production","commit":"` + commit + `","imageDigest":"sha256:` + strings.Repeat("0a", 32) + `"}`
	var in Invocation[DeployInput]
	if err := json.Unmarshal([]byte(`{"executionId":"arn:x","input":`+raw+`}`), &in); err != nil {
		t.Fatal(err)
	}
	if in.ExecutionID != "arn:x" || in.Input.Validate() != nil {
		t.Errorf("decoded %+v: %v", in, in.Input.Validate())
	}
	back, _ := json.Marshal(in.Input)
	if string(back) != raw {
		t.Errorf("re-encoded %s, want %s", back, raw)
	}
}

// FuzzDecodeDeployRequest: whatever the input, the decoder either refuses it
// with an *InvalidRequestError or returns a request that validates and names
// no target.
func FuzzDecodeDeployRequest(f *testing.F) {
	raw, err := os.ReadFile("../../events/deploy-input.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"service":"web","environment":"production","commit":"` + commit + `","cluster":"x"}`))
	f.Add([]byte(`{"Service":"web","environment":"production","commit":"` + commit + `"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeDeployRequest(data)
		if err != nil {
			var ie *InvalidRequestError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error %v is not an *InvalidRequestError with problems", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted an invalid request: %v", err)
		}
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(data, &fields)
		for k := range fields {
			for _, tf := range TargetFields {
				if strings.EqualFold(k, tf) {
					t.Fatalf("accepted target field %q", k)
				}
			}
		}
	})
}
