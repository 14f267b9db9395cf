// Package harness starts the local services the integration tests run
// against, each on 127.0.0.1 on a free port, each stopped by t.Cleanup (even
// when the test fails) and, should the test binary die first, killed by the
// kernel with it. Each process writes its log into the test's temporary
// folder; the log is printed when the test failed.
//
//   - StartMoto / SharedMoto + MotoMain: the AWS emulator (moto server from
//     .venv). Moto.Config gives an aws.Config for it; Moto.Env gives
//     AWS_ENDPOINT_URL and friends for child processes.
//   - StartPostgres: a throwaway PostgreSQL cluster (initdb + postgres from
//     the OS packages), with DSN, Exec and CreateDatabase.
//   - StartLambda: a built bootstrap under the Lambda Runtime Interface
//     Emulator (.tools/bin/aws-lambda-rie), with URL and Invoke; Bootstrap
//     and BuildFunctions build dist/local/NAME/bootstrap first.
//   - RequireTool / ToolPath: the tools `make tools` installs; a missing tool
//     fails the test (it never skips).
//
// Nothing here reads the developer's AWS configuration or reaches beyond
// the loopback address.
package harness
