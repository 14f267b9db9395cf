package catalog

import (
	"fmt"
	"strings"
	"time"
)

// A deploy's time (docs/deploy.md, "Time"). The deploy state machine's own
// timeout is DeployLease: a deploy may wait for its target's lock at most
// MaxLockWait (then it ends FAILED_CLEAN, LockWaitTooLong), and its run from
// the build to the release of the lock must fit in the rest, MaxDeployRun,
// even when every step takes as long as it may. Each environment's worst
// case (WorstCaseRun) is checked against it when the catalog is read, so
// that no deploy is cut off by the machine's timeout halfway — with a
// release live, unverified and unrecorded.
const (
	MaxLockWait  = time.Hour
	MaxDeployRun = 3 * time.Hour
	DeployLease  = MaxLockWait + MaxDeployRun

	// The bounds the deploy state machine puts on its long steps
	// (TimeoutSeconds of Build, PreDeploySnapshot and Migrate;
	// statemachines' tests hold the definition to them).
	BuildTimeout             = time.Hour
	PreDeploySnapshotTimeout = 30 * time.Minute
	SQLMigrationTimeout      = 15 * time.Minute
	// StepsOverhead bounds everything else of a deploy (the short tasks,
	// their retries, Lambda starts): about 30 tasks of at most 20 s each.
	StepsOverhead = 15 * time.Minute
)

// WorstCaseRun is the longest a deploy of the environment may run once it
// holds the lock, step by step ("build 1h0m0s + …"), when every step takes
// as long as it may: the build, the pre-deploy snapshot, the migrations, the
// rollout and the health check, the bake, and a rollback's rollout.
func (e *Environment) WorstCaseRun(build BuildMode) (time.Duration, string) {
	var total time.Duration
	var parts []string
	add := func(what string, d time.Duration) {
		total += d
		parts = append(parts, fmt.Sprintf("%s %s", what, d))
	}
	if build == BuildCodeBuild {
		add("build", BuildTimeout)
	}
	if e.Backup != nil && e.Backup.BeforeDeploy {
		add("pre-deploy snapshot", PreDeploySnapshotTimeout)
	}
	if m := e.Migrations; m != nil {
		if m.Mode == MigrationsSQL {
			add("SQL migrations", SQLMigrationTimeout)
		} else {
			add("migration task", time.Duration(m.TimeoutSeconds)*time.Second)
		}
	}
	if v := e.Verify; v != nil {
		rollout := time.Duration(v.TimeoutSeconds) * time.Second
		add("rollout", rollout)
		if h := v.Health; h != nil {
			add("health check", time.Duration(h.Attempts*h.IntervalSeconds)*time.Second)
		}
		if v.BakeSeconds > 0 {
			add("bake", time.Duration(v.BakeSeconds)*time.Second)
		}
		add("rollback", rollout)
	}
	add("other steps", StepsOverhead)
	return total, strings.Join(parts, " + ")
}

// checkBudget refuses an environment whose deploy could outlast MaxDeployRun.
func (e *Environment) checkBudget(at string, build BuildMode) error {
	if d, parts := e.WorstCaseRun(build); d > MaxDeployRun {
		return &Error{Path: at, Problem: fmt.Sprintf("a deploy could run %s (%s), longer than the %s a deploy may run (docs/deploy.md, \"Time\"): shorten the bake, the timeouts or the health check", d, parts, MaxDeployRun)}
	}
	return nil
}
