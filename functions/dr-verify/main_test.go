package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/function/functiontest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// fakeSecretsManager answers GetSecretValue with a database secret, and
// records the region each request was signed for.
type fakeSecretsManager struct {
	mu      sync.Mutex
	regions []string
}

var signedRegion = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([a-z0-9-]+)/secretsmanager/`)

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var in struct{ SecretId string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	if m := signedRegion.FindStringSubmatch(r.Header.Get("Authorization")); m != nil && r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue" {
		f.regions = append(f.regions, m[1])
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "db", "SecretString": `{"username":"drill","password":"pw","dbname":"app"}`})
}

// The function starts with a Secrets Manager client for the region of each
// drilled database's secret, passing over environments without drills or
// without a database, and reads each secret in its own region. Without a
// catalog it does not start.
func TestRun(t *testing.T) {
	sm := &fakeSecretsManager{}
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	env := functiontest.Env("testdata/catalog.yaml", map[string]string{"AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL})
	h := functiontest.Start(t, "dr-verify", env, setup)
	handle, ok := h.(func(context.Context, payload.Invocation[Task]) (Report, error))
	if !ok {
		t.Fatalf("handler is a %T, want the verifier's Handle", h)
	}
	// Nothing listens on port 1: the secret is read, the connection fails.
	for _, environment := range []string{"production", "europe"} {
		_, err := handle(context.Background(), payload.Invocation[Task]{Input: Task{Service: "web", Environment: environment,
			Restored: backup.Restored{Instance: "drill-x"}, Endpoint: Endpoint{Address: "127.0.0.1", Port: 1}}})
		if _, ok := err.(*taskerr.DatabaseUnreachable); !ok || !strings.Contains(err.Error(), "failed to connect to the restored database drill-x at 127.0.0.1:1") {
			t.Errorf("%s: %T %v, want DatabaseUnreachable after reading the secret", environment, err, err)
		}
	}
	if !slices.Equal(sm.regions, []string{"us-east-1", "eu-west-1"}) {
		t.Errorf("secrets read in %v, want us-east-1 then eu-west-1", sm.regions)
	}

	reason := functiontest.Refused(t, "dr-verify", functiontest.Env("does-not-exist.yaml", nil), setup)
	if !strings.HasPrefix(reason, "catalog: failed to read does-not-exist.yaml") {
		t.Errorf("reason %q", reason)
	}
}
