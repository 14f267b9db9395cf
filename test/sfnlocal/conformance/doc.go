// Package aslconformance checks the local ASL interpreter (sfnlocal/asl)
// against a reference implementation and against AWS's documented behaviour.
//
// Every directory under testdata/cases is one case:
//
//	definition.asl.json  the state machine
//	input.json           the execution input
//	tasks.json           optional: the fake Lambda answering its Task states
//	expected.json        the result AWS Step Functions gives, per its documentation
//
// tasks.json maps a Task state's Resource to a response, or to a list of
// responses for successive calls (the last one repeats):
//
//	{"output": <json>}                  return this result
//	{"echo": true}                      return the task's input
//	{"error": "Name", "cause": "text"}  fail with this error
//	"delaySeconds": n                   (with any of the above) take n seconds first
//
// TestConformance runs every case through aws-local-stepfunctions (the npm
// package, driven by reference/run.mjs under Node 22) and through our runner,
// and requires the same status, output and error name. Where the reference
// tool departs from AWS's documented behaviour, testdata/known-differences.json
// names the case, both behaviours and the AWS documentation page; for those
// cases our runner must produce expected.json (the documented behaviour) and
// the reference must still differ from it. TestExpected checks every case
// against expected.json; `go test ./test/aslconformance -update` rewrites the
// expected.json files (except known differences) from our runner.
//
// Run it with the README's test command, or:
//
//	npm ci && go test ./test/aslconformance/
//
// The node binary is found at node_modules/.bin/node under the module root
// (installed by npm ci from package.json), then on PATH; STEPSHIP_NODE
// overrides both. Without Node 22 the test fails; it never skips.
package aslconformance
