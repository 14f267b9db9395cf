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

// run hands the resolver's handler to lambda.Start, or says why the function
// cannot start, in the log and on stderr, and exits 1 without starting.
func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		catalog    string
		wantCode   int
		wantStderr string // prefix
	}{
		{name: "starts", catalog: "../../catalog.yaml"},
		{name: "no catalog", catalog: "does-not-exist.yaml", wantCode: 1, wantStderr: "resolve: catalog: failed to read does-not-exist.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) string {
				return map[string]string{config.EnvCatalog: tt.catalog, "AWS_REGION": "us-east-1",
					"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-key"}[k]
			}
			var stdout, stderr strings.Builder
			var handlers []any
			code := function.Run("resolve", env, &stdout, &stderr, func(h any) { handlers = append(handlers, h) }, setup)
			if code != tt.wantCode || !strings.HasPrefix(stderr.String(), tt.wantStderr) || (tt.wantStderr == "") != (stderr.Len() == 0) {
				t.Fatalf("run = %d, stderr %q; want %d, %q…", code, stderr.String(), tt.wantCode, tt.wantStderr)
			}
			if tt.wantCode != 0 {
				var line map[string]any
				if len(handlers) != 0 {
					t.Error("a function that cannot start was started")
				}
				if err := json.Unmarshal([]byte(stdout.String()), &line); err != nil || line["level"] != "ERROR" || line["msg"] != "resolve function failed to start" {
					t.Errorf("log = %q (%v), want one error line", stdout.String(), err)
				}
				return
			}
			if len(handlers) != 1 {
				t.Fatalf("started %d times, want once", len(handlers))
			}
			h, ok := handlers[0].(func(context.Context, payload.ResolveInvocation) (payload.Resolved, error))
			if !ok {
				t.Fatalf("handler is a %T, want the resolver's Handle", handlers[0])
			}
			var invalid *taskerr.InvalidDeployRequest
			if _, err := h(context.Background(), payload.ResolveInvocation{Input: json.RawMessage(`{}`)}); !errors.As(err, &invalid) {
				t.Errorf("empty input: %v, want *taskerr.InvalidDeployRequest", err)
			}
		})
	}
}
