// Command migrate is the stepship function that applies a service's SQL
// migrations before its code changes: the deploy state machine calls it
// with the service, environment and commit, the Secrets Manager secret of
// the database's credentials and the S3 folder where the build for the
// commit wrote migrations/*.sql. It applies the ones the database lacks
// with goose, each in a transaction, under a PostgreSQL advisory lock; see
// docs/migrations.md.
//
// Named errors (shared/taskerr): InvalidMigrateRequest, MigrationsNotFound,
// MigrationsTooLarge, S3CallFailed, DatabaseUnreachable, MigrationFailed.
//
// Environment (names in shared/config): STEPSHIP_DB_SSLMODE (default
// require), STEPSHIP_MIGRATION_LOCK_TIMEOUT (default 5m), STEPSHIP_CATALOG,
// STEPSHIP_LOG_LEVEL, and the AWS SDK's standard variables (AWS_REGION,
// AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 / _SECRETS_MANAGER for local runs).
package main

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/lib/pq"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/dbcred"
	"github.com/stepship/stepship/shared/function"
)

func main() { function.Start("migrate", setup) }

// setup builds the migrator once, so that warm invocations reuse its
// clients and credentials cache.
func setup(env function.Env) (any, error) {
	m, err := migratorFrom(env)
	if err != nil {
		return nil, err
	}
	return m.Handle, nil
}

// migratorFrom reads the function's settings and builds the S3 and Secrets
// Manager clients and the credentials cache. The clients come from explicit
// options (shared/awsenv): with config.LoadDefaultConfig the binary would be
// 11.2 MiB, over the 10 MiB budget.
func migratorFrom(env function.Env) (*Migrator, error) {
	sslMode, err := sslModeFrom(env.Getenv)
	if err != nil {
		return nil, err
	}
	lockTimeout, err := config.Duration(env.Getenv, config.EnvMigrationLockTimeout, DefaultLockTimeout)
	if err != nil {
		return nil, err
	}
	sm := secretsmanager.NewFromConfig(env.AWS, func(o *secretsmanager.Options) {
		o.BaseEndpoint = awsenv.Endpoint(env.Getenv, env.AWS, secretsmanager.ServiceID)
	})
	objects := s3.NewFromConfig(env.AWS, func(o *s3.Options) {
		o.BaseEndpoint = awsenv.Endpoint(env.Getenv, env.AWS, s3.ServiceID)
		// An emulator's endpoint (a local address) has no bucket subdomains.
		o.UsePathStyle = o.BaseEndpoint != nil
	})
	return NewMigrator(objects, dbcred.NewCache(sm), env.Log, WithSSLMode(sslMode), WithLockTimeout(lockTimeout))
}

// sslModeFrom reads STEPSHIP_DB_SSLMODE.
func sslModeFrom(getenv config.Getenv) (pq.SSLMode, error) {
	switch v := pq.SSLMode(getenv(config.EnvDatabaseSSLMode)); v {
	case "":
		return DefaultSSLMode, nil
	case pq.SSLModeDisable, pq.SSLModeRequire, pq.SSLModeVerifyCA, pq.SSLModeVerifyFull:
		return v, nil
	default:
		return "", fmt.Errorf("%s must be disable, require, verify-ca or verify-full, not %q", config.EnvDatabaseSSLMode, string(v))
	}
}
