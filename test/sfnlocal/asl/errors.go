package asl

import (
	"encoding/json"
	"errors"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// Errors returned by SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat. They
// correspond to the Step Functions API's TaskDoesNotExist, TaskTimedOut and
// InvalidOutput exceptions.
var (
	// ErrTaskDoesNotExist: no task was issued with that token (or it ended so long
	// ago that the runner no longer remembers it: it keeps the newest 100,000).
	ErrTaskDoesNotExist = errors.New("task does not exist")
	// ErrTaskTimedOut: the task timed out, or was already closed (completed,
	// failed, or its execution ended).
	ErrTaskTimedOut = errors.New("task timed out")
	// ErrInvalidOutput: the output is not valid JSON.
	ErrInvalidOutput = errors.New("invalid output")
	// ErrInvalidInput is returned by Start and Run when the execution input is not
	// valid JSON or exceeds the 256 KiB payload quota (the API's
	// InvalidExecutionInput).
	ErrInvalidInput = errors.New("invalid execution input")
)

// DefinitionError reports an invalid state machine definition. State names the state
// (empty for top-level fields) and Field the offending field, as a JSON-pointer-like
// path within the state (e.g. "Retry[0].ErrorEquals").
type DefinitionError struct {
	State   string
	Field   string
	Message string
}

func (e *DefinitionError) Error() string {
	switch {
	case e.State != "" && e.Field != "":
		return "invalid definition: state " + quote(e.State) + ", field " + e.Field + ": " + e.Message
	case e.State != "":
		return "invalid definition: state " + quote(e.State) + ": " + e.Message
	case e.Field != "":
		return "invalid definition: field " + e.Field + ": " + e.Message
	}
	return "invalid definition: " + e.Message
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// stateFailure is an error raised while running a state, with its States Language
// error name. It is what Retry and Catch match.
type stateFailure struct {
	name  string
	cause string
}

func (f *stateFailure) Error() string { return f.name + ": " + f.cause }

func fail(name, cause string) *stateFailure { return &stateFailure{name: name, cause: cause} }

func runtimeErr(cause string) *stateFailure { return fail(errname.Runtime, cause) }

// terminalError reports whether an error name can never be retried or caught:
// States.Runtime and States.DataLimitExceeded always fail the execution.
func terminalError(name string) bool {
	return name == errname.Runtime || name == errname.DataLimitExceeded
}

// errorMatches reports whether the ErrorEquals entry pattern matches the error name.
//
// States.ALL matches every error; States.TaskFailed every error but the timeouts;
// States.Timeout matches both a TimeoutSeconds and a HeartbeatSeconds timeout (the
// latter is reported as States.HeartbeatTimeout). Terminal errors match nothing.
func errorMatches(pattern, name string) bool {
	if terminalError(name) {
		return false
	}
	switch pattern {
	case errname.All:
		return true
	case errname.TaskFailed:
		return name != errname.Timeout && name != errname.HeartbeatTimeout
	case errname.Timeout:
		return name == errname.Timeout || name == errname.HeartbeatTimeout
	}
	return pattern == name
}

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if errorMatches(p, name) {
			return true
		}
	}
	return false
}
