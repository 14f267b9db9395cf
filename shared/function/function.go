// Package function starts a stepship function the way each of them starts:
// a JSON logger on stdout, the catalog packaged with the function, the AWS
// configuration from Lambda's environment (shared/awsenv), the clients and
// handler built once by the function's own setup, then lambda.Start. A
// function that cannot start logs why, says it on stderr and exits 1, so
// Lambda reports an init error instead of running a half-built handler.
package function

import (
	"fmt"
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
	cat, err := config.LoadCatalog(getenv)
	if err != nil {
		return Env{}, err
	}
	cfg, err := awsenv.Config(getenv)
	if err != nil {
		return Env{}, fmt.Errorf("failed to build the AWS configuration: %w", err)
	}
	return Env{Catalog: cat, AWS: cfg, Log: log, Getenv: getenv}, nil
}

// Start loads the Env, builds the handler with setup (any handler shape
// lambda.Start accepts) and serves it; it does not return.
func Start(name string, setup func(Env) (handler any, err error)) {
	log := logging.New(os.Stdout)
	env, err := Load(os.Getenv, log)
	var handler any
	if err == nil {
		handler, err = setup(env)
	}
	if err != nil {
		log.Error(name+" function failed to start", "error", err)
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
