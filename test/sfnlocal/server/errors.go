package server

import (
	"fmt"
	"net/http"
)

// apiError is an error the Step Functions API returns: Code is the shape name the
// SDKs map to a typed error (ExecutionAlreadyExists, …).
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// The error codes of the Step Functions API that this server returns.
const (
	codeExecutionAlreadyExists   = "ExecutionAlreadyExists"
	codeExecutionDoesNotExist    = "ExecutionDoesNotExist"
	codeInvalidArn               = "InvalidArn"
	codeInvalidDefinition        = "InvalidDefinition"
	codeInvalidExecutionInput    = "InvalidExecutionInput"
	codeInvalidName              = "InvalidName"
	codeInvalidOutput            = "InvalidOutput"
	codeInvalidToken             = "InvalidToken"
	codeStateMachineAlreadyExist = "StateMachineAlreadyExists"
	codeStateMachineDoesNotExist = "StateMachineDoesNotExist"
	codeTaskDoesNotExist         = "TaskDoesNotExist"
	codeTaskTimedOut             = "TaskTimedOut"
	codeValidation               = "ValidationException"
	codeSerialization            = "SerializationException"
	codeUnknownOperation         = "UnknownOperationException"
	codeInternalFailure          = "InternalFailure"
)

// errorTypePrefix is the namespace the service puts before an error's shape name in
// "__type"; SDKs strip everything up to '#'.
const errorTypePrefix = "com.amazonaws.swf.service.v2.model#"
