package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

// fakeAWS answers the two AWS JSON operations the function calls the way the
// services do, so the real SDK clients (and their error types) are exercised
// on loopback.
func fakeAWS(t *testing.T, started map[string]bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		fail := func(code, msg string) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amzn-ErrorType", code)
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch target := r.Header.Get("X-Amz-Target"); target {
		case "secretsmanager.GetSecretValue":
			if in["VersionStage"] != "AWSCURRENT" {
				fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: "+in["VersionStage"])
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in["SecretId"], "Name": "stepship/webhook", "SecretString": string(secret), "VersionStages": []string{"AWSCURRENT"}})
		case "AWSStepFunctions.StartExecution":
			name := in["name"]
			if started[name] {
				fail("ExecutionAlreadyExists", "Execution Already Exists: 'arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:"+name+"'")
				return
			}
			started[name] = true
			_ = json.NewEncoder(w).Encode(map[string]any{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:" + name, "startDate": 1795780810})
		default:
			t.Errorf("unexpected operation %q", target)
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWithRealSDKClients(t *testing.T) {
	started := map[string]bool{}
	srv := fakeAWS(t, started)
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret-key", ""),
		BaseEndpoint: aws.String(srv.URL),
	}
	cat, err := catalog.Load("../../catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := NewSecretCache(secretsmanager.NewFromConfig(cfg), secretARN, DefaultSecretTTL)
	h, err := NewHandler(cat, secrets, sfn.NewFromConfig(cfg), stateMachineARN, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	body := fixture(t, "github-push.json")
	req := post(webhooktest.GitHubHeaders("push", delivery, secret, body), body)
	want := `{"executions":[{"service":"web","environment":"production","executionArn":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:` +
		ExecutionName("github", delivery, "web", "production") + `"}]}`
	for _, attempt := range []string{"first delivery", "redelivery (ExecutionAlreadyExists)"} {
		resp, _ := h.Handle(context.Background(), req)
		if resp.StatusCode != 202 || strings.TrimSpace(resp.Body) != want {
			t.Errorf("%s: %d %s, want 202 %s", attempt, resp.StatusCode, resp.Body, want)
		}
	}
	if len(started) != 1 {
		t.Errorf("%d executions started, want 1", len(started))
	}
}

func TestSetup(t *testing.T) {
	t.Setenv(EnvSecretARN, secretARN)
	t.Setenv(EnvStateMachineARN, stateMachineARN)
	t.Setenv(EnvCatalog, "../../catalog.yaml")
	t.Setenv("AWS_REGION", "us-east-1")
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if _, err := setup(context.Background(), log); err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Setenv(EnvCatalog, "does-not-exist.yaml")
	if _, err := setup(context.Background(), log); err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Errorf("setup with a missing catalog: %v", err)
	}
}
