package statemachines_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// The deploy state machine, run path by path in the local interpreter with
// scripted task results: each scenario asserts the states taken and the named
// outcome, and TestDeployEveryPathIsTaken fails when a transition, a Catch or a
// Retry of the definition is taken by no scenario — so a path nobody runs
// cannot rot unnoticed.

const (
	commit      = "9fceb02d0ae598e95dc970b74767f19372d61af8"
	otherCommit = "1111111111111111111111111111111111111111"
	newerCommit = "2222222222222222222222222222222222222222"
	execARN     = "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:paths"
	startTime   = "2026-11-30T10:00:00.000Z"
	rev1        = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
	rev2        = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
	rev0        = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:0"
)

// reply is one scripted task result: an output or an error.
type reply struct {
	out  string
	err  string
	text string // the error's cause
}

func ok(out string) reply           { return reply{out: out} }
func fail(name, cause string) reply { return reply{err: name, text: cause} }

// catalogYAML is web/production in the variants the scenarios deploy.
func catalogYAML(build, migrations, verify string) string {
	return `
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: ` + build + `
    environments:
      - name: production
        branches: [main]
        cluster: stepship-demo
        service: web
        container: web
        database: {instance: web-prod, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-db-AbCdEf"}
` + migrations + verify
}

const (
	codebuild = `{mode: codebuild, project: web-build}`
	prebuilt  = `{mode: prebuilt}`
	sqlMig    = "        migrations: {mode: sql, location: \"s3://web-migrations/web/\"}\n"
	taskMig   = "        migrations: {mode: task, command: [./migrate, up]}\n"
	baked     = "        verify: {bakeSeconds: 300, alarms: [web-5xx]}\n"
	// preSnap: a snapshot before every deploy.
	preSnap = "        backup: {schedule: \"cron(0 3 * * ? *)\", retention: {count: 7, days: 14}, drRegion: us-west-2, " +
		"drKmsKey: \"arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\", beforeDeploy: true}\n"
)

// resolved is what the resolve function returns (it replaces the state), from
// the real payload.NewResolved over a catalog variant and a deploy request.
func resolved(t *testing.T, cat string, req payload.DeployRequest) string {
	t.Helper()
	c, err := catalog.Parse([]byte(cat))
	if err != nil {
		t.Fatal(err)
	}
	target, err := c.Resolve("web", "production")
	if err != nil {
		t.Fatal(err)
	}
	r, err := payload.NewResolved(req, target, execARN, startTime)
	if err != nil {
		t.Fatal(err)
	}
	// The interpreter's clock is the real one: the scenarios that wait for
	// the lock have time left, except those of waitedTooLong.
	r.Lock.WaitUntil = "9999-12-31T23:59:59.999Z"
	b, _ := json.Marshal(r)
	return string(b)
}

// waitedTooLong is a resolved state whose time to wait for the lock ran out
// (its execution started more than catalog.MaxLockWait ago).
func waitedTooLong(resolvedState string) string {
	return strings.Replace(resolvedState, `"waitUntil":"9999-12-31T23:59:59.999Z"`, `"waitUntil":"2026-11-30T11:00:00.000Z"`, 1)
}

var pushedAt = time.Date(2026, 11, 30, 9, 59, 0, 0, time.UTC)

func webhookReq() payload.DeployRequest {
	return payload.DeployRequest{Service: "web", Environment: "production", Commit: commit,
		Source: &payload.Source{Provider: "github", Repository: "acme/web", Ref: "refs/heads/main", Pusher: "dana", PushedAt: &pushedAt}}
}

func consoleReq(allowOlder bool) payload.DeployRequest {
	return payload.DeployRequest{Service: "web", Environment: "production", Commit: commit, Reason: "redeploy", RequestedBy: "alice", AllowOlder: allowOlder}
}

const (
	digest     = "sha256:3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c43f2a9c1e5b7d4f60812a3b4c"
	images     = `{"ImageDetails":[{"ImageDigest":"` + digest + `","ImageTags":["` + commit + `"]}]}`
	build      = `{"Build":{"Id":"web-build:0b7f","BuildStatus":"SUCCEEDED"}}`
	registered = `{"cluster":"stepship-demo","ecsService":"web","previousTaskDefinition":"` + rev1 + `","taskDefinition":"` + rev2 + `","image":"x",` +
		`"launchType":"FARGATE","logStreamPrefix":"ecs","networkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-1"]}}}`
	registeredHost = `{"cluster":"stepship-demo","ecsService":"web","previousTaskDefinition":"` + rev1 + `","taskDefinition":"` + rev2 + `","image":"x",` +
		`"launchType":"EC2","logStreamPrefix":""}`
	migrated   = `{"versionBefore":3,"versionAfter":4,"applied":["00004_add_email.sql"],"lockWaitMs":0,"durationMs":12}`
	taskRan    = `{"TaskArn":"arn:aws:ecs:us-east-1:123456789012:task/stepship-demo/0f3c","StoppedReason":"Essential container in task exited","Containers":[{"ExitCode":0}]}`
	taskExit1  = `{"TaskArn":"arn:aws:ecs:us-east-1:123456789012:task/stepship-demo/0f3c","StoppedReason":"Essential container in task exited","Containers":[{"ExitCode":1}]}`
	updated    = `{"Service":{"TaskDefinition":"` + rev2 + `"}}`
	verified   = `{"status":"COMPLETED","taskDefinition":"` + rev2 + `","startedAt":"2026-11-30T10:01:00Z","completedAt":"2026-11-30T10:03:00Z","polls":4,"healthPasses":3}`
	inProgress = `{"status":"IN_PROGRESS","taskDefinition":"` + rev2 + `","startedAt":"2026-11-30T10:01:00Z","completedAt":"","polls":40,"healthPasses":0}`
	noItem     = `{}`
	// snapshotTaken: the backup machine's nested execution (.sync:2) once the snapshot is available.
	snapshotTaken = `{"ExecutionArn":"arn:aws:states:us-east-1:123456789012:execution:stepship-backup:paths","Status":"SUCCEEDED",` +
		`"Output":{"plan":{"snapshot":"stepship-web-prod-20261130-100000","snapshotOnly":true}}}`
	done = `{}`
	ccf  = "DynamoDB.ConditionalCheckFailedException"
	// held: the lock item while an older push deploys (and no one waits).
	held = `{"Item":{"PK":{"S":"deploy#web#production"},"SK":{"S":"lock"},"owner":{"S":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:older"},` +
		`"ownerCommit":{"S":"` + otherCommit + `"},"ownerOrder":{"S":"2026-11-30T09:00:00.000Z|2026-11-30T09:00:01.000Z|older"}}}`
	heldByNewer = `{"Item":{"owner":{"S":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:newer"},` +
		`"ownerCommit":{"S":"` + newerCommit + `"},"ownerOrder":{"S":"2026-11-30T10:30:00.000Z|2026-11-30T10:30:01.000Z|newer"}}}`
	newerWaits = `{"Item":{"owner":{"S":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:older"},"ownerOrder":{"S":"2026-11-30T09:00:00.000Z|x|older"},` +
		`"waiter":{"S":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:newer"},"waiterCommit":{"S":"` + newerCommit + `"},` +
		`"waiterOrder":{"S":"2026-11-30T10:30:00.000Z|2026-11-30T10:30:01.000Z|newer"}}}`
	freeNow   = `{"Item":{"waiter":{"S":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:oldest"},"waiterOrder":{"S":"2026-11-30T08:00:00.000Z|x|oldest"}}}`
	lastNewer = `{"Item":{"highPush":{"S":"2026-11-30T10:30:00.000Z"},"highCommit":{"S":"` + newerCommit + `"},"succeededTaskDefinition":{"S":"` + rev0 + `"}}}`
	lastOlder = `{"Item":{"highPush":{"S":"2026-11-30T09:00:00.000Z"},"highCommit":{"S":"` + otherCommit + `"},"succeededTaskDefinition":{"S":"` + rev0 + `"}}}`
	seenOlder = `{"Item":{"push":{"S":"2026-11-30T08:00:00.000Z"}}}`
	seenNewer = `{"Item":{"push":{"S":"2026-11-30T11:00:00.000Z"}}}`
	throttled = "DynamoDB.ThrottlingException"
)

type scenario struct {
	name    string
	script  map[string][]reply // state → replies in order (the last repeats)
	path    []string           // states entered, in order
	status  asl.Status
	errName string
	cause   []string // substrings of the cause
	output  []string // substrings of the output
	input   string   // the machine's input (deployInput when empty)
}

// script is a scenario's scripted task results: base plus changes.
func script(base map[string][]reply, changes ...any) map[string][]reply {
	out := maps.Clone(base)
	for i := 0; i+1 < len(changes); i += 2 {
		switch r := changes[i+1].(type) {
		case reply:
			out[changes[i].(string)] = []reply{r}
		case []reply:
			out[changes[i].(string)] = r
		}
	}
	return out
}

// happy scripts every task of a deploy that goes well.
func happy(resolvedState string) map[string][]reply {
	return map[string][]reply{
		"Resolve": {ok(resolvedState)}, "LookupCommit": {ok(noItem)}, "Acquire": {ok(done)}, "ReadLast": {ok(noItem)},
		"Build": {ok(build)}, "CheckImage": {ok(images)}, "Register": {ok(registered)}, "Migrate": {ok(migrated)},
		"MigrationTask": {ok(taskRan)}, "MigrationTaskHostNetwork": {ok(taskRan)}, "UpdateService": {ok(updated)}, "Verify": {ok(verified)}, "CheckBake": {ok(verified)},
		"Rollback": {ok(done)}, "VerifyRollback": {ok(verified)}, "PreDeploySnapshot": {ok(snapshotTaken)},
		"RecordSucceeded": {ok(done)}, "Record": {ok(done)}, "RecordRefused": {ok(done)}, "Release": {ok(done)},
	}
}

// Paths, in pieces.
var (
	start      = []string{"Resolve", "HasSource"}
	console    = []string{"Resolve", "HasSource", "LookupCommit", "KnownCommit"}
	locked     = []string{"Acquire", "ReadLast", "OrderCheck"}
	built      = []string{"BuildMode", "Build", "CheckImage", "SnapshotBeforeDeploy", "Register", "MigrationsMode"}
	checked    = []string{"BuildMode", "CheckImage", "SnapshotBeforeDeploy", "Register", "MigrationsMode"}
	verifiedP  = []string{"UpdateService", "Verify", "VerifyDone", "BakeNeeded"}
	succeeded  = []string{"Succeeded", "RecordSucceeded", "Release", "Finish", "Deployed"}
	recorded   = []string{"Record", "Release", "Finish", "NotDeployed"}
	refused    = []string{"RecordRefused", "Release", "Finish", "NotDeployed"}
	rolledBack = []string{"Rollback", "VerifyRollback", "VerifyRollbackDone", "RolledBack", "Record", "Release", "Finish", "NotDeployed"}
	toLastGood = []string{"RollbackTarget", "RollbackToLastSucceeded"}
	toPrevious = []string{"RollbackTarget", "RollbackToPrevious"}
)

func path(parts ...[]string) []string { return slices.Concat(parts...) }

func deployScenarios(t *testing.T) []scenario {
	hook := resolved(t, catalogYAML(codebuild, sqlMig, baked), webhookReq())
	plain := resolved(t, catalogYAML(prebuilt, "", ""), webhookReq())
	task := resolved(t, catalogYAML(prebuilt, taskMig, ""), webhookReq())
	cons := resolved(t, catalogYAML(prebuilt, "", ""), consoleReq(false))
	older := resolved(t, catalogYAML(prebuilt, "", ""), consoleReq(true))
	everyThrottledOnce := func(base map[string][]reply, states ...string) map[string][]reply {
		out := maps.Clone(base)
		for _, s := range states {
			name := "Lambda.TooManyRequestsException"
			switch s {
			case "Acquire", "ReadLock", "ReadLast", "LookupCommit", "TakeOver", "Enqueue", "Dequeue", "Release":
				name = throttled
			case "RecordSucceeded", "Record", "RecordRefused":
				name = "DynamoDb.ThrottlingException"
			case "Build":
				name = "CodeBuild.ThrottlingException"
			case "CheckImage":
				name = "Ecr.ThrottlingException"
			case "UpdateService", "Rollback":
				name = "Ecs.ThrottlingException"
			case "CheckOwner":
				name = "Sfn.ThrottlingException"
			case "MigrationTask", "MigrationTaskHostNetwork":
				name = "ECS.ThrottlingException"
			}
			out[s] = append([]reply{fail(name, "Rate exceeded")}, out[s]...)
		}
		return out
	}
	snap := resolved(t, catalogYAML(prebuilt, sqlMig+preSnap, ""), webhookReq())
	return []scenario{
		{
			name:   "a snapshot before the migrations (catalog backup.beforeDeploy), its start throttled once",
			script: script(happy(snap), "PreDeploySnapshot", []reply{fail("StepFunctions.ThrottlingException", "Rate exceeded"), ok(snapshotTaken)}),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "SnapshotBeforeDeploy", "PreDeploySnapshot", "Register", "MigrationsMode", "Migrate"}, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name: "the pre-deploy snapshot fails: nothing is migrated or deployed",
			script: script(happy(snap), "PreDeploySnapshot", fail("States.TaskFailed",
				`{"ExecutionArn":"arn:aws:states:us-east-1:123456789012:execution:stepship-backup:paths","Status":"FAILED","Error":"SnapshotQuotaExceeded","Cause":"manual snapshot quota"}`)),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "SnapshotBeforeDeploy", "PreDeploySnapshot", "PreDeploySnapshotFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"PreDeploySnapshotFailed", "SnapshotQuotaExceeded", "nothing was deployed"},
		},
		{
			name:   "the pre-deploy snapshot takes longer than its timeout",
			script: script(happy(snap), "PreDeploySnapshot", fail("States.Timeout", "")),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "SnapshotBeforeDeploy", "PreDeploySnapshot", "PreDeploySnapshotFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"PreDeploySnapshotFailed", "States.Timeout", "nothing was deployed"},
		},
		{
			name:   "a push builds, migrates, deploys, verifies and bakes",
			script: happy(hook),
			path:   path(start, locked, built, []string{"Migrate"}, verifiedP, []string{"Bake", "CheckBake"}, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name: "every call throttled once on the way",
			script: everyThrottledOnce(happy(hook), "Resolve", "Acquire", "ReadLast", "Build", "CheckImage", "Register", "Migrate",
				"UpdateService", "Verify", "CheckBake", "RecordSucceeded", "Release"),
			path:   path(start, locked, built, []string{"Migrate"}, verifiedP, []string{"Bake", "CheckBake"}, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "a prebuilt image without migrations or bake, verified over two rounds",
			script: script(happy(plain), "Verify", []reply{ok(inProgress), ok(verified)}),
			path:   path(start, locked, checked, []string{"UpdateService", "Verify", "VerifyDone", "Verify", "VerifyDone", "BakeNeeded"}, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "task-mode migrations run the release as a one-off task",
			script: everyThrottledOnce(happy(task), "MigrationTask"),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTask"}, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "a service without awsvpc networking: its migration task gets no network configuration",
			script: everyThrottledOnce(script(happy(task), "Register", ok(registeredHost)), "MigrationTaskHostNetwork"),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTaskHostNetwork"}, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "a migration task without awsvpc networking exits 1",
			script: script(happy(task), "Register", ok(registeredHost), "MigrationTaskHostNetwork", fail("States.TaskFailed", taskExit1)),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTaskHostNetwork", "MigrationTaskStopped", "ParseStoppedTask", "ExitCodeKnown", "MigrationTaskFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"exited with code 1", "log stream: /web/0f3c"},
		},
		{
			name:   "a migration task without awsvpc networking times out",
			script: script(happy(task), "Register", ok(registeredHost), "MigrationTaskHostNetwork", fail("States.Timeout", "")),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTaskHostNetwork", "MigrationFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
		},
		{
			name:   "a migration task that exits 1 stops the deploy before the code changes",
			script: script(happy(task), "MigrationTask", fail("States.TaskFailed", taskExit1)),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTask", "MigrationTaskStopped", "ParseStoppedTask", "ExitCodeKnown", "MigrationTaskFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
			cause: []string{"exited with code 1", "log stream: ecs/web/0f3c", "the service was not changed and still runs " + rev1},
		},
		{
			name:   "a migration task that cannot start",
			script: script(happy(task), "MigrationTask", fail("ECS.AccessDeniedException", "not allowed")),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTask", "MigrationTaskStopped", "MigrationFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"ECS.AccessDeniedException"},
		},
		{
			name:   "a migration task that stopped before its container ran",
			script: script(happy(task), "MigrationTask", fail("States.TaskFailed", `{"TaskArn":"arn:aws:ecs:us-east-1:123456789012:task/stepship-demo/0f3c","StopCode":"TaskFailedToStart","Containers":[{}]}`)),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTask", "MigrationTaskStopped", "ParseStoppedTask", "ExitCodeKnown", "MigrationFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"TaskFailedToStart"},
		},
		{
			name:   "a migration task timing out",
			script: script(happy(task), "MigrationTask", fail("States.Timeout", "")),
			path:   path(start, locked, checked, []string{"MigrationTaskNetwork", "MigrationTask", "MigrationFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"States.Timeout"},
		},
		{
			name: "a failing migration stops the deploy before the code changes",
			script: script(happy(hook), "Migrate", []reply{fail("DatabaseUnreachable", "connection refused"),
				fail("MigrationFailed", "migration 00004_add_email.sql failed at line 3; the database is at version 3")}),
			path:   path(start, locked, built, []string{"Migrate", "MigrationFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
			cause: []string{"MigrationFailed: migration 00004_add_email.sql failed", "the service was not changed and still runs " + rev1},
		},
		{
			name:   "a console deploy of a new commit is ordered by its arrival",
			script: everyThrottledOnce(happy(cons), "LookupCommit"),
			path:   path(console, locked, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "a console deploy of an older commit is refused",
			script: script(happy(cons), "LookupCommit", ok(seenOlder), "ReadLast", ok(lastOlder)),
			path:   path(console, []string{"UseCommitOrder"}, locked, []string{"RefusedOlder"}, refused),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
			cause: []string{"refused: commit " + commit + " was pushed at 2026-11-30T08:00:00.000Z, before commit " + otherCommit, "allowOlder", "nothing was changed"},
		},
		{
			name:   "a console rollback request (allowOlder) deploys an older commit",
			script: script(happy(older), "LookupCommit", ok(seenOlder), "ReadLast", ok(lastOlder)),
			path:   path(console, []string{"UseCommitOrder"}, locked, []string{"RollbackRequest", "KeepHigh"}, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "a console rollback request of a commit that is not older",
			script: script(happy(older), "LookupCommit", ok(seenNewer), "ReadLast", ok(lastOlder)),
			path:   path(console, []string{"UseCommitOrder"}, locked, []string{"RollbackRequest"}, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "a push older than the newest recorded is refused",
			script: everyThrottledOnce(script(happy(plain), "ReadLast", ok(lastNewer)), "RecordRefused"),
			path:   path(start, locked, []string{"RefusedOlder"}, refused),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"before commit " + newerCommit, "nothing goes backwards"},
		},
		{
			name:   "a later push waiting for the lock supersedes this one",
			script: script(happy(plain), "Acquire", fail(ccf, "The conditional request failed"), "ReadLock", ok(newerWaits), "Release", fail(ccf, "not the owner")),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "SupersededByWaiter"}, refused),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"superseded by " + newerCommit, "waiting for the deploy lock of web/production", "nothing was changed"},
		},
		{
			name:   "a later push deploying now supersedes this one",
			script: everyThrottledOnce(script(happy(plain), "Acquire", fail(ccf, "failed"), "ReadLock", ok(heldByNewer), "Release", fail(ccf, "not the owner")), "ReadLock"),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "SupersededByOwner"}, refused),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"superseded by " + newerCommit, "deploying now"},
		},
		{
			name: "an older push deploying: wait as next, then deploy",
			script: everyThrottledOnce(script(happy(plain), "Acquire", []reply{fail(ccf, "held"), ok(done)}, "ReadLock", ok(held),
				"CheckOwner", ok(`{"Status":"RUNNING"}`), "Enqueue", ok(done)), "CheckOwner", "Enqueue"),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "OwnerRunning", "Enqueue", "LockWaitLeft", "LockWaitOver", "WaitForLock"}, locked, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name: "a later push took the waiting place meanwhile: look again",
			script: script(happy(plain), "Acquire", []reply{fail(ccf, "held"), fail(ccf, "held"), ok(done)}, "ReadLock", ok(held),
				"CheckOwner", ok(`{"Status":"RUNNING"}`), "Enqueue", []reply{fail(ccf, "outranked"), ok(done)}),
			path: path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "OwnerRunning", "Enqueue", "Acquire", "ReadLock", "Contended",
				"CheckOwner", "OwnerRunning", "Enqueue", "LockWaitLeft", "LockWaitOver", "WaitForLock"}, locked, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name: "the holder's execution has ended: take the lock over",
			script: everyThrottledOnce(script(happy(plain), "Acquire", fail(ccf, "held"), "ReadLock", ok(held), "CheckOwner", ok(`{"Status":"ABORTED"}`),
				"TakeOver", ok(done)), "TakeOver"),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "OwnerRunning", "TakeOver", "ReadLast", "OrderCheck"}, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name: "the holder's execution is gone, and someone else took over first",
			script: script(happy(plain), "Acquire", []reply{fail(ccf, "held"), ok(done)}, "ReadLock", ok(held),
				"CheckOwner", fail("Sfn.ExecutionDoesNotExistException", "Execution Does Not Exist"), "TakeOver", fail(ccf, "taken")),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "TakeOver"}, locked, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name: "the holder cannot be asked about: wait behind it",
			script: script(happy(plain), "Acquire", []reply{fail(ccf, "held"), ok(done)}, "ReadLock", ok(held),
				"CheckOwner", fail("Sfn.AccessDeniedException", "no"), "Enqueue", ok(done)),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "Enqueue", "LockWaitLeft", "LockWaitOver", "WaitForLock"}, locked, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name: "waited for the lock as long as a deploy may: give up, no longer the waiter",
			script: everyThrottledOnce(script(happy(waitedTooLong(plain)), "Acquire", fail(ccf, "held"), "ReadLock", ok(held),
				"CheckOwner", ok(`{"Status":"RUNNING"}`), "Enqueue", ok(done), "Dequeue", ok(done)), "Dequeue"),
			path: path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "OwnerRunning", "Enqueue", "LockWaitLeft", "LockWaitOver",
				"LockWaitTooLong", "Dequeue"}, refused),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
			cause: []string{"LockWaitTooLong: the deploy lock of web/production was held for longer than a deploy may wait for it (since 2026-11-30T10:00:00.000Z)", "nothing was changed"},
		},
		{
			name:   "waited too long, and a later push already took the waiting place",
			script: script(happy(waitedTooLong(plain)), "Acquire", fail(ccf, "held"), "ReadLock", ok(freeNow), "Dequeue", fail(ccf, "not the waiter")),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "LockWaitLeft", "LockWaitOver", "LockWaitTooLong", "Dequeue"}, refused),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"LockWaitTooLong"},
		},
		{
			name:   "the lock was freed meanwhile: wait and take it",
			script: script(happy(plain), "Acquire", []reply{fail(ccf, "held"), ok(done)}, "ReadLock", ok(freeNow)),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "LockWaitLeft", "LockWaitOver", "WaitForLock"}, locked, checked, verifiedP, succeeded),
			status: asl.StatusSucceeded,
		},
		{
			name:   "the lock table fails",
			script: script(happy(plain), "Acquire", fail(throttled, "Rate exceeded"), "Release", fail(ccf, "not the owner")),
			path:   path(start, []string{"Acquire", "LockFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"LockFailed: the deploy lock of web/production could not be taken (DynamoDB.ThrottlingException", "nothing was changed"},
		},
		{
			name:   "the commit's push time cannot be read",
			script: script(happy(cons), "LookupCommit", fail("DynamoDB.AccessDeniedException", "no"), "Release", fail(ccf, "x")),
			path:   path(start, []string{"LookupCommit", "LockFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"LockFailed"},
		},
		{
			name:   "the lock cannot be read",
			script: script(happy(plain), "Acquire", fail(ccf, "held"), "ReadLock", fail("DynamoDB.AccessDeniedException", "no"), "Release", fail(ccf, "x")),
			path:   path(start, []string{"Acquire", "ReadLock", "LockFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
		},
		{
			name: "taking over or waiting fails",
			script: script(happy(plain), "Acquire", fail(ccf, "held"), "ReadLock", ok(held), "CheckOwner", ok(`{"Status":"FAILED"}`),
				"TakeOver", fail("DynamoDB.AccessDeniedException", "no"), "Release", fail(ccf, "x")),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "OwnerRunning", "TakeOver", "LockFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
		},
		{
			name: "waiting fails",
			script: script(happy(plain), "Acquire", fail(ccf, "held"), "ReadLock", ok(held), "CheckOwner", ok(`{"Status":"RUNNING"}`),
				"Enqueue", fail("DynamoDB.AccessDeniedException", "no"), "Release", fail(ccf, "x")),
			path:   path(start, []string{"Acquire", "ReadLock", "Contended", "CheckOwner", "OwnerRunning", "Enqueue", "LockFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
		},
		{
			name:   "the ledger cannot be read",
			script: script(happy(plain), "ReadLast", fail("DynamoDB.AccessDeniedException", "no")),
			path:   path(start, []string{"Acquire", "ReadLast", "LedgerReadFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"LedgerReadFailed", "nothing was changed"},
		},
		{
			name:   "an input naming a target is refused",
			script: map[string][]reply{"Resolve": {fail("InvalidDeployRequest", `invalid deploy request: field "cluster" is not allowed`)}},
			path:   []string{"Resolve", "RequestRefused"},
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{`InvalidDeployRequest: invalid deploy request: field "cluster" is not allowed`},
		},
		{
			name:   "a service the catalog does not have is refused",
			script: map[string][]reply{"Resolve": {fail("UnknownTarget", `service "api" is not in the catalog`)}},
			path:   []string{"Resolve", "RequestRefused"},
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{`UnknownTarget: service "api"`},
		},
		{
			name:   "resolve crashes",
			script: map[string][]reply{"Resolve": {fail("Lambda.Unknown", "exit status 2")}},
			path:   []string{"Resolve", "ResolveFailed"},
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"ResolveFailed", "Lambda.Unknown", "nothing was changed"},
		},
		{
			name:   "the build fails",
			script: script(happy(hook), "Build", fail("States.TaskFailed", `{"BuildStatus":"FAILED"}`)),
			path:   path(start, locked, []string{"BuildMode", "Build", "BuildFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"BuildFailed: the build of commit " + commit + " failed (States.TaskFailed", "nothing was deployed"},
		},
		{
			name:   "the commit's image is not in the repository",
			script: script(happy(plain), "CheckImage", fail("Ecr.ImageNotFoundException", "The image with imageId {imageTag:"+commit+"} does not exist")),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "ImageNotFound"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"ImageNotFound: no image tagged " + commit + " in ECR repository web (registry 123456789012)"},
		},
		{
			name:   "the catalog's repository does not exist",
			script: script(happy(plain), "CheckImage", fail("Ecr.RepositoryNotFoundException", "The repository with name 'web' does not exist")),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "ImageNotFound"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"'web' does not exist"},
		},
		{
			name:   "ECR keeps failing",
			script: script(happy(plain), "CheckImage", fail("Ecr.ServerException", "internal error")),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "ImageCheckFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"ImageCheckFailed", "Ecr.ServerException", "nothing was deployed"},
		},
		{
			name:   "the ECS service is not there",
			script: script(happy(plain), "Register", fail("ServiceNotFound", `ECS service "web" not found`)),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "SnapshotBeforeDeploy", "Register", "RegisterFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{`ServiceNotFound: ECS service "web" not found`, "the service was not changed"},
		},
		{
			name:   "ECS refuses the update",
			script: script(happy(plain), "UpdateService", fail("Ecs.ServiceNotActiveException", "Service was not ACTIVE")),
			path:   path(start, locked, checked, []string{"UpdateService", "UpdateRefused"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"UpdateRefused", "the service was not changed"},
		},
		{
			name:   "the update keeps failing: roll back, to be sure",
			script: script(happy(plain), "UpdateService", fail("Ecs.ServerException", "internal")),
			path:   path(start, locked, checked, []string{"UpdateService"}, toPrevious, rolledBack),
			status: asl.StatusFailed, errName: "ROLLED_BACK", cause: []string{"rolled back to " + rev1},
		},
		{
			name: "the rollout fails: back to the last good release",
			script: everyThrottledOnce(script(happy(plain), "ReadLast", ok(lastOlder), "Verify", fail("DeploymentFailed", "tasks failed to start"),
				"VerifyRollback", []reply{ok(inProgress), ok(verified)}), "Rollback", "VerifyRollback", "Record"),
			path: path(start, locked, checked, []string{"UpdateService", "Verify"}, toLastGood,
				[]string{"Rollback", "VerifyRollback", "VerifyRollbackDone", "VerifyRollback", "VerifyRollbackDone", "RolledBack", "Record", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "ROLLED_BACK",
			cause: []string{"commit " + commit + " failed (DeploymentFailed: tasks failed to start)", "rolled back to " + rev0, "migration version"},
		},
		{
			name:   "an alarm during the bake rolls back",
			script: script(happy(hook), "CheckBake", fail("AlarmDuringBake", "web-5xx went into ALARM at 10:04")),
			path:   path(start, locked, built, []string{"Migrate"}, verifiedP, []string{"Bake", "CheckBake"}, toPrevious, rolledBack),
			status: asl.StatusFailed, errName: "ROLLED_BACK", cause: []string{"AlarmDuringBake: web-5xx went into ALARM", "migration version 4"},
		},
		{
			name:   "the rollback fails: FAILED_DIRTY says what runs where",
			script: script(happy(plain), "Verify", fail("HealthCheckFailed", "503"), "Rollback", fail("Ecs.AccessDeniedException", "denied")),
			path:   path(start, locked, checked, []string{"UpdateService", "Verify"}, toPrevious, []string{"Rollback", "RollbackFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_DIRTY",
			cause: []string{"HealthCheckFailed: 503", "the rollback of web/production to " + rev1 + " failed too (Ecs.AccessDeniedException: denied)", "may still run " + rev2, "roll back by hand"},
		},
		{
			name:   "the rollback does not become stable",
			script: script(happy(plain), "Verify", fail("RolledBackByECS", "circuit breaker"), "VerifyRollback", fail("RolloutTimedOut", "still IN_PROGRESS")),
			path:   path(start, locked, checked, []string{"UpdateService", "Verify"}, toPrevious, []string{"Rollback", "VerifyRollback", "RollbackFailed"}, recorded),
			status: asl.StatusFailed, errName: "FAILED_DIRTY", cause: []string{"RolloutTimedOut"},
		},
		{
			name:   "the ledger cannot be written: the outcome says so",
			script: script(happy(plain), "RecordSucceeded", fail("DynamoDb.AccessDeniedException", "no")),
			path:   path(start, locked, checked, verifiedP, []string{"Succeeded", "RecordSucceeded", "RecordFailed", "Release", "Finish", "Deployed"}),
			status: asl.StatusSucceeded,
		},
		{
			name:   "a failure's ledger entry cannot be written",
			script: script(happy(plain), "CheckImage", fail("Ecr.ImageNotFoundException", "no"), "Record", fail("DynamoDb.AccessDeniedException", "no")),
			path:   path(start, locked, []string{"BuildMode", "CheckImage", "ImageNotFound", "Record", "RecordFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN", cause: []string{"the ledger entry could not be written: DynamoDb.AccessDeniedException"},
		},
		{
			name:   "a refusal's ledger entry cannot be written",
			script: script(happy(plain), "ReadLast", ok(lastNewer), "RecordRefused", fail("DynamoDb.AccessDeniedException", "no")),
			path:   path(start, locked, []string{"RefusedOlder", "RecordRefused", "RecordFailed", "Release", "Finish", "NotDeployed"}),
			status: asl.StatusFailed, errName: "FAILED_CLEAN",
		},
		{
			name:   "the lock cannot be released: the outcome says so",
			script: script(happy(plain), "Release", fail("DynamoDB.AccessDeniedException", "no")),
			path:   path(start, locked, checked, verifiedP, []string{"Succeeded", "RecordSucceeded", "Release", "ReleaseFailed", "Finish", "Deployed"}),
			status: asl.StatusSucceeded,
		},
	}
}

// edge is a transition taken: from → to, or from → "retry[i]".
type edge struct{ from, to string }

// deployInput is the deploy machine's input in every scenario (the scripted
// resolve result is what counts).
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
	// Waits and retry intervals run 10,000 times faster; Task timeouts are
	// measured in real time: the scripted invoker answers at once, and a
	// 30 s timeout scaled to 3 ms timed a task out on a loaded machine (a
	// clean-clone run saw a DescribeSnapshot time out and its retry read the
	// next scripted reply).
	runner := asl.NewRunner(asl.WithInvoker(inv), asl.WithClock(asl.NewScaledClock(1e4)), asl.WithTimeoutClock(asl.NewScaledClock(1)))
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

func TestDeployPaths(t *testing.T) {
	checkPaths(t, statemachines.Deploy, deployInput, deployScenarios(t))
}

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
			for _, o := range sc.output {
				if !strings.Contains(string(got.Output), o) {
					t.Errorf("output %s does not hold %s", got.Output, o)
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
		for i, r := range s.Retry {
			if r.MaxAttempts == nil || *r.MaxAttempts > 0 { // MaxAttempts 0: never retried
				add(name, fmt.Sprintf("retry[%d]", i))
			}
		}
	}
	return out
}

func TestDeployEveryPathIsTaken(t *testing.T) {
	everyPathTaken(t, statemachines.Deploy, deployInput, deployScenarios(t))
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
