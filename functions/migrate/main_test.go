package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/lib/pq"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// functionEnv is what function.Load makes of env and Lambda's AWS variables.
func functionEnv(t *testing.T, env map[string]string) function.Env {
	t.Helper()
	env["AWS_REGION"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "us-east-1", "AKIDEXAMPLE", "secret-key"
	getenv := func(k string) string { return env[k] }
	cfg, err := awsenv.Config(getenv)
	if err != nil {
		t.Fatal(err)
	}
	return function.Env{AWS: cfg, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Getenv: getenv}
}

// setup builds the migrator's handler from the environment, or says which
// setting is wrong.
func TestSetup(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantErr     string
		sslMode     pq.SSLMode
		lockTimeout time.Duration
	}{
		{name: "defaults", env: map[string]string{}, sslMode: pq.SSLModeRequire, lockTimeout: 5 * time.Minute},
		{name: "verify-full, 2m", env: map[string]string{config.EnvDatabaseSSLMode: "verify-full", config.EnvMigrationLockTimeout: "2m"}, sslMode: pq.SSLModeVerifyFull, lockTimeout: 2 * time.Minute},
		{name: "unknown TLS mode", env: map[string]string{config.EnvDatabaseSSLMode: "prefer"}, wantErr: "STEPSHIP_DB_SSLMODE must be disable, require, verify-ca or verify-full"},
		{name: "lock timeout without a unit", env: map[string]string{config.EnvMigrationLockTimeout: "5"}, wantErr: "STEPSHIP_MIGRATION_LOCK_TIMEOUT must be a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := functionEnv(t, tt.env)
			h, err := setup(env)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || h != nil {
					t.Fatalf("setup = %v, %v; want %q…", h, err, tt.wantErr)
				}
				return
			}
			handle, ok := h.(func(context.Context, payload.Invocation[payload.MigrateInput]) (payload.MigrateResult, error))
			if err != nil || !ok {
				t.Fatalf("setup = %T, %v; want the migrator's Handle", h, err)
			}
			_, err = handle(context.Background(), payload.Invocation[payload.MigrateInput]{})
			assertErrorType(t, err, new(*taskerr.InvalidMigrateRequest))
			if m, err := migratorFrom(env); err != nil || m.sslMode != tt.sslMode || m.lockTimeout != tt.lockTimeout || m.maxBytes != DefaultMaxBytes {
				t.Errorf("migrator %+v, %v; want TLS %s, lock timeout %s", m, err, tt.sslMode, tt.lockTimeout)
			}
		})
	}
}

// An emulator's endpoint gets path-style S3 requests (it has no bucket
// subdomains); AWS's own, virtual-hosted ones.
func TestSetupS3Addressing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		endpoint  string // "" for AWS's own
		pathStyle bool
	}{
		{"AWS", map[string]string{}, "", false},
		{"an emulator for every service", map[string]string{"AWS_ENDPOINT_URL": "http://emulator.test:5000"}, "http://emulator.test:5000", true},
		{"an emulator for S3", map[string]string{"AWS_ENDPOINT_URL_S3": "http://s3.emulator.test:4566"}, "http://s3.emulator.test:4566", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := migratorFrom(functionEnv(t, tc.env))
			if err != nil {
				t.Fatal(err)
			}
			o := m.s3.(*s3.Client).Options()
			if aws.ToString(o.BaseEndpoint) != tc.endpoint || o.UsePathStyle != tc.pathStyle {
				t.Errorf("S3 endpoint %q, path style %v; want %q, %v", aws.ToString(o.BaseEndpoint), o.UsePathStyle, tc.endpoint, tc.pathStyle)
			}
		})
	}
}
