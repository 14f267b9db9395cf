package statemachines_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// The deploy state machine, run path by path in the local interpreter with
// scripted task results: each scenario asserts the states taken and the named
// outcome, and TestDeployEveryPathIsTaken fails when a transition, a Catch or a
// Retry of the definition is taken by no scenario — so a path nobody runs
// cannot rot unnoticed.

const commit = "9fceb02d0ae598e95dc970b74767f19372d61af8"

// reply is one scripted task result: an output or an error.
type reply struct {
	out  string
	err  string
	text string // the error's cause
}

func ok(out string) reply           { return reply{out: out} }
func fail(name, cause string) reply { return reply{err: name, text: cause} }

// resolved is what the resolve function returns for web in production: the
// request as checked and the target (it replaces the state).
func resolved(mode string) string {
	return `{"request":{"service":"web","environment":"production","commit":"` + commit + `"},"target":` + target(mode) + `}`
}

func target(mode string) string {
	build := `{"mode":"prebuilt"}`
	if mode == "codebuild" {
		build = `{"mode":"codebuild","project":"web-build"}`
	}
	return `{"service":"web","environment":"production","repository":{"provider":"github","name":"acme/web"},` +
		`"image":{"uri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web","registryId":"123456789012","region":"us-east-1","repository":"web"},` +
		`"build":` + build + `,"cluster":"stepship-demo","ecsService":"web","container":"web"}`
}

const (
	digest   = "sha256:3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c43f2a9c1e5b7d4f60812a3b4c"
	images   = `{"ImageDetails":[{"ImageDigest":"` + digest + `","ImageTags":["` + commit + `"]}]}`
	build    = `{"Build":{"Id":"web-build:0b7f","BuildStatus":"SUCCEEDED"}}`
	deployed = `{"cluster":"stepship-demo","ecsService":"web","previousTaskDefinition":"web:1","taskDefinition":"web:2","image":"x"}`
)

type scenario struct {
	name    string
	script  map[string][]reply // state → replies in order (the last repeats)
	path    []string           // states entered, in order
	status  asl.Status
	errName string
	cause   []string // substrings of the cause
}

var deployScenarios = []scenario{
	{
		name:   "codebuild: build, check, deploy",
		script: map[string][]reply{"Resolve": {ok(resolved("codebuild"))}, "Build": {ok(build)}, "CheckImage": {ok(images)}, "Deploy": {ok(deployed)}},
		path:   []string{"Resolve", "BuildMode", "Build", "CheckImage", "Deploy", "Deployed"},
		status: asl.StatusSucceeded,
	},
	{
		name:   "prebuilt: check, deploy",
		script: map[string][]reply{"Resolve": {ok(resolved("prebuilt"))}, "CheckImage": {ok(images)}, "Deploy": {ok(deployed)}},
		path:   []string{"Resolve", "BuildMode", "CheckImage", "Deploy", "Deployed"},
		status: asl.StatusSucceeded,
	},
	{
		name:   "an input naming a target is refused",
		script: map[string][]reply{"Resolve": {fail("InvalidDeployRequest", `invalid deploy request: field "cluster" is not allowed`)}},
		path:   []string{"Resolve", "RequestRefused"},
		status: asl.StatusFailed, errName: "InvalidDeployRequest", cause: []string{`"cluster" is not allowed`},
	},
	{
		name:   "a service the catalog does not have is refused",
		script: map[string][]reply{"Resolve": {fail("UnknownTarget", `service "api" is not in the catalog`)}},
		path:   []string{"Resolve", "RequestRefused"},
		status: asl.StatusFailed, errName: "UnknownTarget", cause: []string{`"api"`},
	},
	{
		name:   "resolve crashes",
		script: map[string][]reply{"Resolve": {fail("Lambda.Unknown", "exit status 2")}},
		path:   []string{"Resolve", "ResolveFailed"},
		status: asl.StatusFailed, errName: "ResolveFailed", cause: []string{"Lambda.Unknown", "nothing was changed"},
	},
	{
		name:   "resolve throttled once, then deploys",
		script: map[string][]reply{"Resolve": {fail("Lambda.TooManyRequestsException", "Rate exceeded"), ok(resolved("prebuilt"))}, "CheckImage": {ok(images)}, "Deploy": {ok(deployed)}},
		path:   []string{"Resolve", "BuildMode", "CheckImage", "Deploy", "Deployed"},
		status: asl.StatusSucceeded,
	},
	{
		name:   "the build fails",
		script: map[string][]reply{"Resolve": {ok(resolved("codebuild"))}, "Build": {fail("States.TaskFailed", `{"BuildStatus":"FAILED"}`)}},
		path:   []string{"Resolve", "BuildMode", "Build", "BuildFailed"},
		status: asl.StatusFailed, errName: "BuildFailed", cause: []string{"the build of commit " + commit + " failed (States.TaskFailed)", "FAILED", "nothing was deployed"},
	},
	{
		name:   "CodeBuild throttles once, then builds",
		script: map[string][]reply{"Resolve": {ok(resolved("codebuild"))}, "Build": {fail("CodeBuild.AccountLimitExceededException", "limit"), ok(build)}, "CheckImage": {ok(images)}, "Deploy": {ok(deployed)}},
		path:   []string{"Resolve", "BuildMode", "Build", "CheckImage", "Deploy", "Deployed"},
		status: asl.StatusSucceeded,
	},
	{
		name:   "the commit's image is not in the repository",
		script: map[string][]reply{"Resolve": {ok(resolved("prebuilt"))}, "CheckImage": {fail("Ecr.ImageNotFoundException", "The image with imageId {imageTag:"+commit+"} does not exist")}},
		path:   []string{"Resolve", "BuildMode", "CheckImage", "ImageNotFound"},
		status: asl.StatusFailed, errName: "ImageNotFound", cause: []string{"no image tagged " + commit + " in ECR repository web (registry 123456789012)"},
	},
	{
		name:   "the catalog's repository does not exist",
		script: map[string][]reply{"Resolve": {ok(resolved("prebuilt"))}, "CheckImage": {fail("Ecr.RepositoryNotFoundException", "The repository with name 'web' does not exist")}},
		path:   []string{"Resolve", "BuildMode", "CheckImage", "ImageNotFound"},
		status: asl.StatusFailed, errName: "ImageNotFound", cause: []string{"'web' does not exist"},
	},
	{
		name:   "ECR keeps failing",
		script: map[string][]reply{"Resolve": {ok(resolved("prebuilt"))}, "CheckImage": {fail("Ecr.ServerException", "internal error")}},
		path:   []string{"Resolve", "BuildMode", "CheckImage", "ImageCheckFailed"},
		status: asl.StatusFailed, errName: "ImageCheckFailed", cause: []string{"Ecr.ServerException", "nothing was deployed"},
	},
	{
		name:   "an ECS call fails once, then the deploy succeeds",
		script: map[string][]reply{"Resolve": {ok(resolved("prebuilt"))}, "CheckImage": {ok(images)}, "Deploy": {fail("ECSCallFailed", "throttled"), ok(deployed)}},
		path:   []string{"Resolve", "BuildMode", "CheckImage", "Deploy", "Deployed"},
		status: asl.StatusSucceeded,
	},
	{
		name:   "the ECS service is not there",
		script: map[string][]reply{"Resolve": {ok(resolved("prebuilt"))}, "CheckImage": {ok(images)}, "Deploy": {fail("ServiceNotFound", `ECS service "web" not found`)}},
		path:   []string{"Resolve", "BuildMode", "CheckImage", "Deploy", "DeployFailed"},
		status: asl.StatusFailed, errName: "ServiceNotFound", cause: []string{`"web" not found`},
	},
}

// edge is a transition taken: from → to, or from → "retry[i]".
type edge struct{ from, to string }

// deployInput is the deploy machine's input in every scenario.
var deployInput = fmt.Sprintf(`{"service":"web","environment":"production","commit":%q}`, commit)

// run executes a state machine on a scenario, with input, and returns the
// states entered and the edges taken.
func run(t *testing.T, machine, input string, sc scenario) (asl.ExecutionState, []string, []edge) {
	t.Helper()
	return runObserved(t, machine, input, sc, nil)
}

// runObserved is run, telling observe (when not nil) each Task's state name
// and effective input.
func runObserved(t *testing.T, machine, input string, sc scenario, observe func(state string, input []byte)) (asl.ExecutionState, []string, []edge) {
	t.Helper()
	d := machineOf(t, machine)
	sm, err := asl.Parse(substituted(t, machine))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	var retries []edge
	var lastState, lastErr string
	inv := asl.TaskInvokerFunc(func(ctx context.Context, task asl.Task) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		if observe != nil {
			observe(task.StateName, task.Input)
		}
		if task.StateName == lastState && lastErr != "" {
			retries = append(retries, edge{task.StateName, retrier(d.States[task.StateName], lastErr)})
		}
		replies := sc.script[task.StateName]
		if len(replies) == 0 {
			t.Errorf("state %s ran, but the scenario scripts no result for it", task.StateName)
			return nil, &asl.TaskFailure{Name: "States.TaskFailed", Cause: "unscripted"}
		}
		r := replies[min(calls[task.StateName], len(replies)-1)]
		calls[task.StateName]++
		lastState, lastErr = task.StateName, r.err
		if r.err != "" {
			return nil, &asl.TaskFailure{Name: r.err, Cause: r.text}
		}
		return json.RawMessage(r.out), nil
	})
	runner := asl.NewRunner(asl.WithInvoker(inv), asl.WithClock(asl.NewScaledClock(1e6)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := runner.Run(ctx, sm, json.RawMessage(input), asl.ExecutionInfo{Name: "paths", StateMachineName: "stepship-" + machine})
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, ev := range x.History() {
		if strings.HasSuffix(string(ev.Type), "StateEntered") {
			path = append(path, ev.StateName)
		}
	}
	edges := retries
	for i := 1; i < len(path); i++ {
		edges = append(edges, edge{path[i-1], path[i]})
	}
	return x.Snapshot(), path, edges
}

// retrier names the first Retry rule of s that matches the error.
func retrier(s *state, errName string) string {
	for i, r := range s.Retry {
		if slices.Contains(r.ErrorEquals, errName) || slices.Contains(r.ErrorEquals, "States.ALL") {
			return fmt.Sprintf("retry[%d]", i)
		}
	}
	return "retry[none]"
}

func TestDeployPaths(t *testing.T) { checkPaths(t, statemachines.Deploy, deployInput, deployScenarios) }

// checkPaths runs each scenario and checks its path and named outcome.
func checkPaths(t *testing.T, machine, input string, scenarios []scenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			got, path, _ := run(t, machine, input, sc)
			if !slices.Equal(path, sc.path) {
				t.Errorf("path %v, want %v", path, sc.path)
			}
			if got.Status != sc.status || got.Error != sc.errName {
				t.Errorf("ended %s %s (%s), want %s %s", got.Status, got.Error, got.Cause, sc.status, sc.errName)
			}
			for _, c := range sc.cause {
				if !strings.Contains(got.Cause, c) {
					t.Errorf("cause %q does not say %q", got.Cause, c)
				}
			}
		})
	}
}

// possibleEdges lists every transition the definition can take.
func possibleEdges(d definition) []edge {
	var out []edge
	add := func(from, to string) {
		if to != "" && !slices.Contains(out, edge{from, to}) {
			out = append(out, edge{from, to})
		}
	}
	for name, s := range d.States {
		add(name, s.Next)
		add(name, s.Default)
		for _, c := range s.Choices {
			add(name, c.Next)
		}
		for _, c := range s.Catch {
			add(name, c.Next)
		}
		for i := range s.Retry {
			add(name, fmt.Sprintf("retry[%d]", i))
		}
	}
	return out
}

func TestDeployEveryPathIsTaken(t *testing.T) {
	everyPathTaken(t, statemachines.Deploy, deployInput, deployScenarios)
}

// everyPathTaken fails when a transition, a Catch or a Retry of the machine
// is taken by none of the scenarios.
func everyPathTaken(t *testing.T, machine, input string, scenarios []scenario) {
	t.Helper()
	taken := map[edge]bool{}
	for _, sc := range scenarios {
		_, _, edges := run(t, machine, input, sc)
		for _, e := range edges {
			taken[e] = true
		}
	}
	var missing []string
	for _, e := range possibleEdges(machineOf(t, machine)) {
		if !taken[e] {
			missing = append(missing, e.from+" → "+e.to)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no scenario takes these transitions of the %s state machine; add a scenario:\n  %s", machine, strings.Join(missing, "\n  "))
	}
}
