package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// setup builds the migrator's handler from the environment, or says which
// setting is wrong.
func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "defaults", env: map[string]string{}},
		{name: "verify-full, 2m", env: map[string]string{config.EnvDatabaseSSLMode: "verify-full", config.EnvMigrationLockTimeout: "2m"}},
		{name: "unknown TLS mode", env: map[string]string{config.EnvDatabaseSSLMode: "prefer"}, wantErr: "STEPSHIP_DB_SSLMODE must be disable, require, verify-ca or verify-full"},
		{name: "lock timeout without a unit", env: map[string]string{config.EnvMigrationLockTimeout: "5"}, wantErr: "STEPSHIP_MIGRATION_LOCK_TIMEOUT must be a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["AWS_REGION"], tt.env["AWS_ACCESS_KEY_ID"], tt.env["AWS_SECRET_ACCESS_KEY"] = "us-east-1", "AKIDEXAMPLE", "secret-key"
			getenv := func(k string) string { return tt.env[k] }
			cfg, err := awsenv.Config(getenv)
			if err != nil {
				t.Fatal(err)
			}
			h, err := setup(function.Env{AWS: cfg, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Getenv: getenv})
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("setup = %v, want %q…", err, tt.wantErr)
				}
				return
			}
			handle, ok := h.(func(context.Context, payload.Invocation[payload.MigrateInput]) (payload.MigrateResult, error))
			if err != nil || !ok {
				t.Fatalf("setup = %T, %v; want the migrator's Handle", h, err)
			}
			_, err = handle(context.Background(), payload.Invocation[payload.MigrateInput]{})
			assertErrorType(t, err, new(*taskerr.InvalidMigrateRequest))
		})
	}
}
