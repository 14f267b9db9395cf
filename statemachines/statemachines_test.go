// Package statemachines holds the Amazon States Language files that orchestrate
// stepship (the source of truth: the CDK app and the local Step Functions service
// both load these files). This test checks every file with asl-validator and with
// the local interpreter's own validation, and that every ${Placeholder} is one the
// CDK app and test/localenv know how to fill.
package statemachines

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/asl"
)

func files(t *testing.T) []string {
	t.Helper()
	fs, err := filepath.Glob("*.asl.json")
	if err != nil || len(fs) == 0 {
		t.Fatalf("no statemachines/*.asl.json (err %v)", err)
	}
	return fs
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

func TestEveryFilePassesASLValidator(t *testing.T) {
	validator := harness.RequireTool(t, "asl-validator")
	for _, f := range files(t) {
		t.Run(f, func(t *testing.T) {
			out, err := exec.Command(validator, "--json-path", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "is valid") {
				t.Fatalf("asl-validator: %v\n%s", err, out)
			}
		})
	}
}

func TestEveryFileParsesInTheLocalInterpreter(t *testing.T) {
	for _, f := range files(t) {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Substitute placeholders the way the CDK app does, with ARN-shaped values.
			def := placeholder.ReplaceAllStringFunc(string(raw), func(m string) string {
				name := placeholder.FindStringSubmatch(m)[1]
				if !strings.HasSuffix(name, "FunctionArn") {
					t.Errorf("placeholder %s: only ${NameFunctionArn} placeholders are filled by infra and test/localenv", m)
				}
				return "arn:aws:lambda:us-east-1:123456789012:function:" + strings.TrimSuffix(name, "FunctionArn")
			})
			if _, err := asl.Parse([]byte(def)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
