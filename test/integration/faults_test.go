package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/localenv/localenvtest"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
	"github.com/stepship/stepship/test/world"
)

// The fault matrix of the deploy machine: every AWS call a deploy makes
// (the state machine's own integrations and its functions' calls, through
// the fault-injecting proxy) and every Lambda invocation (pinned in the local
// Step Functions service), each × {throttled, 5xx, timeout}. A throttle or a
// 5xx answers every call of its kind, so retries give up; a timeout holds
// the first call past its client's or its Task's timeout. Whatever happens,
// the execution ends in one of the four outcomes, the lock is free, and the
// ledger has the deploy's entry — unless the fault is the ledger's own
// table, which the outcome's reason then names. The matrix is printed.
func TestDeployFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack")
	}
	// The two fault matrices run side by side, each on its own local stack,
	// after the package's other tests: most of their time is waiting.
	t.Parallel()
	// Waits and retry intervals 100 times faster (every retry schedule still
	// runs), Task timeouts as elsewhere (a 20 s Task still allows 1 s).
	e := localenvtest.StartT(t, localenv.WithTimeScale(100), localenv.WithTimeoutScale(localenv.DefaultTimeScale))
	p := &pipeline{e: e, t0: time.Now().Add(-20 * time.Minute).Truncate(time.Second)}
	// A first release, so that rollbacks have a last good one.
	p.deploy(t, p.push(t, nil), payload.OutcomeSucceeded)

	type call struct {
		who, service, action string
		table                bool // the lock and ledger table itself
		// when narrows the rule (S3's REST calls have no action name:
		// the path tells a bucket's listing from an object).
		when func(*awsproxy.Request) bool
	}
	bucketOnly := func(r *awsproxy.Request) bool {
		return r.Method == "GET" && strings.Count(strings.Trim(r.Path, "/"), "/") == 0
	}
	object := func(r *awsproxy.Request) bool {
		return r.Method == "GET" && strings.Count(strings.Trim(r.Path, "/"), "/") > 0
	}
	calls := []call{
		{"state machine", "dynamodb", "UpdateItem", true, nil},
		{"state machine", "dynamodb", "GetItem", true, nil},
		{"state machine", "dynamodb", "TransactWriteItems", true, nil},
		{"state machine", "codebuild", "StartBuild", false, nil},
		{"state machine", "codebuild", "BatchGetBuilds", false, nil},
		{"state machine", "ecr", "DescribeImages", false, nil},
		{"state machine", "ecs", "UpdateService", false, nil},
		{"deploy, verify", "ecs", "DescribeServices", false, nil},
		{"deploy", "ecs", "DescribeTaskDefinition", false, nil},
		{"deploy", "ecs", "RegisterTaskDefinition", false, nil},
		{"migrate", "secretsmanager", "GetSecretValue", false, nil},
		{"migrate", "s3", "ListObjectsV2", false, bucketOnly},
		{"migrate", "s3", "GetObject", false, object},
		{"verify", "monitoring", "DescribeAlarms", false, nil},
		{"verify", "monitoring", "DescribeAlarmHistory", false, nil},
	}
	lambdas := []string{"Resolve", "Register", "Migrate", "Verify", "CheckBake"}
	faults := []struct {
		name   string
		effect awsproxy.Effect
		calls  awsproxy.Window
		lambda tasks.MockThrow
	}{
		{"throttle", awsproxy.Throttle(), awsproxy.FromCall(1), tasks.MockThrow{Error: "Lambda.TooManyRequestsException", Cause: "Rate Exceeded."}},
		{"5xx", awsproxy.ServerError(), awsproxy.FromCall(1), tasks.MockThrow{Error: "Lambda.ServiceException", Cause: "Internal error."}},
		// Past the SDK's and the scaled Task timeouts (localenv.DefaultTimeScale: a 20 s Task allows 1 s).
		{"timeout", awsproxy.Delay(1500 * time.Millisecond), awsproxy.Nth(1), tasks.MockThrow{Error: "States.Timeout", Cause: "the Task timed out"}},
	}
	type cell struct{ call, fault, outcome, note string }
	var table []cell
	for _, c := range calls {
		for _, f := range faults {
			name := c.service + " " + c.action + " " + f.name
			t.Run(name, func(t *testing.T) {
				action := c.action
				if c.when != nil {
					action = "" // REST: matched by when
				}
				h := e.Proxy.Add(awsproxy.Rule{Service: c.service, Action: action, When: c.when, Calls: f.calls, Effect: f.effect})
				arn, outcome, cause := p.faulted(t)
				h.Remove()
				note := p.check(t, arn, outcome, cause, c.table)
				if h.Fired() == 0 {
					// A warm function's cache (the database secret) spared the call.
					note += "; the call was not made (cached)"
				}
				table = append(table, cell{c.who + ": " + c.service + " " + c.action, f.name, outcome, note})
			})
		}
	}
	for _, state := range lambdas {
		for _, f := range faults {
			t.Run(state+" invocation "+f.name, func(t *testing.T) {
				rule := tasks.MockRule{StateMachine: localenv.DeployStateMachine, State: state}
				if f.name == "timeout" {
					e.Server.Mocks().Pin(rule, tasks.MockResponse{Throw: &f.lambda}, tasks.MockResponse{Invoke: true})
				} else {
					e.Server.Mocks().Pin(rule, tasks.MockResponse{Throw: &f.lambda})
				}
				arn, outcome, cause := p.faulted(t)
				e.Server.Mocks().Pin(rule, tasks.MockResponse{Invoke: true})
				note := p.check(t, arn, outcome, cause, false)
				table = append(table, cell{"Lambda: " + state, f.name, outcome, note})
			})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-50s %-9s %-13s %s\n", "call", "fault", "outcome", "lock, ledger")
	for _, c := range table {
		fmt.Fprintf(&b, "%-50s %-9s %-13s %s\n", c.call, c.fault, c.outcome, c.note)
	}
	t.Logf("the deploy machine's fault matrix:\n%s", b.String())
}

// faulted deploys a new push under whatever fault is installed.
func (p *pipeline) faulted(t *testing.T) (arn, outcome, cause string) {
	t.Helper()
	arn = p.start(t, p.push(t, nil))
	outcome, cause = p.ended(t, arn)
	return arn, outcome, cause
}

// check asserts what every cell of the matrix must hold, and says it.
func (p *pipeline) check(t *testing.T, arn, outcome, cause string, tableFault bool) string {
	t.Helper()
	if !slices.Contains([]string{payload.OutcomeSucceeded, payload.OutcomeRolledBack, payload.OutcomeFailedClean, payload.OutcomeFailedDirty}, outcome) {
		t.Errorf("ended %s (%s): not one of the four outcomes", outcome, cause)
	}
	l, err := world.ReadLock(t.Context(), p.e.AWS, p.e.Releases, "web", "production")
	if err != nil {
		t.Fatal(err)
	}
	note := "lock free"
	if l.Owner != "" {
		t.Errorf("the lock is still held by %s after %s (%s)", l.Owner, outcome, cause)
		note = "LOCK HELD"
	}
	entries, err := world.Ledger(t.Context(), p.e.AWS, p.e.Releases, "web", "production")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e world.LedgerEntry) bool { return e.Execution == arn })
	switch {
	case i >= 0 && entries[i].Outcome == outcome:
		note += ", ledger " + outcome
	case i >= 0:
		t.Errorf("ledger says %s, the execution %s", entries[i].Outcome, outcome)
	case tableFault && (strings.Contains(cause, "ledger") || strings.Contains(cause, "LockFailed")):
		note += ", no ledger entry (the outcome says why)"
	case strings.HasPrefix(cause, "ResolveFailed:"):
		note += ", no ledger entry (nothing was resolved to record it under; the outcome says why)"
	default:
		t.Errorf("no ledger entry for %s (%s: %s)", arn, outcome, cause)
		note += ", NO LEDGER ENTRY"
	}
	// What the service runs afterwards is a release (never half of one).
	p.e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
	return note
}
