package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// repeat is n copies of an answer.
func repeat(a ecsAnswer, n int) []ecsAnswer {
	out := make([]ecsAnswer, n)
	for i := range out {
		out[i] = a
	}
	return out
}

// stoppedTask is a stopped task of the task definition.
func stoppedTask(id, taskDef, reason string, containers ...ecstypes.Container) ecstypes.Task {
	return ecstypes.Task{TaskArn: aws.String("arn:aws:ecs:us-east-1:123456789012:task/demo/" + id), TaskDefinitionArn: aws.String(taskDef),
		LastStatus: aws.String("STOPPED"), StoppedReason: aws.String(reason), Containers: containers}
}

func TestRollout(t *testing.T) {
	type check func(t *testing.T, w *world, got payload.VerifyResult, err error)
	// inProgressAfter: an IN_PROGRESS answer after polls polls.
	inProgressAfter := func(polls int) check {
		return func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			if err != nil || got.Status != payload.RolloutInProgress || got.Polls != polls || got.CompletedAt != "" || got.TaskDefinition != rev2 {
				t.Errorf("got %+v, %v; want IN_PROGRESS after %d polls", got, err, polls)
			}
		}
	}
	completedAfter := func(polls int) check {
		return func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			if err != nil || got.Status != payload.RolloutCompleted || got.Polls != polls || got.TaskDefinition != rev2 || got.HealthPasses != 0 {
				t.Fatalf("got %+v, %v; want COMPLETED after %d polls", got, err, polls)
			}
			if want := w.clock.t.Format(time.RFC3339); got.CompletedAt != want {
				t.Errorf("completedAt %s, want %s", got.CompletedAt, want)
			}
		}
	}
	tests := []struct {
		name    string
		env     string
		answers []ecsAnswer
		stopped []ecstypes.Task
		// startedAgo sets StartedAt that long before the clock's start
		// (a later round); 0 is the first round.
		startedAgo time.Duration
		// deadline is the invocation's deadline after the clock's start
		// (0: none).
		deadline time.Duration
		check    check
	}{
		{name: "completed on the first poll", env: "production", answers: []ecsAnswer{completed}, check: completedAfter(1)},
		{name: "completed after 3 polls", env: "production", answers: []ecsAnswer{inProgress, inProgress, completed}, check: completedAfter(3)},
		{name: "service named by ARN", env: "by-arn", answers: []ecsAnswer{inProgress, completed}, check: completedAfter(2)},
		{name: "no PRIMARY deployment for a moment", env: "production", answers: []ecsAnswer{{deployments: completed.deployments[:0]}, completed}, check: completedAfter(2)},
		{name: "no rollout state: done when alone at its desired count", env: "production", answers: []ecsAnswer{
			{deployments: []ecstypes.Deployment{deployment("PRIMARY", rev2, "", "", 2), deployment("ACTIVE", rev1, "", "", 2)}},
			{deployments: []ecstypes.Deployment{deployment("PRIMARY", rev2, "", "", 1)}},
			{deployments: []ecstypes.Deployment{deployment("PRIMARY", rev2, "", "", 2)}},
		}, check: completedAfter(3)},
		{name: "deployment failed", env: "production", answers: []ecsAnswer{inProgress, failed}, stopped: []ecstypes.Task{
			stoppedTask("a", rev2, "Essential container in task exited", ecstypes.Container{Name: aws.String("web"), ExitCode: aws.Int32(0)}, ecstypes.Container{Name: aws.String("app"), ExitCode: aws.Int32(137)}),
			stoppedTask("b", rev2, "CannotPullContainerError", ecstypes.Container{Name: aws.String("web"), Reason: aws.String("pull access denied")}),
			stoppedTask("c", rev1, "Scaling activity initiated by deployment"),
			stoppedTask("d", rev2, "Essential container in task exited", ecstypes.Container{Name: aws.String("app"), ExitCode: aws.Int32(137)}),
			stoppedTask("e", rev2, "Task failed ELB health checks"),
			stoppedTask("f", rev2, "Task stopped by user"),
		}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			e := wantError[taskerr.DeploymentFailed](t, err, "the ECS deployment of "+rev2+" to service web failed (3 failed tasks): "+failReason)
			want := []string{"Essential container in task exited (app: exit code 137)", "CannotPullContainerError (web: pull access denied)", "Task failed ELB health checks"}
			if e.FailedTasks != 3 || e.Reason != failReason || e.Service != "web" || e.TaskDefinition != rev2 || !slices.Equal(e.StoppedReasons, want) {
				t.Errorf("error %#v, want stopped reasons %q", e, want)
			}
			if in := w.ecs.listInputs; len(in) != 1 || aws.ToString(in[0].Cluster) != "demo" || aws.ToString(in[0].ServiceName) != "web" || in[0].DesiredStatus != ecstypes.DesiredStatusStopped {
				t.Errorf("ListTasks %+v", in)
			}
			if len(w.ecs.describedIDs) != 1 || len(w.ecs.describedIDs[0]) != 6 {
				t.Errorf("DescribeTasks of %v", w.ecs.describedIDs)
			}
		}},
		{name: "deployment failed, no stopped tasks", env: "production", answers: []ecsAnswer{failed}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			e := wantError[taskerr.DeploymentFailed](t, err)
			if len(e.StoppedReasons) != 0 || len(w.ecs.describedIDs) != 0 || got.Polls != 0 {
				t.Errorf("stopped reasons %q after DescribeTasks of %v, result %+v", e.StoppedReasons, w.ecs.describedIDs, got)
			}
			if strings.Contains(err.Error(), "stopped tasks") {
				t.Errorf("error %q names stopped tasks", err)
			}
		}},
		{name: "rolled back by ECS, rollback in progress", env: "production", answers: []ecsAnswer{inProgress, inProgress, rollingBack},
			stopped: []ecstypes.Task{stoppedTask("a", rev2, "Essential container in task exited")},
			check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
				e := wantError[taskerr.RolledBackByECS](t, err, "ECS rolled the deployment of "+rev2+" back: service web runs "+rev1+" again: "+rollbackReason+"; stopped tasks: Essential container in task exited")
				if e.RunningTaskDefinition != rev1 || e.TaskDefinition != rev2 || e.Reason != rollbackReason || len(e.StoppedReasons) != 1 {
					t.Errorf("error %#v", e)
				}
			}},
		{name: "rolled back by ECS, rollback completed", env: "production", answers: []ecsAnswer{rolledBack}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			e := wantError[taskerr.RolledBackByECS](t, err)
			if e.RunningTaskDefinition != rev1 || e.Reason != "ECS deployment ecs-svc/3 completed." {
				t.Errorf("error %#v", e)
			}
		}},
		{name: "rolled back while our deployment has no reason", env: "production", answers: []ecsAnswer{{deployments: []ecstypes.Deployment{
			deployment("PRIMARY", rev1, ecstypes.DeploymentRolloutStateInProgress, "rolling back", 1),
			deployment("ACTIVE", rev2, ecstypes.DeploymentRolloutStateFailed, "", 0)}}},
			check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
				if e := wantError[taskerr.RolledBackByECS](t, err); e.Reason != "rolling back" {
					t.Errorf("reason %q", e.Reason)
				}
			}},
		{name: "timed out within the first round", env: "production", answers: []ecsAnswer{inProgress}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			e := wantError[taskerr.RolloutTimedOut](t, err, "did not complete within 300 seconds of", rev2+" IN_PROGRESS, 1 of 2 tasks running, 0 failed")
			if e.TimeoutSeconds != 300 || e.Service != "web" || e.TaskDefinition != rev2 || w.ecs.described != 21 || e.StartedAt != w.clock.t.Add(-300*time.Second).Format(time.RFC3339) {
				t.Errorf("error %#v after %d polls", e, w.ecs.described)
			}
		}},
		{name: "a later round: timed out since StartedAt", env: "production", answers: []ecsAnswer{inProgress}, startedAgo: 290 * time.Second, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			if wantError[taskerr.RolloutTimedOut](t, err); w.ecs.described != 2 {
				t.Errorf("%d polls, want 2 (at 290 s and 305 s)", w.ecs.described)
			}
		}},
		{name: "a later round past the timeout still accepts a completed deployment", env: "production", answers: []ecsAnswer{completed}, startedAgo: time.Hour, check: completedAfter(1)},
		{name: "a later round completes", env: "long", answers: []ecsAnswer{inProgress, completed}, startedAgo: 20 * time.Minute, check: completedAfter(2)},
		{name: "IN_PROGRESS when the round's 10 minutes end", env: "long", answers: []ecsAnswer{inProgress}, check: inProgressAfter(41)},
		{name: "IN_PROGRESS 30 s before the Lambda deadline", env: "long", answers: []ecsAnswer{inProgress}, deadline: 2 * time.Minute, check: inProgressAfter(7)},
		{name: "a deadline after 10 minutes does not lengthen the round", env: "long", answers: []ecsAnswer{inProgress}, deadline: 11 * time.Minute, check: inProgressAfter(41)},
		{name: "no time left: one poll, completed", env: "production", answers: []ecsAnswer{completed}, deadline: 10 * time.Second, check: completedAfter(1)},
		{name: "no time left: one poll, in progress", env: "production", answers: []ecsAnswer{inProgress}, deadline: 10 * time.Second, check: inProgressAfter(1)},
		{name: "the round ends before the timeout: IN_PROGRESS", env: "production", answers: []ecsAnswer{inProgress}, startedAgo: 200 * time.Second, deadline: 90 * time.Second, check: inProgressAfter(5)},
		{name: "the context ends during a call", env: "production", answers: []ecsAnswer{inProgress, {cancel: func() {}}}, check: inProgressAfter(2)},
		{name: "the context ends during a call past the timeout", env: "production", answers: []ecsAnswer{inProgress, {cancel: func() {}}}, startedAgo: 290 * time.Second,
			check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
				wantError[taskerr.RolloutTimedOut](t, err, "(last seen: "+rev2+" IN_PROGRESS, 1 of 2 tasks running, 0 failed)")
			}},
		{name: "the context ends during the first call past the timeout", env: "production", answers: []ecsAnswer{{cancel: func() {}}}, startedAgo: 400 * time.Second,
			check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
				wantError[taskerr.RolloutTimedOut](t, err, "(last seen: no answer yet)")
			}},
		{name: "cluster not found", env: "lost-cluster", answers: []ecsAnswer{completed}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.ServiceNotFound](t, err, `cluster "nope"`)
		}},
		{name: "service not found", env: "lost-service", answers: []ecsAnswer{completed}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.ServiceNotFound](t, err, `service "api"`)
		}},
		{name: "service missing after a poll", env: "production", answers: []ecsAnswer{inProgress, {missing: true}}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.ServiceNotFound](t, err, `service "web"`)
		}},
		{name: "service draining", env: "production", answers: []ecsAnswer{{status: "DRAINING", deployments: completed.deployments}}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.ServiceNotFound](t, err)
		}},
		{name: "DescribeServices fails", env: "production", answers: []ecsAnswer{inProgress, {err: errors.New("api error ThrottlingException: Rate exceeded")}}, check: func(t *testing.T, w *world, got payload.VerifyResult, err error) {
			wantError[taskerr.VerifyCallFailed](t, err, "failed to describe service web in cluster demo: api error ThrottlingException: Rate exceeded")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(tt.answers...)
			w.ecs.stopped = tt.stopped
			start := w.clock.t
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.deadline))
				defer cancel()
			}
			for i, a := range w.ecs.answers {
				if a.cancel != nil {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					defer cancel()
					w.ecs.answers[i].cancel = cancel
				}
			}
			req := request(tt.env)
			if tt.startedAgo > 0 {
				req.Input.StartedAt = start.Add(-tt.startedAgo).Format(time.RFC3339)
			}
			got, err := w.verifier(t).Handle(ctx, req)
			if err == nil {
				if want := start.Add(-tt.startedAgo).Format(time.RFC3339); got.StartedAt != want {
					t.Errorf("startedAt %s, want %s", got.StartedAt, want)
				}
			} else if got != (payload.VerifyResult{}) {
				t.Errorf("result %+v beside the error", got)
			}
			tt.check(t, w, got, err)
			if w.ecs.described != max(got.Polls, 1) && err == nil {
				t.Errorf("described the service %d times, reported %d polls", w.ecs.described, got.Polls)
			}
			if len(w.http.requests)+len(w.cw.alarmInputs) != 0 {
				t.Errorf("checks ran without being in the catalog")
			}
			if t.Failed() {
				t.Logf("log:\n%s", w.log.String())
			}
		})
	}
}

// StartedAt is the first round's start to the second, so that every round
// counts the timeout from the same instant.
func TestRolloutStartedAtIsWholeSeconds(t *testing.T) {
	w := newWorld(inProgress)
	second := w.clock.t
	w.clock.t = w.clock.t.Add(700 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), w.clock.t.Add(40*time.Second))
	defer cancel()
	got, err := w.verifier(t).Handle(ctx, request("production"))
	if err != nil || got.StartedAt != second.Format(time.RFC3339) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestRolloutLogs(t *testing.T) {
	w := newWorld(inProgress, completed)
	if _, err := w.verifier(t).Handle(context.Background(), request("production")); err != nil {
		t.Fatal(err)
	}
	log := w.log.String()
	for _, want := range []string{`"executionId":"arn:aws:states:us-east-1:123456789012:execution:deploy:x"`, `"msg":"ECS deployment completed"`, `"service":"web","environment":"production","taskDefinition":"` + rev2 + `","phase":"rollout"`,
		`"deployment":"` + rev2 + ` IN_PROGRESS, 1 of 2 tasks running, 0 failed"`, `"msg":"release verified"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}

// Why tasks stopped is a help: when it cannot be read, the failure is
// reported without it, and the log says why.
func TestStoppedReasonsUnreadable(t *testing.T) {
	tests := []struct {
		name              string
		listErr, descErr  error
		wantDescribeCalls int
	}{
		{name: "ListTasks fails", listErr: errors.New("AccessDeniedException: not authorized")},
		{name: "DescribeTasks fails", descErr: errors.New("AccessDeniedException: not authorized"), wantDescribeCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(failed)
			w.ecs.stopped = []ecstypes.Task{stoppedTask("a", rev2, "Essential container in task exited")}
			w.ecs.listErr, w.ecs.describeErr = tt.listErr, tt.descErr
			_, err := w.verifier(t).Handle(context.Background(), request("production"))
			if e := wantError[taskerr.DeploymentFailed](t, err); len(e.StoppedReasons) != 0 || len(w.ecs.describedIDs) != tt.wantDescribeCalls {
				t.Errorf("stopped reasons %q, DescribeTasks %v", e.StoppedReasons, w.ecs.describedIDs)
			}
			if !strings.Contains(w.log.String(), `"msg":"could not read why the deployment's tasks stopped"`) || !strings.Contains(w.log.String(), "not authorized") {
				t.Errorf("log:\n%s", w.log.String())
			}
		})
	}
}

func TestInvalidRequests(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*payload.VerifyInput)
		wantType string
		want     string
	}{
		{name: "empty", mutate: func(in *payload.VerifyInput) { *in = payload.VerifyInput{} }, wantType: "InvalidVerifyRequest", want: "service is required"},
		{name: "not a task definition", mutate: func(in *payload.VerifyInput) { in.TaskDefinition = "web:2" }, wantType: "InvalidVerifyRequest", want: "taskDefinition must be a task definition ARN"},
		{name: "unknown phase", mutate: func(in *payload.VerifyInput) { in.Phase = "soak" }, wantType: "InvalidVerifyRequest", want: `phase must be "rollout", "bake" or "stable"`},
		{name: "bake without since", mutate: func(in *payload.VerifyInput) { in.Phase = payload.VerifyBake }, wantType: "InvalidVerifyRequest", want: "since is required in the bake phase"},
		{name: "startedAt malformed", mutate: func(in *payload.VerifyInput) { in.StartedAt = "yesterday" }, wantType: "InvalidVerifyRequest", want: "startedAt must be an RFC 3339 time"},
		{name: "startedAt in the future", mutate: func(in *payload.VerifyInput) {
			in.StartedAt = time.Now().Add(2 * time.Minute).UTC().Format(time.RFC3339)
		}, wantType: "InvalidVerifyRequest", want: "is in the future"},
		{name: "unknown service", mutate: func(in *payload.VerifyInput) { in.Service = "api" }, wantType: "UnknownTarget", want: `service "api" is not in the catalog`},
		{name: "unknown environment", mutate: func(in *payload.VerifyInput) { in.Environment = "staging" }, wantType: "UnknownTarget", want: `service "web" has no environment "staging"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(completed)
			got, err := w.verifier(t).Handle(context.Background(), request("checked", tt.mutate))
			switch tt.wantType {
			case "InvalidVerifyRequest":
				wantError[taskerr.InvalidVerifyRequest](t, err, tt.want)
			default:
				wantError[taskerr.UnknownTarget](t, err, tt.want)
			}
			if got != (payload.VerifyResult{}) || w.ecs.described+len(w.cw.alarmInputs)+len(w.http.requests) != 0 {
				t.Errorf("result %+v; %d AWS calls, %d requests", got, w.ecs.described+len(w.cw.alarmInputs), len(w.http.requests))
			}
		})
	}
	// A StartedAt a little ahead (another invocation's clock) is accepted.
	w := newWorld(completed)
	if _, err := w.verifier(t).Handle(context.Background(), request("production", func(in *payload.VerifyInput) {
		in.StartedAt = w.clock.t.Add(30 * time.Second).Format(time.RFC3339)
	})); err != nil {
		t.Errorf("startedAt 30 s ahead: %v", err)
	}
}

func TestNewVerifierChecksItsArguments(t *testing.T) {
	w := newWorld(completed)
	cat := w.verifier(t).catalog
	for name, args := range map[string]struct {
		ecs ecsAPI
		cw  cloudWatchAPI
	}{"no ECS client": {nil, w.cw}, "no CloudWatch client": {w.ecs, nil}} {
		if _, err := NewVerifier(args.ecs, args.cw, cat, discard); err == nil {
			t.Errorf("%s: NewVerifier succeeded", name)
		}
	}
	if _, err := NewVerifier(w.ecs, w.cw, nil, discard); err == nil {
		t.Error("no catalog: NewVerifier succeeded")
	}
	if _, err := NewVerifier(w.ecs, w.cw, cat, nil); err == nil {
		t.Error("no logger: NewVerifier succeeded")
	}
	v, err := NewVerifier(w.ecs, w.cw, cat, discard, WithPollInterval(0))
	if err != nil || v.poll != DefaultPollInterval || v.http == nil {
		t.Errorf("defaults: poll %v, client %v, %v", v.poll, v.http, err)
	}
	if v, _ := NewVerifier(w.ecs, w.cw, cat, discard, WithPollInterval(time.Second)); v.poll != time.Second {
		t.Errorf("poll %v", v.poll)
	}
}
