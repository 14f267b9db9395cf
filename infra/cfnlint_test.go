package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cfnLint is the linter the harness installs from the pinned requirements file
// into the repo's .venv; STEPSHIP_CFN_LINT names another one.
func cfnLint(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STEPSHIP_CFN_LINT"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", ".venv", "bin", "cfn-lint"))
	if err != nil {
		t.Fatalf("failed to locate cfn-lint: %v", err)
	}
	return p
}

func TestCfnLintFindsNothingInTheTemplate(t *testing.T) {
	// GIVEN the synthesized templates (home, DR and backup-account stacks) on
	// disk and cfn-lint
	// from the project's tools
	f := synthesized(t)
	lint := cfnLint(t)
	if _, err := os.Stat(lint); err != nil {
		t.Fatalf("cfn-lint is not installed at %s (the test tools install it into .venv from requirements.txt; "+
			"or set STEPSHIP_CFN_LINT): %v", lint, err)
	}
	templates := []string{filepath.Join(f.dir, "Stepship.template.json")}
	docs := []map[string]any{f.doc}
	for region, d := range f.dr {
		templates, docs = append(templates, filepath.Join(f.dir, drStackName("Stepship", region)+".template.json")), append(docs, d.doc)
	}
	for name, b := range f.offsite {
		templates, docs = append(templates, filepath.Join(f.dir, name+".template.json")), append(docs, b.doc)
	}
	for i, doc := range docs {
		body, err := json.MarshalIndent(doc, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(templates[i], body, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// WHEN cfn-lint checks it (errors, warnings and informational findings), less
	// W3005: CDK makes each function DependsOn its role and the role's default
	// policy on purpose, so the policy exists before the first invocation, even
	// where a GetAtt already orders the role itself.
	out, err := exec.Command(lint, append([]string{"--info", "--ignore-checks", "W3005", "--"}, templates...)...).CombinedOutput()

	// THEN it finds nothing
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Errorf("cfn-lint found problems (exit %d):\n%s", exit.ExitCode(), out)
	case err != nil:
		t.Fatalf("failed to run %s: %v\n%s", lint, err, out)
	}
}
