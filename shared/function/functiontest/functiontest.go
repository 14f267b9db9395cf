// Package functiontest runs a stepship function's setup through
// function.Run, as its main would through function.Start, for the
// function's main_test: Started returns the handler it would serve, Refused
// checks that it would not start and how it says why. Like catalogtest,
// it keeps test scaffolding out of the functions.
package functiontest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
)

// Setup is a function's setup, as function.Start takes it.
type Setup = func(function.Env) (handler any, err error)

// Env is what Lambda sets (a region and credentials) with the catalog at
// catalogPath, and the more variables, name then value; a value "" unsets a
// variable.
func Env(catalogPath string, more ...string) config.Getenv {
	env := map[string]string{config.EnvCatalog: catalogPath, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-key"}
	for i := 0; i+1 < len(more); i += 2 {
		env[more[i]] = more[i+1]
	}
	return func(k string) string { return env[k] }
}

// run is what function.Run did: its exit code, output and the handlers it
// started.
type run struct {
	code           int
	stdout, stderr string
	handlers       []any
}

func runFunction(name string, env config.Getenv, setup Setup) run {
	var stdout, stderr strings.Builder
	var r run
	r.code = function.Run(name, env, &stdout, &stderr, func(h any) { r.handlers = append(r.handlers, h) }, setup)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// Started runs the function with env and returns the handler it starts,
// failing t unless it starts exactly once, exits 0 and says nothing on
// stderr.
func Started(t testing.TB, name string, env config.Getenv, setup Setup) any {
	t.Helper()
	r := runFunction(name, env, setup)
	if r.code != 0 || r.stderr != "" || len(r.handlers) != 1 {
		t.Fatalf("%s: run = %d, started %d times, stderr %q; want 0, once, nothing", name, r.code, len(r.handlers), r.stderr)
	}
	return r.handlers[0]
}

// Refused runs the function with env and checks that it does not start:
// exit code 1, stderr "NAME: " followed by wantStderr (a prefix), and one
// JSON log line at level ERROR, "NAME function failed to start".
func Refused(t testing.TB, name string, env config.Getenv, setup Setup, wantStderr string) {
	t.Helper()
	r := runFunction(name, env, setup)
	if r.code != 1 || !strings.HasPrefix(r.stderr, name+": "+wantStderr) {
		t.Errorf("%s: run = %d, stderr %q; want 1, %q…", name, r.code, r.stderr, name+": "+wantStderr)
	}
	if len(r.handlers) != 0 {
		t.Errorf("%s: a function that cannot start was started", name)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || line["level"] != "ERROR" || line["msg"] != name+" function failed to start" {
		t.Errorf("%s: log = %q (%v), want one error line", name, r.stdout, err)
	}
}
