// Command demo runs stepship's main job on one machine, with no AWS account, and
// prints it step by step: it starts the local stack (test/localenv: the AWS
// emulator seeded with an ECS service on revision 1, the webhook secret, the
// lock and ledger table, a real PostgreSQL; the built functions under the
// Lambda runtime emulator; the local Step Functions service); shows that an
// unsigned push is refused; sends a signed GitHub push whose build has a
// migration and follows the deploy state machine state by state to SUCCEEDED;
// shows a replayed push and a console input naming a target refused; sends a
// bad release, whose ECS deployment fails, and follows it to ROLLED_BACK;
// takes a backup of the database and copies it to the DR region, then runs
// a disaster-recovery drill there (restore, verify against the version the
// ledger recorded, RTO and RPO, cleanup, the report in the ledger and its
// notification); and ends with a summary: what runs, the ledger, the backup
// and the drill, and each deploy's transitions, Lambda time and cost at list
// prices. `make demo` runs it after installing the tools and building the
// functions.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/world"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, os.Stderr, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		fmt.Fprintln(os.Stderr, "demo: FAILED (the logs of the local services are above)")
		os.Exit(1)
	}
}

// run starts the local stack, tells the story on out, and stops the stack. When
// the story fails, the local services' logs go to logs before the stack stops.
func run(ctx context.Context, out, logs io.Writer, timeout time.Duration) (err error) {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := printer{w: out}

	p.title("stepship demo — a git push deploys itself and a backup is restored in another region, on one machine, with no AWS account")
	p.section("Starting the local stack (everything on 127.0.0.1)")
	e, err := localenv.Start(ctx, localenv.WithBackups(), localenv.WithProgress(func(step string, took time.Duration) {
		p.row("✓", step, took)
	}))
	if err != nil {
		return fmt.Errorf("failed to start the local stack: %w", err)
	}
	defer func() {
		if err != nil {
			fmt.Fprint(logs, e.LogReport())
		}
		if cerr := e.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("failed to stop the local stack: %w", cerr))
		}
	}()
	return demo(ctx, e, p, begin)
}

// demo is the story told against a running local stack.
func demo(ctx context.Context, e *localenv.Env, p printer, begin time.Time) error {
	fixture, err := e.Fixture("github-push.json")
	if err != nil {
		return err
	}
	// Pushed now: a push older than the replay window deploys nothing.
	body := webhooktest.WithPushedAt(fixture, time.Now())
	var push struct {
		Ref        string `json:"ref"`
		After      string `json:"after"`
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
		HeadCommit struct {
			Message string `json:"message"`
		} `json:"head_commit"`
	}
	if err := json.Unmarshal(body, &push); err != nil {
		return fmt.Errorf("events/github-push.json: %w", err)
	}
	delivery := fmt.Sprintf("demo-%d", time.Now().UnixNano())

	p.section("A push signed with the wrong secret is refused")
	forged := webhooktest.GitHubHeaders("push", delivery+"-forged", []byte("not the webhook secret"), body)
	a, err := e.Post(ctx, forged, body)
	if err != nil {
		return err
	}
	if a.Status != 401 {
		return fmt.Errorf("a forged push got %d %s, want 401", a.Status, a.Body)
	}
	list, err := e.SFN.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(e.DeployStateMachineARN)})
	if err != nil {
		return fmt.Errorf("failed to list executions: %w", err)
	}
	if len(list.Executions) != 0 {
		return fmt.Errorf("a forged push started %d executions", len(list.Executions))
	}
	p.line("→ %d %s; executions of the deploy state machine: %d", a.Status, strings.TrimSpace(a.Body), len(list.Executions))

	before := e.Seeded.TaskDefinition
	first, err := release(ctx, e, p, body, delivery, push.Repository.FullName, push.Ref, push.After, firstLine(push.HeadCommit.Message), migrations)
	if err != nil {
		return err
	}
	if first.desc.Status != sfntypes.ExecutionStatusSucceeded {
		return fmt.Errorf("the deploy did not succeed: %s: %s", aws.ToString(first.desc.Error), aws.ToString(first.desc.Cause))
	}
	good, err := world.Service(ctx, e.AWS, e.Spec)
	if err != nil {
		return err
	}
	if want := e.Spec.Image[:strings.LastIndex(e.Spec.Image, ":")] + "@" + first.digest; good.Images[e.Spec.Container] != want {
		return fmt.Errorf("the service runs %s, want %s", good.Images[e.Spec.Container], want)
	}
	version, err := e.Postgres.ExecIn(ctx, e.BackupSpec.DBName, "SELECT max(version_id) FROM goose_db_version WHERE is_applied")
	if err != nil {
		return err
	}

	if err := boundaries(ctx, e, p, body, first.arn); err != nil {
		return err
	}

	// A bad release: its tasks never start, ECS fails the deployment.
	e.ScriptECS(awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{
		{Outcome: awsproxy.RolloutFailed, InProgressPolls: 3, Reason: "ECS deployment circuit breaker: tasks failed to start. CannotPullContainerError: exec format error"},
		{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 2},
	}})
	badCommit := strings.Repeat("b", 40)
	badBody := []byte(strings.ReplaceAll(string(webhooktest.WithPushedAt(fixture, time.Now().Add(time.Second))), push.After, badCommit))
	second, err := release(ctx, e, p, badBody, delivery+"-bad", push.Repository.FullName, push.Ref, badCommit, "a release whose image cannot start", migrations)
	if err != nil {
		return err
	}
	if aws.ToString(second.desc.Error) != payload.OutcomeRolledBack {
		return fmt.Errorf("the bad release ended %s %s: %s, want ROLLED_BACK", second.desc.Status, aws.ToString(second.desc.Error), aws.ToString(second.desc.Cause))
	}
	p.line("→ %s: %s", aws.ToString(second.desc.Error), aws.ToString(second.desc.Cause))
	after, err := world.Service(ctx, e.AWS, e.Spec)
	if err != nil {
		return err
	}
	if after.TaskDefinition != good.TaskDefinition {
		return fmt.Errorf("after the rollback the service runs %s, want %s", after.TaskDefinition, good.TaskDefinition)
	}
	ledger, err := world.Ledger(ctx, e.AWS, e.Releases, "web", "production")
	if err != nil {
		return err
	}
	backedUp, err := backupRun(ctx, e, p)
	if err != nil {
		return err
	}
	drilled, err := drillRun(ctx, e, p)
	if err != nil {
		return err
	}

	p.section("Summary")
	p.kv("service", fmt.Sprintf("%s in cluster %s (production)", e.Spec.Service, e.Spec.Cluster))
	p.kv("release 1", fmt.Sprintf("%s: %s → %s, migration version %s, image %s", aws.ToString(first.outcome), localenv.TaskDefinitionName(before),
		localenv.TaskDefinitionName(good.TaskDefinition), version, good.Images[e.Spec.Container]))
	p.kv("release 2", fmt.Sprintf("%s: back on %s", aws.ToString(second.desc.Error), localenv.TaskDefinitionName(after.TaskDefinition)))
	p.kv("ledger", fmt.Sprintf("%d entries: %s", len(ledger), outcomes(ledger)))
	p.kv("backup", backedUp.summary)
	p.kv("drill", drilled.summary)
	p.kv("deploy", first.run.String())
	p.kv("rollback", second.run.String())
	p.kv("prices", fmt.Sprintf("$%.3f per 1,000 transitions, $%.10f per arm64 GB-s, $%.2f per million invocations (list prices)",
		localenv.PricePerTransition*1000, localenv.PricePerArmGBSecond, localenv.PricePerLambdaInvoke*1e6))
	p.kv("total", ms(time.Since(begin)))
	return nil
}

// migrations are what the demo's builds write for every commit.
var migrations = map[string]string{
	"00001_create_users.sql": "-- +goose Up\nCREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, role text NOT NULL);\n" +
		"INSERT INTO users (name, role) VALUES ('alice', 'admin');\n-- +goose Down\nDROP TABLE users;\n",
}

// released is one push's deploy, followed to its end.
type released struct {
	arn, digest string
	desc        *sfn.DescribeExecutionOutput
	outcome     *string
	run         localenv.Run
}

// release builds the commit's artifacts as its build would (the emulator's
// CodeBuild runs no buildspec: the image, the migrations), sends the signed
// push, and follows the deploy state by state.
func release(ctx context.Context, e *localenv.Env, p printer, body []byte, delivery, repo, ref, commit, message string, files map[string]string) (released, error) {
	p.section(fmt.Sprintf("A signed GitHub push: %s %s @ %s", repo, ref, commit[:7]))
	p.line("  %q; the build writes the image and %d migration(s)", message, len(files))
	var r released
	var err error
	if r.digest, err = world.PushImage(ctx, e.AWS, e.Spec, commit); err != nil {
		return r, err
	}
	if err := world.PushMigrations(ctx, e.AWS, e.Releases, commit, files); err != nil {
		return r, err
	}
	headers := webhooktest.GitHubHeaders("push", delivery, []byte(e.Spec.GitHubSecret), body)
	sent := time.Now()
	a, err := e.Post(ctx, headers, body)
	if err != nil {
		return r, err
	}
	if a.Status != 202 || len(a.Executions) == 0 {
		return r, fmt.Errorf("the signed push got %d %s, want 202 with an execution", a.Status, a.Body)
	}
	for _, x := range a.Executions {
		p.line("→ %d Accepted in %s: deploy %s → %s", a.Status, ms(time.Since(sent)), x.Service, x.Environment)
		p.line("  execution %s", x.ExecutionARN)
	}
	r.arn = a.Executions[0].ExecutionARN
	p.section("The deploy state machine (statemachines/deploy.asl.json), state by state")
	if r.desc, err = follow(ctx, e, r.arn, p); err != nil {
		return r, err
	}
	hist, err := e.History(ctx, r.arn)
	if err != nil {
		return r, err
	}
	r.run = localenv.Measure(hist)
	var o payload.Outcome
	if json.Unmarshal([]byte(aws.ToString(r.desc.Output)), &o) == nil && o.Status != "" {
		r.outcome = &o.Status
	} else {
		r.outcome = r.desc.Error
	}
	p.line("%s in %s; %s", aws.ToString(r.outcome), ms(aws.ToTime(r.desc.StopDate).Sub(aws.ToTime(r.desc.StartDate))), r.run)
	return r, nil
}

func outcomes(l []world.LedgerEntry) string {
	var s []string
	for _, e := range l {
		s = append(s, e.Commit[:7]+" "+e.Outcome)
	}
	return strings.Join(s, ", ")
}

// boundaries shows two attacks refused: the captured push re-sent under a new
// delivery id, and a console input that names its own target.
func boundaries(ctx context.Context, e *localenv.Env, p printer, push []byte, arn string) error {
	p.section("The same signed push, replayed under a new delivery id")
	replay := webhooktest.GitHubHeaders("push", fmt.Sprintf("replay-%d", time.Now().UnixNano()), []byte(e.Spec.GitHubSecret), push)
	a, err := e.Post(ctx, replay, push)
	if err != nil {
		return err
	}
	if a.Status != 202 || len(a.Executions) != 1 || a.Executions[0].ExecutionARN != arn {
		return fmt.Errorf("a replayed push got %d %s, want 202 naming %s", a.Status, a.Body, arn)
	}
	p.line("→ %d: the execution the push already started, nothing new", a.Status)

	p.section("A console input that names its own cluster and image")
	input := `{"service":"web","environment":"production","commit":"` + strings.Repeat("9", 40) + `","cluster":"prod-payments","image":"docker.io/anyone/anything"}`
	start, err := e.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(e.DeployStateMachineARN),
		Name: aws.String(fmt.Sprintf("console-%d", time.Now().UnixNano())), Input: aws.String(input)})
	if err != nil {
		return fmt.Errorf("failed to start the console execution: %w", err)
	}
	out, err := e.WaitExecution(ctx, aws.ToString(start.ExecutionArn), time.Minute)
	if err != nil {
		return err
	}
	if aws.ToString(out.Error) != payload.OutcomeFailedClean || !strings.HasPrefix(aws.ToString(out.Cause), "InvalidDeployRequest:") {
		return fmt.Errorf("a console input naming a target ended %s %s %s, want FAILED_CLEAN InvalidDeployRequest", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	p.line("→ %s %s (InvalidDeployRequest): the catalog names every target; nothing was changed", out.Status, aws.ToString(out.Error))
	return nil
}

// follow prints each state of the execution as it finishes, reading the execution
// history from the local Step Functions service, and returns the final description.
func follow(ctx context.Context, e *localenv.Env, arn string, p printer) (*sfn.DescribeExecutionOutput, error) {
	type entered struct {
		kind string
		at   time.Time
	}
	open := map[string]entered{}
	var choice *row // a Choice is printed once the state it chose is entered
	printed := 0
	for {
		// Describe first: once it says the execution ended, the history read after
		// it holds every event.
		desc, err := e.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("failed to describe the execution: %w", err)
		}
		hist, err := e.History(ctx, arn)
		if err != nil {
			return nil, err
		}
		for _, ev := range hist[printed:] {
			printed++
			at := aws.ToTime(ev.Timestamp)
			switch {
			case ev.StateEnteredEventDetails != nil:
				name := aws.ToString(ev.StateEnteredEventDetails.Name)
				kind := strings.TrimSuffix(string(ev.Type), "StateEntered")
				open[name] = entered{kind: kind, at: at}
				if choice != nil {
					choice.outcome = "→ " + name
					p.state(*choice)
					choice = nil
				}
				if kind == "Succeed" {
					p.state(row{name: name, kind: kind, outcome: "execution succeeded"})
				}
			case ev.StateExitedEventDetails != nil:
				name := aws.ToString(ev.StateExitedEventDetails.Name)
				in := open[name]
				delete(open, name)
				r := row{name: name, kind: in.kind, took: at.Sub(in.at)}
				if in.kind == "Choice" {
					choice = &r
					continue
				}
				if in.kind == "Succeed" {
					continue
				}
				r.outcome = outcome(name, aws.ToString(ev.StateExitedEventDetails.Output))
				p.state(r)
			case ev.ExecutionFailedEventDetails != nil:
				for name, in := range open {
					p.state(row{name: name, kind: in.kind, took: at.Sub(in.at), outcome: "failed: " + aws.ToString(ev.ExecutionFailedEventDetails.Error)})
				}
			}
		}
		if desc.Status != sfntypes.ExecutionStatusRunning && printed == len(hist) {
			return desc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the execution did not finish in time: %w", ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// outcome says in a few words what a Task state produced.
func outcome(state, output string) string {
	if s, ok := recoveryOutcome(state, output); ok {
		return s
	}
	var o struct {
		Target *struct {
			Cluster    string `json:"cluster"`
			ECSService string `json:"ecsService"`
		} `json:"target"`
		Build *struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"build"`
		Image *struct {
			Digest string `json:"digest"`
		} `json:"image"`
		Release *struct {
			PreviousTaskDefinition string `json:"previousTaskDefinition"`
			TaskDefinition         string `json:"taskDefinition"`
		} `json:"release"`
		Migration *struct {
			VersionBefore any      `json:"versionBefore"`
			VersionAfter  any      `json:"versionAfter"`
			Applied       []string `json:"applied"`
		} `json:"migration"`
		Verify *struct {
			Status       string `json:"status"`
			Polls        int    `json:"polls"`
			HealthPasses int    `json:"healthPasses"`
		} `json:"verify"`
		Rollback *struct {
			TaskDefinition string `json:"taskDefinition"`
		} `json:"rollback"`
		Order *struct {
			Push string `json:"push"`
		} `json:"order"`
		Error *struct {
			Error string `json:"Error"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(output), &o)
	switch {
	case state == "Resolve" && o.Target != nil:
		return fmt.Sprintf("catalog: ECS %s/%s", o.Target.Cluster, o.Target.ECSService)
	case state == "Acquire" && o.Order != nil:
		return "deploy lock taken (push of " + o.Order.Push + ")"
	case state == "Build" && o.Build != nil:
		return fmt.Sprintf("CodeBuild %s: %s", o.Build.ID, o.Build.Status)
	case state == "CheckImage" && o.Image != nil:
		return "image found: " + o.Image.Digest[:19] + "…"
	case state == "Register" && o.Release != nil:
		return fmt.Sprintf("registered %s (the service runs %s)", localenv.TaskDefinitionName(o.Release.TaskDefinition), localenv.TaskDefinitionName(o.Release.PreviousTaskDefinition))
	case state == "Migrate" && o.Migration != nil && len(o.Migration.Applied) == 0:
		return fmt.Sprintf("database already at version %v: nothing to apply", o.Migration.VersionAfter)
	case state == "Migrate" && o.Migration != nil:
		return fmt.Sprintf("database migrated %v → %v (%s)", o.Migration.VersionBefore, o.Migration.VersionAfter, strings.Join(o.Migration.Applied, ", "))
	case (state == "Verify" || state == "CheckBake") && o.Error != nil && o.Error.Error != "" && (o.Verify == nil || o.Verify.Status == ""):
		return "failed: " + o.Error.Error + " → roll back"
	case state == "UpdateService" && o.Release != nil:
		return "service pointed at " + localenv.TaskDefinitionName(o.Release.TaskDefinition)
	case state == "Verify" && o.Verify != nil:
		return fmt.Sprintf("rollout %s after %d polls, %d health passes", o.Verify.Status, o.Verify.Polls, o.Verify.HealthPasses)
	case state == "CheckBake":
		return "alarms stayed OK through the bake"
	case state == "Rollback" && o.Rollback != nil:
		return "service pointed back at " + localenv.TaskDefinitionName(o.Rollback.TaskDefinition)
	case state == "VerifyRollback":
		return "rollback stable"
	case state == "RecordSucceeded" || state == "Record" || state == "RecordRefused":
		return "ledger entry written"
	case state == "Release":
		return "deploy lock released"
	}
	return "succeeded"
}

type row struct {
	name, kind, outcome string
	took                time.Duration
}

// printer writes the demo's report.
type printer struct{ w io.Writer }

func (p printer) title(s string)   { fmt.Fprintf(p.w, "%s\n", s) }
func (p printer) section(s string) { fmt.Fprintf(p.w, "\n%s\n", s) }
func (p printer) line(f string, a ...any) {
	fmt.Fprintf(p.w, "  "+f+"\n", a...)
}
func (p printer) row(mark, what string, took time.Duration) {
	fmt.Fprintf(p.w, "  %s %-80s %8s\n", mark, what, ms(took))
}
func (p printer) state(r row) {
	took := ""
	if r.kind != "Succeed" && r.kind != "Fail" {
		took = ms(r.took)
	}
	fmt.Fprintf(p.w, "  %-24s %-8s %8s  %s\n", r.name, r.kind, took, r.outcome)
}
func (p printer) kv(k, v string) { fmt.Fprintf(p.w, "  %-10s %s\n", k, v) }

func ms(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1 ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
