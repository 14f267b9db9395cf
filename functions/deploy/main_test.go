package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// catalogAt is an environment with the catalog at path and the AWS
// variables Lambda sets.
func catalogAt(path string) config.Getenv {
	return func(k string) string {
		return map[string]string{config.EnvCatalog: path, "AWS_REGION": "us-east-1",
			"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-key"}[k]
	}
}

// run hands the deployer's handler to lambda.Start, or says why the function
// cannot start, in the log and on stderr, and exits 1 without starting.
func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		env        config.Getenv
		wantCode   int
		wantStderr string // prefix
	}{
		{name: "starts", env: catalogAt("../../catalog.yaml")},
		{name: "no catalog", env: catalogAt("does-not-exist.yaml"), wantCode: 1, wantStderr: "deploy: catalog: failed to read does-not-exist.yaml"},
		{name: "no AWS region", env: func(k string) string {
			if k == "AWS_REGION" {
				return ""
			}
			return catalogAt("../../catalog.yaml")(k)
		}, wantCode: 1, wantStderr: "deploy: failed to build the AWS configuration: AWS_REGION is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			var handlers []any
			code := function.Run("deploy", tt.env, &stdout, &stderr, func(h any) { handlers = append(handlers, h) }, setup)
			if code != tt.wantCode || !strings.HasPrefix(stderr.String(), tt.wantStderr) || (tt.wantStderr == "") != (stderr.Len() == 0) {
				t.Fatalf("run = %d, stderr %q; want %d, %q…", code, stderr.String(), tt.wantCode, tt.wantStderr)
			}
			if tt.wantCode != 0 {
				var line map[string]any
				if len(handlers) != 0 {
					t.Error("a function that cannot start was started")
				}
				if err := json.Unmarshal([]byte(stdout.String()), &line); err != nil || line["level"] != "ERROR" || line["msg"] != "deploy function failed to start" {
					t.Errorf("log = %q (%v), want one error line", stdout.String(), err)
				}
				return
			}
			if len(handlers) != 1 {
				t.Fatalf("started %d times, want once", len(handlers))
			}
			h, ok := handlers[0].(func(context.Context, payload.Invocation[payload.DeployInput]) (payload.DeployResult, error))
			if !ok {
				t.Fatalf("handler is a %T, want the deployer's Handle", handlers[0])
			}
			var invalid *taskerr.InvalidDeployRequest
			if _, err := h(context.Background(), payload.Invocation[payload.DeployInput]{}); !errors.As(err, &invalid) {
				t.Errorf("empty input: %v, want *taskerr.InvalidDeployRequest", err)
			}
		})
	}
}
