// Package failfn is a Go Lambda handler that fails in every way a handler can.
// The tasks tests run it in-process and, built as testdata/errfn, under the
// Lambda Runtime Interface Emulator, and compare the errors both report.
package failfn

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// DeployError fails through a pointer receiver.
type DeployError struct{ Service string }

func (e *DeployError) Error() string { return "deploy of " + e.Service + " failed" }

// ValueError fails through a value receiver.
type ValueError struct{}

func (ValueError) Error() string { return "value error" }

// Input picks the way Handler fails.
type Input struct {
	Service string `json:"service"`
	Mode    string `json:"mode"` // pointer, value, wrapped, plain, panic, typed; else success
}

// Handler fails as Input.Mode says, or succeeds.
func Handler(ctx context.Context, in Input) (map[string]string, error) {
	switch in.Mode {
	case "pointer":
		return nil, &DeployError{Service: in.Service}
	case "value":
		return nil, ValueError{}
	case "wrapped":
		return nil, fmt.Errorf("deploying: %w", &DeployError{Service: in.Service})
	case "plain":
		return nil, errors.New("plain")
	case "panic":
		panic("kaboom")
	case "typed":
		return nil, messages.InvokeResponse_Error{Type: "Custom.Name", Message: "custom"}
	}
	return map[string]string{"deployed": in.Service}, nil
}
