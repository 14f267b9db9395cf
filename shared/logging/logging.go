// Package logging builds the structured loggers every stepship function uses:
// log/slog JSON on stdout (CloudWatch Logs keeps one event per line), with the
// Step Functions execution id on every line of an invocation.
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/stepship/stepship/shared/config"
)

// New returns a JSON logger writing to w at the level named by the environment
// variable STEPSHIP_LOG_LEVEL (debug, info, warn, error; default info).
func New(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: levelFromEnv(os.Getenv(config.EnvLogLevel))}))
}

// ForExecution returns l with the execution id attached to every line.
func ForExecution(l *slog.Logger, executionID string) *slog.Logger {
	if executionID == "" {
		return l
	}
	return l.With(slog.String("executionId", executionID))
}

func levelFromEnv(v string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
