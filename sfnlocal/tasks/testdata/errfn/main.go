// Command errfn is a Lambda function that fails in every way a Go handler can; the
// tasks tests run it under the Lambda Runtime Interface Emulator and compare the
// errors with the same handler run in-process (lambda_test.go has its twin).
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

type DeployError struct{ Service string }

func (e *DeployError) Error() string { return "deploy of " + e.Service + " failed" }

type ValueError struct{}

func (ValueError) Error() string { return "value error" }

type deployIn struct {
	Service string `json:"service"`
	Mode    string `json:"mode"`
}

func handler(ctx context.Context, in deployIn) (map[string]string, error) {
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

func main() { lambda.Start(handler) }
