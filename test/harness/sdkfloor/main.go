// Command sdkfloor is the cold-start floor of a function that holds AWS SDK
// clients: hello-world (test/harness/hellolambda) plus the AWS configuration
// every function builds (shared/awsenv) and one client of each AWS service the
// function links, built at start and held, nothing else: no catalog, no
// handler. BenchmarkColdStart (test/integration) measures each function
// against hello-world and against its floor, so that the part of a cold start
// that stepship's own code adds is told apart from the part the AWS SDK adds
// by being linked.
//
// Each service is one file, sdk_SERVICE.go, under the build tag sdk_SERVICE;
// harness.FloorBootstrap builds this package with the tags of the services a
// function links (go list -deps), so that a function's floor links what the
// function links. Without tags it is the floor of a function that links no
// service client (resolve).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stepship/stepship/shared/awsenv"
)

// clients construct one client each, registered by the sdk_*.go files the
// build tags select.
var clients []func(aws.Config) any

func main() {
	cfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkfloor:", err)
		os.Exit(1)
	}
	held := make([]any, 0, len(clients))
	for _, c := range clients {
		held = append(held, c(cfg))
	}
	lambda.Start(func(context.Context, json.RawMessage) (string, error) {
		return fmt.Sprintf("hello from %d clients", len(held)), nil
	})
}
