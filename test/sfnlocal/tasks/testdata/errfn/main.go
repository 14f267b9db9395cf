// Command errfn is failfn.Handler as a Lambda function; the tasks tests run it
// under the Lambda Runtime Interface Emulator and compare its errors with the
// same handler run in-process.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stepship/stepship/test/sfnlocal/tasks/internal/failfn"
)

func main() { lambda.Start(failfn.Handler) }
