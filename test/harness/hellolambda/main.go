// Command hellolambda is a hello-world aws-lambda-go function: the baseline
// the functions' cold starts are measured against (BenchmarkColdStart in
// test/integration). It reads nothing and builds nothing at start; each
// invocation answers "hello". harness.HelloBootstrap builds it with the
// functions' flags.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "hello", nil })
}
