// Package localsvc starts the local services stepship's tests and `make demo`
// run against, each a child process on 127.0.0.1 on a free port:
//
//   - StartMoto: the AWS emulator (moto server from .venv). Moto.Config gives
//     an aws.Config for it; Moto.Env gives AWS_ENDPOINT_URL and friends for
//     child processes.
//   - StartPostgres: a throwaway PostgreSQL cluster (initdb + postgres from
//     the OS packages), with DSN, Exec and CreateDatabase.
//   - StartLambda: a built bootstrap under the Lambda Runtime Interface
//     Emulator (.tools/bin/aws-lambda-rie), with URL and Invoke;
//     BuildFunctions and Bootstrap build and find dist/local/NAME/bootstrap.
//   - ToolPath: the tools `make tools` installs.
//
// Every Start function takes a context that bounds the start only, returns
// once the service answers, and leaves nothing running when it fails; the
// service then runs until its Close, which stops the process (and its
// children) and removes what the service created. Should this process die
// first, the kernel kills the services with it. Each process writes a log
// (Logs, LogReport), into a folder of the caller's (WithLogDir) or one of
// its own that Close removes.
//
// Nothing here imports testing: test/harness wraps these for tests (failing
// the test on error, Close at its end, logs printed when it failed).
// Nothing reads the developer's AWS configuration or reaches beyond the
// loopback address.
package localsvc
