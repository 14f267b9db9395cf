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
// records each request's region (as signed) and secret.
type fakeSecretsManager struct {
	mu    sync.Mutex
	reads []string
}

var signedRegion = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([a-z0-9-]+)/secretsmanager/`)

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var in struct{ SecretId string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	region := "unsigned"
	if m := signedRegion.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	f.reads = append(f.reads, r.Header.Get("X-Amz-Target")+" in "+region+": "+in.SecretId)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "db", "SecretString": `{"username":"drill","password":"pw","dbname":"app"}`})
}

// The function starts with the Secrets Manager client of its (the DR)
// region, at the endpoint the environment names, and reads the database's
// secret from its replica there; without a catalog it does not start.
func TestRun(t *testing.T) {
	sm := &fakeSecretsManager{}
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	h := functiontest.Started(t, "dr-verify", functiontest.Env("../../catalog.yaml", "AWS_REGION", "us-west-2", "AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL), setup)
	handle, ok := h.(func(context.Context, payload.Invocation[Task]) (Report, error))
	if !ok {
		t.Fatalf("handler is a %T, want the verifier's Handle", h)
	}
	// Nothing listens on port 1: the secret is read, the connection fails.
	_, err := handle(context.Background(), payload.Invocation[Task]{Input: Task{Service: "web", Environment: "production",
		Restored: backup.Restored{Instance: "drill-x"}, Endpoint: Endpoint{Address: "127.0.0.1", Port: 1}}})
	if _, ok := err.(*taskerr.DatabaseUnreachable); !ok || !strings.Contains(err.Error(), "failed to connect to the restored database drill-x at 127.0.0.1:1") {
		t.Errorf("%T %v, want DatabaseUnreachable after reading the secret", err, err)
	}
	want := []string{"secretsmanager.GetSecretValue in us-west-2: arn:aws:secretsmanager:us-west-2:123456789012:secret:stepship/web-prod-db-AbCdEf"}
	if !slices.Equal(sm.reads, want) {
		t.Errorf("reads %q, want %q", sm.reads, want)
	}

	functiontest.Refused(t, "dr-verify", functiontest.Env("does-not-exist.yaml"), setup, "catalog: failed to read does-not-exist.yaml")
}
