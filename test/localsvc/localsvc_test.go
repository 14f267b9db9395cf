package localsvc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A start that fails part-way leaves nothing behind: no process, no folder.
func TestStartFailureLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the services create their own folders
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := StartMoto(ctx); err == nil {
		m.Close()
		t.Fatal("StartMoto with a canceled context succeeded")
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("StartMoto with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := StartLambda(context.Background(), filepath.Join(tmp, "fn", "bootstrap"), nil); err == nil || !strings.Contains(err.Error(), "make build-local") {
		t.Errorf("StartLambda of a missing bootstrap: %v", err)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in the temporary folder: %s", e.Name())
	}
}

// Close stops the process and removes the log folder the service created;
// a second Close does nothing.
func TestCloseRemovesWhatItCreated(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	m, err := StartMoto(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Err(); err != nil {
		t.Fatalf("Err() of a running server: %v", err)
	}
	if !strings.Contains(m.LogReport(), "--- log of moto_server (") {
		t.Errorf("LogReport() = %q", m.LogReport())
	}
	for range 2 {
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if m.Err() == nil {
		t.Error("Err() is nil after Close")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("Close left %v in the temporary folder", left)
	}
}

func TestToolPath(t *testing.T) {
	root := t.TempDir()
	if _, err := toolPathIn(root, "no-such-tool"); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("an unknown tool: %v", err)
	}
	if _, err := toolPathIn(root, "aws-lambda-rie"); err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("a missing tool: %v, want an error naming `make tools`", err)
	}
	p, err := ToolPath("aws-lambda-rie")
	if err != nil || !filepath.IsAbs(p) {
		t.Errorf("ToolPath(aws-lambda-rie) = %q, %v", p, err)
	}
}

func TestParseFunctionError(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{"errorMessage":"m","errorType":"T"}`, "T: m"},
		{`{"errorType":"T","errorMessage":"m","stackTrace":[]}`, "T: m"},
		{`{"errorType":"T","errorMessage":"m","extra":1}`, ""},
		{`{"ok":true}`, ""},
		{`"errorType"`, ""},
		{`null`, ""},
		{`{"errorType":""}`, ""},
	} {
		fe := ParseFunctionError([]byte(tc.body))
		got := ""
		if fe != nil {
			got = fe.Error()
		}
		if got != tc.want {
			t.Errorf("ParseFunctionError(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}
