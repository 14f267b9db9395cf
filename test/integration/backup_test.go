package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/backup/rdssnap"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/localenv/localenvtest"
	"github.com/stepship/stepship/test/world"
)

// backupWorld is the local stack with the backup and drill machines, its
// PostgreSQL standing in for every database a drill restores, and RDS
// clients of both regions straight to the emulator (for assertions and
// seeding; the functions and the machines call through the proxy).
type backupWorld struct {
	e        *localenv.Env
	home, dr *rds.Client
	// vault is RDS in the DR region as the backup account's role (vaultCfg
	// its configuration); drKeys is KMS in the DR region (the DR key's
	// grants).
	vault    *rds.Client
	vaultCfg aws.Config
	drKeys   *kms.Client
	pgAddr   string
	// lastBackup is when the last backup started.
	lastBackup time.Time
}

// The backup and dr-drill state machines end to end: the built snapshot,
// restore and dr-verify bootstraps under the runtime emulator, the ASL files
// in the local Step Functions service (backup in us-east-1, the drill in the
// DR region us-west-2), the emulator in both regions behind the
// fault-injecting proxy that scripts what RDS does and moto does not, and a
// real PostgreSQL as the restored database.
func TestBackupsAndDrills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack with its backups")
	}
	w := startBackupWorld(t, localenv.WithSnapshotBeforeDeploy())
	// The deploys the ledger recorded: one migrated to version 3 before any
	// copy this test takes; one to version 4 after all of them, in no copy.
	start := time.Now()
	w.release(t, "3f2a9c1", start.Add(-2*time.Hour), start.Add(-time.Hour), "2", "3")
	w.release(t, "9b8c7d6", start.Add(2*time.Hour), start.Add(3*time.Hour), "3", "4")

	t.Run("full backup run", w.fullBackup)
	t.Run("pruning keeps what it must", w.pruning)
	t.Run("copy quota errors retried", w.copyQuota)
	t.Run("the backup account's copy fails", w.accountCopyFails)
	t.Run("unsharing fails", w.unshareFails)
	t.Run("the backup account prunes its own copies", w.backupAccountPrunes)
	t.Run("a snapshot that disappears", w.vanishing)
	t.Run("a failed backup is published", w.backupFailurePublished)
	t.Run("drill passes with the version the ledger recorded", w.drillPasses)
	t.Run("drill whose ledger recorded another version", w.drillLedgerSaysAnotherVersion)
	t.Run("the input's expectedSchemaVersion overrides the ledger", w.drillOverride)
	t.Run("failure at each drill step", w.drillFaults)
	t.Run("failover without the home region", w.failoverWithoutTheHomeRegion)
	// Last: it migrates the database the drills restore.
	t.Run("a deploy snapshots the database before its migrations", w.deploySnapshotsFirst)
}

// startBackupWorld starts the local stack with its backups (and opts), and
// makes its PostgreSQL the database every drill restores: goose's version
// table at version 3 and the catalog's drill tables (users, with one admin).
func startBackupWorld(t *testing.T, opts ...localenv.Option) *backupWorld {
	t.Helper()
	start := time.Now()
	e := localenvtest.StartT(t, append([]localenv.Option{localenv.WithBackups()}, opts...)...)
	if _, err := e.Postgres.ExecIn(t.Context(), e.BackupSpec.DBName, `
		CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
		INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (3, true), (4, true), (4, false);
		CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, role text NOT NULL);
		INSERT INTO users (name, role) VALUES ('alice', 'admin'), ('bob', 'member');`); err != nil {
		t.Fatal(err)
	}
	dr := e.AWS.Copy()
	dr.Region = e.BackupSpec.DRRegion
	ctx := t.Context()
	vault, err := e.BackupSpec.AsBackupAccount(ctx, dr)
	if err != nil {
		t.Fatal(err)
	}
	w := &backupWorld{e: e, home: rds.NewFromConfig(e.AWS), dr: rds.NewFromConfig(dr), vault: rds.NewFromConfig(vault), vaultCfg: vault, drKeys: kms.NewFromConfig(dr),
		pgAddr: fmt.Sprintf("%s:%d", e.Postgres.Host, e.Postgres.Port)}
	t.Logf("local stack with backups up in %s", time.Since(start).Round(time.Millisecond))
	return w
}

// seedSnapshot takes a manual snapshot of the database in the home region,
// its data age old (tags, when not nil, plus stepship's taken-at), and with
// dr copies it to the DR region, re-encrypted with the DR key, as a backup
// would.
func (w *backupWorld) seedSnapshot(t *testing.T, id string, age time.Duration, tags map[string]string, dr bool) {
	t.Helper()
	spec, ctx := w.e.BackupSpec, t.Context()
	var rt []rdstypes.Tag
	for k, v := range tags {
		rt = append(rt, rdstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if tags != nil {
		rt = append(rt, rdstypes.Tag{Key: aws.String(backup.TagTakenAt), Value: aws.String(time.Now().Add(-age).UTC().Format(time.RFC3339))})
	}
	out, err := w.home.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(spec.Database), DBSnapshotIdentifier: aws.String(id), Tags: rt})
	if err != nil {
		t.Fatal(err)
	}
	if !dr {
		return
	}
	if _, err := w.dr.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{
		SourceDBSnapshotIdentifier: out.DBSnapshot.DBSnapshotArn, TargetDBSnapshotIdentifier: aws.String(id),
		KmsKeyId: aws.String(spec.DRKMSKey), SourceRegion: aws.String(localenv.Region), Tags: rt,
	}); err != nil {
		t.Fatal(err)
	}
}

// ours is the tags a backup gives its snapshots of the database (but
// taken-at), with extra ones.
func (w *backupWorld) ours(extra map[string]string) map[string]string {
	tags := map[string]string{
		backup.TagManagedBy: backup.ManagedBy, backup.TagDatabase: w.e.BackupSpec.Database,
		backup.TagService: "web", backup.TagEnvironment: "production",
	}
	maps.Copy(tags, extra)
	return tags
}

// drillInput is events/dr-drill.json with extra fields (",\"k\":v…").
func (w *backupWorld) drillInput(t *testing.T, extra string) string {
	t.Helper()
	return strings.TrimSuffix(strings.TrimSpace(string(localenvtest.Fixture(t, w.e, "dr-drill.json"))), "}") + extra + "}"
}

// release records a deploy of commit in the ledger, migrating the database
// from version before to after, and returns its entry.
func (w *backupWorld) release(t *testing.T, commit string, start, end time.Time, before, after string) world.LedgerEntry {
	t.Helper()
	e := world.LedgerEntry{Commit: commit + strings.Repeat("0", 40-len(commit)), Outcome: payload.OutcomeSucceeded, Trigger: "webhook", Author: "alice",
		Execution: "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:" + commit, MigrationBefore: before, MigrationAfter: after,
		Start: start.UTC().Format(payload.TimeFormat), End: end.UTC().Format(payload.TimeFormat)}
	if err := world.RecordRelease(t.Context(), w.e.AWS, w.e.Releases, "web", "production", e); err != nil {
		t.Fatal(err)
	}
	return e
}

// notifications returns what was published to topic since the last call.
func (w *backupWorld) notifications(t *testing.T, topic world.Topic) []world.Notification {
	t.Helper()
	n, err := topic.Notifications(t.Context(), w.e.AWS)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range n {
		if strings.Contains(m.Message, w.e.BackupSpec.DBPassword) || strings.Contains(m.Subject, w.e.BackupSpec.DBPassword) {
			t.Errorf("a notification carries the database's password: %s", m.Message)
		}
	}
	return n
}

// drillRecords returns the drill reports the ledger holds, oldest first.
func (w *backupWorld) drillRecords(t *testing.T) []world.DrillRecord {
	t.Helper()
	r, err := world.DrillRecords(t.Context(), w.e.AWS, w.e.Releases, "web", "production")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A backup that fails is published to the home region's topic: what
// failed, why, the execution; the outcome is the failure's.
func (w *backupWorld) backupFailurePublished(t *testing.T) {
	defer w.e.Proxy.Add(awsproxy.Rule{Service: "rds", Region: localenv.Region, Action: "CreateDBSnapshot", Calls: awsproxy.FromCall(1),
		Effect: awsproxy.Error("AccessDenied", "not authorized to perform rds:CreateDBSnapshot", 403)}).Remove()
	w.notifications(t, w.e.HomeTopic)
	out, path := w.backupRun(t)
	if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != "SnapshotFailed" || !slices.Contains(path, "NotifyFailure") {
		t.Fatalf("backup %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	got := w.notifications(t, w.e.HomeTopic)
	if len(got) != 1 || got[0].Subject != "stepship backup failed: SnapshotFailed" {
		t.Fatalf("notifications %+v", got)
	}
	var m struct {
		Service, Environment, Database, Snapshot, Execution string
		Error                                               payload.ErrorSlot
	}
	if err := json.Unmarshal([]byte(got[0].Message), &m); err != nil || m.Service != "web" || m.Environment != "production" || m.Database != w.e.BackupSpec.Database ||
		!strings.HasPrefix(m.Snapshot, backup.SnapshotPrefix(w.e.BackupSpec.Database)) || !strings.Contains(m.Execution, ":execution:") ||
		m.Error.Error != "SnapshotFailed" || !strings.Contains(m.Error.Cause, "not authorized to perform rds:CreateDBSnapshot") {
		t.Errorf("message %s: %v", got[0].Message, err)
	}
	t.Logf("published: %s\n%s", got[0].Subject, got[0].Message)
}

// backupRun starts a backup in a later second than the one before (a backup
// is named after the second its execution started: two in one second are
// one backup) and waits for it.
func (w *backupWorld) backupRun(t *testing.T) (*sfn.DescribeExecutionOutput, []string) {
	t.Helper()
	time.Sleep(time.Until(w.lastBackup.Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	w.lastBackup = time.Now()
	return w.run(t, w.e.BackupStateMachineARN, string(localenvtest.Fixture(t, w.e, "backup-now.json")))
}

// run starts an execution of machine and waits until it ends.
func (w *backupWorld) run(t *testing.T, machine, input string) (*sfn.DescribeExecutionOutput, []string) {
	t.Helper()
	ctx := t.Context()
	x, err := w.e.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Input: aws.String(input)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.e.WaitExecution(ctx, aws.ToString(x.ExecutionArn), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := w.e.History(ctx, aws.ToString(x.ExecutionArn))
	if err != nil {
		t.Fatal(err)
	}
	return out, localenv.StatePath(hist)
}

// snapshots lists the manual snapshots of the database in a region, by
// identifier, with their tags.
func (w *backupWorld) snapshots(t *testing.T, c *rds.Client) map[string]rdstypes.DBSnapshot {
	t.Helper()
	out, err := c.DescribeDBSnapshots(t.Context(), &rds.DescribeDBSnapshotsInput{SnapshotType: aws.String("manual")})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]rdstypes.DBSnapshot{}
	for _, s := range out.DBSnapshots {
		m[aws.ToString(s.DBSnapshotIdentifier)] = s
	}
	return m
}

func tagMap(tags []rdstypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func count(path []string, state string) int {
	n := 0
	for _, s := range path {
		if s == state {
			n++
		}
	}
	return n
}

// metric reports whether namespace has metric in region.
func (w *backupWorld) metric(t *testing.T, region, namespace, metric string) bool {
	t.Helper()
	cfg := w.e.AWS.Copy()
	cfg.Region = region
	out, err := cloudwatch.NewFromConfig(cfg).ListMetrics(t.Context(), &cloudwatch.ListMetricsInput{Namespace: aws.String(namespace), MetricName: aws.String(metric)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Metrics) > 0
}

// A backup takes the snapshot (creating for 3 polls: the Wait loop runs),
// tags it, copies it to the DR region re-encrypted with the DR key (creating
// for 2 polls of the copy), shares the copy with the backup account, copies
// it there re-encrypted with that account's key (creating for 2 polls),
// unshares it, prunes, and records the RPO.
func (w *backupWorld) fullBackup(t *testing.T) {
	p, spec := w.e.Proxy, w.e.BackupSpec
	defer awsproxy.RDSScript{Region: localenv.Region, SnapshotPolls: 3}.Install(p).Remove()
	defer awsproxy.RDSScript{Region: spec.DRRegion, SnapshotPolls: 2}.Install(p).Remove()
	w.e.ScriptSharedCopies(awsproxy.SharedSnapshotScript{CopyPolls: 2})
	defer w.e.ScriptSharedCopies(awsproxy.SharedSnapshotScript{})

	out, path := w.backupRun(t)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("backup %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	if n := count(path, "WaitSnapshot"); n != 4 {
		t.Errorf("waited %d times for the snapshot, want 4 (creating for 3 polls): %v", n, path)
	}
	if n := count(path, "Copy"); n != 4 {
		t.Errorf("copy called %d times, want 4 (started, creating for 2 polls, then available): %v", n, path)
	}
	if n := count(path, "AccountCopy"); n != 4 {
		t.Errorf("the backup account's copy called %d times, want 4 (started, creating for 2 polls, then available): %v", n, path)
	}
	if path[len(path)-1] != "BackedUp" || !slices.Contains(path, "RecordRPO") || !slices.Contains(path, "Prune") || !slices.Contains(path, "Share") || !slices.Contains(path, "Unshare") {
		t.Errorf("path %v", path)
	}
	var res struct {
		Plan struct{ Snapshot string }
		Copy struct {
			Available bool
			Region    string
		}
		Prune struct{ RPOSeconds *int64 }
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Prune.RPOSeconds == nil || *res.Prune.RPOSeconds < 0 || *res.Prune.RPOSeconds > 60 || !res.Copy.Available || res.Copy.Region != spec.DRRegion {
		t.Errorf("output %s", aws.ToString(out.Output))
	}
	snap, ok := w.snapshots(t, w.home)[res.Plan.Snapshot]
	tags := tagMap(snap.TagList)
	if !ok || tags[backup.TagManagedBy] != backup.ManagedBy || tags[backup.TagDatabase] != spec.Database || tags[backup.TagReason] == "" || tags[backup.TagTakenAt] == "" {
		t.Errorf("snapshot %s in the home region: %v, tags %v", res.Plan.Snapshot, ok, tags)
	}
	cp, ok := w.snapshots(t, w.dr)[res.Plan.Snapshot]
	ctags := tagMap(cp.TagList)
	if !ok || aws.ToString(cp.KmsKeyId) != spec.DRKMSKey || ctags[backup.TagCopyOf] != aws.ToString(snap.DBSnapshotArn) || ctags[backup.TagTakenAt] != tags[backup.TagTakenAt] {
		t.Errorf("copy in %s: %v, key %s, tags %v", spec.DRRegion, ok, aws.ToString(cp.KmsKeyId), ctags)
	}
	if !w.metric(t, localenv.Region, backup.MetricNamespaceBackups, backup.MetricRPO) {
		t.Error("no RPOSeconds metric in the home region")
	}
	// The backup account's copy: its own, re-encrypted with its key, a copy
	// of the DR copy, kept for its own retention; the DR copy no longer
	// shared, its grant retired.
	off, ok := w.snapshots(t, w.vault)[res.Plan.Snapshot]
	otags := tagMap(off.TagList)
	takenAt, _ := time.Parse(time.RFC3339, tags[backup.TagTakenAt])
	if !ok || aws.ToString(off.KmsKeyId) != w.e.SeededBackups.BackupKMSKey || aws.ToString(off.Status) != "available" ||
		otags[backup.TagCopyOf] != aws.ToString(cp.DBSnapshotArn) || otags[backup.TagExpires] != backup.Expires(takenAt, 30) || otags[backup.TagTakenAt] != tags[backup.TagTakenAt] {
		t.Errorf("copy in backup account %s: %v, key %s (want %s), tags %v", spec.BackupAccount, ok, aws.ToString(off.KmsKeyId), w.e.SeededBackups.BackupKMSKey, otags)
	}
	w.notShared(t, res.Plan.Snapshot)
	t.Logf("backup %s: RPO %ds, path %s", res.Plan.Snapshot, *res.Prune.RPOSeconds, strings.Join(path, " → "))
}

// notShared checks that the DR copy is shared with no account and that no
// grant on the DR key is left for it.
func (w *backupWorld) notShared(t *testing.T, snapshot string) {
	t.Helper()
	ctx := t.Context()
	attrs, err := w.dr.DescribeDBSnapshotAttributes(ctx, &rds.DescribeDBSnapshotAttributesInput{DBSnapshotIdentifier: aws.String(snapshot)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attrs.DBSnapshotAttributesResult.DBSnapshotAttributes {
		if aws.ToString(a.AttributeName) == "restore" && len(a.AttributeValues) > 0 {
			t.Errorf("the DR copy %s is still shared with %v", snapshot, a.AttributeValues)
		}
	}
	if left := w.shareGrants(t, snapshot); len(left) > 0 {
		t.Errorf("grants left on the DR key for %s: %v", snapshot, left)
	}
}

// shareGrants lists the grants on the DR key named for sharing snapshot.
func (w *backupWorld) shareGrants(t *testing.T, snapshot string) []string {
	t.Helper()
	grants, err := w.drKeys.ListGrants(t.Context(), &kms.ListGrantsInput{KeyId: aws.String(w.e.BackupSpec.DRKMSKey)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range grants.Grants {
		if aws.ToString(g.Name) == backup.ShareGrantName(snapshot) {
			ids = append(ids, aws.ToString(g.GrantId))
		}
	}
	return ids
}

// With backup.beforeDeploy, a deploy runs the backup machine snapshot-only
// (a nested execution) before its migrations and waits for the snapshot to
// be available (creating for 2 polls); the snapshot's id is in the ledger
// entry and on nothing in the DR region. When the snapshot cannot be taken
// the deploy ends FAILED_CLEAN before anything changed.
func (w *backupWorld) deploySnapshotsFirst(t *testing.T) {
	defer awsproxy.RDSScript{Region: localenv.Region, SnapshotPolls: 2}.Install(w.e.Proxy).Remove()
	p := &pipeline{e: w.e, t0: time.Now().Add(-30 * time.Minute).Truncate(time.Second)}
	// Three older pre-deploy snapshots: the deploy's own run prunes them by
	// their retention (the newest 3, and those younger than a day), so the
	// oldest, behind at least three newer ones, goes right after the deploy.
	var older []string
	for i := range 3 {
		age := time.Duration(30+i) * time.Hour
		older = append(older, backup.PreDeploySnapshotID(w.e.BackupSpec.Database, time.Now().Add(-age)))
		w.seedSnapshot(t, older[i], age, w.ours(map[string]string{backup.TagPurpose: backup.PurposePreDeploy}), false)
	}
	before := w.snapshots(t, w.home)
	// The database the drills restore is at goose version 3 with a users
	// table: this release adds a column.
	r := p.push(t, map[string]string{"00005_add_email.sql": "-- +goose Up\nALTER TABLE users ADD COLUMN email text;\n-- +goose Down\nALTER TABLE users DROP COLUMN email;\n"})
	arn := p.deploy(t, r, payload.OutcomeSucceeded)
	hist, err := w.e.History(t.Context(), arn)
	if err != nil {
		t.Fatal(err)
	}
	path := localenv.StatePath(hist)
	if i, j := slices.Index(path, "PreDeploySnapshot"), slices.Index(path, "Migrate"); i < 0 || j < i {
		t.Errorf("path %v: the snapshot must come before the migration", path)
	}
	entry := p.entry(t, arn)
	snap, ok := w.snapshots(t, w.home)[entry.Snapshot]
	if _, existed := before[entry.Snapshot]; entry.Snapshot == "" || !ok || existed || aws.ToString(snap.Status) != "available" {
		t.Fatalf("ledger entry's snapshot %q: in %s %v (%s), existed before %v", entry.Snapshot, localenv.Region, ok, aws.ToString(snap.Status), existed)
	}
	if reason := tagMap(snap.TagList)[backup.TagReason]; !strings.Contains(reason, r.commit) {
		t.Errorf("snapshot reason %q does not name the commit %s", reason, r.commit)
	}
	if tags := tagMap(snap.TagList); tags[backup.TagPurpose] != backup.PurposePreDeploy || !strings.HasPrefix(entry.Snapshot, backup.SnapshotPrefix(w.e.BackupSpec.Database)+"pre-deploy-") {
		t.Errorf("snapshot %s, tags %v: want a pre-deploy name and %s=%s (pruned apart)", entry.Snapshot, tags, backup.TagPurpose, backup.PurposePreDeploy)
	}
	if _, ok := w.snapshots(t, w.home)[older[2]]; ok {
		t.Errorf("the oldest pre-deploy snapshot %s is still there: the deploy's snapshot run did not prune them", older[2])
	}
	if _, copied := w.snapshots(t, w.dr)[entry.Snapshot]; copied {
		t.Errorf("the pre-deploy snapshot %s was copied to %s: snapshot-only runs copy nothing", entry.Snapshot, w.e.BackupSpec.DRRegion)
	}
	t.Logf("deploy %s: snapshot %s, then migration %s→%s", r.commit[:12], entry.Snapshot, entry.MigrationBefore, entry.MigrationAfter)

	// RDS refuses the snapshot: nothing is migrated or deployed.
	defer w.e.Proxy.Add(awsproxy.Rule{Service: "rds", Region: localenv.Region, Action: "CreateDBSnapshot", Calls: awsproxy.FromCall(1),
		Effect: awsproxy.Error("SnapshotQuotaExceeded", "Cannot create more than 100 manual snapshots", 400)}).Remove()
	running := p.runs(t).TaskDefinition
	version := p.dbVersion(t)
	r2 := p.push(t, map[string]string{"00006_add_phone.sql": "-- +goose Up\nALTER TABLE users ADD COLUMN phone text;\n-- +goose Down\nALTER TABLE users DROP COLUMN phone;\n"})
	arn2 := p.deploy(t, r2, payload.OutcomeFailedClean, "PreDeploySnapshotFailed", "SnapshotQuotaExceeded")
	if got := p.runs(t).TaskDefinition; got != running {
		t.Errorf("the service runs %s, want %s unchanged", got, running)
	}
	if got := p.dbVersion(t); got != version {
		t.Errorf("database at version %s, want %s unchanged", got, version)
	}
	if e := p.entry(t, arn2); e.Outcome != payload.OutcomeFailedClean || e.Snapshot != "" {
		t.Errorf("ledger entry %+v", e)
	}
}

// Pruning deletes only stepship's snapshots of the database that are old and
// not among the newest 3 available (catalog: retention count 3, days 7); it
// keeps one a drill uses, and never looks at one without stepship's tags.
// Pre-deploy snapshots are pruned apart: the newest 3 kept, however many
// deploys there were.
func (w *backupWorld) pruning(t *testing.T) {
	spec, ctx := w.e.BackupSpec, t.Context()
	day := 24 * time.Hour
	// The backup account holds old stepship copies too, long past the
	// catalog's retention: the home account's prune never deletes there.
	vaultOld := []string{"offsite-old-40d", "offsite-old-50d", "offsite-old-60d", "offsite-old-70d"}
	w.inBackupAccount(t, spec.Database, func() {
		for i, id := range vaultOld {
			tags := []rdstypes.Tag{{Key: aws.String(backup.TagManagedBy), Value: aws.String(backup.ManagedBy)},
				{Key: aws.String(backup.TagDatabase), Value: aws.String(spec.Database)},
				{Key: aws.String(backup.TagTakenAt), Value: aws.String(time.Now().Add(-time.Duration(40+10*i) * day).UTC().Format(time.RFC3339))}}
			if _, err := w.vault.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(spec.Database), DBSnapshotIdentifier: aws.String(id), Tags: tags}); err != nil {
				t.Fatal(err)
			}
		}
	})
	w.seedSnapshot(t, "old-30d", 30*day, w.ours(nil), false)
	w.seedSnapshot(t, "old-31d-in-use", 31*day, w.ours(map[string]string{backup.TagInUseBy: "drill-web-prod-202611010500"}), false)
	w.seedSnapshot(t, "old-32d", 32*day, w.ours(nil), false)
	w.seedSnapshot(t, "old-33d", 33*day, w.ours(nil), false)
	w.seedSnapshot(t, "by-hand-old", 90*day, nil, false)
	// Four pre-deploy snapshots over a day old: the catalog (beforeDeploy,
	// its default retention: 3, 1 day) keeps the newest 3 of them, and none
	// of them counts toward retention.count.
	var pre []string
	for i := range 4 {
		age := time.Duration(26+i) * time.Hour
		pre = append(pre, backup.PreDeploySnapshotID(spec.Database, time.Now().Add(-age)))
		w.seedSnapshot(t, pre[i], age, w.ours(map[string]string{backup.TagPurpose: backup.PurposePreDeploy}), false)
	}

	out, path := w.backupRun(t)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("backup %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	// Two young ones (the full run's and this one), then old-30d make the
	// newest 3 available; old-31d-in-use is kept for its drill.
	left := w.snapshots(t, w.home)
	for id, want := range map[string]bool{"old-30d": true, "old-31d-in-use": true, "old-32d": false, "old-33d": false, "by-hand-old": true,
		pre[0]: true, pre[1]: true, pre[2]: true, pre[3]: false} {
		if _, ok := left[id]; ok != want {
			t.Errorf("%s left: %v, want %v", id, ok, want)
		}
	}
	offsite := w.snapshots(t, w.vault)
	for _, id := range vaultOld {
		if _, ok := offsite[id]; !ok {
			t.Errorf("the home account's prune deleted %s in the backup account", id)
		}
	}
	var res struct {
		Prune struct {
			Regions []struct {
				Region  string
				Kept    []backup.Decision
				Deleted []backup.Decision
			}
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &res); err != nil || len(res.Prune.Regions) != 2 {
		t.Fatalf("output %s: %v", aws.ToString(out.Output), err)
	}
	for _, d := range res.Prune.Regions[0].Kept {
		t.Logf("kept    %-40s %s", d.Snapshot, d.Reason)
	}
	for _, d := range res.Prune.Regions[0].Deleted {
		t.Logf("deleted %-40s %s", d.Snapshot, d.Reason)
	}
}

// RDS's concurrent cross-region copy quota answers the first two copies,
// and a copy quota the first copy into the backup account: the state
// machine waits both out (CopyQuotaExceeded, retried) and the backup still
// succeeds.
func (w *backupWorld) copyQuota(t *testing.T) {
	p, spec := w.e.Proxy, w.e.BackupSpec
	defer awsproxy.RDSScript{Region: spec.DRRegion, CopyQuotaExceeded: 2}.Install(p).Remove()
	defer p.Add(awsproxy.Rule{Service: "rds", Region: spec.DRRegion, Action: "CopyDBSnapshot", When: accountCopy, Calls: awsproxy.FirstCalls(1),
		Effect: awsproxy.Error("SnapshotQuotaExceeded", awsproxy.CopyQuotaMessage, 400)}).Remove()
	before := p.Count("rds", "CopyDBSnapshot")
	out, path := w.backupRun(t)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("backup %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	if n := p.Count("rds", "CopyDBSnapshot") - before; n != 5 {
		t.Errorf("%d copy calls, want 5 (2 refused by the quota, the DR copy, 1 refused, the backup account's copy)", n)
	}
	if n, m := count(path, "Copy"), count(path, "AccountCopy"); n != 1 || m != 1 {
		t.Errorf("entered Copy %d times and AccountCopy %d, want once each (the quota is retried inside the state): %v", n, m, path)
	}
}

// Someone deletes a snapshot or a copy while a backup or a drill uses it
// (RDS cancels a copy whose target is deleted while copying): each run ends
// named, nothing is copied twice, nothing restored is left, no copy stays
// marked in use.
func (w *backupWorld) vanishing(t *testing.T) {
	spec, home, dr := w.e.BackupSpec, localenv.Region, w.e.BackupSpec.DRRegion
	ours := backup.SnapshotPrefix(spec.Database) + "*"
	newest := func() string {
		snaps, err := rdssnap.Snapshots{Client: w.dr, Database: catalog.Database{Instance: spec.Database}}.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s, ok := backup.Newest(snaps, spec.Database)
		if !ok {
			t.Fatal("no copy in the DR region")
		}
		return s.ID
	}
	for _, c := range []struct {
		name    string
		drill   bool
		scripts func() []awsproxy.RDSScript
		outcome string
		last    string   // the last state
		cause   []string // parts of the cause
		copies  int      // CopyDBSnapshot calls (backups)
	}{
		{name: "the snapshot, while it is taken", scripts: func() []awsproxy.RDSScript {
			return []awsproxy.RDSScript{{Region: home, SnapshotPolls: 2, VanishingSnapshots: map[string]int{ours: 1}}}
		}, outcome: "SnapshotVanished", last: "SnapshotVanished", cause: []string{"disappeared before it was available", "DBSnapshot not found"}},
		{name: "the snapshot, before it is copied", scripts: func() []awsproxy.RDSScript {
			return []awsproxy.RDSScript{{Region: home, VanishingSnapshots: map[string]int{ours: 1}}}
		}, outcome: "DRCopyFailed", last: "DRCopyFailed", cause: []string{"(SnapshotNotFound)", "is not in us-east-1: nothing to copy"}},
		{name: "the copy, while it is copied", scripts: func() []awsproxy.RDSScript {
			return []awsproxy.RDSScript{{Region: dr, SnapshotPolls: 2, VanishingSnapshots: map[string]int{ours: 1}}}
		}, outcome: "DRCopyFailed", last: "DRCopyFailed", cause: []string{"(SnapshotNotFound)", "disappeared from us-west-2 while it was being made"}, copies: 1},
		{name: "the copy a drill picked, before it is restored", drill: true, scripts: func() []awsproxy.RDSScript {
			return []awsproxy.RDSScript{{Region: dr, VanishingSnapshots: map[string]int{newest(): 1}}}
		}, outcome: "SnapshotNotFound", last: "DrillFailed", cause: []string{"is not in us-west-2 (pruned or deleted since it was picked); nothing was restored"}},
		{name: "the copy a drill picked, before it is marked in use", drill: true, scripts: func() []awsproxy.RDSScript {
			return []awsproxy.RDSScript{{Region: dr, VanishingSnapshots: map[string]int{newest(): 2}}}
		}, outcome: "SnapshotNotFound", last: "DrillFailed", cause: []string{"was deleted from us-west-2 while the drill restored it", "nothing was restored"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, s := range c.scripts() {
				defer s.Install(w.e.Proxy).Remove()
			}
			copies := w.e.Proxy.Count("rds", "CopyDBSnapshot")
			var out *sfn.DescribeExecutionOutput
			var path []string
			if c.drill {
				defer w.restoredHere(awsproxy.RDSScript{}).Remove()
				out, path = w.drill(t, "", true)
			} else {
				out, path = w.backupRun(t)
			}
			if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != c.outcome || !slices.Contains(path, c.last) {
				t.Fatalf("%s %s (%s), want %s at %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), c.outcome, c.last, path)
			}
			for _, part := range c.cause {
				if !strings.Contains(aws.ToString(out.Cause), part) {
					t.Errorf("the cause does not say %q: %s", part, aws.ToString(out.Cause))
				}
			}
			if n := w.e.Proxy.Count("rds", "CopyDBSnapshot") - copies; n != c.copies {
				t.Errorf("%d copies made, want %d", n, c.copies)
			}
			t.Logf("%s: %s", aws.ToString(out.Error), aws.ToString(out.Cause))
		})
	}
}

// accountCopy selects the copies into the backup account: a copy from a
// snapshot of the same region (the DR copy, shared), where the DR copy's
// source is in the home region.
func accountCopy(r *awsproxy.Request) bool {
	a, err := arn.Parse(r.Param("SourceDBSnapshotIdentifier"))
	return err == nil && a.Region == r.Region
}

// inBackupAccount runs f with a DB instance of the database's identifier in
// the backup account (to make snapshots there), then deletes it: an account
// that only holds copies has none.
func (w *backupWorld) inBackupAccount(t *testing.T, db string, f func()) {
	t.Helper()
	ctx := t.Context()
	if _, err := w.vault.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(db), DBInstanceClass: aws.String("db.t3.micro"),
		Engine: aws.String("postgres"), AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("password1")}); err != nil {
		t.Fatal(err)
	}
	f()
	if _, err := w.vault.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(db), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

// The copy into the backup account is refused (its key not accessible)
// every time: the run still unshares, prunes and records the RPO, and ends
// BackupAccountCopyFailed naming the cause; the DR copy and the snapshot
// stay.
func (w *backupWorld) accountCopyFails(t *testing.T) {
	p, spec := w.e.Proxy, w.e.BackupSpec
	defer p.Add(awsproxy.Rule{Service: "rds", Region: spec.DRRegion, Action: "CopyDBSnapshot", When: accountCopy, Calls: awsproxy.FromCall(1),
		Effect: awsproxy.Error("KMSKeyNotAccessibleFault", "The source snapshot KMS key does not exist, is not enabled or you do not have permissions to access it.", 400)}).Remove()
	out, path := w.backupRun(t)
	if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != "BackupAccountCopyFailed" ||
		!strings.Contains(aws.ToString(out.Cause), "but not to backup account "+spec.BackupAccount+" (RDSCallFailed)") || !strings.Contains(aws.ToString(out.Cause), "KMSKeyNotAccessibleFault") {
		t.Fatalf("backup %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	for _, st := range []string{"Share", "AccountCopy", "Unshare", "Prune", "RecordRPO"} {
		if !slices.Contains(path, st) {
			t.Errorf("path %v lacks %s", path, st)
		}
	}
	snapshot := w.lastSnapshot(t)
	if _, ok := w.snapshots(t, w.vault)[snapshot]; ok {
		t.Errorf("backup account has a copy of %s", snapshot)
	}
	if _, ok := w.snapshots(t, w.dr)[snapshot]; !ok {
		t.Errorf("the DR copy %s is gone", snapshot)
	}
	w.notShared(t, snapshot)
}

// Unsharing keeps failing: the run ends UnshareFailed after retention, and
// its cause says what to remove by hand — which, done, leaves nothing
// shared.
func (w *backupWorld) unshareFails(t *testing.T) {
	p, spec := w.e.Proxy, w.e.BackupSpec
	h := p.Add(awsproxy.Rule{Service: "rds", Region: spec.DRRegion, Action: "ModifyDBSnapshotAttribute", Calls: awsproxy.FromCall(1),
		When:   func(r *awsproxy.Request) bool { return r.Param("ValuesToRemove.AttributeValue.1") != "" },
		Effect: awsproxy.Error("InvalidDBSnapshotState", "the snapshot is busy", 400)})
	out, path := w.backupRun(t)
	h.Remove()
	cause := aws.ToString(out.Cause)
	snapshot := w.lastSnapshot(t)
	grant := backup.ShareGrantName(snapshot)
	if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != "UnshareFailed" || !strings.Contains(cause, "--values-to-remove "+spec.BackupAccount) ||
		!strings.Contains(cause, grant) || !slices.Contains(path, "Prune") {
		t.Fatalf("backup %s %s: %s; path %v", out.Status, aws.ToString(out.Error), cause, path)
	}
	if _, ok := w.snapshots(t, w.vault)[snapshot]; !ok {
		t.Errorf("no copy of %s in the backup account: it was made before unsharing", snapshot)
	}
	// The grant was retired (that half worked); the attribute is removed by
	// hand, as the cause says.
	if left := w.shareGrants(t, snapshot); len(left) > 0 {
		t.Errorf("grants left: %v", left)
	}
	if _, err := w.dr.ModifyDBSnapshotAttribute(t.Context(), &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String(snapshot),
		AttributeName: aws.String("restore"), ValuesToRemove: []string{spec.BackupAccount}}); err != nil {
		t.Fatal(err)
	}
	w.notShared(t, snapshot)
}

// The backup account prunes its own copies, as its stack runs the snapshot
// function there (STEPSHIP_BACKUP_ACCOUNT, with that account's
// credentials): by the catalog's backupAccount retention (the newest 7, and
// every one younger than 30 days), each copy as old as it is by when it was
// made, not by its tags — a copy tagged 80 days old but made today stays.
func (w *backupWorld) backupAccountPrunes(t *testing.T) {
	spec, ctx, day := w.e.BackupSpec, t.Context(), 24*time.Hour
	w.inBackupAccount(t, spec.Database, func() {
		if _, err := w.vault.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(spec.Database), DBSnapshotIdentifier: aws.String("offsite-retagged"),
			Tags: []rdstypes.Tag{{Key: aws.String(backup.TagManagedBy), Value: aws.String(backup.ManagedBy)}, {Key: aws.String(backup.TagDatabase), Value: aws.String(spec.Database)},
				{Key: aws.String(backup.TagTakenAt), Value: aws.String(time.Now().Add(-80 * day).UTC().Format(time.RFC3339))}}}); err != nil {
			t.Fatal(err)
		}
	})
	// The old copies the pruning subtest left were made when their tags say.
	old := []string{"offsite-old-40d", "offsite-old-50d", "offsite-old-60d", "offsite-old-70d"}
	made := map[string]time.Time{}
	for i, id := range old {
		made[id] = time.Now().Add(-time.Duration(40+10*i) * day)
	}
	defer awsproxy.RDSScript{Region: spec.DRRegion, MadeAt: made}.Install(w.e.Proxy).Remove()
	before := w.snapshots(t, w.vault)
	young := 0
	for id := range before {
		if strings.HasPrefix(id, backup.SnapshotPrefix(spec.Database)) {
			young++
		}
	}
	for _, id := range old {
		if _, ok := before[id]; !ok {
			t.Fatalf("%s is not in the backup account: run the whole test", id)
		}
	}

	creds, err := w.vaultCfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, ok := w.e.FunctionEnv("snapshot")
	if !ok {
		t.Fatal("the local stack runs no snapshot function")
	}
	delete(env, config.EnvFunctionRoleARN)
	for k, v := range map[string]string{"AWS_REGION": spec.DRRegion, "AWS_DEFAULT_REGION": spec.DRRegion, config.EnvBackupAccount: spec.BackupAccount,
		"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey, "AWS_SESSION_TOKEN": creds.SessionToken} {
		env[k] = v
	}
	fn := harness.StartLambda(t, harness.Bootstrap(t, "snapshot"), env)
	body, ferr, err := fn.Invoke(ctx, map[string]any{"executionId": "scheduled-prune", "input": map[string]string{"action": backup.ActionPruneBackupAccount}})
	if err != nil || ferr != nil {
		t.Fatalf("prune-backup-account: %v %v", err, ferr)
	}
	// The newest 7: the backups' copies, the retagged one (made today), then
	// the old ones, newest first; beyond them, older than 30 days, the rest.
	keep := max(0, 7-young-1)
	left := w.snapshots(t, w.vault)
	for i, id := range old {
		if _, ok := left[id]; ok != (i < keep) {
			t.Errorf("%s (made %d days ago) left: %v, want %v (%d copies of backups, the retagged one, then %d old ones kept)", id, 40+10*i, ok, i < keep, young, keep)
		}
	}
	if _, ok := left["offsite-retagged"]; !ok {
		t.Error("a copy made today went because its tag said it was 80 days old")
	}
	for id := range before {
		if _, ok := left[id]; !ok && strings.HasPrefix(id, backup.SnapshotPrefix(spec.Database)) {
			t.Errorf("a backup's copy %s went", id)
		}
	}
	t.Logf("prune-backup-account in %s: %s", spec.BackupAccount, body)
}

// lastSnapshot is the newest stepship snapshot a backup took in the home
// region (not a pre-deploy one).
func (w *backupWorld) lastSnapshot(t *testing.T) string {
	t.Helper()
	newest, prefix := "", backup.SnapshotPrefix(w.e.BackupSpec.Database)
	for id := range w.snapshots(t, w.home) {
		if strings.HasPrefix(id, prefix) && !strings.HasPrefix(id, prefix+backup.PurposePreDeploy) && id > newest {
			newest = id
		}
	}
	return newest
}

// drillResult is what a drill's output or error tells.
type drillResult struct {
	Report struct {
		Passed     bool
		RTOSeconds *int64
		Checks     []struct {
			Name   string
			Passed bool
			Detail string
		}
	}
	Picked struct {
		Snapshot   string
		RPOSeconds int64
	}
	Cleanup struct {
		Deleted  []string
		Released string
	}
	DrillReport struct {
		Outcome, Subject, RecordError string
		Recorded                      bool
		Report                        backup.DrillReport
	}
}

// result decodes a drill's output.
func result(t *testing.T, out *sfn.DescribeExecutionOutput) drillResult {
	t.Helper()
	var r drillResult
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// newestCopy is the time the data of the newest copy in the DR region is
// from: the copy a drill picks.
func (w *backupWorld) newestCopy(t *testing.T) time.Time {
	t.Helper()
	var newest time.Time
	for _, s := range w.snapshots(t, w.dr) {
		if at, err := time.Parse(time.RFC3339, tagMap(s.TagList)[backup.TagTakenAt]); err == nil && at.After(newest) {
			newest = at
		}
	}
	if newest.IsZero() {
		t.Fatal("no copy in the DR region")
	}
	return newest
}

// published checks that the drill published exactly one notification, of
// outcome, and returns it.
func (w *backupWorld) published(t *testing.T, outcome string) world.Notification {
	t.Helper()
	got := w.notifications(t, w.e.DRTopic)
	if len(got) != 1 || got[0].Subject != "stepship drill web/production: "+outcome && got[0].Subject != "stepship failover web/production: "+outcome {
		t.Fatalf("notifications %+v, want one of %s", got, outcome)
	}
	return got[0]
}

// drill runs a drill with the extra input fields, and checks that nothing it
// restored is left and the copy it used is released.
func (w *backupWorld) drill(t *testing.T, extra string, cleaned bool) (*sfn.DescribeExecutionOutput, []string) {
	t.Helper()
	out, path := w.run(t, w.e.DrillStateMachineARN, w.drillInput(t, extra))
	left := w.drillDatabases(t)
	if cleaned && len(left) > 0 {
		t.Errorf("drill databases left behind: %v (path %v)", left, path)
	}
	if cleaned {
		for id, by := range w.inUse(t) {
			t.Errorf("copy %s still in use by %s", id, by)
		}
	}
	return out, path
}

// inUse lists the copies in the DR region a drill marked in use, and by
// which database.
func (w *backupWorld) inUse(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, s := range w.snapshots(t, w.dr) {
		if by := tagMap(s.TagList)[backup.TagInUseBy]; by != "" {
			out[id] = by
		}
	}
	return out
}

// drillDatabases lists the databases drills restored that still exist.
func (w *backupWorld) drillDatabases(t *testing.T) []string {
	return w.restoredDatabases(t, payload.ModeDrill)
}

// restoredDatabases lists the databases drills or failovers (mode) restored
// that still exist.
func (w *backupWorld) restoredDatabases(t *testing.T, mode payload.DrillMode) []string {
	t.Helper()
	out, err := w.dr.DescribeDBInstances(t.Context(), &rds.DescribeDBInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, db := range out.DBInstances {
		if id := aws.ToString(db.DBInstanceIdentifier); strings.HasPrefix(id, string(mode)+"-") {
			ids = append(ids, id)
		}
	}
	return ids
}

// restoredHere installs the script every drill runs with: a restored
// instance is creating for 2 polls, then answers at the PostgreSQL.
func (w *backupWorld) restoredHere(s awsproxy.RDSScript) *awsproxy.Script {
	s.Region = w.e.BackupSpec.DRRegion
	s.RestoredEndpoint = w.pgAddr
	if s.InstancePolls == 0 {
		s.InstancePolls = 2
	}
	return s.Install(w.e.Proxy)
}

// A drill restores the newest copy, verifies the data in PostgreSQL — at
// the version the ledger recorded for the copy's time —, records RTO and
// RPO, deletes what it restored, writes its report to the ledger in the home
// region and publishes it to the DR region's topic.
func (w *backupWorld) drillPasses(t *testing.T) {
	defer w.restoredHere(awsproxy.RDSScript{}).Remove()
	w.notifications(t, w.e.DRTopic)
	before := len(w.drillRecords(t))
	out, path := w.drill(t, "", true)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("drill %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	r := result(t, out)
	if !r.Report.Passed || len(r.Report.Checks) != 3 || r.Report.RTOSeconds == nil || len(r.Cleanup.Deleted) != 1 || r.Cleanup.Released != r.Picked.Snapshot {
		t.Errorf("output %s", aws.ToString(out.Output))
	}
	if c := r.Report.Checks[0]; !c.Passed || !strings.HasPrefix(c.Detail, "version 3, as the ledger recorded: 3 after the deploy of 3f2a9c1") {
		t.Errorf("schema check %+v", c)
	}
	if n := count(path, "WaitRestored"); n != 3 {
		t.Errorf("waited %d times for the restored database, want 3: %v", n, path)
	}
	for _, m := range []string{backup.MetricRTO, backup.MetricRPO} {
		if !w.metric(t, w.e.BackupSpec.DRRegion, backup.MetricNamespaceDrills, m) {
			t.Errorf("no %s metric in %s", m, w.e.BackupSpec.DRRegion)
		}
	}
	// The report, in the output, in the ledger and in the notification.
	rep := r.DrillReport
	if !rep.Recorded || rep.Outcome != backup.OutcomeDrillPassed || !rep.Report.Passed || rep.Report.Snapshot != r.Picked.Snapshot ||
		rep.Report.RPOSeconds == nil || rep.Report.RTOSeconds == nil || rep.Report.ExpectedSchema == nil || rep.Report.ExpectedSchema.Source != backup.FromLedger ||
		!slices.Equal(rep.Report.ExpectedSchema.Versions, []int64{3}) || rep.Report.Execution != aws.ToString(out.ExecutionArn) {
		t.Errorf("drill report %+v", rep)
	}
	records := w.drillRecords(t)
	if len(records) != before+1 {
		t.Fatalf("%d drill reports in the ledger, want %d", len(records), before+1)
	}
	last := records[len(records)-1]
	if last.Outcome != backup.OutcomeDrillPassed || !last.Passed || last.Report.Snapshot != r.Picked.Snapshot || last.Report.Execution != aws.ToString(out.ExecutionArn) {
		t.Errorf("ledger item %+v", last)
	}
	n := w.published(t, backup.OutcomeDrillPassed)
	var msg struct {
		Recorded bool
		Report   backup.DrillReport
	}
	if err := json.Unmarshal([]byte(n.Message), &msg); err != nil || !msg.Recorded || msg.Report.Snapshot != r.Picked.Snapshot || len(msg.Report.Checks) != 3 {
		t.Errorf("notification %s: %v", n.Message, err)
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, []byte(last.Raw), "  ", "  ")
	t.Logf("drill report (copy %s, RPO %ds), in the ledger as %s:\n  %s", r.Picked.Snapshot, r.Picked.RPOSeconds, last.SortKey, pretty.String())
}

// The ledger recorded a deploy to version 7 before the copy was taken: the
// copy's version 3 fails the check; the report says so, in the ledger and
// in the notification.
func (w *backupWorld) drillLedgerSaysAnotherVersion(t *testing.T) {
	defer w.restoredHere(awsproxy.RDSScript{}).Remove()
	takenAt := w.newestCopy(t)
	seven := w.release(t, "7e7e7e7", takenAt.Add(-30*time.Minute), takenAt.Add(-20*time.Minute), "3", "7")
	defer func() {
		if err := world.DeleteRelease(context.Background(), w.e.AWS, w.e.Releases, "web", "production", seven); err != nil {
			t.Error(err)
		}
	}()
	w.notifications(t, w.e.DRTopic)
	out, path := w.drill(t, "", true)
	if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != "VerificationFailed" ||
		!strings.Contains(aws.ToString(out.Cause), "version 3, want 7 (the ledger recorded: 7 after the deploy of 7e7e7e7") || !slices.Contains(path, "Cleanup") {
		t.Fatalf("drill %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	records := w.drillRecords(t)
	if last := records[len(records)-1]; last.Outcome != backup.OutcomeVerificationFailed || last.Passed || last.Report.Execution != aws.ToString(out.ExecutionArn) {
		t.Errorf("ledger item %+v", last)
	}
	w.published(t, backup.OutcomeVerificationFailed)
}

// The console's expectedSchemaVersion overrides the ledger: a restored copy
// whose data fails a check ends VerificationFailed, the checks in the
// cause, the database deleted.
func (w *backupWorld) drillOverride(t *testing.T) {
	defer w.restoredHere(awsproxy.RDSScript{}).Remove()
	w.notifications(t, w.e.DRTopic)
	out, path := w.drill(t, `,"expectedSchemaVersion":7`, true)
	if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != "VerificationFailed" ||
		!strings.Contains(aws.ToString(out.Cause), "version 3, want 7 (the input's expectedSchemaVersion says") || !slices.Contains(path, "Cleanup") {
		t.Fatalf("drill %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	w.published(t, backup.OutcomeVerificationFailed)
}

// A failover while the home region is down: the ledger can be neither read
// nor written, and the failover goes on — the version is reported, not
// compared, the report says it is not recorded, the notification goes out
// in the DR region.
func (w *backupWorld) failoverWithoutTheHomeRegion(t *testing.T) {
	defer w.restoredHere(awsproxy.RDSScript{}).Remove()
	defer w.e.Proxy.Add(awsproxy.Rule{Service: "dynamodb", Region: localenv.Region, Calls: awsproxy.FromCall(1),
		Effect: awsproxy.Error("ServiceUnavailableException", "us-east-1 is down", 400)}).Remove()
	w.notifications(t, w.e.DRTopic)
	out, path := w.run(t, w.e.DrillStateMachineARN, string(localenvtest.Fixture(t, w.e, "dr-failover.json")))
	defer func() {
		w.deleteByHand(t, w.restoredDatabases(t, payload.ModeFailover), slices.Collect(maps.Keys(w.inUse(t))))
	}()
	if out.Status != sfntypes.ExecutionStatusSucceeded || path[len(path)-1] != "FailoverReady" {
		t.Fatalf("failover %s %s: %s; path %v", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	var res struct {
		Outcome string
		Report  struct {
			Passed bool
			Checks []backup.Check
		}
		DrillReport struct {
			Recorded    bool
			RecordError string
			Report      backup.DrillReport
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Report.Passed || !strings.Contains(res.Report.Checks[0].Detail, "version 3, not compared: the ledger is unreachable, a failover goes on without it") ||
		res.DrillReport.Recorded || !strings.Contains(res.DrillReport.RecordError, "us-east-1 is down") || res.DrillReport.Report.Outcome != backup.OutcomeFailoverReady ||
		res.DrillReport.Report.ExpectedSchema.Source != backup.LedgerUnreachable {
		t.Errorf("output %s", aws.ToString(out.Output))
	}
	w.published(t, backup.OutcomeFailoverReady)
}

// A failure injected at each step of the drill ends in a named outcome, and
// every one after the restore began is cleaned up — except a cleanup that
// keeps failing, whose cause names the database to delete by hand.
func (w *backupWorld) drillFaults(t *testing.T) {
	spec := w.e.BackupSpec
	always := awsproxy.FromCall(1)
	cases := []struct {
		step, fault string
		input       string // added to the drill's input
		script      awsproxy.RDSScript
		rules       []awsproxy.Rule
		status      sfntypes.ExecutionStatus
		outcome     string // the execution's error, or its last state when it succeeded
		cleaned     bool
		published   string                        // the outcome the notification names; empty: none
		check       func(*testing.T, drillResult) // more to check of the output, when it succeeded
	}{
		{step: "Plan", fault: "confirmFailover in drill mode", input: `,"confirmFailover":"web/production"`,
			status: sfntypes.ExecutionStatusFailed, outcome: "InvalidDrillRequest", cleaned: true},
		{step: "Expect", fault: "the ledger refuses to be read",
			rules:  []awsproxy.Rule{{Service: "dynamodb", Region: localenv.Region, Action: "Query", Calls: always, Effect: awsproxy.Error("AccessDeniedException", "not allowed", 400)}},
			status: sfntypes.ExecutionStatusFailed, outcome: "VerificationFailed", cleaned: true, published: backup.OutcomeVerificationFailed},
		{step: "Pick", fault: "DescribeDBSnapshots refused",
			rules:  []awsproxy.Rule{{Service: "rds", Region: spec.DRRegion, Action: "DescribeDBSnapshots", Calls: always, Effect: awsproxy.Error("AccessDenied", "not allowed", 403)}},
			status: sfntypes.ExecutionStatusFailed, outcome: "PickFailed", cleaned: true, published: backup.OutcomePickFailed},
		{step: "Restore", fault: "InsufficientDBInstanceCapacity",
			script: awsproxy.RDSScript{RestoreError: awsproxy.Error("InsufficientDBInstanceCapacity", "no capacity", 400)},
			status: sfntypes.ExecutionStatusFailed, outcome: "RDSCallFailed", cleaned: true, published: backup.OutcomeDrillFailed},
		{step: "WaitRestored", fault: "restore ends incompatible-restore",
			script: awsproxy.RDSScript{RestoredStatus: "incompatible-restore"},
			status: sfntypes.ExecutionStatusFailed, outcome: "RestoreFailed", cleaned: true, published: backup.OutcomeDrillFailed},
		{step: "WaitRestored", fault: "still creating after drill.timeoutMinutes",
			script: awsproxy.RDSScript{InstancePolls: 1000},
			status: sfntypes.ExecutionStatusFailed, outcome: "RestoreTimedOut", cleaned: true, published: backup.OutcomeDrillFailed},
		{step: "DescribeRestored", fault: "throttled past its retries",
			rules:  []awsproxy.Rule{{Service: "rds", Region: spec.DRRegion, Action: "DescribeDBInstances", Calls: awsproxy.FirstCalls(5), Effect: awsproxy.Throttle()}},
			status: sfntypes.ExecutionStatusFailed, outcome: "DrillStepFailed", cleaned: true, published: backup.OutcomeDrillFailed},
		{step: "Verify", fault: "secret unreadable",
			rules:  []awsproxy.Rule{{Service: "secretsmanager", Action: "GetSecretValue", Calls: always, Effect: awsproxy.Error("AccessDeniedException", "not allowed", 400)}},
			status: sfntypes.ExecutionStatusFailed, outcome: "DatabaseUnreachable", cleaned: true, published: backup.OutcomeDrillFailed},
		{step: "RecordMetrics", fault: "PutMetricData 5xx",
			rules:  []awsproxy.Rule{{Service: "monitoring", Action: "PutMetricData", Calls: always, Effect: awsproxy.ServerError()}},
			status: sfntypes.ExecutionStatusSucceeded, outcome: "DrillPassed", cleaned: true, published: backup.OutcomeDrillPassed},
		{step: "Report", fault: "the ledger refuses the report",
			rules:  []awsproxy.Rule{{Service: "dynamodb", Region: localenv.Region, Action: "PutItem", Calls: always, Effect: awsproxy.Error("AccessDeniedException", "not allowed", 400)}},
			status: sfntypes.ExecutionStatusSucceeded, outcome: "DrillPassed", cleaned: true, published: backup.OutcomeDrillPassed,
			check: func(t *testing.T, r drillResult) {
				if r.DrillReport.Recorded || !strings.Contains(r.DrillReport.RecordError, "not allowed") || !r.DrillReport.Report.Passed {
					t.Errorf("a report the ledger refused: %+v", r.DrillReport)
				}
			}},
		{step: "Notify", fault: "Publish refused",
			rules:  []awsproxy.Rule{{Service: "sns", Region: spec.DRRegion, Action: "Publish", Calls: always, Effect: awsproxy.Error("AuthorizationError", "not allowed", 403)}},
			status: sfntypes.ExecutionStatusSucceeded, outcome: "DrillPassed", cleaned: true,
			check: func(t *testing.T, r drillResult) {
				if !r.DrillReport.Recorded {
					t.Errorf("a drill that could not publish did not record: %+v", r.DrillReport)
				}
			}},
		{step: "Cleanup", fault: "DeleteDBInstance refused",
			rules:  []awsproxy.Rule{{Service: "rds", Region: spec.DRRegion, Action: "DeleteDBInstance", Calls: always, Effect: awsproxy.Error("InvalidParameterCombination", "refused", 400)}},
			status: sfntypes.ExecutionStatusFailed, outcome: "CleanupFailed", cleaned: false, published: backup.OutcomeCleanupFailed},
	}
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tfault\toutcome\tleft behind\tstates\ttook")
	for _, c := range cases {
		t.Run(c.step+"/"+c.fault, func(t *testing.T) {
			defer w.restoredHere(c.script).Remove()
			for _, r := range c.rules {
				defer w.e.Proxy.Add(r).Remove()
			}
			w.notifications(t, w.e.DRTopic)
			start := time.Now()
			out, path := w.drill(t, c.input, c.cleaned)
			got := aws.ToString(out.Error)
			if out.Status == sfntypes.ExecutionStatusSucceeded {
				got = path[len(path)-1]
			}
			left := w.drillDatabases(t)
			fmt.Fprintf(tw, "%s\t%s\t%s %s\t%v\t%d\t%s\n", c.step, c.fault, out.Status, got, left, len(path), time.Since(start).Round(time.Millisecond))
			if out.Status != c.status || got != c.outcome {
				t.Errorf("%s %s (%s), want %s %s; path %v", out.Status, got, aws.ToString(out.Cause), c.status, c.outcome, path)
			}
			switch got := w.notifications(t, w.e.DRTopic); {
			case c.published == "" && len(got) != 0:
				t.Errorf("published %+v", got)
			case c.published != "" && (len(got) != 1 || got[0].Subject != "stepship drill web/production: "+c.published):
				t.Errorf("published %+v, want one of %s", got, c.published)
			}
			if c.check != nil && out.Status == sfntypes.ExecutionStatusSucceeded {
				c.check(t, result(t, out))
			}
			if !c.cleaned {
				// The one exception: the cause names what to delete by hand.
				if len(left) != 1 || !strings.Contains(aws.ToString(out.Cause), left[0]) {
					t.Errorf("left %v, cause %s", left, aws.ToString(out.Cause))
				}
				w.deleteByHand(t, left, slices.Collect(maps.Keys(w.inUse(t))))
			}
		})
	}
	tw.Flush()
	t.Logf("a failure at each drill step:\n%s", table.String())
}

// deleteByHand deletes what a drill left, as its cause says to: the
// databases, and the in-use mark of the copies.
func (w *backupWorld) deleteByHand(t *testing.T, dbs, copies []string) {
	t.Helper()
	ctx := t.Context()
	for _, id := range dbs {
		if _, err := w.dr.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
			var nf *rdstypes.DBInstanceNotFoundFault
			if !errors.As(err, &nf) {
				t.Fatal(err)
			}
		}
	}
	snaps := w.snapshots(t, w.dr)
	for _, id := range copies {
		if _, err := w.dr.RemoveTagsFromResource(ctx, &rds.RemoveTagsFromResourceInput{ResourceName: snaps[id].DBSnapshotArn, TagKeys: []string{backup.TagInUseBy}}); err != nil {
			t.Fatal(err)
		}
	}
}
