package catalog_test

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/catalog/catalogtest"
)

const db = `database: {instance: web-prod, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-prod-db-AbCdEf"}`

// Each mistake in migrations or verify is named by its path, and nothing of
// the catalog loads.
func TestReleaseParseErrors(t *testing.T) {
	at := "catalog: services[web].environments[production]."
	for _, tt := range []struct {
		name   string
		fields []string
		want   string
	}{
		{"no mode", []string{db, "migrations: {location: s3://acme-migrations/web/}"}, at + "migrations.mode: required (sql or task)"},
		{"unknown mode", []string{db, "migrations: {mode: flyway}"}, at + `migrations.mode: must be sql or task, not "flyway"`},
		{"sql without database", []string{"migrations: {mode: sql, location: s3://acme-migrations/web/}"}, at + "migrations: sql migrations require database"},
		{"sql without location", []string{db, "migrations: {mode: sql}"}, at + "migrations.location: required in sql mode"},
		{"location without final slash", []string{db, "migrations: {mode: sql, location: s3://acme-migrations/web}"}, at + "migrations.location: required in sql mode"},
		{"location without prefix", []string{db, "migrations: {mode: sql, location: s3://acme-migrations/}"}, at + "migrations.location"},
		{"location not S3", []string{db, "migrations: {mode: sql, location: https://acme-migrations/web/}"}, at + "migrations.location"},
		{"location with ..", []string{db, "migrations: {mode: sql, location: s3://acme-migrations/web/../x/}"}, at + "migrations.location"},
		{"location with .", []string{db, "migrations: {mode: sql, location: s3://acme-migrations/./web/}"}, at + "migrations.location"},
		{"bucket too short", []string{db, "migrations: {mode: sql, location: s3://ab/web/}"}, at + "migrations.location"},
		{"sql with a command", []string{db, "migrations: {mode: sql, location: s3://acme-migrations/web/, command: [x]}"}, at + "migrations.command: command and timeoutSeconds are for task mode only"},
		{"sql with a timeout", []string{db, "migrations: {mode: sql, location: s3://acme-migrations/web/, timeoutSeconds: 60}"}, at + "migrations.command: command and timeoutSeconds are for task mode only"},
		{"task without command", []string{"migrations: {mode: task}"}, at + "migrations.command: required in task mode: 1 to 64 arguments"},
		{"task with a location", []string{"migrations: {mode: task, command: [x], location: s3://acme-migrations/web/}"}, at + "migrations.location: is for sql mode only"},
		{"task with too many arguments", []string{"migrations: {mode: task, command: [" + strings.Repeat("a, ", 64) + "a]}"}, at + "migrations.command: required in task mode"},
		{"empty argument", []string{`migrations: {mode: task, command: [migrate, ""]}`}, at + "migrations.command[1]: must be 1 to 1024 characters"},
		{"control character", []string{`migrations: {mode: task, command: ["up\n"]}`}, at + "migrations.command[0]"},
		{"DEL", []string{`migrations: {mode: task, command: ["up\x7f"]}`}, at + "migrations.command[0]"},
		{"argument too long", []string{"migrations: {mode: task, command: [" + strings.Repeat("a", 1025) + "]}"}, at + "migrations.command[0]"},
		{"task timeout too short", []string{"migrations: {mode: task, command: [x], timeoutSeconds: 59}"}, at + "migrations.timeoutSeconds: must be between 60 and 7200"},
		{"task timeout too long", []string{"migrations: {mode: task, command: [x], timeoutSeconds: 7201}"}, at + "migrations.timeoutSeconds"},
		{"rollout timeout too short", []string{"verify: {timeoutSeconds: 59}"}, at + "verify.timeoutSeconds: must be between 60 and 3600"},
		{"rollout timeout too long", []string{"verify: {timeoutSeconds: 3601}"}, at + "verify.timeoutSeconds"},
		{"negative bake", []string{"verify: {bakeSeconds: -1}"}, at + "verify.bakeSeconds: must be between 0 and 7200"},
		{"bake too long", []string{"verify: {bakeSeconds: 7201, alarms: [a]}"}, at + "verify.bakeSeconds"},
		{"bake without alarms", []string{"verify: {bakeSeconds: 60}"}, at + "verify.alarms: required with bakeSeconds"},
		{"too many alarms", []string{"verify: {alarms: [" + alarms(21) + "]}"}, at + "verify.alarms: at most 20 alarms"},
		{"alarm name with a quote", []string{`verify: {alarms: ["web\"5xx"]}`}, at + "verify.alarms[0]: must be a CloudWatch alarm name"},
		{"empty alarm name", []string{`verify: {alarms: [""]}`}, at + "verify.alarms[0]"},
		{"duplicate alarm", []string{"verify: {alarms: [web-5xx, web-5xx]}"}, at + "verify.alarms[1]: duplicate alarm"},
		{"health without url", []string{"verify: {health: {passes: 2}}"}, at + "verify.health.url: required"},
		{"health url not http", []string{"verify: {health: {url: ftp://web/healthz}}"}, at + "verify.health.url"},
		{"health url with credentials", []string{"verify: {health: {url: https://u:p@web/healthz}}"}, at + "verify.health.url"},
		{"health url with a fragment", []string{"verify: {health: {url: https://web/healthz#x}}"}, at + "verify.health.url"},
		{"health url without host", []string{"verify: {health: {url: https:///healthz}}"}, at + "verify.health.url"},
		{"health url unparsable", []string{"verify: {health: {url: \"https://web/%zz\"}}"}, at + "verify.health.url"},
		{"status too low", []string{"verify: {health: {url: https://web/healthz, status: 99}}"}, at + "verify.health.status: must be an HTTP status (100-599)"},
		{"status too high", []string{"verify: {health: {url: https://web/healthz, status: 600}}"}, at + "verify.health.status"},
		{"interval too long", []string{"verify: {health: {url: https://web/healthz, intervalSeconds: 301}}"}, at + "verify.health.intervalSeconds: must be between 1 and 300"},
		{"negative interval", []string{"verify: {health: {url: https://web/healthz, intervalSeconds: -1}}"}, at + "verify.health.intervalSeconds"},
		{"attempts under passes", []string{"verify: {health: {url: https://web/healthz, passes: 3, attempts: 2}}"}, at + "verify.health.passes"},
		{"too many attempts", []string{"verify: {health: {url: https://web/healthz, attempts: 101}}"}, at + "verify.health.passes"},
		{"negative passes", []string{"verify: {health: {url: https://web/healthz, passes: -1, attempts: 3}}"}, at + "verify.health.passes"},
		{"unknown field", []string{"verify: {bake: 60}"}, `unknown field "bake"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := catalog.Parse([]byte(catalogtest.Web(catalogtest.Environment("production", tt.fields...))))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v, want %q", err, tt.want)
			}
		})
	}
}

// What a valid release section resolves to, defaults filled in; every
// target has a verify section, whose alarms are never null.
func TestReleaseDefaults(t *testing.T) {
	for _, tt := range []struct {
		name       string
		fields     []string
		migrations *catalog.Migrations
		verify     catalog.Verify
	}{
		{"nothing given", nil, nil, catalog.Verify{TimeoutSeconds: 1200, Alarms: []string{}}},
		{"sql", []string{db, "migrations: {mode: sql, location: s3://acme-migrations/web/}"},
			&catalog.Migrations{Mode: catalog.MigrationsSQL, Location: "s3://acme-migrations/web/"}, catalog.Verify{TimeoutSeconds: 1200, Alarms: []string{}}},
		{"task, default timeout", []string{"migrations: {mode: task, command: [./manage.py, migrate]}"},
			&catalog.Migrations{Mode: catalog.MigrationsTask, Command: []string{"./manage.py", "migrate"}, TimeoutSeconds: 1800}, catalog.Verify{TimeoutSeconds: 1200, Alarms: []string{}}},
		{"task, bounds", []string{"migrations: {mode: task, command: [m], timeoutSeconds: 60}"},
			&catalog.Migrations{Mode: catalog.MigrationsTask, Command: []string{"m"}, TimeoutSeconds: 60}, catalog.Verify{TimeoutSeconds: 1200, Alarms: []string{}}},
		{"task, upper bound", []string{"migrations: {mode: task, command: [m], timeoutSeconds: 7200}"},
			&catalog.Migrations{Mode: catalog.MigrationsTask, Command: []string{"m"}, TimeoutSeconds: 7200}, catalog.Verify{TimeoutSeconds: 1200, Alarms: []string{}}},
		{"task, the most arguments, the longest, spaces and tildes", []string{"migrations: {mode: task, command: [" + strings.Repeat("a, ", 62) + strings.Repeat("b", 1024) + ", \"up --to ~1\"]}"},
			&catalog.Migrations{Mode: catalog.MigrationsTask, Command: append(append(slices.Repeat([]string{"a"}, 62), strings.Repeat("b", 1024)), "up --to ~1"), TimeoutSeconds: 1800},
			catalog.Verify{TimeoutSeconds: 1200, Alarms: []string{}}},
		{"health status, the lowest", []string{"verify: {health: {url: https://web/, status: 100}}"}, nil,
			catalog.Verify{TimeoutSeconds: 1200, Alarms: []string{}, Health: &catalog.Health{URL: "https://web/", Status: 100, Passes: 3, Attempts: 9, IntervalSeconds: 10}}},
		{"health defaults", []string{"verify: {timeoutSeconds: 60, health: {url: https://web/healthz}}"}, nil,
			catalog.Verify{TimeoutSeconds: 60, Alarms: []string{}, Health: &catalog.Health{URL: "https://web/healthz", Status: 200, Passes: 3, Attempts: 9, IntervalSeconds: 10}}},
		{"bake, upper bound", []string{"verify: {timeoutSeconds: 60, bakeSeconds: 7200, alarms: [web-5xx]}"}, nil,
			catalog.Verify{TimeoutSeconds: 60, BakeSeconds: 7200, Alarms: []string{"web-5xx"}}},
		{"health given", []string{"verify: {timeoutSeconds: 900, bakeSeconds: 3600, alarms: [web-5xx], health: {url: http://10.0.0.1:8080/up, status: 204, passes: 1, attempts: 10, intervalSeconds: 300}}"}, nil,
			catalog.Verify{TimeoutSeconds: 900, BakeSeconds: 3600, Alarms: []string{"web-5xx"}, Health: &catalog.Health{URL: "http://10.0.0.1:8080/up", Status: 204, Passes: 1, Attempts: 10, IntervalSeconds: 300}}},
		{"twenty alarms, the most", []string{"verify: {alarms: [" + alarms(20) + "], health: {url: https://web/, status: 599, passes: 100, attempts: 100, intervalSeconds: 1}}"}, nil,
			catalog.Verify{TimeoutSeconds: 1200, Alarms: strings.Split(alarms(20), ", "),
				Health: &catalog.Health{URL: "https://web/", Status: 599, Passes: 100, Attempts: 100, IntervalSeconds: 1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := catalogtest.Parse(t, catalogtest.Environment("production", tt.fields...))
			got, err := c.Resolve("web", "production")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Migrations, tt.migrations) {
				t.Errorf("migrations %+v, want %+v", got.Migrations, tt.migrations)
			}
			if got.Verify == nil || !reflect.DeepEqual(*got.Verify, tt.verify) {
				t.Errorf("verify %+v (health %+v), want %+v", got.Verify, got.Verify.Health, tt.verify)
			}
		})
	}
}

// alarms lists n distinct alarm names: "a0, a1, …".
func alarms(n int) string {
	var names []string
	for i := range n {
		names = append(names, "a"+strconv.Itoa(i))
	}
	return strings.Join(names, ", ")
}

// A deploy must fit in the time the machine gives it: an environment whose
// worst case (every step as long as it may) exceeds MaxDeployRun is refused
// with the sum spelled out; right at the limit is fine.
func TestDeployTimeBudget(t *testing.T) {
	const at = "catalog: services[web].environments[production]: a deploy could run "
	for _, tt := range []struct {
		name   string
		fields []string
		want   string // error; "" valid
		run    time.Duration
	}{
		{"defaults", nil, "", 20*time.Minute + 20*time.Minute + 15*time.Minute},
		// 2h migration + 20m rollout + 20m rollback + 15m other = 2h55m.
		{"the longest migration task", []string{"migrations: {mode: task, command: [m], timeoutSeconds: 7200}"}, "", 2*time.Hour + 55*time.Minute},
		// 1h + 1h + 15m = 2h15m, + 45m of bake = 3h: at the limit.
		{"at the limit", []string{"verify: {timeoutSeconds: 3600, bakeSeconds: 2700, alarms: [a]}"}, "", 3 * time.Hour},
		{"one second over", []string{"verify: {timeoutSeconds: 3600, bakeSeconds: 2701, alarms: [a]}"},
			at + "3h0m1s (rollout 1h0m0s + bake 45m1s + rollback 1h0m0s + other steps 15m0s), longer than the 3h0m0s a deploy may run", 0},
		{"a long health check", []string{"verify: {timeoutSeconds: 3600, health: {url: https://web/, attempts: 100, intervalSeconds: 60}}"},
			at + "3h55m0s (rollout 1h0m0s + health check 1h40m0s + rollback 1h0m0s + other steps 15m0s)", 0},
		{"a task migration with a long bake", []string{"migrations: {mode: task, command: [m], timeoutSeconds: 7200}", "verify: {bakeSeconds: 3600, alarms: [a]}"},
			at + "3h55m0s (migration task 2h0m0s + rollout 20m0s + bake 1h0m0s + rollback 20m0s + other steps 15m0s)", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := catalog.Parse([]byte(catalogtest.Web(catalogtest.Environment("production", tt.fields...))))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Parse: %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Services[0].Environments {
				e := &c.Services[0].Environments[i]
				if got, parts := e.WorstCaseRun(c.Services[0].Build.Mode); got != tt.run {
					t.Errorf("worst case %s (%s), want %s", got, parts, tt.run)
				}
			}
		})
	}
	// The build and the pre-deploy snapshot count too.
	env := &catalog.Environment{Backup: &catalog.Backup{BeforeDeploy: true}, Migrations: &catalog.Migrations{Mode: catalog.MigrationsSQL},
		Verify: &catalog.Verify{TimeoutSeconds: 600, BakeSeconds: 300, Health: &catalog.Health{Attempts: 9, IntervalSeconds: 10}}}
	got, parts := env.WorstCaseRun(catalog.BuildCodeBuild)
	want := "build 1h0m0s + pre-deploy snapshot 30m0s + SQL migrations 15m0s + rollout 10m0s + health check 1m30s + bake 5m0s + rollback 10m0s + other steps 15m0s"
	if parts != want || got != 2*time.Hour+26*time.Minute+30*time.Second {
		t.Errorf("worst case %s: %s\nwant %s", got, parts, want)
	}
	if catalog.DeployLease != catalog.MaxLockWait+catalog.MaxDeployRun {
		t.Errorf("the lease %s is not the lock wait %s plus the run %s", catalog.DeployLease, catalog.MaxLockWait, catalog.MaxDeployRun)
	}
}
