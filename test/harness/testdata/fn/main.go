// Command fn is a throwaway Lambda function for the harness's own tests.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Name    string `json:"name"`
	Fail    bool   `json:"fail"`
	Panic   bool   `json:"panic"`
	Exit    bool   `json:"exit"`
	SleepMS int    `json:"sleepMs"`
}

// BadInput is the error type the test expects as the Step Functions Error.
type BadInput struct{ Reason string }

func (e *BadInput) Error() string { return "bad input: " + e.Reason }

func handle(ctx context.Context, e event) (map[string]string, error) {
	time.Sleep(time.Duration(e.SleepMS) * time.Millisecond)
	switch {
	case e.Fail:
		return nil, &BadInput{Reason: "asked to fail"}
	case e.Panic:
		panic("asked to panic")
	case e.Exit:
		os.Exit(3)
	}
	return map[string]string{
		"hello":    e.Name,
		"greeting": os.Getenv("GREETING"),
		"endpoint": os.Getenv("AWS_ENDPOINT_URL"),
		"function": os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
	}, nil
}

func main() { lambda.Start(handle) }
