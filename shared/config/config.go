// Package config names the environment variables stepship's functions read,
// once: the functions read them through this package, the CDK app sets them
// by these names, and the local stack sets them the same way. It also says
// where the service catalog is (CatalogPath); it imports no other stepship
// package, so that linking it (shared/awsenv does) costs no catalog.
package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// Environment variables of stepship's functions (see docs/configuration.md).
const (
	// EnvCatalog is the catalog file's path (default
	// $LAMBDA_TASK_ROOT/catalog.yaml: every function package carries it).
	EnvCatalog = "STEPSHIP_CATALOG"
	// EnvLogLevel is debug, info, warn or error (default info).
	EnvLogLevel = "STEPSHIP_LOG_LEVEL"
	// EnvWebhookSecretARN names the Secrets Manager secret holding the
	// webhook keyring (webhook function; required).
	EnvWebhookSecretARN = "STEPSHIP_WEBHOOK_SECRET_ARN"
	// EnvDeployStateMachineARN is the deploy state machine's ARN (webhook
	// function; required).
	EnvDeployStateMachineARN = "STEPSHIP_DEPLOY_STATE_MACHINE_ARN"
	// EnvMaxBodyBytes is the largest webhook body accepted, in bytes
	// (default 4 MiB).
	EnvMaxBodyBytes = "STEPSHIP_MAX_BODY_BYTES"
	// EnvReplayWindow is how old a push's signed time may be before the
	// webhook refuses it, as a Go duration (default 1h).
	EnvReplayWindow = "STEPSHIP_REPLAY_WINDOW"
	// EnvSecretOverlap is how long after a rotation the previous webhook
	// secret is still accepted, as a Go duration (default 24h).
	EnvSecretOverlap = "STEPSHIP_SECRET_OVERLAP"
	// EnvDatabaseSSLMode is the TLS mode of the migrate function's database
	// connections: disable, require, verify-ca or verify-full (default
	// require; local runs against a PostgreSQL without TLS set disable).
	EnvDatabaseSSLMode = "STEPSHIP_DB_SSLMODE"
	// EnvDrillSecurityGroup is the security group (sg-…) a drill restores
	// into when the catalog's drill names none: the drill security group of
	// stepship's DR stack, which admits only the dr-verify function (restore
	// function; set by the DR stack).
	EnvDrillSecurityGroup = "STEPSHIP_DRILL_SECURITY_GROUP"
	// EnvLedgerTable and EnvLedgerRegion name the deploy pipeline's lock and
	// ledger table and the home region it is in: the restore function, in a
	// DR region, reads the deploys' migration versions there and writes each
	// drill's report (restore function; required; set by the DR stack).
	EnvLedgerTable  = "STEPSHIP_LEDGER_TABLE"
	EnvLedgerRegion = "STEPSHIP_LEDGER_REGION"
	// EnvMigrationLockTimeout is how long the migrate function waits for
	// another migration of the same database to release its advisory lock,
	// as a Go duration (default 5m).
	EnvMigrationLockTimeout = "STEPSHIP_MIGRATION_LOCK_TIMEOUT"
	// EnvVerifyPollInterval is how often the verify function describes the
	// ECS service while a deployment rolls out, as a Go duration (default
	// 15s).
	EnvVerifyPollInterval = "STEPSHIP_VERIFY_POLL_INTERVAL"
	// EnvFunctionRoleARN is the ARN of the function's own IAM role (snapshot
	// function, when the catalog names a backup account: the retiring
	// principal of the KMS grants it makes, so that it may retire them; set
	// by the home stack).
	EnvFunctionRoleARN = "STEPSHIP_FUNCTION_ROLE_ARN"
	// EnvBackupAccount is the id of the backup account the snapshot function
	// runs in (set by the backup-account stack): it then only applies the
	// catalog's backupAccount retention to stepship's copies there.
	EnvBackupAccount = "STEPSHIP_BACKUP_ACCOUNT"
)

// lambdaTaskRoot is where Lambda unpacks a function's package.
const lambdaTaskRoot = "LAMBDA_TASK_ROOT"

// CatalogFileName is the catalog's name inside every function package.
const CatalogFileName = "catalog.yaml"

// Getenv is os.Getenv, or a map's lookup in tests.
type Getenv func(string) string

// CatalogPath returns where the catalog is: EnvCatalog, else
// $LAMBDA_TASK_ROOT/catalog.yaml, else ./catalog.yaml.
func CatalogPath(getenv Getenv) string {
	if p := getenv(EnvCatalog); p != "" {
		return p
	}
	root := getenv(lambdaTaskRoot)
	if root == "" {
		root = "."
	}
	return filepath.Join(root, CatalogFileName)
}

// Required returns the variable's value, or an error naming it.
func Required(getenv Getenv, name string) (string, error) {
	v := getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is required", name)
	}
	return v, nil
}

// PositiveInt returns the variable as a positive integer, def when unset.
func PositiveInt(getenv Getenv, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s must be a positive whole number, not %q", name, v)
	}
	return n, nil
}

// Duration returns the variable as a positive Go duration ("90m", "24h"),
// def when unset.
func Duration(getenv Getenv, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s must be a positive duration such as 1h or 90m, not %q", name, v)
	}
	return d, nil
}
