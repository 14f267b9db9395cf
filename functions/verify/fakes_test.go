package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stepship/stepship/shared/catalog/catalogtest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

const (
	rev1       = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
	rev2       = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
	serviceARN = "arn:aws:ecs:us-east-1:123456789012:service/demo/web"
	healthURL  = "https://web.example.com/health"
	// step is how much time passes between two polls in these tests: the
	// verifier's own poll interval is a microsecond of real time, so that
	// the SDK waiter's sleeps cost nothing.
	step = 15 * time.Second
)

// testEnvironments: service web (cluster demo, ECS service web) in
// environments with and without checks.
var testEnvironments = []string{
	catalogtest.Environment("production", "verify: {timeoutSeconds: 300}"),
	catalogtest.Environment("long", "verify: {timeoutSeconds: 1800}"),
	catalogtest.Environment("checked", "verify:",
		"  timeoutSeconds: 300",
		"  health: {url: '"+healthURL+"', passes: 2, attempts: 4, intervalSeconds: 10}",
		"  bakeSeconds: 600",
		"  alarms: [web-5xx, web-latency]"),
	catalogtest.Environment("alarms-only", "verify: {alarms: [web-5xx], bakeSeconds: 60}"),
	"      - {name: by-arn, branches: [main], cluster: demo, service: '" + serviceARN + "', container: web, verify: {timeoutSeconds: 300}}\n",
	"      - {name: lost-cluster, branches: [main], cluster: nope, service: web, container: web}\n",
	"      - {name: lost-service, branches: [main], cluster: demo, service: api, container: web}\n",
}

// clock is the tests' time: now, and a sleep that only moves now on.
type clock struct {
	t        time.Time
	slept    []time.Duration
	sleepErr error
}

// newClock starts at the current second, so that deadlines of real
// contexts set from it lie ahead.
func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) now() time.Time { return c.t }

func (c *clock) sleep(_ context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	return c.sleepErr
}

// fakeECS answers DescribeServices from a script, one answer a call (the
// last repeats), each call after the first a step later on the clock.
type fakeECS struct {
	clock     *clock
	answers   []ecsAnswer
	described int

	stopped      []ecstypes.Task // DescribeTasks of any listed task
	listErr      error
	describeErr  error
	listInputs   []*ecs.ListTasksInput
	describedIDs [][]string
}

// ecsAnswer is one DescribeServices answer: the service web with these
// deployments, or err, or the service in another status or missing.
type ecsAnswer struct {
	deployments []ecstypes.Deployment
	err         error
	status      string // default ACTIVE
	missing     bool
	// cancel, when set, is called before answering with the context's
	// error: the invocation's context ends during the call.
	cancel context.CancelFunc
}

func (f *fakeECS) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if f.described > 0 {
		f.clock.t = f.clock.t.Add(step)
	}
	a := f.answers[min(f.described, len(f.answers)-1)]
	f.described++
	if a.cancel != nil {
		a.cancel()
		return nil, fmt.Errorf("operation error ECS: DescribeServices, %w", ctx.Err())
	}
	if a.err != nil {
		return nil, a.err
	}
	if aws.ToString(in.Cluster) != "demo" {
		return nil, &ecstypes.ClusterNotFoundException{Message: aws.String("Cluster not found.")}
	}
	out := &ecs.DescribeServicesOutput{}
	for _, name := range in.Services {
		if a.missing || (name != "web" && name != serviceARN) {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(name), Reason: aws.String("MISSING")})
			continue
		}
		out.Services = append(out.Services, ecstypes.Service{ServiceName: aws.String("web"), ServiceArn: aws.String(serviceARN),
			Status: aws.String(or(a.status, "ACTIVE")), Deployments: a.deployments})
	}
	return out, nil
}

func (f *fakeECS) ListTasks(_ context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	f.listInputs = append(f.listInputs, in)
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := &ecs.ListTasksOutput{}
	for _, task := range f.stopped {
		out.TaskArns = append(out.TaskArns, aws.ToString(task.TaskArn))
	}
	return out, nil
}

func (f *fakeECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	f.describedIDs = append(f.describedIDs, in.Tasks)
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	return &ecs.DescribeTasksOutput{Tasks: f.stopped}, nil
}

// deployment is an ECS deployment of the task definition, desired count 2.
func deployment(status, taskDef string, state ecstypes.DeploymentRolloutState, reason string, running int32) ecstypes.Deployment {
	d := ecstypes.Deployment{Status: aws.String(status), TaskDefinition: aws.String(taskDef), RolloutState: state,
		DesiredCount: 2, RunningCount: running}
	if reason != "" {
		d.RolloutStateReason = aws.String(reason)
	}
	return d
}

const (
	failReason     = "ECS deployment circuit breaker: tasks failed to start."
	rollbackReason = failReason + " Rolling back to deploymentId ecs-svc/1234567890123456789."
)

// The deployments of web while rev2 rolls out, and after.
var (
	inProgress = ecsAnswer{deployments: []ecstypes.Deployment{
		deployment("PRIMARY", rev2, ecstypes.DeploymentRolloutStateInProgress, "ECS deployment ecs-svc/2 in progress.", 1),
		deployment("ACTIVE", rev1, ecstypes.DeploymentRolloutStateCompleted, "", 2)}}
	completed = ecsAnswer{deployments: []ecstypes.Deployment{
		deployment("PRIMARY", rev2, ecstypes.DeploymentRolloutStateCompleted, "ECS deployment ecs-svc/2 completed.", 2)}}
	failed = ecsAnswer{deployments: []ecstypes.Deployment{
		func() ecstypes.Deployment {
			d := deployment("PRIMARY", rev2, ecstypes.DeploymentRolloutStateFailed, failReason, 0)
			d.FailedTasks = 3
			return d
		}(),
		deployment("ACTIVE", rev1, ecstypes.DeploymentRolloutStateCompleted, "", 2)}}
	rollingBack = ecsAnswer{deployments: []ecstypes.Deployment{
		deployment("PRIMARY", rev1, ecstypes.DeploymentRolloutStateInProgress, "ECS deployment ecs-svc/3 in progress.", 1),
		deployment("ACTIVE", rev2, ecstypes.DeploymentRolloutStateFailed, rollbackReason, 0)}}
	rolledBack = ecsAnswer{deployments: []ecstypes.Deployment{
		deployment("PRIMARY", rev1, ecstypes.DeploymentRolloutStateCompleted, "ECS deployment ecs-svc/3 completed.", 2)}}
)

// fakeCW holds alarms and their state-update history; DescribeAlarms and
// DescribeAlarmHistory answer one item a page, so that every answer is
// paginated.
type fakeCW struct {
	metric        map[string]cwtypes.MetricAlarm
	composite     map[string]cwtypes.CompositeAlarm
	history       map[string][]cwtypes.AlarmHistoryItem
	describeErr   error
	historyErr    error
	alarmInputs   []*cloudwatch.DescribeAlarmsInput
	historyInputs []*cloudwatch.DescribeAlarmHistoryInput
}

// newCW has web-5xx and web-latency (composite), both OK.
func newCW() *fakeCW {
	return &fakeCW{
		metric:    map[string]cwtypes.MetricAlarm{"web-5xx": {AlarmName: aws.String("web-5xx"), StateValue: cwtypes.StateValueOk, StateReason: aws.String("Unchecked: Initial alarm creation")}},
		composite: map[string]cwtypes.CompositeAlarm{"web-latency": {AlarmName: aws.String("web-latency"), StateValue: cwtypes.StateValueOk}},
		history:   map[string][]cwtypes.AlarmHistoryItem{},
	}
}

// set puts a metric alarm in a state.
func (f *fakeCW) set(name string, state cwtypes.StateValue, reason string, at time.Time) {
	f.metric[name] = cwtypes.MetricAlarm{AlarmName: aws.String(name), StateValue: state, StateReason: aws.String(reason), StateUpdatedTimestamp: aws.Time(at)}
}

// page answers the item at the page token's index.
func page(token *string, n int) (i int, next *string) {
	fmt.Sscan(aws.ToString(token), &i)
	if i+1 < n {
		next = aws.String(fmt.Sprint(i + 1))
	}
	return i, next
}

func (f *fakeCW) DescribeAlarms(_ context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	f.alarmInputs = append(f.alarmInputs, in)
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	type found struct {
		m *cwtypes.MetricAlarm
		c *cwtypes.CompositeAlarm
	}
	var all []found
	for _, n := range in.AlarmNames {
		if a, ok := f.metric[n]; ok {
			all = append(all, found{m: &a})
		} else if c, ok := f.composite[n]; ok {
			all = append(all, found{c: &c})
		}
	}
	out := &cloudwatch.DescribeAlarmsOutput{}
	if len(all) == 0 {
		return out, nil
	}
	i, next := page(in.NextToken, len(all))
	out.NextToken = next
	if a := all[i]; a.m != nil {
		out.MetricAlarms = []cwtypes.MetricAlarm{*a.m}
	} else {
		out.CompositeAlarms = []cwtypes.CompositeAlarm{*a.c}
	}
	return out, nil
}

func (f *fakeCW) DescribeAlarmHistory(_ context.Context, in *cloudwatch.DescribeAlarmHistoryInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmHistoryOutput, error) {
	f.historyInputs = append(f.historyInputs, in)
	if f.historyErr != nil {
		return nil, f.historyErr
	}
	items := f.history[aws.ToString(in.AlarmName)]
	out := &cloudwatch.DescribeAlarmHistoryOutput{}
	if len(items) == 0 {
		return out, nil
	}
	i, next := page(in.NextToken, len(items))
	out.NextToken, out.AlarmHistoryItems = next, items[i:i+1]
	return out, nil
}

// stateUpdate is a StateUpdate history item as CloudWatch writes it.
func stateUpdate(name string, at time.Time, from, to cwtypes.StateValue, reason string) cwtypes.AlarmHistoryItem {
	data := fmt.Sprintf(`{"version":"1.0","oldState":{"stateValue":%q,"stateReason":"before"},"newState":{"stateValue":%q,"stateReason":%q}}`, from, to, reason)
	return cwtypes.AlarmHistoryItem{AlarmName: aws.String(name), AlarmType: cwtypes.AlarmTypeMetricAlarm, HistoryItemType: cwtypes.HistoryItemTypeStateUpdate,
		Timestamp: aws.Time(at), HistoryData: aws.String(data), HistorySummary: aws.String(fmt.Sprintf("Alarm updated from %s to %s", from, to))}
}

// fakeHTTP answers the health check's requests with a script of statuses
// (0: the request fails); the last repeats.
type fakeHTTP struct {
	statuses []int
	requests []*http.Request
	read     int // body bytes the verifier read
}

// countingBody is a large body that counts what is read from it.
type countingBody struct {
	n      *int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	*b.n += len(p)
	return len(p), nil
}

func (b *countingBody) Close() error { b.closed = true; return nil }

func (f *fakeHTTP) Do(req *http.Request) (*http.Response, error) {
	status := f.statuses[min(len(f.requests), len(f.statuses)-1)]
	f.requests = append(f.requests, req)
	if status == 0 {
		return nil, errors.New(`Get "` + req.URL.String() + `": dial tcp 10.0.0.1:443: connect: connection refused`)
	}
	return &http.Response{StatusCode: status, Body: &countingBody{n: &f.read}}, nil
}

// world is the verifier's fakes.
type world struct {
	clock *clock
	ecs   *fakeECS
	cw    *fakeCW
	http  *fakeHTTP
	log   bytes.Buffer
}

func newWorld(answers ...ecsAnswer) *world {
	c := newClock()
	return &world{clock: c, ecs: &fakeECS{clock: c, answers: answers}, cw: newCW(), http: &fakeHTTP{statuses: []int{200}}}
}

func (w *world) verifier(t *testing.T) *Verifier {
	t.Helper()
	v, err := NewVerifier(w.ecs, w.cw, catalogtest.Parse(t, testEnvironments...), slog.New(slog.NewJSONHandler(&w.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WithPollInterval(time.Microsecond), WithClock(w.clock.now, w.clock.sleep), WithHTTPClient(w.http))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// request is a rollout of rev2 to web in the environment.
func request(environment string, mutate ...func(*payload.VerifyInput)) payload.Invocation[payload.VerifyInput] {
	in := payload.VerifyInput{Service: "web", Environment: environment, TaskDefinition: rev2, Phase: payload.VerifyRollout}
	for _, m := range mutate {
		m(&in)
	}
	return payload.Invocation[payload.VerifyInput]{ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:deploy:x", Input: in}
}

// wantError checks that err is exactly a *taskerr.T (the Step Functions
// error is the Go type's name: a wrapped error matches no Catch) whose
// message contains each of texts, and returns it.
func wantError[T any](t *testing.T, err error, texts ...string) *T {
	t.Helper()
	e, ok := any(err).(*T)
	if !ok {
		t.Fatalf("error %T (%v), want *taskerr.%s", err, err, reflect.TypeFor[T]().Name())
	}
	if reflect.TypeFor[T]().PkgPath() != reflect.TypeFor[taskerr.VerifyCallFailed]().PkgPath() {
		t.Fatalf("%T is not a shared/taskerr type", e)
	}
	for _, text := range texts {
		if !strings.Contains(err.Error(), text) {
			t.Errorf("error %q does not contain %q", err, text)
		}
	}
	return e
}

// discard is a logger that writes nothing.
var discard = slog.New(slog.NewJSONHandler(io.Discard, nil))
