package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The demo is part of the suite: what `make demo` prints is what this checks.
func TestDemoDeploysThePushAndReportsEachStep(t *testing.T) {
	var out, logs bytes.Buffer
	err := run(t.Context(), &out, &logs, 2*time.Minute)
	report := out.String()
	if err != nil {
		t.Fatalf("the demo failed: %v\nits report:\n%s\nthe local services' logs:\n%s", err, report, logs.String())
	}
	for _, want := range []string{
		"→ 401",
		"executions of the deploy state machine: 0",
		"→ 202 Accepted",
		"Resolve        Task",
		"catalog: ECS stepship-demo/web",
		"Build          Task",
		"CheckImage     Task",
		"Deploy         Task",
		"registered web:2, service updated from web:1",
		"revision   web:1 → web:2",
		"image      123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:",
		"execution  SUCCEEDED",
		"the execution the push already started, nothing new",
		"FAILED InvalidDeployRequest: the catalog names every target",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the demo's report lacks %q:\n%s", want, report)
		}
	}
	// The Deploy row has its duration (its width varies: "99 ms", "120 ms").
	if !deployRow.MatchString(report) {
		t.Errorf("the demo's report has no Deploy row with a duration:\n%s", report)
	}
}

var deployRow = regexp.MustCompile(`(?m)^  Deploy {9}Task +[0-9.]+ m?s  registered web:2`)
