package payload

import (
	"strings"
	"time"
)

// VerifyPhase says which part of a release's verification a verify
// invocation does.
type VerifyPhase string

// Verify phases.
const (
	// VerifyRollout waits for the ECS deployment of the task definition to
	// reach rolloutState COMPLETED, then runs the catalog's health check and
	// checks that its alarms are not in ALARM.
	VerifyRollout VerifyPhase = "rollout"
	// VerifyBake checks, after the bake time, that none of the catalog's
	// alarms is in ALARM or went into ALARM since Since.
	VerifyBake VerifyPhase = "bake"
	// VerifyStable waits, as VerifyRollout does, for the deployment to reach
	// COMPLETED, and checks nothing else: a rollback's wait, when the
	// alarms may still be in ALARM from the release rolled back.
	VerifyStable VerifyPhase = "stable"
)

// VerifyInput is what the deploy state machine sends the verify function.
// The cluster, the ECS service, the health check and the alarms come from the
// function's own catalog, never from here.
type VerifyInput struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// TaskDefinition is the revision whose deployment is verified: the
	// release's, or the one a rollback went back to.
	TaskDefinition string      `json:"taskDefinition"`
	Phase          VerifyPhase `json:"phase"`
	// StartedAt is when verification of this release began (RFC 3339), as an
	// earlier rollout round returned it; empty on the first round. The
	// rollout timeout counts from it.
	StartedAt string `json:"startedAt"`
	// Since is when the bake began (RFC 3339; bake phase only): the
	// rollout round's CompletedAt.
	Since string `json:"since"`
}

// Validate names every problem of a verify input.
func (v VerifyInput) Validate() error {
	problems := targetProblems(v.Service, v.Environment)
	if !strings.HasPrefix(v.TaskDefinition, "arn:") || !strings.Contains(v.TaskDefinition, ":task-definition/") {
		problems = append(problems, "taskDefinition must be a task definition ARN")
	}
	if v.Phase != VerifyRollout && v.Phase != VerifyBake && v.Phase != VerifyStable {
		problems = append(problems, `phase must be "rollout", "bake" or "stable"`)
	}
	for _, f := range []struct{ name, value string }{{"startedAt", v.StartedAt}, {"since", v.Since}} {
		if _, err := time.Parse(time.RFC3339, f.value); f.value != "" && err != nil {
			problems = append(problems, f.name+" must be an RFC 3339 time")
		}
	}
	if v.Phase == VerifyBake && v.Since == "" {
		problems = append(problems, "since is required in the bake phase")
	}
	return verifyKind.invalid(problems)
}

var verifyKind = requestKind{"verify", "docs/deploy.md"}

// Rollout states a verify result reports.
const (
	// RolloutCompleted: the deployment reached COMPLETED and every check
	// passed.
	RolloutCompleted = "COMPLETED"
	// RolloutInProgress: this invocation's time ran out before the rollout
	// timeout; the state machine calls verify again with StartedAt.
	RolloutInProgress = "IN_PROGRESS"
)

// VerifyResult is the verify function's output. A failed check is an error
// (taskerr.DeploymentFailed, RolledBackByECS, RolloutTimedOut,
// HealthCheckFailed, AlarmInAlarm, AlarmNotFound), never a result.
type VerifyResult struct {
	// Status is RolloutCompleted or RolloutInProgress.
	Status         string `json:"status"`
	TaskDefinition string `json:"taskDefinition"`
	// StartedAt is when verification of the release began (RFC 3339).
	StartedAt string `json:"startedAt"`
	// CompletedAt is when the rollout and its checks were done (RFC 3339;
	// empty while in progress): the bake counts from it.
	CompletedAt string `json:"completedAt"`
	// Polls is how many times this invocation described the service.
	Polls int `json:"polls"`
	// HealthPasses is how many health checks passed in a row (0 without a
	// health check).
	HealthPasses int `json:"healthPasses"`
}
