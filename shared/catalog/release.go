package catalog

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// MigrationsMode says how a release's database migrations run.
type MigrationsMode string

// Migration modes.
const (
	// MigrationsSQL applies the SQL files the build for the commit wrote
	// under Migrations.Location with the migrate function (goose), against
	// the environment's database.
	MigrationsSQL MigrationsMode = "sql"
	// MigrationsTask runs the release's own image as a one-off ECS task with
	// Migrations.Command, for frameworks that migrate themselves.
	MigrationsTask MigrationsMode = "task"
)

// Migrations says how the database migrations of a release run, before the
// service is pointed at it. A failing migration stops the deploy before any
// code change.
type Migrations struct {
	// Mode is sql or task.
	Mode MigrationsMode `yaml:"mode" json:"mode"`
	// Location is s3://BUCKET/PREFIX/ (sql mode, required there): the build
	// for a commit copies its migrations/*.sql to Location + COMMIT + "/".
	Location string `yaml:"location,omitempty" json:"location,omitempty"`
	// Command is the migration task's command, overriding the container's
	// (task mode, required there), e.g. ["./manage.py", "migrate"].
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// TimeoutSeconds bounds a migration task (task mode; default
	// DefaultMigrationTaskTimeoutSeconds).
	TimeoutSeconds int `yaml:"timeoutSeconds,omitempty" json:"timeoutSeconds,omitempty"`
}

// Verify says how a release is proven healthy before it is recorded as
// SUCCEEDED; any failure rolls it back.
type Verify struct {
	// TimeoutSeconds bounds the wait for the ECS deployment's rolloutState
	// COMPLETED (default DefaultRolloutTimeoutSeconds).
	TimeoutSeconds int `yaml:"timeoutSeconds,omitempty" json:"timeoutSeconds"`
	// Health is an HTTP check the new release must pass (optional).
	Health *Health `yaml:"health,omitempty" json:"health,omitempty"`
	// BakeSeconds is how long after the rollout (and the health check) the
	// Alarms must stay OK (0: no bake).
	BakeSeconds int `yaml:"bakeSeconds,omitempty" json:"bakeSeconds"`
	// Alarms are CloudWatch alarm names that must be OK after the rollout
	// and stay OK through the bake.
	Alarms []string `yaml:"alarms,omitempty" json:"alarms"`
}

// Health is an HTTP health check: Passes consecutive GETs of URL answered
// with Status, at most Attempts tries, IntervalSeconds apart.
type Health struct {
	URL             string `yaml:"url" json:"url"`
	Status          int    `yaml:"status,omitempty" json:"status"`
	Passes          int    `yaml:"passes,omitempty" json:"passes"`
	Attempts        int    `yaml:"attempts,omitempty" json:"attempts"`
	IntervalSeconds int    `yaml:"intervalSeconds,omitempty" json:"intervalSeconds"`
}

// Defaults and bounds of the release fields.
const (
	DefaultMigrationTaskTimeoutSeconds = 1800
	MaxMigrationTaskTimeoutSeconds     = 2 * 3600
	DefaultRolloutTimeoutSeconds       = 1200
	MinRolloutTimeoutSeconds           = 60
	MaxRolloutTimeoutSeconds           = 3600
	MaxBakeSeconds                     = 2 * 3600
	MaxAlarms                          = 20
	DefaultHealthStatus                = 200
	DefaultHealthPasses                = 3
	DefaultHealthIntervalSeconds       = 10
	MaxHealthIntervalSeconds           = 300
	MaxHealthAttempts                  = 100
	maxCommandArgs                     = 64
	maxCommandArgLen                   = 1024
)

var (
	// migrationsLocationRE: a bucket of at most 63 characters
	// (validMigrationsLocation; see nameRE in catalog.go for why apart).
	migrationsLocationRE = regexp.MustCompile(`^s3://[a-z0-9][a-z0-9.-]+[a-z0-9]/([A-Za-z0-9!_.*'()-]+/)+$`)
	// CloudWatch alarm names: printable ASCII without quotes or
	// backslashes here, since they travel in JSON and ARNs; at most 255
	// characters (validAlarmName).
	alarmNameRE = regexp.MustCompile(`^[A-Za-z0-9 _.:/#+=@-]+$`)
)

// validMigrationsLocation: s3://BUCKET/PREFIX/, the bucket 3-63 characters.
func validMigrationsLocation(s string) bool {
	bucket, _, _ := strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
	return len(bucket) <= 63 && migrationsLocationRE.MatchString(s)
}

// validAlarmName: 1-255 characters of alarmNameRE.
func validAlarmName(s string) bool { return len(s) <= 255 && alarmNameRE.MatchString(s) }

// validateRelease checks the environment's migrations and verify, and fills
// their defaults.
func (e *Environment) validateRelease(at string) error {
	if m := e.Migrations; m != nil {
		if err := m.validate(at+".migrations", e.Database != nil); err != nil {
			return err
		}
	}
	if v := e.Verify; v != nil {
		if err := v.validate(at + ".verify"); err != nil {
			return err
		}
	} else {
		e.Verify = &Verify{}
		_ = e.Verify.validate(at + ".verify")
	}
	return nil
}

func (m *Migrations) validate(at string, hasDatabase bool) error {
	if m.Mode == "" {
		return &Error{Path: at + ".mode", Problem: "required (sql or task)"}
	}
	if m.Mode == MigrationsSQL {
		if !hasDatabase {
			return &Error{Path: at, Problem: "sql migrations require database (whose secret the migrate function connects with)"}
		}
		if !validMigrationsLocation(m.Location) || strings.Contains(m.Location, "/./") || strings.Contains(m.Location, "/../") {
			return &Error{Path: at + ".location", Problem: "required in sql mode: s3://BUCKET/PREFIX/ with a final '/' (the build writes PREFIX/COMMIT/*.sql)"}
		}
		if len(m.Command) > 0 || m.TimeoutSeconds != 0 {
			return &Error{Path: at + ".command", Problem: "command and timeoutSeconds are for task mode only"}
		}
		return nil
	}
	if m.Mode != MigrationsTask {
		return &Error{Path: at + ".mode", Problem: fmt.Sprintf("must be sql or task, not %q", m.Mode)}
	}
	if m.Location != "" {
		return &Error{Path: at + ".location", Problem: "is for sql mode only"}
	}
	if len(m.Command) == 0 || len(m.Command) > maxCommandArgs {
		return &Error{Path: at + ".command", Problem: fmt.Sprintf("required in task mode: 1 to %d arguments", maxCommandArgs)}
	}
	for i, a := range m.Command {
		if a == "" || len(a) > maxCommandArgLen || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return &Error{Path: fmt.Sprintf("%s.command[%d]", at, i), Problem: fmt.Sprintf("must be 1 to %d characters without control characters", maxCommandArgLen)}
		}
	}
	if m.TimeoutSeconds == 0 {
		m.TimeoutSeconds = DefaultMigrationTaskTimeoutSeconds
	}
	if m.TimeoutSeconds < 60 || m.TimeoutSeconds > MaxMigrationTaskTimeoutSeconds {
		return &Error{Path: at + ".timeoutSeconds", Problem: fmt.Sprintf("must be between 60 and %d", MaxMigrationTaskTimeoutSeconds)}
	}
	return nil
}

func (v *Verify) validate(at string) error {
	if v.TimeoutSeconds == 0 {
		v.TimeoutSeconds = DefaultRolloutTimeoutSeconds
	}
	if v.TimeoutSeconds < MinRolloutTimeoutSeconds || v.TimeoutSeconds > MaxRolloutTimeoutSeconds {
		return &Error{Path: at + ".timeoutSeconds", Problem: fmt.Sprintf("must be between %d and %d", MinRolloutTimeoutSeconds, MaxRolloutTimeoutSeconds)}
	}
	if v.BakeSeconds < 0 || v.BakeSeconds > MaxBakeSeconds {
		return &Error{Path: at + ".bakeSeconds", Problem: fmt.Sprintf("must be between 0 and %d", MaxBakeSeconds)}
	}
	if len(v.Alarms) > MaxAlarms {
		return &Error{Path: at + ".alarms", Problem: fmt.Sprintf("at most %d alarms", MaxAlarms)}
	}
	seen := map[string]bool{}
	for i, a := range v.Alarms {
		if !validAlarmName(a) {
			return &Error{Path: fmt.Sprintf("%s.alarms[%d]", at, i), Problem: "must be a CloudWatch alarm name (1-255 letters, digits, spaces and _.:/#+=@-)"}
		}
		if seen[a] {
			return &Error{Path: fmt.Sprintf("%s.alarms[%d]", at, i), Problem: "duplicate alarm"}
		}
		seen[a] = true
	}
	if v.BakeSeconds > 0 && len(v.Alarms) == 0 {
		return &Error{Path: at + ".alarms", Problem: "required with bakeSeconds: the bake watches these alarms"}
	}
	if v.Alarms == nil {
		v.Alarms = []string{}
	}
	if h := v.Health; h != nil {
		return h.validate(at + ".health")
	}
	return nil
}

func (h *Health) validate(at string) error {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return &Error{Path: at + ".url", Problem: "required: an http or https URL without credentials or fragment"}
	}
	if h.Status == 0 {
		h.Status = DefaultHealthStatus
	}
	if h.Status < 100 || h.Status > 599 {
		return &Error{Path: at + ".status", Problem: "must be an HTTP status (100-599)"}
	}
	if h.Passes == 0 {
		h.Passes = DefaultHealthPasses
	}
	if h.IntervalSeconds == 0 {
		h.IntervalSeconds = DefaultHealthIntervalSeconds
	}
	if h.IntervalSeconds < 1 || h.IntervalSeconds > MaxHealthIntervalSeconds {
		return &Error{Path: at + ".intervalSeconds", Problem: fmt.Sprintf("must be between 1 and %d", MaxHealthIntervalSeconds)}
	}
	if h.Attempts == 0 {
		h.Attempts = 3 * h.Passes
	}
	if h.Passes < 1 || h.Attempts > MaxHealthAttempts || h.Attempts < h.Passes {
		return &Error{Path: at + ".passes", Problem: fmt.Sprintf("passes must be at least 1 and at most attempts, attempts at most %d", MaxHealthAttempts)}
	}
	return nil
}
