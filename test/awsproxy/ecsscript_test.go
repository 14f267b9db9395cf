package awsproxy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stepship/stepship/test/awsproxy"
)

// ecsWorld is a cluster, a task definition family with two revisions and a
// service on revision 1.
type ecsWorld struct {
	client                   *ecs.Client
	cluster, family, service string
}

func newECSWorld(t *testing.T, client *ecs.Client) ecsWorld {
	t.Helper()
	ctx := t.Context()
	w := ecsWorld{client: client, cluster: name("c"), family: name("web"), service: name("s")}
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(w.cluster)}); err != nil {
		t.Fatal(err)
	}
	for _, image := range []string{"app:1", "app:2"} {
		if _, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(w.family),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(128)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(w.cluster), ServiceName: aws.String(w.service),
		TaskDefinition: aws.String(w.family + ":1"), DesiredCount: aws.Int32(1), LaunchType: ecstypes.LaunchTypeFargate}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w ecsWorld) update(t *testing.T, revision string) *ecstypes.Service {
	t.Helper()
	out, err := w.client.UpdateService(t.Context(), &ecs.UpdateServiceInput{Cluster: aws.String(w.cluster), Service: aws.String(w.service), TaskDefinition: aws.String(w.family + ":" + revision)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Service
}

func (w ecsWorld) describe(t *testing.T) *ecstypes.Service {
	t.Helper()
	out, err := w.client.DescribeServices(t.Context(), &ecs.DescribeServicesInput{Cluster: aws.String(w.cluster), Services: []string{w.service}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("DescribeServices: %v %v", out, err)
	}
	return &out.Services[0]
}

// rollout is what one answer says: the task definition revisions and rollout
// states of the deployments, PRIMARY first, and the service's revision.
func rollout(s *ecstypes.Service) string {
	var parts []string
	for _, d := range s.Deployments {
		parts = append(parts, aws.ToString(d.Status)+":"+revision(aws.ToString(d.TaskDefinition))+":"+string(d.RolloutState))
	}
	return strings.Join(parts, " ") + " → " + revision(aws.ToString(s.TaskDefinition))
}

func revision(taskDef string) string { return taskDef[strings.LastIndexByte(taskDef, ':')+1:] }

func TestECSRollouts(t *testing.T) {
	p, cfg := setup(t, 1)
	awsproxy.ECSScript{Rollouts: []awsproxy.Rollout{
		{Outcome: awsproxy.RolloutCompleted, InProgressPolls: 2},
		{Outcome: awsproxy.RolloutFailed, InProgressPolls: 1, Reason: "ECS deployment circuit breaker: tasks failed to start."},
		{Outcome: awsproxy.RolloutRolledBack, InProgressPolls: 1, RollbackPolls: 1},
	}}.Install(p)
	w := newECSWorld(t, ecs.NewFromConfig(cfg))

	steps := []struct {
		do   func() *ecstypes.Service
		want string
	}{
		{func() *ecstypes.Service { return w.update(t, "2") }, "PRIMARY:2:IN_PROGRESS ACTIVE:1:COMPLETED → 2"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:2:IN_PROGRESS ACTIVE:1:COMPLETED → 2"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:2:IN_PROGRESS ACTIVE:1:COMPLETED → 2"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:2:COMPLETED → 2"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:2:COMPLETED → 2"},
		// The second deployment fails (circuit breaker without rollback).
		{func() *ecstypes.Service { return w.update(t, "1") }, "PRIMARY:1:IN_PROGRESS ACTIVE:2:COMPLETED → 1"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:1:IN_PROGRESS ACTIVE:2:COMPLETED → 1"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:1:FAILED ACTIVE:2:COMPLETED → 1"},
		// The third is rolled back to the revision before it (1).
		{func() *ecstypes.Service { return w.update(t, "2") }, "PRIMARY:2:IN_PROGRESS ACTIVE:1:COMPLETED → 2"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:2:IN_PROGRESS ACTIVE:1:COMPLETED → 2"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:1:IN_PROGRESS ACTIVE:2:FAILED → 1"},
		{func() *ecstypes.Service { return w.describe(t) }, "PRIMARY:1:COMPLETED → 1"},
	}
	var failed *ecstypes.Service
	for i, step := range steps {
		s := step.do()
		if got := rollout(s); got != step.want {
			t.Fatalf("step %d: %s, want %s", i+1, got, step.want)
		}
		if i == 7 {
			failed = s
		}
	}
	if d := failed.Deployments[0]; aws.ToString(d.RolloutStateReason) != "ECS deployment circuit breaker: tasks failed to start." || d.FailedTasks != 3 || len(failed.Events) == 0 {
		t.Errorf("failed deployment: reason %q, %d failed tasks, %d events", aws.ToString(d.RolloutStateReason), d.FailedTasks, len(failed.Events))
	}
	// The SDK's waiter calls a rolled-back service stable: the trap of
	// FACTS.md ("reporting success after ECS's circuit breaker already
	// rolled back"); only service.taskDefinition tells.
	err := ecs.NewServicesStableWaiter(w.client, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
	}).Wait(t.Context(), &ecs.DescribeServicesInput{Cluster: aws.String(w.cluster), Services: []string{w.service}}, 5*time.Second)
	if err != nil {
		t.Errorf("ServicesStable after the rollback: %v", err)
	}
}

func TestECSTaskExitsNonZero(t *testing.T) {
	p, cfg := setup(t, 1)
	client := ecs.NewFromConfig(cfg)
	ctx := t.Context()
	w := newECSWorld(t, client)
	awsproxy.ECSScript{Tasks: &awsproxy.TaskStop{Family: w.family, RunningPolls: 1, ExitCode: 1, StoppedReason: "Essential container in task exited"}}.Install(p)

	run, err := client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(w.cluster), TaskDefinition: aws.String(w.family + ":2"), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{}, SecurityGroups: []string{"sg-1"}}}})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %v", run, err)
	}
	arn := aws.ToString(run.Tasks[0].TaskArn)
	in := &ecs.DescribeTasksInput{Cluster: aws.String(w.cluster), Tasks: []string{arn}}
	if err := ecs.NewTasksStoppedWaiter(client, func(o *ecs.TasksStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
	}).Wait(ctx, in, 5*time.Second); err != nil {
		t.Fatalf("TasksStopped: %v", err)
	}
	if n := p.Count("ecs", "DescribeTasks"); n != 2 {
		t.Errorf("%d polls, want 2 (RUNNING, then STOPPED)", n)
	}
	out, err := client.DescribeTasks(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	task := out.Tasks[0]
	if aws.ToString(task.LastStatus) != "STOPPED" || task.StopCode != ecstypes.TaskStopCodeEssentialContainerExited ||
		aws.ToString(task.StoppedReason) != "Essential container in task exited" || aws.ToInt32(task.Containers[0].ExitCode) != 1 || task.StoppedAt == nil {
		t.Errorf("task: %s %s %q exit %d", aws.ToString(task.LastStatus), task.StopCode, aws.ToString(task.StoppedReason), aws.ToInt32(task.Containers[0].ExitCode))
	}
}
