// Package harness is the test side of test/localsvc: each function starts a
// local service for one test (or benchmark) and fails it when the service
// does not come up, closes the service when the test ends (even when it
// failed), and prints the service's log when the test failed. The types are
// localsvc's.
//
//   - StartMoto / SharedMoto + MotoMain: the AWS emulator.
//   - StartPostgres: a throwaway PostgreSQL cluster.
//   - StartLambda: a built bootstrap under the Lambda Runtime Interface
//     Emulator; Bootstrap and BuildFunctions build dist/local/NAME/bootstrap
//     first, once per test binary.
//   - HelloBootstrap: a hello-world aws-lambda-go function (hellolambda)
//     built like the functions, the cold-start baseline; FloorBootstrap: a
//     function's SDK floor (sdkfloor: hello-world plus the AWS SDK clients
//     the function links); FunctionNames: the functions the build builds.
//   - RequireTool: the tools `make tools` installs; a missing tool fails the
//     test (it never skips).
//
// Commands and the local stack (test/localenv) use localsvc directly, so they
// do not import testing.
package harness
