package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/localenv/localenvtest"
	"github.com/stepship/stepship/test/world"
)

// The deploy pipeline end to end, on one local stack: the built resolve,
// deploy, migrate and verify bootstraps, the deploy state machine in the
// local Step Functions service, the lock and ledger in the emulator's
// DynamoDB, migrations on a real PostgreSQL, ECS deployments scripted by the
// proxy (moto starts none), a health check the test switches. The subtests
// run in order on the same service, as one team's day of pushes would.
func TestDeployPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack")
	}
	start := time.Now()
	e := localenvtest.StartT(t)
	p := &pipeline{e: e, t0: time.Now().Add(-30 * time.Minute).Truncate(time.Second)}
	t.Logf("local stack up in %s", time.Since(start).Round(time.Millisecond))

	t.Run("a push with a migration deploys", p.migrationDeploys)
	t.Run("a failing migration changes nothing", p.failingMigration)
	t.Run("a rollout ECS fails is rolled back", p.rolloutFails)
	t.Run("a circuit-breaker rollback is rolled back", p.circuitBreaker)
	t.Run("a failing health check is rolled back", p.healthFails)
	t.Run("an alarm during the bake is rolled back", p.alarmDuringBake)
	t.Run("three pushes in a row: the newest deploys, the middle is superseded", p.threeInARow)
	t.Run("two pushes at once: never older over newer", p.twoAtOnce)
	t.Run("an older push is refused; a console rollback request is not", p.olderRefused)
	t.Run("a crash mid-deploy: the next deploy takes the lock over", p.crashMidDeploy)
	t.Run("an expired lease frees the lock of a holder still running", p.leaseExpires)
}

type pipeline struct {
	e  *localenv.Env
	t0 time.Time // push times are t0 + n minutes, n growing with each push
	n  int
	// good is the task definition of the last SUCCEEDED release.
	good string
}

// release is one pushed commit: its image pushed, its migrations written
// where its build would write them.
type release struct {
	commit   string
	digest   string
	pushedAt time.Time
}

// push makes a commit's build artifacts (image, migrations) and returns it
// with the next push time.
func (p *pipeline) push(t testing.TB, migrations map[string]string) release {
	t.Helper()
	p.n++
	r := release{commit: fmt.Sprintf("%040x", 0xc0ffee0000+p.n), pushedAt: p.t0.Add(time.Duration(p.n) * time.Minute)}
	var err error
	if r.digest, err = world.PushImage(t.Context(), p.e.AWS, p.e.Spec, r.commit); err != nil {
		t.Fatal(err)
	}
	if migrations == nil {
		migrations = baseMigrations
	}
	if err := world.PushMigrations(t.Context(), p.e.AWS, p.e.Releases, r.commit, migrations); err != nil {
		t.Fatal(err)
	}
	return r
}

var baseMigrations = map[string]string{
	"00001_create_users.sql": "-- +goose Up\nCREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, role text NOT NULL);\n" +
		"INSERT INTO users (name, role) VALUES ('alice', 'admin');\n-- +goose Down\nDROP TABLE users;\n",
}

// start starts a deploy of r as its push would: the input carries the signed
// push (source) the webhook function would put there.
func (p *pipeline) start(t testing.TB, r release) string {
	t.Helper()
	in, _ := json.Marshal(payload.DeployRequest{Service: "web", Environment: "production", Commit: r.commit,
		Source: &payload.Source{Provider: "github", Repository: "acme/web", Ref: "refs/heads/main", Pusher: "dana", PushedAt: &r.pushedAt}})
	return p.startInput(t, string(in))
}

func (p *pipeline) startInput(t testing.TB, input string) string {
	t.Helper()
	out, err := p.e.SFN.StartExecution(t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(p.e.DeployStateMachineARN), Input: aws.String(input)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ExecutionArn)
}

// ended waits for an execution and returns its outcome (the error of a
// failed one, SUCCEEDED from the output of a successful one) and cause.
func (p *pipeline) ended(t testing.TB, arn string) (outcome, cause string) {
	t.Helper()
	out, err := p.e.WaitExecution(t.Context(), arn, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	switch out.Status {
	case sfntypes.ExecutionStatusSucceeded:
		var o payload.Outcome
		if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &o); err != nil {
			t.Fatalf("output %s: %v", aws.ToString(out.Output), err)
		}
		return o.Status, o.Reason
	case sfntypes.ExecutionStatusFailed:
		return aws.ToString(out.Error), aws.ToString(out.Cause)
	}
	return string(out.Status), ""
}

// deploy starts r and expects the outcome.
func (p *pipeline) deploy(t *testing.T, r release, want string, causes ...string) string {
	t.Helper()
	arn := p.start(t, r)
	p.expect(t, arn, want, causes...)
	p.lockFree(t)
	return arn
}

func (p *pipeline) expect(t *testing.T, arn, want string, causes ...string) {
	t.Helper()
	got, cause := p.ended(t, arn)
	if got != want {
		hist, _ := p.e.History(t.Context(), arn)
		t.Fatalf("%s ended %s (%s), want %s; path %v", arn, got, cause, want, localenv.StatePath(hist))
	}
	for _, c := range causes {
		if !strings.Contains(cause, c) {
			t.Errorf("cause %q does not say %q", cause, c)
		}
	}
}

// lockFree: every execution that ended released the lock.
func (p *pipeline) lockFree(t *testing.T) {
	t.Helper()
	l, err := world.ReadLock(t.Context(), p.e.AWS, p.e.Releases, "web", "production")
	if err != nil {
		t.Fatal(err)
	}
	if l.Owner != "" {
		t.Errorf("the lock is still held by %s (%s)", l.Owner, l.OwnerCommit)
	}
}

// runs says what the service runs: its task definition and image.
func (p *pipeline) runs(t *testing.T) world.ServiceState {
	t.Helper()
	svc, err := world.Service(t.Context(), p.e.AWS, p.e.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (p *pipeline) wantRunning(t *testing.T, r release) {
	t.Helper()
	want := "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@" + r.digest
	if got := p.runs(t); got.Images["web"] != want {
		t.Errorf("service runs %s with %s, want %s", got.TaskDefinition, got.Images["web"], want)
	}
}

// ledger returns the ledger's entries, oldest first; last is the newest.
func (p *pipeline) ledger(t *testing.T) []world.LedgerEntry {
	t.Helper()
	l, err := world.Ledger(t.Context(), p.e.AWS, p.e.Releases, "web", "production")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (p *pipeline) entry(t *testing.T, arn string) world.LedgerEntry {
	t.Helper()
	for _, e := range p.ledger(t) {
		if e.Execution == arn {
			return e
		}
	}
	t.Fatalf("no ledger entry for %s", arn)
	return world.LedgerEntry{}
}

func (p *pipeline) dbVersion(t *testing.T) string {
	t.Helper()
	v, err := p.e.Postgres.ExecIn(t.Context(), p.e.BackupSpec.DBName, "SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// oneVerifyRound drops Verify's later rounds from a path: a rollout that
// completes late in an invocation has its health check in the next one.
func oneVerifyRound(path []string) []string {
	out := slices.Clone(path)
	for i := slices.Index(out, "VerifyDone"); i > 0 && len(out) > i+2 && out[i+1] == "Verify"; {
		out = slices.Delete(out, i+1, i+3)
	}
	return out
}

// waitForState waits until the execution has entered the state.
func (p *pipeline) waitForState(t *testing.T, arn, state string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		hist, err := p.e.History(t.Context(), arn)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(localenv.StatePath(hist), state) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never entered %s", arn, state)
}

// waitForLock waits until the lock is held by arn (waiter: waiting for it).
func (p *pipeline) waitForLock(t *testing.T, arn string, waiter bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		l, err := world.ReadLock(t.Context(), p.e.AWS, p.e.Releases, "web", "production")
		if err != nil {
			t.Fatal(err)
		}
		if (!waiter && l.Owner == arn) || (waiter && l.Waiter == arn) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never held (or waited for) the lock", arn)
}

func (p *pipeline) migrationDeploys(t *testing.T) {
	before := p.runs(t)
	r := p.push(t, nil)
	arn := p.deploy(t, r, payload.OutcomeSucceeded, "deployed commit "+r.commit)
	hist, _ := p.e.History(t.Context(), arn)
	path := oneVerifyRound(localenv.StatePath(hist))
	if want := []string{"Resolve", "HasSource", "Acquire", "ReadLast", "OrderCheck", "BuildMode", "Build", "CheckImage",
		"SnapshotBeforeDeploy", "Register", "MigrationsMode", "Migrate", "UpdateService", "Verify", "VerifyDone", "BakeNeeded", "Bake", "CheckBake", "Succeeded",
		"RecordSucceeded", "Release", "Finish", "Deployed"}; !slices.Equal(path, want) {
		t.Errorf("path %v\nwant %v", path, want)
	}
	// The budget: at most 40 state transitions for a successful deploy.
	if run := localenv.Measure(hist); run.Transitions > 40 || run.Invocations < 5 {
		t.Errorf("a deploy took %s; the budget is 40 transitions", run)
	} else {
		t.Logf("a deploy with a migration and a bake: %s", run)
	}
	p.wantRunning(t, r)
	if v := p.dbVersion(t); v != "1" {
		t.Errorf("database at migration version %s, want 1", v)
	}
	e := p.entry(t, arn)
	now := p.runs(t).TaskDefinition
	if e.Outcome != payload.OutcomeSucceeded || e.Commit != r.commit || e.ImageDigest != r.digest || e.RevisionBefore != before.TaskDefinition ||
		e.RevisionAfter != now || e.MigrationBefore != "0" || e.MigrationAfter != "1" || e.Trigger != "webhook" || e.Author != "dana" ||
		e.PushedAt != r.pushedAt.UTC().Format(payload.TimeFormat) || e.Start == "" || e.End < e.Start {
		t.Errorf("ledger entry %+v", e)
	}
	p.good = now
}

func (p *pipeline) failingMigration(t *testing.T) {
	before := p.runs(t)
	bad := map[string]string{
		"00001_create_users.sql": baseMigrations["00001_create_users.sql"],
		"00002_add_email.sql":    "-- +goose Up\nALTER TABLE users ADD COLUMN email text;\nALTER TABLE nosuchtable ADD COLUMN x int;\n-- +goose Down\nALTER TABLE users DROP COLUMN email;\n",
	}
	r := p.push(t, bad)
	arn := p.deploy(t, r, payload.OutcomeFailedClean, "MigrationFailed", "00002_add_email.sql", "nosuchtable", "the service was not changed")
	if got := p.runs(t); got.TaskDefinition != before.TaskDefinition {
		t.Errorf("service moved to %s, want %s untouched", got.TaskDefinition, before.TaskDefinition)
	}
	if v := p.dbVersion(t); v != "1" {
		t.Errorf("database at migration version %s, want the last good one, 1", v)
	}
	// The failed migration's transaction was rolled back: no email column.
	if cols, err := p.e.Postgres.ExecIn(t.Context(), p.e.BackupSpec.DBName, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'"); err != nil || cols != "0" {
		t.Errorf("email column count %q (%v): the failed migration left a change", cols, err)
	}
	if e := p.entry(t, arn); e.Outcome != payload.OutcomeFailedClean || e.RevisionAfter != before.TaskDefinition {
		t.Errorf("ledger entry %+v", e)
	}
}

// rolledBack deploys r under the ECS script and health, and expects
// ROLLED_BACK to the last good release.
func (p *pipeline) rolledBack(t *testing.T, r release, causes ...string) string {
	t.Helper()
	arn := p.deploy(t, r, payload.OutcomeRolledBack, append(causes, "rolled back to "+p.good)...)
	if got := p.runs(t).TaskDefinition; got != p.good {
		t.Errorf("service runs %s, want the last good release %s", got, p.good)
	}
	e := p.entry(t, arn)
	if e.Outcome != payload.OutcomeRolledBack || e.RevisionAfter != p.good || e.ImageDigest != r.digest {
		t.Errorf("ledger entry %+v", e)
	}
	return arn
}

func (p *pipeline) rolloutFails(t *testing.T) {
	p.e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{
		{Outcome: awsproxy.RolloutFailed, InProgressPolls: 2, Reason: "tasks failed to start: CannotPullContainerError"},
		{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1},
	}})
	defer p.completing()
	p.rolledBack(t, p.push(t, nil), "DeploymentFailed", "CannotPullContainerError")
}

func (p *pipeline) circuitBreaker(t *testing.T) {
	p.e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{
		{Outcome: awsproxy.RolloutRolledBack, InProgressPolls: 1, RollbackPolls: 1},
		{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1},
	}})
	defer p.completing()
	p.rolledBack(t, p.push(t, nil), "RolledBackByECS")
}

// completing restores the default script: every deployment completes.
func (p *pipeline) completing() {
	p.e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
}

func (p *pipeline) healthFails(t *testing.T) {
	p.e.Health.Set(503)
	r := p.push(t, nil)
	arn := p.start(t, r)
	// The rollback waits only for the rollout: the old release answers again.
	p.waitForState(t, arn, "Rollback")
	p.e.Health.Set(200)
	p.expect(t, arn, payload.OutcomeRolledBack, "HealthCheckFailed", "503", "rolled back to "+p.good)
	p.lockFree(t)
	if got := p.runs(t).TaskDefinition; got != p.good {
		t.Errorf("service runs %s, want %s", got, p.good)
	}
}

func (p *pipeline) alarmDuringBake(t *testing.T) {
	r := p.push(t, nil)
	arn := p.start(t, r)
	p.waitForState(t, arn, "Bake")
	// Through the proxy, which keeps the alarm history moto does not.
	cw := cloudwatch.NewFromConfig(p.e.Proxy.Config(p.e.AWS.Copy()))
	set := func(v cwtypes.StateValue) {
		if _, err := cw.SetAlarmState(t.Context(), &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(p.e.Releases.Alarm),
			StateValue: v, StateReason: aws.String("test: 5xx " + string(v))}); err != nil {
			t.Fatal(err)
		}
	}
	set(cwtypes.StateValueAlarm)
	defer set(cwtypes.StateValueOk)
	p.expect(t, arn, payload.OutcomeRolledBack, "AlarmDuringBake", p.e.Releases.Alarm, "rolled back to "+p.good)
	p.lockFree(t)
}

func (p *pipeline) threeInARow(t *testing.T) {
	// The first rollout takes a while: the next two pushes arrive meanwhile.
	p.e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 40}, {Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
	defer p.completing()
	a, b, c := p.push(t, nil), p.push(t, nil), p.push(t, nil)
	arnA := p.start(t, a)
	p.waitForLock(t, arnA, false)
	arnB := p.start(t, b)
	p.waitForLock(t, arnB, true)
	arnC := p.start(t, c)
	p.expect(t, arnB, payload.OutcomeFailedClean, "superseded by "+c.commit)
	p.expect(t, arnA, payload.OutcomeSucceeded)
	p.expect(t, arnC, payload.OutcomeSucceeded)
	p.lockFree(t)
	p.wantRunning(t, c)
	if e := p.entry(t, arnB); e.Outcome != payload.OutcomeFailedClean || !strings.Contains(e.Reason, "superseded by "+c.commit) {
		t.Errorf("ledger entry of the superseded push %+v", e)
	}
	p.good = p.runs(t).TaskDefinition
}

func (p *pipeline) twoAtOnce(t *testing.T) {
	older, newer := p.push(t, nil), p.push(t, nil)
	arns := make([]string, 2)
	done := make(chan int)
	for i, r := range []release{older, newer} {
		go func() { arns[i] = p.start(t, r); done <- i }()
	}
	<-done
	<-done
	first, _ := p.ended(t, arns[0])
	second, _ := p.ended(t, arns[1])
	if second != payload.OutcomeSucceeded || (first != payload.OutcomeSucceeded && first != payload.OutcomeFailedClean) {
		t.Fatalf("older ended %s, newer %s; want the newer SUCCEEDED", first, second)
	}
	p.lockFree(t)
	p.wantRunning(t, newer)
	if first == payload.OutcomeSucceeded { // then it deployed before the newer one
		if o, n := p.entry(t, arns[0]), p.entry(t, arns[1]); o.End > n.End {
			t.Errorf("the older push finished (%s) after the newer one (%s)", o.End, n.End)
		}
	}
	p.good = p.runs(t).TaskDefinition
}

func (p *pipeline) olderRefused(t *testing.T) {
	before := p.runs(t)
	r := p.push(t, nil)
	r.pushedAt = p.t0 // before every push so far
	arn := p.deploy(t, r, payload.OutcomeFailedClean, "refused", "nothing goes backwards", "allowOlder")
	if got := p.runs(t).TaskDefinition; got != before.TaskDefinition {
		t.Errorf("service moved to %s", got)
	}
	if e := p.entry(t, arn); e.Outcome != payload.OutcomeFailedClean {
		t.Errorf("ledger entry %+v", e)
	}
	// A console rollback request for the first release's commit deploys it.
	first := p.ledger(t)[0]
	in := fmt.Sprintf(`{"service":"web","environment":"production","commit":%q,"allowOlder":true,"reason":"back to the first release","requestedBy":"alice"}`, first.Commit)
	arn = p.startInput(t, in)
	p.expect(t, arn, payload.OutcomeSucceeded)
	p.lockFree(t)
	if e := p.entry(t, arn); !e.RollbackRequest || e.Trigger != "console" || e.Author != "alice" || e.PushedAt != first.PushedAt {
		t.Errorf("ledger entry of the rollback request %+v", e)
	}
	if got := p.runs(t).Images["web"]; got != "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@"+first.ImageDigest {
		t.Errorf("service runs %s, want the first release's image", got)
	}
	// Without allowOlder, the same console deploy is refused.
	in = fmt.Sprintf(`{"service":"web","environment":"production","commit":%q,"reason":"again"}`, first.Commit)
	p.expect(t, p.startInput(t, in), payload.OutcomeFailedClean, "refused")
	p.lockFree(t)
}

func (p *pipeline) crashMidDeploy(t *testing.T) {
	p.e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 100000}, {Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
	defer p.completing()
	crashed, next := p.push(t, nil), p.push(t, nil)
	arn := p.start(t, crashed)
	p.waitForState(t, arn, "Verify")
	if _, err := p.e.SFN.StopExecution(context.Background(), &sfn.StopExecutionInput{ExecutionArn: aws.String(arn), Error: aws.String("Crash"), Cause: aws.String("test: the execution dies mid-deploy")}); err != nil {
		t.Fatal(err)
	}
	if l, _ := world.ReadLock(t.Context(), p.e.AWS, p.e.Releases, "web", "production"); l.Owner != arn {
		t.Fatalf("the stopped execution does not hold the lock: %+v", l)
	}
	p.deploy(t, next, payload.OutcomeSucceeded)
	p.wantRunning(t, next)
}

// A holder that still runs but whose lease has ended (it cannot be asked
// about, or runs past the machine's own timeout) loses the lock: the next
// deploy takes it without waiting. The holder then finds the lock gone: its
// release changes nothing of the new holder's.
func (p *pipeline) leaseExpires(t *testing.T) {
	p.e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 100000}, {Outcome: awsproxy.RolloutCompleted, InProgressPolls: 1}}})
	defer p.completing()
	slow, next := p.push(t, nil), p.push(t, nil)
	arnSlow := p.start(t, slow)
	defer p.e.SFN.StopExecution(context.Background(), &sfn.StopExecutionInput{ExecutionArn: aws.String(arnSlow)})
	p.waitForState(t, arnSlow, "Verify")
	// Its lease ran out an hour ago.
	if _, err := dynamodb.NewFromConfig(p.e.AWS).UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: aws.String(p.e.Releases.Table),
		Key:                       map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: payload.LockKey("web", "production")}, "SK": &ddbtypes.AttributeValueMemberS{Value: "lock"}},
		UpdateExpression:          aws.String("SET leaseUntil = :past"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":past": &ddbtypes.AttributeValueMemberS{Value: time.Now().Add(-time.Hour).UTC().Format(payload.TimeFormat)}},
	}); err != nil {
		t.Fatal(err)
	}
	arnNext := p.start(t, next)
	// The next deploy takes the lock while the holder still runs; then the
	// holder stops, so that its rollout's polls do not mix with the next's.
	p.waitForLock(t, arnNext, false)
	if _, err := p.e.SFN.StopExecution(t.Context(), &sfn.StopExecutionInput{ExecutionArn: aws.String(arnSlow)}); err != nil {
		t.Fatal(err)
	}
	hist := func() []string {
		h, _ := p.e.History(t.Context(), arnNext)
		return localenv.StatePath(h)
	}
	p.expect(t, arnNext, payload.OutcomeSucceeded)
	if path := hist(); slices.Contains(path, "ReadLock") || slices.Contains(path, "WaitForLock") {
		t.Errorf("the next deploy waited for an expired lease: %v", path)
	}
	p.lockFree(t)
}
