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

// offsitePlan is backupPlan with a backup account (functions/snapshot's
// Plan.BackupAccount).
func offsitePlan(maxPolls int) string {
	return strings.TrimSuffix(backupPlan(false, maxPolls), "}") + `,"backupAccount":{"account":"210987654321",` +
		`"role":"arn:aws:iam::210987654321:role/stepship-backup-copier","region":"us-west-2",` +
		`"kmsKey":"arn:aws:kms:us-west-2:210987654321:alias/stepship-backup-copies","grant":"stepship-share-stepship-web-prod-20261130-030000"}}`
}

func accountCopyStatus(status string) string {
	return fmt.Sprintf(`{"snapshot":"stepship-web-prod-20261130-030000","arn":"arn:aws:rds:us-west-2:210987654321:snapshot:stepship-web-prod-20261130-030000","region":"us-west-2","account":"210987654321","status":%q,"available":%t,"started":false}`,
		status, status == "available")
}

const (
	shared   = `{"snapshot":"stepship-web-prod-20261130-030000","arn":"arn:aws:rds:us-west-2:123456789012:snapshot:stepship-web-prod-20261130-030000","account":"210987654321","grant":"stepship-share-stepship-web-prod-20261130-030000","grantId":"g1"}`
	unshared = `{"snapshot":"stepship-web-prod-20261130-030000","account":"210987654321","retiredGrants":["g1"]}`
)

// offsiteUntilShare scripts a backup with a backup account whose snapshot
// and DR copy are available at once, and whose prune and RPO succeed.
func offsiteUntilShare(maxPolls int) map[string][]reply {
	return with(backupUntilCopy(false, maxPolls), map[string][]reply{"Plan": {ok(offsitePlan(maxPolls))}, "Copy": {ok(copyStatus("available"))},
		"Prune": {ok(pruned)}, "RecordRPO": {ok(`{}`)}})
}

// offsiteWaitedFor is the path of such a backup up to the share.
var offsiteWaitedFor = append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "HasBackupAccount", "Share")

// afterUnshare is the path from Unshare to the end of a run that had a DR
// copy to measure.
func afterUnshare(end string) []string {
	path := []string{"Unshare", "Prune", "HasRPO", "RecordRPO", "Outcome", end}
	if end != "BackedUp" {
		path = append(path, notified...)
	}
	return path
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
			"CountCopyPoll", "WaitCopy", "Copy", "CopyReady", "HasBackupAccount", "Prune", "HasRPO", "RecordRPO", "Outcome", "BackedUp"},
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
			"CopyWanted", "StartCopyWait", "Copy", "CopyReady", "HasBackupAccount", "Prune", "HasRPO", "RecordRPO", "Outcome", "BackedUp"},
		status: asl.StatusSucceeded,
	},
	{
		name: "throttled and busy; a snapshot an earlier attempt took is waited for, not taken twice",
		script: with(backupUntilCopy(false, 10), map[string][]reply{
			"CreateSnapshot":   {fail("Rds.ThrottlingException", "Rate exceeded"), fail("Rds.InvalidDbInstanceStateException", "backing up"), fail("Rds.DbSnapshotAlreadyExistsException", "exists")},
			"DescribeSnapshot": {fail("Rds.SdkClientException", "connection reset"), ok(snapshotStatus("available"))},
			"Copy":             {ok(copyStatus("available"))}, "Prune": {ok(pruned)}, "RecordRPO": {ok(`{}`)}}),
		path:   append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "HasBackupAccount", "Prune", "HasRPO", "RecordRPO", "Outcome", "BackedUp"),
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
		name: "snapshot only (a deploy's pre-deploy snapshot): ends once the snapshot is available and the pre-deploy snapshots are pruned, no copy",
		script: map[string][]reply{"Plan": {ok(strings.Replace(backupPlan(false, 10), `"snapshotOnly":false`, `"snapshotOnly":true`, 1))}, "CreateSnapshot": {ok(`{}`)},
			"DescribeSnapshot": {ok(snapshotStatus("creating")), ok(snapshotStatus("available"))}, "PrunePreDeploy": {ok(`{"region":"us-east-1","kept":[],"deleted":[]}`)}},
		path: []string{"Plan", "SnapshotKind", "CreateSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady",
			"CountSnapshotPoll", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady", "CopyWanted", "PrunePreDeploy", "SnapshotTaken"},
		status: asl.StatusSucceeded,
	},
	{
		name: "snapshot only: pruning the pre-deploy snapshots fails after its retries; the snapshot is taken all the same",
		script: map[string][]reply{"Plan": {ok(strings.Replace(backupPlan(false, 10), `"snapshotOnly":false`, `"snapshotOnly":true`, 1))}, "CreateSnapshot": {ok(`{}`)},
			"DescribeSnapshot": {ok(snapshotStatus("available"))}, "PrunePreDeploy": {fail("RDSCallFailed", "failed to delete x")}},
		path: []string{"Plan", "SnapshotKind", "CreateSnapshot", "StartSnapshotWait", "WaitSnapshot", "DescribeKind", "DescribeSnapshot", "SnapshotReady",
			"CopyWanted", "PrunePreDeploy", "SnapshotTaken"},
		status: asl.StatusSucceeded, output: []string{`"pruneError":{"Cause":"failed to delete x","Error":"RDSCallFailed"}`, `"snapshot":"stepship-web-prod-20261130-030000"`},
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
		name: "a backup account: the DR copy shared, copied there (polled), unshared",
		script: with(offsiteUntilShare(10), map[string][]reply{"Share": {ok(shared)},
			"AccountCopy": {ok(accountCopyStatus("pending")), ok(accountCopyStatus("available"))}, "Unshare": {ok(unshared)}}),
		path: slices.Concat(offsiteWaitedFor, []string{"StartAccountCopyWait", "AccountCopy", "AccountCopyReady", "CountAccountCopyPoll", "WaitAccountCopy",
			"AccountCopy", "AccountCopyReady"}, afterUnshare("BackedUp")),
		status: asl.StatusSucceeded,
	},
	{
		name: "a backup account through a refused grant, its copy quota, throttling, and a slow unshare",
		script: with(offsiteUntilShare(10), map[string][]reply{"Share": {fail("KMSCallFailed", "throttled"), ok(shared)},
			"AccountCopy": {fail("CopyQuotaExceeded", "us-west-2 of backup account 210987654321 already runs as many snapshot copies as RDS allows"),
				fail("CopyQuotaExceeded", "still"), fail("RDSCallFailed", "throttled"), ok(accountCopyStatus("available"))},
			"Unshare": {fail("RDSCallFailed", "throttled"), fail("KMSCallFailed", "throttled"), ok(unshared)}}),
		path:   slices.Concat(offsiteWaitedFor, []string{"StartAccountCopyWait", "AccountCopy", "AccountCopyReady"}, afterUnshare("BackedUp")),
		status: asl.StatusSucceeded,
	},
	{
		name:   "sharing is refused: unshared all the same, retention applied, the run fails named",
		script: with(offsiteUntilShare(10), map[string][]reply{"Share": {fail("SnapshotNotFound", "the DR copy x is not in us-west-2")}, "Unshare": {ok(unshared)}}),
		path:   slices.Concat(offsiteWaitedFor, afterUnshare("BackupAccountCopyFailed")),
		status: asl.StatusFailed, errName: "BackupAccountCopyFailed",
		cause: []string{"was taken and copied to us-west-2, but not to backup account 210987654321 (SnapshotNotFound): the DR copy x is not in us-west-2",
			"no longer shared"},
	},
	{
		name: "the copy in the backup account is refused",
		script: with(offsiteUntilShare(10), map[string][]reply{"Share": {ok(shared)},
			"AccountCopy": {fail("RDSCallFailed", "failed to copy snapshot x to us-west-2 of backup account 210987654321: KMSKeyNotAccessibleFault")}, "Unshare": {ok(unshared)}}),
		path:   slices.Concat(offsiteWaitedFor, []string{"StartAccountCopyWait", "AccountCopy"}, afterUnshare("BackupAccountCopyFailed")),
		status: asl.StatusFailed, errName: "BackupAccountCopyFailed", cause: []string{"(RDSCallFailed)", "KMSKeyNotAccessibleFault"},
	},
	{
		name: "the copy in the backup account fails",
		script: with(offsiteUntilShare(10), map[string][]reply{"Share": {ok(shared)},
			"AccountCopy": {ok(accountCopyStatus("failed"))}, "Unshare": {ok(unshared)}}),
		path:   slices.Concat(offsiteWaitedFor, []string{"StartAccountCopyWait", "AccountCopy", "AccountCopyReady", "AccountCopyNotMade"}, afterUnshare("BackupAccountCopyFailed")),
		status: asl.StatusFailed, errName: "BackupAccountCopyFailed", cause: []string{"(CopyFailed): the copy of stepship-web-prod-20261130-030000 in backup account 210987654321 failed"},
	},
	{
		name: "the copy in the backup account takes longer than the wait allows",
		script: with(offsiteUntilShare(1), map[string][]reply{"Share": {ok(shared)},
			"AccountCopy": {ok(accountCopyStatus("copying"))}, "Unshare": {ok(unshared)}}),
		path: slices.Concat(offsiteWaitedFor, []string{"StartAccountCopyWait", "AccountCopy", "AccountCopyReady", "CountAccountCopyPoll", "WaitAccountCopy",
			"AccountCopy", "AccountCopyReady", "AccountCopyTimedOut"}, afterUnshare("BackupAccountCopyFailed")),
		status: asl.StatusFailed, errName: "BackupAccountCopyFailed", cause: []string{"(CopyTimedOut)", "was still copying after 1 polls"},
	},
	{
		name: "unsharing keeps failing: retention applied, the cause says what to remove by hand",
		script: with(offsiteUntilShare(10), map[string][]reply{"Share": {ok(shared)}, "AccountCopy": {ok(accountCopyStatus("available"))},
			"Unshare": {fail("KMSCallFailed", "failed to retire the grants")}}),
		path:   slices.Concat(offsiteWaitedFor, []string{"StartAccountCopyWait", "AccountCopy", "AccountCopyReady"}, afterUnshare("ShareNotRemoved")),
		status: asl.StatusFailed, errName: "UnshareFailed",
		cause: []string{"may still be shared with backup account 210987654321 (KMSCallFailed): failed to retire the grants",
			"--values-to-remove 210987654321", "retire the grants named stepship-share-stepship-web-prod-20261130-030000"},
	},
	{
		name: "sharing and then unsharing fail: the share left open is what the run fails on",
		script: with(offsiteUntilShare(10), map[string][]reply{"Share": {fail("Lambda.Unknown", "exit status 2")},
			"Unshare": {fail("Lambda.Unknown", "exit status 2")}}),
		path:   slices.Concat(offsiteWaitedFor, afterUnshare("ShareNotRemoved")),
		status: asl.StatusFailed, errName: "UnshareFailed",
	},
	{
		name:   "no DR copy: nothing is shared with the backup account",
		script: with(offsiteUntilShare(10), map[string][]reply{"Copy": {ok(copyStatus("failed"))}, "Prune": {ok(prunedNoRPO)}}),
		path:   append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "CopyNotMade", "Prune", "HasRPO", "Outcome", "DRCopyFailed", "FailureNotice", "NotifyFailure", "BackupFailed"),
		status: asl.StatusFailed, errName: "DRCopyFailed",
	},
	{
		name: "pruning keeps failing; the notification is throttled, then refused: the outcome stands",
		script: with(backupUntilCopy(false, 10), map[string][]reply{"Copy": {ok(copyStatus("available"))}, "Prune": {fail("RDSCallFailed", "failed to delete s1")},
			"NotifyFailure": {fail("Sns.ThrottledException", "Rate exceeded"), fail("Sns.AuthorizationErrorException", "not authorized")}}),
		path:   failedAt(append(slices.Clone(snapshotWaitedFor), "CopyWanted", "StartCopyWait", "Copy", "CopyReady", "HasBackupAccount", "Prune", "PruneFailure"), "PruneFailed"),
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
	q := raw.States["Copy"].Retry[0]
	if q.IntervalSeconds < 60 || q.MaxAttempts < 10 {
		t.Errorf("the copy quota is retried every %d s, %d times: too eagerly", q.IntervalSeconds, q.MaxAttempts)
	}
	if !strings.Contains(d.States["Copy"].Catch[0].Next, "Prune") {
		t.Errorf("a copy that cannot be made must still prune, then fail named")
	}
	if a := d.States["AccountCopy"].Retry[0]; !slices.Equal(a.ErrorEquals, []string{"CopyQuotaExceeded"}) || raw.States["AccountCopy"].Retry[0] != q {
		t.Errorf("the backup account's copy quota is not waited out as the DR copy's: %v %+v", a.ErrorEquals, raw.States["AccountCopy"].Retry[0])
	}
}

// Every step after Share, and Share itself, ends in Unshare whatever
// happens (Catch or Next), and only Unshare leads on to Prune: the DR copy
// is never left shared with the backup account by a path the machine
// takes.
func TestBackupAccountStepsAlwaysUnshare(t *testing.T) {
	d := machineOf(t, statemachines.Backup)
	steps := []string{"Share", "StartAccountCopyWait", "AccountCopy", "AccountCopyReady", "AccountCopyNotMade", "AccountCopyTimedOut", "CountAccountCopyPoll", "WaitAccountCopy"}
	for _, name := range steps {
		st := d.States[name]
		var next []string
		if st.Next != "" {
			next = append(next, st.Next)
		}
		for _, c := range st.Catch {
			next = append(next, c.Next)
		}
		for _, c := range st.Choices {
			next = append(next, c.Next)
		}
		if st.Default != "" {
			next = append(next, st.Default)
		}
		for _, n := range next {
			if n != "Unshare" && !slices.Contains(steps, n) {
				t.Errorf("%s leads to %s, past Unshare", name, n)
			}
		}
		if st.Type == "Task" && (len(st.Catch) == 0 || !slices.Equal(st.Catch[len(st.Catch)-1].ErrorEquals, []string{"States.ALL"}) || st.Catch[len(st.Catch)-1].Next != "Unshare") {
			t.Errorf("Task %s does not catch every error into Unshare: %+v", name, st.Catch)
		}
	}
}
