// Package function starts a stepship function the way each of them starts:
// a JSON logger on stdout, the catalog packaged with the function, the AWS
// configuration from Lambda's environment (shared/awsenv), the clients and
// handler built once by the function's own setup, then lambda.Start. A
// function that cannot start logs why, says it on stderr and exits 1, so
// Lambda reports an init error instead of running a half-built handler.
package function

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/logging"
)

// Env is what every function's setup starts from.
type Env struct {
	Catalog *catalog.Catalog
	AWS     aws.Config
	Log     *slog.Logger
	Getenv  config.Getenv
}

// Load reads the catalog and the AWS configuration the environment names.
func Load(getenv config.Getenv, log *slog.Logger) (Env, error) {
	cat, err := catalog.Load(config.CatalogPath(getenv))
	if err != nil {
		return Env{}, err
	}
	cfg, err := awsenv.Config(getenv)
	if err != nil {
		return Env{}, fmt.Errorf("failed to build the AWS configuration: %w", err)
	}
	return Env{Catalog: cat, AWS: cfg, Log: log, Getenv: getenv}, nil
}

// Start runs the function with the process's environment, stdout and stderr,
// serving its handler with lambda.Start; it does not return.
func Start(name string, setup func(Env) (handler any, err error)) {
	os.Exit(Run(name, os.Getenv, os.Stdout, os.Stderr, lambda.Start, setup))
}

// Run loads the Env from getenv, builds the handler with setup (any handler
// shape lambda.Start accepts) and hands it to start, which serves invocations
// for as long as the process lives; it returns the exit code. When the
// function cannot start it says why in the JSON log on stdout and on stderr,
// starts nothing and returns 1.
func Run(name string, getenv config.Getenv, stdout, stderr io.Writer, start func(handler any), setup func(Env) (handler any, err error)) int {
	log := logging.New(stdout)
	env, err := Load(getenv, log)
	var handler any
	if err == nil {
		handler, err = setup(env)
	}
	if err != nil {
		log.Error(name+" function failed to start", "error", err)
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	start(handler)
	return 0
}
