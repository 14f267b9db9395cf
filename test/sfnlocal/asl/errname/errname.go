// Package errname holds the Amazon States Language's predefined error names
// ("States.ALL", "States.Runtime", …): the one definition the interpreter (asl),
// its intrinsic functions (asl/intrinsic), the task bindings (tasks) and the API
// server (server) use. It is a package of its own because asl/intrinsic, which
// asl imports, needs the names too.
package errname

// The predefined error names this local Step Functions service matches or raises.
const (
	// All matches every error in ErrorEquals except the terminal ones
	// (Runtime, DataLimitExceeded).
	All = "States.ALL"
	// TaskFailed matches every error but the timeouts; it is also the name of a
	// task error that has no name of its own.
	TaskFailed = "States.TaskFailed"
	// Timeout: a Task ran longer than its TimeoutSeconds, or an execution longer
	// than its TimeoutSeconds. In ErrorEquals it also matches HeartbeatTimeout.
	Timeout = "States.Timeout"
	// HeartbeatTimeout: a task sent no heartbeat within its HeartbeatSeconds.
	HeartbeatTimeout = "States.HeartbeatTimeout"
	// Runtime: an invalid path, argument or result; terminal (never retried or
	// caught).
	Runtime = "States.Runtime"
	// DataLimitExceeded: a payload over the 256 KiB quota; terminal.
	DataLimitExceeded = "States.DataLimitExceeded"
	// NoChoiceMatched: a Choice state without Default matched no rule.
	NoChoiceMatched = "States.NoChoiceMatched"
	// ResultPathMatchFailure: a ResultPath cannot be applied to the state's
	// input (e.g. "$.x" on a string). Catchable, unlike Runtime.
	ResultPathMatchFailure = "States.ResultPathMatchFailure"
	// IntrinsicFailure: an expression is not a valid intrinsic function
	// invocation at all.
	IntrinsicFailure = "States.IntrinsicFailure"
	// Aborted is the error of an execution the local service stopped because it
	// shut down (StopExecution itself has no default error).
	Aborted = "States.Aborted"
)
