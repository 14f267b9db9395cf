package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stepship/stepship/shared/taskerr"
)

// errRoundOver ends the waiter when this invocation's time is up before the
// rollout's: the answer is IN_PROGRESS.
var errRoundOver = errors.New("this invocation's time is up")

// maxStoppedReasons is how many stopped tasks a failed deployment names.
const maxStoppedReasons = 3

// rolloutWatch waits for one ECS deployment with the SDK's ServicesStable
// waiter, whose Retryable it replaces: the waiter's "stable" (running count
// = desired count) also holds after ECS rolled a deployment back, so only
// the deployments' task definitions and rollout states can tell.
type rolloutWatch struct {
	v                         *Verifier
	cluster, service, taskDef string
	started                   time.Time
	timeout                   time.Duration
	roundEnd                  time.Time
	log                       *slog.Logger

	polls    int
	lastSeen string
	failure  error
}

// wait returns true when the deployment completed, false (and no error)
// when this invocation's time ended first, or the failure: DeploymentFailed,
// RolledBackByECS, RolloutTimedOut, ServiceNotFound, VerifyCallFailed.
func (w *rolloutWatch) wait(ctx context.Context) (bool, error) {
	v := w.v
	waiter := ecs.NewServicesStableWaiter(v.ecs, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = v.poll, v.poll
		o.Retryable = w.retryable
	})
	// One poll more than the round allows: the Retryable ends the wait on
	// time, the waiter's own limit is only a backstop.
	maxWait := max(w.roundEnd.Sub(v.now()), 0) + v.poll
	_, err := waiter.WaitForOutput(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(w.cluster), Services: []string{w.service}}, maxWait)
	if err == nil {
		return true, nil
	}
	if w.failure == nil { // the round ended, or the context did mid-call
		w.failure = w.timedOut()
	}
	return false, w.failure
}

// retryable is the waiter's Retryable: true to poll again, false and no
// error when the deployment completed, else why the wait ends.
func (w *rolloutWatch) retryable(ctx context.Context, _ *ecs.DescribeServicesInput, out *ecs.DescribeServicesOutput, err error) (bool, error) {
	w.polls++
	if err != nil {
		if ctx.Err() != nil {
			return false, err // out of time mid-call: wait decides
		}
		w.failure = describeFailure(err, w.cluster, w.service)
		return false, w.failure
	}
	svc, ok := activeService(out.Services, w.service)
	if !ok {
		w.failure = &taskerr.ServiceNotFound{Cluster: w.cluster, Service: w.service}
		return false, w.failure
	}
	done, seen, failure := judge(svc, w.taskDef, func() []string { return w.v.stoppedReasons(ctx, w.cluster, svc, w.taskDef, w.log) })
	w.lastSeen = seen
	w.log.Debug("described the service", slog.Int("poll", w.polls), slog.String("deployment", seen))
	if failure == nil && !done {
		failure = w.timedOut()
	}
	if failure != nil {
		w.failure = failure
		return false, failure
	}
	if done {
		return false, nil
	}
	if w.v.now().Add(w.v.poll).After(w.roundEnd) {
		return false, errRoundOver
	}
	return true, nil
}

// timedOut is RolloutTimedOut once the rollout's time is up, else nil.
func (w *rolloutWatch) timedOut() error {
	if w.v.now().Before(w.started.Add(w.timeout)) {
		return nil
	}
	return &taskerr.RolloutTimedOut{Service: w.service, TaskDefinition: w.taskDef, StartedAt: w.started.Format(time.RFC3339),
		TimeoutSeconds: int(w.timeout / time.Second), LastSeen: w.lastSeen}
}

// describeFailure is the error of a failed DescribeServices.
func describeFailure(err error, cluster, service string) error {
	var notFound *ecstypes.ClusterNotFoundException
	if errors.As(err, &notFound) {
		return &taskerr.ServiceNotFound{Cluster: cluster, Service: service}
	}
	return &taskerr.VerifyCallFailed{Reason: fmt.Sprintf("failed to describe service %s in cluster %s: %v", service, cluster, err)}
}

// activeService finds the ACTIVE service the catalog names (by name or by
// ARN) among those described.
func activeService(services []ecstypes.Service, service string) (ecstypes.Service, bool) {
	for _, s := range services {
		if (aws.ToString(s.ServiceName) == service || aws.ToString(s.ServiceArn) == service) && aws.ToString(s.Status) == "ACTIVE" {
			return s, true
		}
	}
	return ecstypes.Service{}, false
}

// judge reads the service's deployments for the task definition's. It is
// done when that deployment is PRIMARY and COMPLETED (or, for a service
// whose deployments have no rollout state, alone and running its desired
// count). It fails when that deployment FAILED (DeploymentFailed), or when
// the PRIMARY deployment runs another task definition: ECS rolled it back
// (RolledBackByECS). stopped names a few stopped tasks for the failures.
// seen says what the deployment is doing, for the log and a timeout.
func judge(svc ecstypes.Service, taskDef string, stopped func() []string) (done bool, seen string, failure error) {
	var primary, ours *ecstypes.Deployment
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		if aws.ToString(d.Status) == "PRIMARY" && primary == nil {
			primary = d
		} else if aws.ToString(d.TaskDefinition) == taskDef && ours == nil {
			ours = d
		}
	}
	if primary == nil {
		return false, "no PRIMARY deployment", nil
	}
	name := aws.ToString(svc.ServiceName)
	running := aws.ToString(primary.TaskDefinition)
	seen = fmt.Sprintf("%s %s, %d of %d tasks running, %d failed", running, or(string(primary.RolloutState), "(no rollout state)"),
		primary.RunningCount, primary.DesiredCount, primary.FailedTasks)
	if running != taskDef {
		reason := aws.ToString(primary.RolloutStateReason)
		if ours != nil && ours.RolloutStateReason != nil {
			reason = *ours.RolloutStateReason
		}
		return false, seen, &taskerr.RolledBackByECS{Service: name, TaskDefinition: taskDef, RunningTaskDefinition: running, Reason: reason, StoppedReasons: stopped()}
	}
	if primary.RolloutState == ecstypes.DeploymentRolloutStateFailed {
		return false, seen, &taskerr.DeploymentFailed{Service: name, TaskDefinition: taskDef, Reason: aws.ToString(primary.RolloutStateReason),
			FailedTasks: int(primary.FailedTasks), StoppedReasons: stopped()}
	}
	if primary.RolloutState == "" {
		return len(svc.Deployments) == 1 && primary.RunningCount == primary.DesiredCount, seen, nil
	}
	return primary.RolloutState == ecstypes.DeploymentRolloutStateCompleted, seen, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// stoppedReasons says why a few stopped tasks of the task definition in the
// service stopped, distinct ones, at most maxStoppedReasons. It is a help to
// whoever reads the failure: when the tasks cannot be read, it logs why and
// returns none.
func (v *Verifier) stoppedReasons(ctx context.Context, cluster string, svc ecstypes.Service, taskDef string, log *slog.Logger) []string {
	list, err := v.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: svc.ServiceName,
		DesiredStatus: ecstypes.DesiredStatusStopped, MaxResults: aws.Int32(20)})
	if err == nil && len(list.TaskArns) == 0 {
		return nil
	}
	var tasks *ecs.DescribeTasksOutput
	if err == nil {
		tasks, err = v.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: list.TaskArns})
	}
	if err != nil {
		log.Warn("could not read why the deployment's tasks stopped", slog.String("error", err.Error()))
		return nil
	}
	var out []string
	for _, task := range tasks.Tasks {
		r := stoppedReason(task)
		if aws.ToString(task.TaskDefinitionArn) == taskDef && len(out) < maxStoppedReasons && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// stoppedReason is the task's stoppedReason with its first container's that
// says more: a reason (CannotPullContainerError: …) or an exit code.
func stoppedReason(task ecstypes.Task) string {
	r := aws.ToString(task.StoppedReason)
	for _, c := range task.Containers {
		if c.Reason != nil {
			return fmt.Sprintf("%s (%s: %s)", r, aws.ToString(c.Name), *c.Reason)
		}
		if c.ExitCode != nil && *c.ExitCode != 0 {
			return fmt.Sprintf("%s (%s: exit code %d)", r, aws.ToString(c.Name), *c.ExitCode)
		}
	}
	return r
}
