package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	smithytime "github.com/aws/smithy-go/time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// The calls the verifier makes, one small interface each (the SDK's own
// XxxAPIClient interfaces where it has them), so tests plug in fakes.
type (
	ecsAPI interface {
		ecs.DescribeServicesAPIClient
		ecs.ListTasksAPIClient
		ecs.DescribeTasksAPIClient
	}
	cloudWatchAPI interface {
		cloudwatch.DescribeAlarmsAPIClient
		cloudwatch.DescribeAlarmHistoryAPIClient
	}
	// httpDoer sends the health check's requests (*http.Client).
	httpDoer interface {
		Do(*http.Request) (*http.Response, error)
	}
)

var (
	_ ecsAPI        = (*ecs.Client)(nil)
	_ cloudWatchAPI = (*cloudwatch.Client)(nil)
	_ httpDoer      = (*http.Client)(nil)
)

const (
	// DefaultPollInterval is how often the rollout is described.
	DefaultPollInterval = 15 * time.Second
	// maxRound is the longest one invocation waits: the state machine calls
	// again with StartedAt for longer rollouts.
	maxRound = 10 * time.Minute
	// deadlineMargin is kept free before the Lambda deadline, to answer
	// IN_PROGRESS instead of being stopped.
	deadlineMargin = 30 * time.Second
	// startedAtSkew is how far in the future StartedAt may be (clocks of
	// two invocations differ a little); later, it would stretch the
	// rollout timeout.
	startedAtSkew = time.Minute
)

// Verifier proves a release healthy: its ECS deployment COMPLETED (not
// failed, not rolled back by ECS), its HTTP health check passing, its
// CloudWatch alarms not in ALARM, then none of them in ALARM through the
// bake. Its targets come from the catalog it was built with, never from its
// input.
type Verifier struct {
	ecs     ecsAPI
	cw      cloudWatchAPI
	http    httpDoer
	catalog *catalog.Catalog
	log     *slog.Logger
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	poll    time.Duration
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithPollInterval sets how often the rollout is described (default
// DefaultPollInterval).
func WithPollInterval(d time.Duration) Option {
	return func(v *Verifier) {
		if d > 0 {
			v.poll = d
		}
	}
}

// WithClock replaces the clock and the sleep between health checks (tests).
func WithClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(v *Verifier) { v.now, v.sleep = now, sleep }
}

// WithHTTPClient replaces the health check's client (default
// newHealthClient()).
func WithHTTPClient(c httpDoer) Option { return func(v *Verifier) { v.http = c } }

// NewVerifier returns a Verifier over the ECS and CloudWatch clients and the
// catalog.
func NewVerifier(ecsClient ecsAPI, cw cloudWatchAPI, cat *catalog.Catalog, log *slog.Logger, opts ...Option) (*Verifier, error) {
	if ecsClient == nil || cw == nil || cat == nil || log == nil {
		return nil, errors.New("verify: ECS and CloudWatch clients, catalog and logger are required")
	}
	v := &Verifier{ecs: ecsClient, cw: cw, catalog: cat, log: log, http: newHealthClient(),
		now: time.Now, sleep: smithytime.SleepWithContext, poll: DefaultPollInterval}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// Handle verifies one phase of a release of the catalog's service in the
// environment. Rollout: waits (within this invocation's time) for the ECS
// deployment of the input's task definition to complete, then runs the
// health check and checks the alarms; answers IN_PROGRESS when its time
// ends first, for the state machine to call again with StartedAt. Stable:
// the rollout's wait alone (a rollback's: the alarms may still be in ALARM
// from the release it rolled back, and no health check is asked). Bake:
// checks that no alarm is or went into ALARM since Since, without waiting.
// Errors are the named types of shared/taskerr.
func (v *Verifier) Handle(ctx context.Context, inv payload.Invocation[payload.VerifyInput]) (payload.VerifyResult, error) {
	in := inv.Input
	log := logging.ForExecution(v.log, inv.ExecutionID).With(slog.String("service", in.Service), slog.String("environment", in.Environment),
		slog.String("taskDefinition", in.TaskDefinition), slog.String("phase", string(in.Phase)))
	if err := in.Validate(); err != nil {
		return payload.VerifyResult{}, &taskerr.InvalidVerifyRequest{Reason: err.Error()}
	}
	t, err := v.catalog.Resolve(in.Service, in.Environment)
	if err != nil {
		return payload.VerifyResult{}, &taskerr.UnknownTarget{Reason: err.Error()}
	}
	now := v.now()
	if in.Phase == payload.VerifyBake {
		return v.bake(ctx, t, in, now, log)
	}
	started := now.UTC().Truncate(time.Second)
	if in.StartedAt != "" {
		started, _ = time.Parse(time.RFC3339, in.StartedAt) // Validate checked it
	}
	if started.After(now.Add(startedAtSkew)) {
		return payload.VerifyResult{}, &taskerr.InvalidVerifyRequest{Reason: "invalid verify request: startedAt " + in.StartedAt + " is in the future"}
	}
	return v.rollout(ctx, t, in.TaskDefinition, in.Phase == payload.VerifyStable, started, v.roundEnd(ctx, now), log)
}

// roundEnd is when this invocation stops waiting: maxRound from now, or
// deadlineMargin before the Lambda deadline when that is sooner.
func (v *Verifier) roundEnd(ctx context.Context, now time.Time) time.Time {
	end := now.Add(maxRound)
	if d, ok := ctx.Deadline(); ok && d.Add(-deadlineMargin).Before(end) {
		end = d.Add(-deadlineMargin)
	}
	return end
}

// rollout is the rollout phase: the deployment, the health check, the
// alarms; with only (the stable phase), the deployment alone.
func (v *Verifier) rollout(ctx context.Context, t catalog.Target, taskDef string, only bool, started, roundEnd time.Time, log *slog.Logger) (payload.VerifyResult, error) {
	result := payload.VerifyResult{Status: payload.RolloutInProgress, TaskDefinition: taskDef, StartedAt: started.Format(time.RFC3339)}
	w := &rolloutWatch{v: v, cluster: t.Cluster, service: t.ECSService, taskDef: taskDef, started: started,
		timeout: time.Duration(t.Verify.TimeoutSeconds) * time.Second, roundEnd: roundEnd, log: log, lastSeen: "no answer yet"}
	done, err := w.wait(ctx)
	result.Polls = w.polls
	if err != nil {
		log.Error("rollout failed", slog.Int("polls", w.polls), slog.String("error", err.Error()))
		return payload.VerifyResult{}, err
	}
	if !done {
		log.Info("rollout still in progress; the state machine calls again", slog.Int("polls", w.polls), slog.String("lastSeen", w.lastSeen))
		return result, nil
	}
	log.Info("ECS deployment completed", slog.Int("polls", w.polls))
	if only {
		result.Status = payload.RolloutCompleted
		result.CompletedAt = v.now().UTC().Format(time.RFC3339)
		return result, nil
	}

	if h := t.Verify.Health; h != nil {
		if w.polls > 1 && v.now().Add(healthWorstCase(h)).After(roundEnd) {
			log.Info("deployment completed late in this invocation; the health check runs in the next one", slog.Int("polls", w.polls))
			return result, nil
		}
		passes, err := v.checkHealth(ctx, h, roundEnd)
		if err != nil {
			log.Error("health check failed", slog.String("error", err.Error()))
			return payload.VerifyResult{}, err
		}
		result.HealthPasses = passes
		log.Info("health check passed", slog.String("url", h.URL), slog.Int("passes", passes))
	}
	if err := v.alarmsOK(ctx, t.Verify.Alarms); err != nil {
		log.Error("alarm check failed", slog.String("error", err.Error()))
		return payload.VerifyResult{}, err
	}
	result.Status = payload.RolloutCompleted
	result.CompletedAt = v.now().UTC().Format(time.RFC3339)
	log.Info("release verified", slog.Int("alarms", len(t.Verify.Alarms)))
	return result, nil
}

// bake is the bake phase: no alarm in ALARM now, none went into ALARM since
// in.Since.
func (v *Verifier) bake(ctx context.Context, t catalog.Target, in payload.VerifyInput, now time.Time, log *slog.Logger) (payload.VerifyResult, error) {
	since, _ := time.Parse(time.RFC3339, in.Since) // Validate checked it
	if err := v.bakeOK(ctx, t.Verify.Alarms, since); err != nil {
		log.Error("bake failed", slog.String("error", err.Error()))
		return payload.VerifyResult{}, err
	}
	log.Info("bake passed", slog.Int("alarms", len(t.Verify.Alarms)), slog.String("since", in.Since))
	return payload.VerifyResult{Status: payload.RolloutCompleted, TaskDefinition: in.TaskDefinition, StartedAt: in.StartedAt,
		CompletedAt: now.UTC().Format(time.RFC3339)}, nil
}
