package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLevelFromEnv(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"": slog.LevelInfo, "info": slog.LevelInfo, "DEBUG": slog.LevelDebug, " warn ": slog.LevelWarn,
		"warning": slog.LevelWarn, "error": slog.LevelError, "verbose": slog.LevelInfo,
	} {
		if got := levelFromEnv(in); got != want {
			t.Errorf("levelFromEnv(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestForExecutionPutsTheExecutionIDOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	t.Setenv("STEPSHIP_LOG_LEVEL", "")
	l := ForExecution(New(&buf), "arn:aws:states:us-east-1:123456789012:execution:deploy:x")
	l.Info("one")
	l.Info("two", "k", "v")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if m["executionId"] != "arn:aws:states:us-east-1:123456789012:execution:deploy:x" {
			t.Errorf("line without the execution id: %s", line)
		}
	}
	if ForExecution(l, "") != l {
		t.Error("an empty execution id should leave the logger as it is")
	}
}
