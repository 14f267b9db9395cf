package awsproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RolloutOutcome is how a scripted ECS deployment ends.
type RolloutOutcome int

// The outcomes of a rolling deployment (FACTS.md, "ECS deployment events").
const (
	// RolloutCompleted: IN_PROGRESS, then COMPLETED; the previous
	// deployment is gone and runningCount equals desiredCount.
	RolloutCompleted RolloutOutcome = iota
	// RolloutFailed: IN_PROGRESS, then FAILED with a rolloutStateReason;
	// the failed deployment stays PRIMARY beside the previous, ACTIVE one.
	RolloutFailed
	// RolloutRolledBack: IN_PROGRESS, then the circuit breaker's rollback:
	// the failed deployment (FAILED, ACTIVE) beside a new PRIMARY deployment
	// of the previous task definition, IN_PROGRESS and then COMPLETED;
	// service.taskDefinition is the previous one again.
	RolloutRolledBack
)

// Rollout scripts one deployment that an UpdateService starts.
type Rollout struct {
	Outcome RolloutOutcome
	// InProgressPolls is how many DescribeServices answers report the new
	// deployment IN_PROGRESS before it ends.
	InProgressPolls int
	// Reason is the failed deployment's rolloutStateReason (default: the
	// circuit breaker's "tasks failed to start").
	Reason string
	// FailedTasks is the failed deployment's failedTasks (default 3, the
	// circuit breaker's minimum threshold).
	FailedTasks int
	// RollbackPolls is how many answers report the rollback deployment
	// IN_PROGRESS before COMPLETED (RolloutRolledBack only).
	RollbackPolls int
}

// TaskStop scripts tasks that exit non-zero.
type TaskStop struct {
	// Family limits the script to tasks of this task definition family
	// (every task when empty).
	Family string
	// RunningPolls is how many DescribeTasks answers report a task RUNNING
	// before STOPPED.
	RunningPolls int
	// ExitCode is every container's exit code (0 is reported as 0: set 1 for
	// a failed migration).
	ExitCode int
	// StoppedReason is the task's stoppedReason (default "Essential
	// container in task exited").
	StoppedReason string
}

// ECSScript scripts what ECS does and moto does not (FACTS.md, "The AWS
// emulator": "UpdateService … creates no new deployment; deployments[0] and
// its rolloutState never change", "exit codes are always 0"). Install it with
// Install; it acts on calls signed for Region (all regions when empty).
type ECSScript struct {
	Region string
	// Rollouts scripts the deployments UpdateService starts (an
	// UpdateService with a taskDefinition or forceNewDeployment): the n-th
	// such update of a service gets Rollouts[n-1], and the last entry
	// repeats. Empty leaves UpdateService and DescribeServices alone.
	Rollouts []Rollout
	// Tasks, when set, scripts every task RunTask starts through the proxy
	// (of Tasks.Family): RUNNING, then STOPPED with Tasks.ExitCode.
	Tasks *TaskStop
}

const (
	defaultFailReason  = "ECS deployment circuit breaker: tasks failed to start."
	defaultStopReason  = "Essential container in task exited"
	defaultFailedTasks = 3
)

type ecsDeployment struct {
	id, taskDef string
	created     float64
}

// ecsService is what the script knows of one service.
type ecsService struct {
	reported string // the task definition the service reports now
	updates  int    // deployments started
	rollout  Rollout
	polls    int // DescribeServices answers since the last update
	inFlight bool
	previous ecsDeployment // before the update
	current  ecsDeployment // the update's
	rollback ecsDeployment // the circuit breaker's, of previous.taskDef
}

type ecsState struct {
	mu       sync.Mutex
	services map[string]*ecsService // service ARN → state
	tasks    map[string]int         // task ARN → DescribeTasks answers so far
}

// Install adds the script's rules to p.
func (s ECSScript) Install(p *Proxy) *Script {
	st := &ecsState{services: map[string]*ecsService{}, tasks: map[string]int{}}
	sc := &Script{}
	respond := func(action string, f func(*ecsState, *Request, map[string]any) error) {
		sc.add(p, Rule{Service: "ecs", Region: s.Region, Action: action, Effect: Respond(func(r *Request, resp *Response) error {
			if resp.Status != http.StatusOK {
				return nil
			}
			return editJSON(resp, func(m map[string]any) error {
				st.mu.Lock()
				defer st.mu.Unlock()
				return f(st, r, m)
			})
		})})
	}
	if len(s.Rollouts) > 0 {
		respond("CreateService", s.seen)
		respond("UpdateService", s.updated)
		respond("DescribeServices", s.described)
	}
	if s.Tasks != nil {
		respond("RunTask", s.ranTasks)
		respond("DescribeTasks", s.describedTasks)
	}
	return sc
}

// editJSON decodes a JSON answer (numbers kept as written), lets f edit it
// and encodes it back.
func editJSON(resp *Response, f func(map[string]any) error) error {
	d := json.NewDecoder(bytes.NewReader(resp.Body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return fmt.Errorf("decoding the emulator's answer: %w", err)
	}
	if err := f(m); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding the rewritten answer: %w", err)
	}
	resp.Body = b
	return nil
}

// objects returns the JSON objects of m[key] (an array), skipping others.
func objects(m map[string]any, key string) []map[string]any {
	arr, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

func str(m map[string]any, key string) string { s, _ := m[key].(string); return s }

func (s ECSScript) service(st *ecsState, svc map[string]any) *ecsService {
	arn := str(svc, "serviceArn")
	if st.services[arn] == nil {
		st.services[arn] = &ecsService{}
	}
	return st.services[arn]
}

// seen remembers a service's task definition from CreateService.
func (s ECSScript) seen(st *ecsState, _ *Request, m map[string]any) error {
	if svc, ok := m["service"].(map[string]any); ok {
		s.service(st, svc).reported = str(svc, "taskDefinition")
	}
	return nil
}

func (s ECSScript) updated(st *ecsState, r *Request, m map[string]any) error {
	svc, ok := m["service"].(map[string]any)
	if !ok {
		return fmt.Errorf("UpdateService answer without a service")
	}
	var in struct {
		TaskDefinition     string `json:"taskDefinition"`
		ForceNewDeployment bool   `json:"forceNewDeployment"`
	}
	_ = json.Unmarshal(r.Body, &in)
	if in.TaskDefinition == "" && !in.ForceNewDeployment {
		return nil
	}
	state := s.service(st, svc)
	prev := state.reported
	if prev == "" { // moto's first deployment is the one CreateService made
		if deps := objects(svc, "deployments"); len(deps) > 0 {
			prev = str(deps[0], "taskDefinition")
		}
	}
	now := float64(time.Now().UnixMilli()) / 1000
	prevID := ""
	switch {
	case state.updates > 0 && state.rollout.Outcome == RolloutRolledBack:
		prevID = state.rollback.id
	case state.updates > 0:
		prevID = state.current.id
	default: // moto's deployment from CreateService
		if deps := objects(svc, "deployments"); len(deps) > 0 {
			prevID = str(deps[0], "id")
		}
	}
	state.updates++
	state.rollout = s.Rollouts[min(state.updates, len(s.Rollouts))-1]
	state.polls = 0
	state.inFlight = true
	state.previous = ecsDeployment{id: prevID, taskDef: prev, created: now}
	state.current = ecsDeployment{id: newDeploymentID(), taskDef: str(svc, "taskDefinition"), created: now}
	state.rollback = ecsDeployment{id: newDeploymentID(), taskDef: prev, created: now}
	state.reported = state.current.taskDef
	s.render(state, svc)
	return nil
}

func (s ECSScript) described(st *ecsState, _ *Request, m map[string]any) error {
	for _, svc := range objects(m, "services") {
		state := s.service(st, svc)
		if !state.inFlight {
			if state.reported == "" {
				state.reported = str(svc, "taskDefinition")
			} else if state.updates > 0 {
				s.render(state, svc) // the settled outcome, as last rendered
			}
			continue
		}
		state.polls++
		s.render(state, svc)
	}
	return nil
}

// render writes the service's deployments for its rollout at its poll.
func (s ECSScript) render(state *ecsService, svc map[string]any) {
	ro := state.rollout
	template := map[string]any{}
	if deps := objects(svc, "deployments"); len(deps) > 0 {
		template = deps[0]
	}
	desired := svc["desiredCount"]
	dep := func(d ecsDeployment, status, rollout, reason string, done bool) map[string]any {
		out := make(map[string]any, len(template)+4)
		for k, v := range template {
			out[k] = v
		}
		out["id"], out["taskDefinition"], out["status"] = d.id, d.taskDef, status
		out["createdAt"], out["updatedAt"] = d.created, d.created
		out["rolloutState"], out["rolloutStateReason"] = rollout, reason
		out["desiredCount"], out["failedTasks"] = desired, 0
		if done {
			out["runningCount"], out["pendingCount"] = desired, 0
		}
		return out
	}
	inProgress := func(d ecsDeployment) string { return "ECS deployment " + d.id + " in progress." }
	completed := func(d ecsDeployment) string { return "ECS deployment " + d.id + " completed." }
	old := dep(state.previous, "ACTIVE", "COMPLETED", completed(state.previous), true)
	settled := func(d map[string]any) {
		svc["deployments"] = []any{d}
		svc["runningCount"], svc["pendingCount"] = desired, 0
		state.inFlight = false
	}
	svc["taskDefinition"] = state.current.taskDef
	if state.polls > ro.InProgressPolls && ro.Outcome != RolloutCompleted {
		msg := fmt.Sprintf("(service %s) (deployment %s) deployment failed: %s", str(svc, "serviceName"), state.current.id, ro.reason())
		if ro.Outcome == RolloutRolledBack {
			msg += " Rolling back to deploymentId " + state.previous.id + "."
		}
		addEvent(svc, msg)
	}
	switch {
	case state.polls <= ro.InProgressPolls:
		svc["deployments"] = []any{dep(state.current, "PRIMARY", "IN_PROGRESS", inProgress(state.current), false), old}
	case ro.Outcome == RolloutCompleted:
		settled(dep(state.current, "PRIMARY", "COMPLETED", completed(state.current), true))
	case ro.Outcome == RolloutFailed:
		failed := dep(state.current, "PRIMARY", "FAILED", ro.reason(), false)
		failed["failedTasks"] = ro.failedTasks()
		svc["deployments"] = []any{failed, old}
		state.inFlight = false
	default: // RolloutRolledBack
		svc["taskDefinition"] = state.previous.taskDef
		state.reported = state.previous.taskDef
		if state.polls <= ro.InProgressPolls+ro.RollbackPolls {
			failed := dep(state.current, "ACTIVE", "FAILED", ro.reason()+" Rolling back to deploymentId "+state.previous.id+".", false)
			failed["failedTasks"] = ro.failedTasks()
			svc["deployments"] = []any{dep(state.rollback, "PRIMARY", "IN_PROGRESS", inProgress(state.rollback), false), failed}
			return
		}
		settled(dep(state.rollback, "PRIMARY", "COMPLETED", completed(state.rollback), true))
	}
}

func (ro Rollout) reason() string {
	if ro.Reason != "" {
		return ro.Reason
	}
	return defaultFailReason
}

func (ro Rollout) failedTasks() int {
	if ro.FailedTasks > 0 {
		return ro.FailedTasks
	}
	return defaultFailedTasks
}

func addEvent(svc map[string]any, message string) {
	events, _ := svc["events"].([]any)
	ev := map[string]any{"id": newDeploymentID(), "createdAt": float64(time.Now().UnixMilli()) / 1000, "message": message}
	svc["events"] = append([]any{ev}, events...)
}

// newDeploymentID is an ECS deployment id, ecs-svc/ and 19 digits.
func newDeploymentID() string { return fmt.Sprintf("ecs-svc/%019d", rand.Int64N(1e18)) }

// family reads FAMILY from …:task-definition/FAMILY:REVISION.
func family(taskDefARN string) string {
	_, rest, _ := strings.Cut(taskDefARN, "task-definition/")
	f, _, _ := strings.Cut(rest, ":")
	return f
}

func (s ECSScript) ranTasks(st *ecsState, _ *Request, m map[string]any) error {
	for _, task := range objects(m, "tasks") {
		if s.Tasks.Family == "" || family(str(task, "taskDefinitionArn")) == s.Tasks.Family {
			st.tasks[str(task, "taskArn")] = 0
		}
	}
	return nil
}

func (s ECSScript) describedTasks(st *ecsState, _ *Request, m map[string]any) error {
	ts := s.Tasks
	for _, task := range objects(m, "tasks") {
		arn := str(task, "taskArn")
		n, ok := st.tasks[arn]
		if !ok {
			continue
		}
		n++
		st.tasks[arn] = n
		containers := objects(task, "containers")
		if n <= ts.RunningPolls {
			task["lastStatus"], task["desiredStatus"] = "RUNNING", "RUNNING"
			for _, c := range containers {
				c["lastStatus"] = "RUNNING"
				delete(c, "exitCode")
			}
			continue
		}
		reason := ts.StoppedReason
		if reason == "" {
			reason = defaultStopReason
		}
		now := float64(time.Now().UnixMilli()) / 1000
		task["lastStatus"], task["desiredStatus"] = "STOPPED", "STOPPED"
		task["stopCode"], task["stoppedReason"] = "EssentialContainerExited", reason
		for _, k := range []string{"stoppingAt", "stoppedAt", "executionStoppedAt"} {
			if _, set := task[k]; !set {
				task[k] = now
			}
		}
		for _, c := range containers {
			c["lastStatus"], c["exitCode"] = "STOPPED", ts.ExitCode
		}
	}
	return nil
}
