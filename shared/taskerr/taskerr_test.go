package taskerr

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stepship/stepship/statemachines"
)

// The deploy state machine catches or retries these errors by their Go type
// names (aws-lambda-go reports a returned error by its type's name): a
// renamed type would silently fall through to States.ALL.
func TestDeployStateMachineNamesTheseTypes(t *testing.T) {
	tests := []struct {
		err   error
		state string
		retry bool
	}{
		{&InvalidDeployRequest{}, "Resolve", false},
		{&UnknownTarget{}, "Resolve", false},
		{&ECSCallFailed{}, "Register", true},
		{&DatabaseUnreachable{}, "Migrate", true},
		{&S3CallFailed{}, "Migrate", true},
		{&VerifyCallFailed{}, "Verify", true},
		{&VerifyCallFailed{}, "CheckBake", true},
		{&VerifyCallFailed{}, "VerifyRollback", true},
	}
	for _, tt := range tests {
		name := reflect.TypeOf(tt.err).Elem().Name()
		t.Run(name, func(t *testing.T) {
			if got := namedIn(t, statemachines.Deploy, tt.state, tt.retry); !slices.Contains(got, name) {
				t.Errorf("state %s (retry %v) names %v, not %s", tt.state, tt.retry, got, name)
			}
		})
	}
}

// The backup and dr-drill state machines catch or retry these errors by
// their Go type names.
func TestBackupAndDrillStateMachinesNameTheseTypes(t *testing.T) {
	tests := []struct {
		machine, state string
		retry          bool
		err            error
	}{
		{statemachines.Backup, "Plan", false, &InvalidBackupRequest{}},
		{statemachines.Backup, "Plan", false, &UnknownTarget{}},
		{statemachines.Backup, "Copy", true, &CopyQuotaExceeded{}},
		{statemachines.Backup, "Copy", true, &RDSCallFailed{}},
		{statemachines.Backup, "Prune", true, &RDSCallFailed{}},
		{statemachines.Backup, "Share", true, &KMSCallFailed{}},
		{statemachines.Backup, "Share", true, &RDSCallFailed{}},
		{statemachines.Backup, "AccountCopy", true, &CopyQuotaExceeded{}},
		{statemachines.Backup, "AccountCopy", true, &RDSCallFailed{}},
		{statemachines.Backup, "Unshare", true, &KMSCallFailed{}},
		{statemachines.Backup, "Unshare", true, &RDSCallFailed{}},
		{statemachines.DRDrill, "Plan", false, &InvalidDrillRequest{}},
		{statemachines.DRDrill, "Plan", false, &UnknownTarget{}},
		{statemachines.DRDrill, "Pick", false, &NoSnapshotToRestore{}},
		{statemachines.DRDrill, "Restore", true, &RDSCallFailed{}},
		{statemachines.DRDrill, "Verify", true, &DatabaseUnreachable{}},
		{statemachines.DRDrill, "Cleanup", true, &RDSCallFailed{}},
	}
	for _, tt := range tests {
		name := reflect.TypeOf(tt.err).Elem().Name()
		t.Run(tt.machine+"/"+tt.state+"/"+name, func(t *testing.T) {
			if got := namedIn(t, tt.machine, tt.state, tt.retry); !slices.Contains(got, name) {
				t.Errorf("%s state %s (retry %v) names %v, not %s", tt.machine, tt.state, tt.retry, got, name)
			}
		})
	}
}

// namedIn returns the error names a state of a machine retries (retry) or
// catches.
func namedIn(t *testing.T, machine, state string, retry bool) []string {
	t.Helper()
	def, err := statemachines.Definition(machine)
	if err != nil {
		t.Fatal(err)
	}
	var sm struct {
		States map[string]struct {
			Retry []struct{ ErrorEquals []string }
			Catch []struct{ ErrorEquals []string }
		}
	}
	if err := json.Unmarshal(def, &sm); err != nil {
		t.Fatal(err)
	}
	s, ok := sm.States[state]
	if !ok {
		t.Fatalf("%s has no state %s", machine, state)
	}
	var out []string
	if retry {
		for _, r := range s.Retry {
			out = append(out, r.ErrorEquals...)
		}
	} else {
		for _, c := range s.Catch {
			out = append(out, c.ErrorEquals...)
		}
	}
	return out
}

func TestMessagesSayWhatToFix(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&ServiceNotFound{Cluster: "demo", Service: "web"}, `ECS service "web" not found (or not ACTIVE) in cluster "demo": check the catalog`},
		{&ContainerNotFound{TaskDefinition: "web:1", Container: "app"}, `task definition web:1 has no container named "app": check the catalog`},
		{&RoleNotAllowed{TaskDefinition: "web:1", Role: "arn:aws:iam::123456789012:role/admin"}, "task definition web:1 uses role arn:aws:iam::123456789012:role/admin, which the catalog does not list in this environment's roles: add it there (and redeploy the stack) or change the task definition"},
		{&InvalidDeployRequest{Reason: "r"}, "r"},
		{&UnknownTarget{Reason: "r"}, "r"},
		{&ECSCallFailed{Reason: "r"}, "r"},
		{&MigrationFailed{File: "00002_email.sql", Line: 4, Statement: "ALTER TABLE users …", Cause: `column "email" of relation "users" already exists (SQLSTATE 42701)`, Version: 1},
			`migration 00002_email.sql failed at line 4 ("ALTER TABLE users …"): column "email" of relation "users" already exists (SQLSTATE 42701); the database is still at version 1 (00002_email.sql was rolled back); fix it in a new commit`},
		{&MigrationFailed{File: "00003_index.sql", Line: 3, Statement: "CREATE INDEX CONCURRENTLY i ON t (c);", Cause: "canceling statement due to lock timeout (SQLSTATE 55P03)", Version: 2, Partial: true},
			`migration 00003_index.sql failed at line 3 ("CREATE INDEX CONCURRENTLY i ON t (c);"): canceling statement due to lock timeout (SQLSTATE 55P03); the database is still at version 2, but 00003_index.sql runs without a transaction (-- +goose NO TRANSACTION) and the statements before the failing one stayed applied: repair by hand before redeploying`},
		{&MigrationFailed{Cause: "found 1 missing migrations before current version 5", Version: 5}, "migrations failed: found 1 missing migrations before current version 5; the database is still at version 5"},
		{&MigrationsNotFound{Location: "s3://b/web/abc/", Reason: "the bucket does not exist"}, "no migrations at s3://b/web/abc/: the bucket does not exist; the database was not touched (check that the build copies migrations/*.sql there, see docs/migrations.md)"},
		{&MigrationsTooLarge{Location: "s3://b/web/abc/", Limit: 16 << 20}, "the migrations at s3://b/web/abc/ are larger than 16777216 bytes in total; the database was not touched (ship only migrations/*.sql, or run big data changes as a task)"},
		{&InvalidMigrateRequest{Reason: "r"}, "r"},
		{&S3CallFailed{Reason: "r"}, "r"},
		{&DatabaseUnreachable{Reason: "r"}, "r"},
		{&InvalidVerifyRequest{Reason: "r"}, "r"},
		{&VerifyCallFailed{Reason: "r"}, "r"},
		{&DeploymentFailed{Service: "web", TaskDefinition: "web:2", Reason: "ECS deployment circuit breaker: tasks failed to start.", FailedTasks: 3,
			StoppedReasons: []string{"Essential container in task exited (web: exit code 1)", "CannotPullContainerError"}},
			"the ECS deployment of web:2 to service web failed (3 failed tasks): ECS deployment circuit breaker: tasks failed to start.; stopped tasks: Essential container in task exited (web: exit code 1); CannotPullContainerError"},
		{&DeploymentFailed{Service: "web", TaskDefinition: "web:2", Reason: "r"}, "the ECS deployment of web:2 to service web failed (0 failed tasks): r"},
		{&RolledBackByECS{Service: "web", TaskDefinition: "web:2", RunningTaskDefinition: "web:1", Reason: "r", StoppedReasons: []string{"s"}},
			"ECS rolled the deployment of web:2 back: service web runs web:1 again: r; stopped tasks: s"},
		{&RolloutTimedOut{Service: "web", TaskDefinition: "web:2", StartedAt: "2026-11-30T08:00:00Z", TimeoutSeconds: 1200, LastSeen: "web:2 IN_PROGRESS"},
			"the ECS deployment of web:2 to service web did not complete within 1200 seconds of 2026-11-30T08:00:00Z (last seen: web:2 IN_PROGRESS)"},
		{&HealthCheckFailed{URL: "https://web/health", Passes: 1, Wanted: 3, Attempts: 9, Answers: []string{"503", "200", "503"}},
			"health check of https://web/health failed: 1 of 3 consecutive passes after 9 attempts (last answers: 503, 200, 503)"},
		{&HealthCheckFailed{URL: "https://web/health", Wanted: 3, Attempts: 1, Answers: []string{"503"}, Reason: "out of time"},
			"health check of https://web/health failed: 0 of 3 consecutive passes after 1 attempts (last answers: 503); out of time"},
		{&AlarmInAlarm{Alarms: []Alarm{{Name: "web-5xx", Reason: "Threshold Crossed"}, {Name: "web-p99", Reason: "r"}}},
			`alarms in ALARM after the rollout: "web-5xx" (Threshold Crossed); "web-p99" (r)`},
		{&AlarmNotFound{Alarms: []string{"web-5xx", "web-p99"}}, `no CloudWatch alarm named "web-5xx", "web-p99": check verify.alarms in the catalog`},
		{&AlarmDuringBake{Alarm: "web-5xx", When: time.Date(2026, 11, 30, 9, 0, 0, 0, time.FixedZone("CET", 3600)), Reason: "Threshold Crossed"},
			`alarm "web-5xx" went into ALARM during the bake at 2026-11-30T08:00:00Z: Threshold Crossed`},
	}
	for _, tt := range tests {
		t.Run(reflect.TypeOf(tt.err).Elem().Name(), func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
