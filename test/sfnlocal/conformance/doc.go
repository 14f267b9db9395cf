// Package aslconformance checks the local ASL interpreter (test/sfnlocal/asl)
// against expectations that do not come from it: the results of a reference
// implementation, AWS's documented behaviour where that reference departs
// from it, and the retry schedule AWS documents.
//
// # The semantic corpus
//
// Every directory under testdata/cases is one case:
//
//	definition.asl.json  the state machine
//	input.json           the execution input
//	tasks.json           optional: the fake Lambda answering its Task states
//	expected.json        the result of aws-local-stepfunctions (written by -update)
//
// tasks.json maps a Task state's Resource to a response, or to a list of
// responses for successive calls (the last one repeats):
//
//	{"output": <json>}                  return this result
//	{"echo": true}                      return the task's input
//	{"error": "Name", "cause": "text"}  fail with this error
//	"delaySeconds": n                   (with any of the above) take n seconds first
//
// expected.json is written only from aws-local-stepfunctions (the npm
// package, driven by reference/run.mjs under Node 22), never from our runner.
// It holds the status; the output of a success; the error name of a failure,
// and its cause when the case chose it (a Fail state or the fake Lambda), not
// the interpreter's own wording; an INVALID definition keeps the status only.
//
// Where the reference departs from AWS's documented behaviour, the case is
// listed in testdata/known-differences.json with what the reference does,
// what AWS documents, the documentation page, the sentence of it the
// expectation rests on, and the expected result itself, written by hand from
// that documentation. Such a case has no expected.json.
//
// The tests:
//
//   - TestReferenceWritesExpected runs every case through the reference and
//     requires each expected.json to equal its result, and each known
//     difference to still differ from the documented result (once the
//     reference agrees, the entry must go and -update writes expected.json).
//   - TestConformance runs every case through our runner and requires
//     expected.json, or for a known difference the documented result.
//   - TestCorpusShape checks the corpus itself (citations, one expectation per
//     case, unique state names).
//
// To regenerate expected.json after adding or changing a case:
//
//	go test ./test/sfnlocal/conformance/ -update
//
// -update runs the reference only: it rewrites the expected.json of every
// case that is not a known difference and removes any from a known
// difference's directory. The tests after it in the same run then check our
// runner against the files just written; review the diff before committing.
//
// The reference run sets every Retry pause and every fixed Wait to 0 ms, so
// the corpus compares no timing.
//
// # Retry schedules
//
// testdata/retry holds cases in the same format whose Task fails and is
// retried; retrySchedules (retry_test.go) gives, per case, the waits between
// attempts taken from the worked examples of AWS's "Retrying after an error"
// documentation: IntervalSeconds × BackoffRate^(n-1) seconds before retry n,
// at most MaxDelaySeconds, and under JitterStrategy FULL a random time between
// 0 and that (checked as bounds, plus a spread check over 100 retries).
// TestRetrySchedule runs each case through our runner on a virtual clock
// (time moves only when the runner sleeps, so the waits are measured exactly
// and hours cost nothing) and through the reference with
// `run.mjs --virtual-clock` (its timers run on a virtual clock and the fake
// Lambda notes when it is called); both must match the schedule, and our
// history must stamp each attempt at the time it was made.
// TestRetryScheduleScaledClock runs the short schedules on the scaled clock
// the corpus uses and checks that the attempts are at least the documented
// wait apart in real time (the bound above is loose; the virtual clock test is
// the exact one).
//
// # Running
//
// Run it with the README's test command, or:
//
//	npm ci && go test ./test/sfnlocal/conformance/
//
// The node binary is found at node_modules/.bin/node under the module root
// (installed by npm ci from package.json), then on PATH; STEPSHIP_NODE
// overrides both. Without Node 22 the tests that run the reference fail; they
// never skip.
package aslconformance
