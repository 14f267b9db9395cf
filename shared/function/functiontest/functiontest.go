// Package functiontest runs a function's setup through function.Run, with a
// start that records what lambda.Start would have served, for the main tests
// of functions/: a function either starts once with its handler, or exits 1
// having said why in one JSON error line on stdout and on stderr, and starts
// nothing.
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

// Env is the environment Lambda gives a function in us-east-1, with the
// catalog at catalogPath, and changes (a "" value removes a variable).
func Env(catalogPath string, changes map[string]string) config.Getenv {
	env := map[string]string{config.EnvCatalog: catalogPath, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-key"}
	for k, v := range changes {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// run is function.Run with what it started and wrote.
func run(name string, getenv config.Getenv, setup Setup) (code int, started []any, stdout, stderr string) {
	var out, errOut strings.Builder
	code = function.Run(name, getenv, &out, &errOut, func(h any) { started = append(started, h) }, setup)
	return code, started, out.String(), errOut.String()
}

// Start runs the function named name and returns the handler it started,
// failing the test unless it started exactly once, silently.
func Start(t testing.TB, name string, getenv config.Getenv, setup Setup) any {
	t.Helper()
	code, started, stdout, stderr := run(name, getenv, setup)
	if code != 0 || len(started) != 1 || started[0] == nil || stderr != "" {
		t.Fatalf("%s: exit %d, started %d handlers %v, stdout %q, stderr %q; want one handler started", name, code, len(started), started, stdout, stderr)
	}
	return started[0]
}

// Refused runs the function named name and returns the reason it gave for
// not starting ("name: " and a newline around it on stderr), failing the
// test unless it exited 1, started nothing and logged the same reason in one
// JSON error line.
func Refused(t testing.TB, name string, getenv config.Getenv, setup Setup) string {
	t.Helper()
	code, started, stdout, stderr := run(name, getenv, setup)
	if code != 1 || len(started) != 0 {
		t.Fatalf("%s: exit %d, started %d handlers, stderr %q; want exit 1, nothing started", name, code, len(started), stderr)
	}
	reason, ok := strings.CutPrefix(stderr, name+": ")
	reason, nl := strings.CutSuffix(reason, "\n")
	var line map[string]any
	if err := json.Unmarshal([]byte(stdout), &line); err != nil || !ok || !nl || line["level"] != "ERROR" ||
		line["msg"] != name+" function failed to start" || line["error"] != reason {
		t.Fatalf("%s: stdout %q, stderr %q; want one JSON error line and %q on stderr with the same reason", name, stdout, stderr, name+": …")
	}
	return reason
}
