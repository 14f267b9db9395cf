package statemachines_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// The backup and dr-drill state machines, run path by path like the deploy
// machine (deploy_paths_test.go): every transition, Catch and Retry is taken
// by a scenario, and a drill deletes what it restored on every path but a
// confirmed failover's.

const backupInput = `{"service":"web","environment":"production","reason":"nightly"}`

func backupPlan(aurora bool, maxPolls int) string {
	return fmt.Sprintf(`{"service":"web","environment":"production","database":"web-prod","aurora":%t,"snapshot":"stepship-web-prod-20261130-030000",`+
		`"tags":[{"Key":"stepship:managed-by","Value":"stepship"}],"drRegion":"us-west-2","pollSeconds":60,"maxPolls":%d,"snapshotOnly":false}`, aurora, maxPolls)
}

func snapshotStatus(status string) string {
	return `{"DBSnapshots":[{"DBSnapshotIdentifier":"stepship-web-prod-20261130-030000","Status":"` + status + `"}]}`
}

func clusterSnapshotStatus(status string) string {
	return `{"DBClusterSnapshots":[{"DBClusterSnapshotIdentifier":"stepship-web-prod-20261130-030000","Status":"` + status + `"}]}`
}

func copyStatus(status string) string {
	return fmt.Sprintf(`{"snapshot":"stepship-web-prod-20261130-030000","arn":"arn:aws:rds:us-west-2:123456789012:snapshot:stepship-web-prod-20261130-030000","region":"us-west-2","status":%q,"available":%t,"started":false}`,
		status, status == "available")
}

const (
	pruned      = `{"regions":[{"region":"us-east-1","kept":[],"deleted":[]},{"region":"us-west-2","kept":[],"deleted":[]}],"rpoSeconds":120}`
	prunedNoRPO = `{"regions":[{"region":"us-east-1","kept":[],"deleted":[]},{"region":"us-west-2","kept":[],"deleted":[]}]}`
)

// backupUntilCopy scripts a backup whose snapshot is available at once.
func backupUntilCopy(aurora bool, maxPolls int) map[string][]reply {
	return map[string][]reply{"Plan": {ok(backupPlan(aurora, maxPolls))}, "CreateSnapshot": {ok(`{}`)}, "CreateClusterSnapshot": {ok(`{}`)},
		"DescribeSnapshot": {ok(snapshotStatus("available"))}, "DescribeClusterSnapshot": {ok(clusterSnapshotStatus("available"))}, "NotifyFailure": {ok(published)}}
}

func with(base map[string][]reply, extra map[string][]reply) map[string][]reply {
	out := map[string][]reply{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// notified ends every failure after the plan: the failure's notice, its
// notification, the one Fail state.
var notified = []string{"FailureNotice", "NotifyFailure", "BackupFailed"}

// failedAt is a path ending in the failure state s, notified.
func failedAt(path []string, s string) []string {
	return append(append(slices.Clone(path), s), notified...)
}

var snapshotWaitedFor = []string{"Plan", "SnapshotKind", "CreateSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady"}

var backupScenarios = []scenario{
	{
		name: "an instance: snapshot, wait, copy, wait, prune, RPO",
		script: map[string][]reply{"Plan": {ok(backupPlan(false, 10))}, "CreateSnapshot": {ok(`{}`)},
			"DescribeSnapshot": {ok(snapshotStatus("creating")), ok(snapshotStatus("available"))},
			"Copy":             {ok(copyStatus("pending")), ok(copyStatus("available"))}, "Prune": {ok(pruned)}, "RecordRPO": {ok(`{}`)}},
		path: []string{"Plan", "SnapshotKind", "CreateSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady",
			"CountSnapshotPoll", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady", "CopyWanted", "StartCopyWait", "Copy", "CopyReady",
			"CountCopyPoll", "WaitCopy", "Copy", "CopyReady", "Prune", "HasRPO", "RecordRPO", "Outcome", "BackedUp"},
		status: asl.StatusSucceeded,
	},
	{
		name: "an Aurora cluster, through throttling, a busy cluster, the copy quota and a failed delete",
		script: map[string][]reply{
			"Plan":                    {fail("Lambda.TooManyRequestsException", "Rate exceeded"), ok(backupPlan(true, 10))},
			"CreateClusterSnapshot":   {fail("Rds.ThrottlingException", "Rate exceeded"), fail("Rds.InvalidDbClusterStateException", "backing up"), ok(`{}`)},
			"DescribeClusterSnapshot": {fail("Rds.RdsException", "500"), ok(clusterSnapshotStatus("available"))},
			"Copy": {fail("CopyQuotaExceeded", "us-west-2 already runs as many cross-region snapshot copies as RDS allows"),
				fail("CopyQuotaExceeded", "still"), fail("RDSCallFailed", "throttled"), ok(copyStatus("available"))},
			"Prune":     {fail("RDSCallFailed", "failed to delete x"), ok(pruned)},
			"RecordRPO": {fail("CloudWatch.ThrottlingException", "Rate exceeded"), ok(`{}`)},
		},
		path: []string{"Plan", "SnapshotKind", "CreateClusterSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeClusterSnapshot", "SnapshotReady",
			"CopyWanted", "StartCopyWait", "Copy", "CopyReady", "Prune", "HasRPO", "RecordRPO", "Outcome", "BackedUp"},
		status: asl.StatusSucceeded,
	},
	{
		name: "throttled and busy; a snapshot an earlier attempt took is waited for, not taken twice",
		script: with(backupUntilCopy(false, 10), map[string][]reply{
			"CreateSnapshot":   {fail("Rds.ThrottlingException", "Rate exceeded"), fail("Rds.InvalidDbInstanceStateException", "backing up"), fail("Rds.DbSnapshotAlreadyExistsException", "exists")},
			"DescribeSnapshot": {fail("Rds.SdkClientException", "connection reset"), ok(snapshotStatus("available"))},
			"Copy":             {ok(copyStatus("available"))}, "Prune": {ok(pruned)}, "RecordRPO": {ok(`{}`)}}),
		path:   append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "Prune", "HasRPO", "RecordRPO", "Outcome", "BackedUp"),
		status: asl.StatusSucceeded,
	},
	{
		name: "a cluster snapshot an earlier attempt took, deleted while being taken",
		script: with(backupUntilCopy(true, 10), map[string][]reply{"CreateClusterSnapshot": {fail("Rds.DbClusterSnapshotAlreadyExistsException", "exists")},
			"DescribeClusterSnapshot": {fail("Rds.DbClusterSnapshotNotFoundException", "not found")}}),
		path:   failedAt([]string{"Plan", "SnapshotKind", "CreateClusterSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeClusterSnapshot"}, "SnapshotVanished"),
		status: asl.StatusFailed, errName: "SnapshotVanished", cause: []string{"stepship-web-prod-20261130-030000 disappeared"},
	},
	{
		name: "snapshot only (a deploy's pre-deploy snapshot): ends once the snapshot is available, no copy, no pruning",
		script: map[string][]reply{"Plan": {ok(strings.Replace(backupPlan(false, 10), `"snapshotOnly":false`, `"snapshotOnly":true`, 1))}, "CreateSnapshot": {ok(`{}`)},
			"DescribeSnapshot": {ok(snapshotStatus("creating")), ok(snapshotStatus("available"))}},
		path: []string{"Plan", "SnapshotKind", "CreateSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady",
			"CountSnapshotPoll", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady", "CopyWanted", "SnapshotTaken"},
		status: asl.StatusSucceeded,
	},
	{
		name:   "an input naming a database is refused",
		script: map[string][]reply{"Plan": {fail("InvalidBackupRequest", `invalid backup request: field "database" is not allowed`)}},
		path:   []string{"Plan", "RequestRefused"},
		status: asl.StatusFailed, errName: "InvalidBackupRequest", cause: []string{`"database" is not allowed`},
	},
	{
		name:   "the snapshot function crashes",
		script: map[string][]reply{"Plan": {fail("Lambda.Unknown", "exit status 2")}, "NotifyFailure": {ok(published)}},
		path:   []string{"Plan", "PlanFailed", "NotifyFailure", "BackupFailed"},
		status: asl.StatusFailed, errName: "PlanFailed", cause: []string{"Lambda.Unknown", "nothing was changed"},
	},
	{
		name:   "the manual-snapshot quota is reached",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"CreateSnapshot": {fail("Rds.SnapshotQuotaExceededException", "Cannot create more than 100 manual snapshots")}}),
		path:   failedAt([]string{"Plan", "SnapshotKind", "CreateSnapshot"}, "SnapshotQuotaReached"),
		status: asl.StatusFailed, errName: "SnapshotQuotaExceeded", cause: []string{"no snapshot of web-prod was taken", "Cannot create more than 100"},
	},
	{
		name:   "the snapshot is refused",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"CreateSnapshot": {fail("Rds.AccessDeniedException", "not authorized")}}),
		path:   failedAt([]string{"Plan", "SnapshotKind", "CreateSnapshot"}, "SnapshotFailed"),
		status: asl.StatusFailed, errName: "SnapshotFailed", cause: []string{"Rds.AccessDeniedException", "not authorized"},
	},
	{
		name:   "the cluster snapshot is refused",
		script: with(backupUntilCopy(true, 10), map[string][]reply{"CreateClusterSnapshot": {fail("Rds.DbClusterNotFoundException", "no such cluster")}}),
		path:   failedAt([]string{"Plan", "SnapshotKind", "CreateClusterSnapshot"}, "SnapshotFailed"),
		status: asl.StatusFailed, errName: "SnapshotFailed", cause: []string{"no such cluster"},
	},
	{
		name:   "the cluster snapshot is over its quota",
		script: with(backupUntilCopy(true, 10), map[string][]reply{"CreateClusterSnapshot": {fail("Rds.SnapshotQuotaExceededException", "quota")}}),
		path:   failedAt([]string{"Plan", "SnapshotKind", "CreateClusterSnapshot"}, "SnapshotQuotaReached"),
		status: asl.StatusFailed, errName: "SnapshotQuotaExceeded",
	},
	{
		name:   "the snapshot disappears while being taken",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"DescribeSnapshot": {fail("Rds.DbSnapshotNotFoundException", "not found")}}),
		path:   failedAt(snapshotWaitedFor[:len(snapshotWaitedFor)-1], "SnapshotVanished"),
		status: asl.StatusFailed, errName: "SnapshotVanished",
	},
	{
		name:   "the snapshot cannot be read",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"DescribeSnapshot": {fail("Rds.AccessDeniedException", "denied")}}),
		path:   failedAt(snapshotWaitedFor[:len(snapshotWaitedFor)-1], "SnapshotFailed"),
		status: asl.StatusFailed, errName: "SnapshotFailed",
	},
	{
		name:   "the cluster snapshot cannot be read",
		script: with(backupUntilCopy(true, 10), map[string][]reply{"DescribeClusterSnapshot": {fail("Rds.AccessDeniedException", "denied")}}),
		path:   failedAt([]string{"Plan", "SnapshotKind", "CreateClusterSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeClusterSnapshot"}, "SnapshotFailed"),
		status: asl.StatusFailed, errName: "SnapshotFailed",
	},
	{
		name:   "the snapshot fails",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"DescribeSnapshot": {ok(snapshotStatus("failed"))}}),
		path:   failedAt(snapshotWaitedFor, "SnapshotNotAvailable"),
		status: asl.StatusFailed, errName: "SnapshotFailed", cause: []string{"ended failed"},
	},
	{
		name:   "the snapshot takes longer than the wait allows",
		script: with(backupUntilCopy(false, 1), map[string][]reply{"DescribeSnapshot": {ok(snapshotStatus("creating"))}}),
		path: failedAt(append(slices.Clone(snapshotWaitedFor), "CountSnapshotPoll", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady"),
			"SnapshotTimedOut"),
		status: asl.StatusFailed, errName: "SnapshotTimedOut", cause: []string{"still creating after 1 polls"},
	},
	{
		name:   "the copy fails: retention still applies, the run fails named",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"Copy": {ok(copyStatus("failed"))}, "Prune": {ok(prunedNoRPO)}}),
		path:   failedAt(append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "CopyNotMade", "Prune", "HasRPO", "Outcome"), "DRCopyFailed"),
		status: asl.StatusFailed, errName: "DRCopyFailed", cause: []string{"was taken, but not copied to us-west-2 (CopyFailed)"},
	},
	{
		name: "the copy takes longer than the wait allows; the RPO metric cannot be written",
		script: with(backupUntilCopy(false, 1), map[string][]reply{"Copy": {ok(copyStatus("copying"))}, "Prune": {ok(pruned)},
			"RecordRPO": {fail("CloudWatch.AccessDeniedException", "denied")}}),
		path: failedAt(append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "CountCopyPoll", "WaitCopy", "Copy", "CopyReady",
			"CopyTimedOut", "Prune", "HasRPO", "RecordRPO", "Outcome"), "DRCopyFailed"),
		status: asl.StatusFailed, errName: "DRCopyFailed", cause: []string{"CopyTimedOut", "still copying after 1 polls"},
	},
	{
		name:   "the copy is refused",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"Copy": {fail("SnapshotNotFound", "snapshot x is not in us-east-1")}, "Prune": {ok(pruned)}, "RecordRPO": {ok(`{}`)}}),
		path:   failedAt(append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "Prune", "HasRPO", "RecordRPO", "Outcome"), "DRCopyFailed"),
		status: asl.StatusFailed, errName: "DRCopyFailed", cause: []string{"(SnapshotNotFound): snapshot x is not in us-east-1"},
	},
	{
		name: "pruning keeps failing; the notification is throttled, then refused: the outcome stands",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"Copy": {ok(copyStatus("available"))}, "Prune": {fail("RDSCallFailed", "failed to delete s1")},
			"NotifyFailure": {fail("Sns.ThrottledException", "Rate exceeded"), fail("Sns.AuthorizationErrorException", "not authorized")}}),
		path:   failedAt(append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "Prune", "PruneFailure"), "PruneFailed"),
		status: asl.StatusFailed, errName: "PruneFailed", cause: []string{"failed to delete s1"},
	},
	{
		name: "the copy disappears while it is polled, then pruning fails: the outcome says both",
		script: with(backupUntilCopy(false, 10), map[string][]reply{
			"Copy":  {ok(copyStatus("copying")), fail("SnapshotNotFound", "the copy of x disappeared from us-west-2 while it was being made")},
			"Prune": {fail("RDSCallFailed", "failed to list snapshots in us-west-2")}}),
		path: failedAt(append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "CountCopyPoll", "WaitCopy", "Copy",
			"Prune", "PruneFailure"), "PruneAndCopyFailed"),
		status: asl.StatusFailed, errName: "PruneFailed",
		cause: []string{"failed to list snapshots in us-west-2", "was not copied to us-west-2 (SnapshotNotFound)", "disappeared from us-west-2 while it was being made"},
	},
}

func TestBackupPaths(t *testing.T) { checkPaths(t, statemachines.Backup, backupInput, backupScenarios) }

func TestBackupEveryPathIsTaken(t *testing.T) {
	everyPathTaken(t, statemachines.Backup, backupInput, backupScenarios)
}

// The copy is told how often it was polled already: after the first poll
// the copy existed, so the snapshot function can tell a copy deleted while
// it was being made from one not started yet.
func TestBackupCopyKnowsItsPolls(t *testing.T) {
	var polls []string
	sc := scenario{script: with(backupUntilCopy(false, 10), map[string][]reply{
		"Copy": {ok(copyStatus("pending")), ok(copyStatus("copying")), ok(copyStatus("available"))}, "Prune": {ok(pruned)}, "RecordRPO": {ok(`{}`)}})}
	got, _, _ := runObserved(t, statemachines.Backup, backupInput, sc, func(state string, input []byte) {
		if state == "Copy" {
			var in struct{ Input struct{ Polls *int } }
			if err := json.Unmarshal(input, &in); err != nil || in.Input.Polls == nil {
				t.Errorf("Copy input %s: %v", input, err)
				return
			}
			polls = append(polls, fmt.Sprint(*in.Input.Polls))
		}
	})
	if got.Status != asl.StatusSucceeded || strings.Join(polls, ",") != "0,1,2" {
		t.Errorf("ended %s; polls %v, want 0,1,2", got.Status, polls)
	}
}

// The concurrent-copy quota is waited out, never failed on at once: the
// copy is retried with a long backoff before the run gives up on it.
func TestBackupWaitsOutTheCopyQuota(t *testing.T) {
	d := machineOf(t, statemachines.Backup)
	r := d.States["Copy"].Retry[0]
	if !slices.Equal(r.ErrorEquals, []string{"CopyQuotaExceeded"}) {
		t.Fatalf("the first Retry of Copy is %v", r.ErrorEquals)
	}
	var raw struct {
		States map[string]struct {
			Retry []struct {
				IntervalSeconds, MaxAttempts int
			}
		}
	}
	unmarshalDefinition(t, statemachines.Backup, &raw)
	if q := raw.States["Copy"].Retry[0]; q.IntervalSeconds < 60 || q.MaxAttempts < 10 {
		t.Errorf("the copy quota is retried every %d s, %d times: too eagerly", q.IntervalSeconds, q.MaxAttempts)
	}
	if !strings.Contains(d.States["Copy"].Catch[0].Next, "Prune") {
		t.Errorf("a copy that cannot be made must still prune, then fail named")
	}
}
