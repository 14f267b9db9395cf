package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/catalog/catalogtest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// testCatalog: an instance backed up to us-west-2 and to a backup account
// there, an Aurora cluster to eu-west-1 and to the same backup account
// there, an instance backed up to us-west-2 only, and an environment
// without backups.
var testCatalog = catalogtest.Web(
	catalogtest.Environment("production",
		`database: {instance: web-prod, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-db-AbCdEf"}`,
		`backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 2, days: 7}, drRegion: us-west-2, drKmsKey: "arn:aws:kms:us-west-2:123456789012:key/dr-key",`+
			` beforeDeploy: true, beforeDeployRetention: {count: 1, days: 1},`+
			` backupAccount: {account: "210987654321", role: "`+copierRole+`", kmsKey: "arn:aws:kms:us-west-2:210987654321:alias/copies", retention: {count: 5, days: 30}}}`),
	catalogtest.Environment("aurora",
		`database: {cluster: web-aurora, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-aurora-AbCdEf"}`,
		`backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 1, days: 1}, drRegion: eu-west-1, drKmsKey: "arn:aws:kms:eu-west-1:123456789012:key/eu-key",`+
			` backupAccount: {account: "210987654321", role: "`+copierRole+`", kmsKey: "arn:aws:kms:eu-west-1:210987654321:key/eu-copies", retention: {count: 1, days: 1}}}`),
	drOnly,
	catalogtest.Environment("staging"),
)

// drOnly is an environment backed up to us-west-2 and to no backup account.
var drOnly = catalogtest.Environment("dr-only",
	`database: {instance: web-dr-only, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-dr-only-AbCdEf"}`,
	`backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 2, days: 7}, drRegion: us-west-2, drKmsKey: "arn:aws:kms:us-west-2:123456789012:key/dr-key"}`)

// copierRole is the backup account's role the catalog names; selfRole the
// snapshot function's own.
const (
	copierRole = "arn:aws:iam::210987654321:role/stepship-backup-copier"
	selfRole   = "arn:aws:iam::123456789012:role/Stepship-snapshot"
)

var now = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)

// fakeRDS is one region's RDS: DB and cluster snapshots by identifier, and
// scripted errors.
type fakeRDS struct {
	region    string
	account   string // 123456789012 unless set
	snapshots map[string]*rdstypes.DBSnapshot
	clusters  map[string]*rdstypes.DBClusterSnapshot
	copyErr   error
	deleteErr error
	// describeErr fails every DescribeDBSnapshots and DescribeDBClusterSnapshots.
	describeErr error
	// onCopyErr runs when a copy call fails with copyErr.
	onCopyErr func()
	copies    []*rds.CopyDBSnapshotInput
	ccopies   []*rds.CopyDBClusterSnapshotInput
	deleted   []string
	// shared is each snapshot's restore attribute; shareErr fails every
	// change of it.
	shared   map[string][]string
	shareErr error
}

func newFakeRDS(region string) *fakeRDS {
	return &fakeRDS{region: region, account: "123456789012", snapshots: map[string]*rdstypes.DBSnapshot{}, clusters: map[string]*rdstypes.DBClusterSnapshot{},
		shared: map[string][]string{}}
}

func (f *fakeRDS) add(id, status string, age time.Duration, tags map[string]string) {
	created := now.Add(-age)
	var tl []rdstypes.Tag
	for k, v := range tags {
		tl = append(tl, rdstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	f.snapshots[id] = &rdstypes.DBSnapshot{DBSnapshotIdentifier: aws.String(id), DBSnapshotArn: aws.String("arn:aws:rds:" + f.region + ":" + f.account + ":snapshot:" + id),
		DBInstanceIdentifier: aws.String("web-prod"), Status: aws.String(status), SnapshotCreateTime: &created, TagList: tl}
}

func ours(extra ...string) map[string]string {
	m := map[string]string{backup.TagManagedBy: backup.ManagedBy, backup.TagDatabase: "web-prod", backup.TagService: "web"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func (f *fakeRDS) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	if id := aws.ToString(in.DBSnapshotIdentifier); id != "" {
		s, ok := f.snapshots[id]
		if !ok {
			return nil, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot " + id + " not found.")}
		}
		return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{*s}}, nil
	}
	out := &rds.DescribeDBSnapshotsOutput{}
	for _, s := range f.snapshots {
		if aws.ToString(s.DBInstanceIdentifier) == aws.ToString(in.DBInstanceIdentifier) {
			out.DBSnapshots = append(out.DBSnapshots, *s)
		}
	}
	return out, nil
}

func (f *fakeRDS) DescribeDBClusterSnapshots(_ context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	if id := aws.ToString(in.DBClusterSnapshotIdentifier); id != "" {
		s, ok := f.clusters[id]
		if !ok {
			return nil, &rdstypes.DBClusterSnapshotNotFoundFault{}
		}
		return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{*s}}, nil
	}
	out := &rds.DescribeDBClusterSnapshotsOutput{}
	for _, s := range f.clusters {
		out.DBClusterSnapshots = append(out.DBClusterSnapshots, *s)
	}
	return out, nil
}

// failCopy returns copyErr, after running onCopyErr.
func (f *fakeRDS) failCopy() error {
	if f.copyErr != nil && f.onCopyErr != nil {
		f.onCopyErr()
	}
	return f.copyErr
}

func (f *fakeRDS) CopyDBSnapshot(_ context.Context, in *rds.CopyDBSnapshotInput, _ ...func(*rds.Options)) (*rds.CopyDBSnapshotOutput, error) {
	if err := f.failCopy(); err != nil {
		return nil, err
	}
	f.copies = append(f.copies, in)
	id := aws.ToString(in.TargetDBSnapshotIdentifier)
	f.add(id, "pending", 0, map[string]string{})
	f.snapshots[id].TagList = in.Tags
	return &rds.CopyDBSnapshotOutput{DBSnapshot: f.snapshots[id]}, nil
}

func (f *fakeRDS) CopyDBClusterSnapshot(_ context.Context, in *rds.CopyDBClusterSnapshotInput, _ ...func(*rds.Options)) (*rds.CopyDBClusterSnapshotOutput, error) {
	if err := f.failCopy(); err != nil {
		return nil, err
	}
	f.ccopies = append(f.ccopies, in)
	id := aws.ToString(in.TargetDBClusterSnapshotIdentifier)
	f.clusters[id] = &rdstypes.DBClusterSnapshot{DBClusterSnapshotIdentifier: aws.String(id), DBClusterSnapshotArn: aws.String("arn:" + id), Status: aws.String("copying"), TagList: in.Tags}
	return &rds.CopyDBClusterSnapshotOutput{DBClusterSnapshot: f.clusters[id]}, nil
}

func (f *fakeRDS) DeleteDBSnapshot(_ context.Context, in *rds.DeleteDBSnapshotInput, _ ...func(*rds.Options)) (*rds.DeleteDBSnapshotOutput, error) {
	if f.deleteErr != nil {
		return nil, f.deleteErr
	}
	id := aws.ToString(in.DBSnapshotIdentifier)
	if _, ok := f.snapshots[id]; !ok {
		return nil, &rdstypes.DBSnapshotNotFoundFault{}
	}
	delete(f.snapshots, id)
	f.deleted = append(f.deleted, id)
	return &rds.DeleteDBSnapshotOutput{}, nil
}

func (f *fakeRDS) DeleteDBClusterSnapshot(_ context.Context, in *rds.DeleteDBClusterSnapshotInput, _ ...func(*rds.Options)) (*rds.DeleteDBClusterSnapshotOutput, error) {
	id := aws.ToString(in.DBClusterSnapshotIdentifier)
	delete(f.clusters, id)
	f.deleted = append(f.deleted, id)
	return &rds.DeleteDBClusterSnapshotOutput{}, nil
}

type world struct {
	home, dr, eu *fakeRDS
	// vault and euVault are the backup account's RDS in us-west-2 and
	// eu-west-1, as its role; drKey and euKey the home account's KMS there.
	vault, euVault *fakeRDS
	drKey, euKey   *fakeKMS
	h              *Handler
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{home: newFakeRDS("us-east-1"), dr: newFakeRDS("us-west-2"), eu: newFakeRDS("eu-west-1"),
		vault: newFakeRDS("us-west-2"), euVault: newFakeRDS("eu-west-1"), drKey: &fakeKMS{}, euKey: &fakeKMS{}}
	w.vault.account, w.euVault.account = "210987654321", "210987654321"
	w.h, err = NewHandler(cat, "us-east-1", map[string]rdsAPI{"us-east-1": w.home, "us-west-2": w.dr, "eu-west-1": w.eu},
		slog.New(slog.NewJSONHandler(io.Discard, nil)), WithClock(func() time.Time { return now }),
		WithBackupAccounts(map[string]kmsAPI{"us-west-2": w.drKey, "eu-west-1": w.euKey},
			map[backup.AccountRole]accountRDS{{Role: copierRole, Region: "us-west-2"}: w.vault, {Role: copierRole, Region: "eu-west-1"}: w.euVault}, selfRole))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) run(t *testing.T, task Task) (any, error) {
	t.Helper()
	return w.h.Handle(context.Background(), payload.Invocation[Task]{ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:stepship-backup:x", Input: task})
}

// wantErr checks that err is the taskerr type named, returned unwrapped (the
// state machine catches it by that name), and says what it must.
func wantErr(t *testing.T, err error, name, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", name)
	}
	typ := reflect.TypeOf(err)
	if typ.Kind() != reflect.Pointer || typ.Elem().Name() != name || typ.Elem().PkgPath() != reflect.TypeFor[taskerr.RDSCallFailed]().PkgPath() {
		t.Fatalf("error %T (%v), want *taskerr.%s", err, err, name)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
}

func TestPlan(t *testing.T) {
	w := newWorld(t)
	started := time.Date(2026, 11, 30, 3, 0, 7, 0, time.UTC)
	got, err := w.run(t, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(`{"service":"web","environment":"production","reason":"nightly (scheduled)"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	p := got.(Plan)
	want := Plan{Service: "web", Environment: "production", Database: "web-prod", Snapshot: "stepship-web-prod-20261130-030007",
		Tags: []backup.Tag{{Key: "stepship:managed-by", Value: "stepship"}, {Key: "stepship:service", Value: "web"},
			{Key: "stepship:environment", Value: "production"}, {Key: "stepship:database", Value: "web-prod"},
			{Key: "stepship:reason", Value: "nightly _scheduled_"}, {Key: "stepship:taken-at", Value: "2026-11-30T03:00:07Z"},
			{Key: "stepship:expires", Value: "2026-12-07"}},
		DRRegion: "us-west-2", PollSeconds: pollSeconds, MaxPolls: maxPolls,
		BackupAccount: &AccountPlan{Account: "210987654321", Role: copierRole, Region: "us-west-2", KMSKey: "arn:aws:kms:us-west-2:210987654321:alias/copies",
			Grant: "stepship-share-stepship-web-prod-20261130-030007"}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("plan\n%+v\nwant\n%+v", p, want)
	}
	// The tags are what CreateDBSnapshot's Parameters take as they are.
	raw, _ := json.Marshal(p.Tags[:1])
	if string(raw) != `[{"Key":"stepship:managed-by","Value":"stepship"}]` {
		t.Errorf("tags JSON %s", raw)
	}
	a, err := w.run(t, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(`{"service":"web","environment":"aurora","reason":"x"}`)}})
	if err != nil || !a.(Plan).Aurora || a.(Plan).Database != "web-aurora" || a.(Plan).SnapshotOnly {
		t.Errorf("aurora plan %+v, %v", a, err)
	}
	// Without a backup account the plan has none: the state machine's
	// Choice looks for it.
	d, err := w.run(t, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(`{"service":"web","environment":"dr-only","reason":"x"}`)}})
	raw, _ = json.Marshal(d)
	if err != nil || d.(Plan).BackupAccount != nil || strings.Contains(string(raw), "backupAccount") {
		t.Errorf("plan without a backup account %s, %v", raw, err)
	}
	// A deploy's pre-deploy snapshot: the same plan, snapshot only.
	pre, err := w.run(t, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(
		`{"service":"web","environment":"production","reason":"before the deploy of abc","snapshotOnly":true,"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:web-1"}`)}})
	// Named and tagged a pre-deploy snapshot (pruned apart), expiring by
	// the pre-deploy retention's days (1).
	if err != nil || !pre.(Plan).SnapshotOnly || pre.(Plan).Snapshot != "stepship-web-prod-pre-deploy-20261130-030007" {
		t.Errorf("snapshot-only plan %+v, %v", pre, err)
	}
	if tags := planTags(pre.(Plan).Tags); tags[backup.TagPurpose] != backup.PurposePreDeploy || tags[backup.TagExpires] != "2026-12-01" {
		t.Errorf("pre-deploy snapshot's tags %v", tags)
	}
	// A snapshot-only backup an engineer starts, or one of an environment
	// that takes no pre-deploy snapshots, is an ordinary snapshot.
	for _, req := range []string{
		`{"service":"web","environment":"production","reason":"before maintenance","snapshotOnly":true}`,
		`{"service":"web","environment":"dr-only","reason":"before the deploy of abc","snapshotOnly":true,"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:web-1"}`,
	} {
		got, err := w.run(t, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(req)}})
		if err != nil || got.(Plan).Snapshot != backup.SnapshotID(got.(Plan).Database, started) || planTags(got.(Plan).Tags)[backup.TagPurpose] != "" {
			t.Errorf("%s: plan %+v, %v", req, got, err)
		}
	}
}

// planTags is a plan's tags by key.
func planTags(tags []backup.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	return out
}

func TestPlanRefusals(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name, request string
		noStart       bool
		errName, text string
	}{
		{"a database named", `{"service":"web","environment":"production","reason":"x","database":"other"}`, false, "InvalidBackupRequest", `field "database" is not allowed`},
		{"no reason", `{"service":"web","environment":"production"}`, false, "InvalidBackupRequest", "reason is required"},
		{"unknown service", `{"service":"api","environment":"production","reason":"x"}`, false, "UnknownTarget", `service "api" is not in the catalog`},
		{"no backup there", `{"service":"web","environment":"staging","reason":"x"}`, false, "UnknownTarget", `service "web" has no backup in environment "staging"`},
		{"no start time", `{"service":"web","environment":"production","reason":"x"}`, true, "InvalidBackupRequest", "startedAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := Task{Call: backup.Call{Action: ActionPlan, StartedAt: now, Request: json.RawMessage(tt.request)}}
			if tt.noStart {
				task.StartedAt = time.Time{}
			}
			_, err := w.run(t, task)
			wantErr(t, err, tt.errName, tt.text)
		})
	}
	_, err := w.run(t, Task{Call: backup.Call{Action: "snapshot"}})
	wantErr(t, err, "InvalidBackupRequest", `unknown action "snapshot"`)
}

const snapID = "stepship-web-prod-20261130-030000"

func TestCopyStartsOnceInTheDRRegion(t *testing.T) {
	w := newWorld(t)
	w.home.add(snapID, "available", time.Minute, ours(backup.TagTakenAt, "2026-11-30T03:00:00Z", "aws:backup:source", "x"))
	task := Task{Call: backup.Call{Action: ActionCopy, Service: "web", Environment: "production"}, Snapshot: snapID}

	got, err := w.run(t, task)
	if err != nil {
		t.Fatal(err)
	}
	c := got.(Copy)
	if !c.Started || c.Region != "us-west-2" || c.Status != "pending" || c.Available {
		t.Errorf("first copy %+v", c)
	}
	if len(w.home.copies) != 0 || len(w.dr.copies) != 1 {
		t.Fatalf("copies: home %d, DR %d; the copy must be made in the destination region", len(w.home.copies), len(w.dr.copies))
	}
	in := w.dr.copies[0]
	if aws.ToString(in.SourceDBSnapshotIdentifier) != "arn:aws:rds:us-east-1:123456789012:snapshot:"+snapID ||
		aws.ToString(in.SourceRegion) != "us-east-1" || aws.ToString(in.KmsKeyId) != "arn:aws:kms:us-west-2:123456789012:key/dr-key" ||
		!aws.ToBool(in.CopyTags) || aws.ToString(in.TargetDBSnapshotIdentifier) != snapID {
		t.Errorf("CopyDBSnapshot input %+v", in)
	}
	var keys []string
	for _, tag := range in.Tags {
		keys = append(keys, aws.ToString(tag.Key))
	}
	if want := []string{"stepship:copy-of", "stepship:database", "stepship:expires", "stepship:managed-by", "stepship:service", "stepship:taken-at"}; !slices.Equal(keys, want) {
		t.Errorf("copy tags %v, want %v (aws: tags left out)", keys, want)
	}
	if tags := tagMap(in.Tags); tags[backup.TagExpires] != "2026-12-07" || tags[backup.TagCopyOf] != "arn:aws:rds:us-east-1:123456789012:snapshot:"+snapID {
		t.Errorf("copy tags %v: expires after the catalog's 7 days, copy of the home snapshot", tags)
	}

	// Polled again: found, not copied twice; then available.
	again, err := w.run(t, task)
	if err != nil || again.(Copy).Started || len(w.dr.copies) != 1 {
		t.Errorf("second call %+v, %v; copies %d", again, err, len(w.dr.copies))
	}
	w.dr.snapshots[snapID].Status = aws.String("available")
	done, err := w.run(t, task)
	if err != nil || !done.(Copy).Available {
		t.Errorf("third call %+v, %v", done, err)
	}

	// Deleted (the copy cancelled) while the machine polled it: named, not
	// made again.
	delete(w.dr.snapshots, snapID)
	task.Polls = 2
	_, err = w.run(t, task)
	wantErr(t, err, "SnapshotNotFound", "the copy of "+snapID+" disappeared from us-west-2 while it was being made")
	if len(w.dr.copies) != 1 {
		t.Errorf("%d copies: a copy deleted while it was made was made again", len(w.dr.copies))
	}
}

func TestCopyAurora(t *testing.T) {
	w := newWorld(t)
	w.home.clusters["c1"] = cluster("us-east-1", "c1", "available", "web-aurora")
	got, err := w.run(t, Task{Call: backup.Call{Action: ActionCopy, Service: "web", Environment: "aurora"}, Snapshot: "c1"})
	if err != nil || !got.(Copy).Started || got.(Copy).Region != "eu-west-1" {
		t.Fatalf("copy %+v, %v", got, err)
	}
	if len(w.eu.ccopies) != 1 || aws.ToString(w.eu.ccopies[0].KmsKeyId) != "arn:aws:kms:eu-west-1:123456789012:key/eu-key" || aws.ToString(w.eu.ccopies[0].SourceRegion) != "us-east-1" {
		t.Errorf("cluster copies %+v", w.eu.ccopies)
	}
}

func TestCopyFailures(t *testing.T) {
	quota := func(msg string) error {
		return &rdstypes.SnapshotQuotaExceededFault{Message: aws.String(msg)}
	}
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	tests := []struct {
		name          string
		setup         func(w *world)
		errName, text string
	}{
		{"concurrent-copy quota is retriable", func(w *world) {
			w.dr.copyErr = quota("Cannot copy more than 5 snapshots across regions")
		}, "CopyQuotaExceeded", "us-west-2 already runs as many snapshot copies as RDS allows"},
		{"copies quota is retriable", func(w *world) {
			w.dr.copyErr = quota("You have reached the maximum number of snapshot Copies in progress")
		}, "CopyQuotaExceeded", "the copy of " + snapID + " waits"},
		{"concurrent quota is retriable", func(w *world) {
			w.dr.copyErr = quota("Too many Concurrent operations")
		}, "CopyQuotaExceeded", "the copy of " + snapID + " waits"},
		{"manual-snapshot quota is not", func(w *world) {
			w.dr.copyErr = quota("Cannot create more than 100 manual snapshots")
		}, "SnapshotQuotaExceeded", "prune, or raise the quota"},
		{"throttled", func(w *world) { w.dr.copyErr = throttled }, "RDSCallFailed", "failed to copy snapshot " + snapID + " to us-west-2: "},
		{"already exists, yet not found", func(w *world) {
			w.dr.copyErr = &smithy.GenericAPIError{Code: "DBSnapshotAlreadyExists", Message: "exists"}
		}, "RDSCallFailed", "failed to copy snapshot " + snapID + " to us-west-2: "},
		{"the DR region cannot be read", func(w *world) { w.dr.describeErr = throttled }, "RDSCallFailed", "failed to look for the copy in us-west-2"},
		{"the home region cannot be read", func(w *world) { w.home.describeErr = throttled }, "RDSCallFailed", "failed to read the snapshot to copy in us-east-1"},
		{"source gone", func(w *world) { delete(w.home.snapshots, snapID) }, "SnapshotNotFound", "is not in us-east-1: nothing to copy"},
		{"source not ours", func(w *world) {
			w.home.add(snapID, "available", time.Minute, map[string]string{backup.TagDatabase: "web-prod"})
		}, "SnapshotNotFound", "is not stepship's snapshot of web-prod"},
		{"source still creating", func(w *world) {
			w.home.snapshots[snapID].Status = aws.String("creating")
		}, "RDSCallFailed", "is creating, not yet available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.home.add(snapID, "available", time.Minute, ours())
			tt.setup(w)
			_, err := w.run(t, Task{Call: backup.Call{Action: ActionCopy, Service: "web", Environment: "production"}, Snapshot: snapID})
			wantErr(t, err, tt.errName, tt.text)
			if len(w.dr.copies) != 0 {
				t.Errorf("copies made: %+v", w.dr.copies)
			}
		})
	}
	_, err := newWorld(t).run(t, Task{Call: backup.Call{Action: ActionCopy, Service: "web", Environment: "production"}})
	wantErr(t, err, "InvalidBackupRequest", "snapshot is required")
}

// An earlier attempt's copy appears between the look and the call: RDS
// refuses the copy as existing, and the copy is found and reported.
func TestCopyRace(t *testing.T) {
	for _, tc := range []struct{ environment, id, code string }{
		{"production", snapID, "DBSnapshotAlreadyExists"},
		{"aurora", "c1", "DBClusterSnapshotAlreadyExistsFault"},
	} {
		t.Run(tc.environment, func(t *testing.T) {
			w := newWorld(t)
			w.home.add(snapID, "available", time.Minute, ours())
			w.home.clusters["c1"] = cluster("us-east-1", "c1", "available", "web-aurora")
			dr := map[string]*fakeRDS{"production": w.dr, "aurora": w.eu}[tc.environment]
			dr.copyErr = &smithy.GenericAPIError{Code: tc.code, Message: "exists"}
			dr.onCopyErr = func() {
				dr.add(snapID, "copying", 0, ours())
				dr.clusters["c1"] = cluster(dr.region, "c1", "copying", "web-aurora")
			}
			got, err := w.run(t, Task{Call: backup.Call{Action: ActionCopy, Service: "web", Environment: tc.environment}, Snapshot: tc.id})
			if err != nil || got.(Copy) != (Copy{Snapshot: tc.id, ARN: "arn:aws:rds:" + dr.region + ":123456789012:snapshot:" + tc.id, Region: dr.region, Status: "copying"}) {
				t.Errorf("race: %+v, %v", got, err)
			}
		})
	}
}

// cluster is a cluster snapshot of database db in region.
func cluster(region, id, status, db string) *rdstypes.DBClusterSnapshot {
	return &rdstypes.DBClusterSnapshot{DBClusterSnapshotIdentifier: aws.String(id), DBClusterSnapshotArn: aws.String("arn:aws:rds:" + region + ":123456789012:snapshot:" + id),
		Status: aws.String(status), TagList: []rdstypes.Tag{{Key: aws.String(backup.TagManagedBy), Value: aws.String(backup.ManagedBy)}, {Key: aws.String(backup.TagDatabase), Value: aws.String(db)}}}
}

func TestPrune(t *testing.T) {
	w := newWorld(t)
	day := 24 * time.Hour
	for _, r := range []*fakeRDS{w.home, w.dr} {
		r.add("s-0", "available", 2*time.Hour, ours())
		r.add("s-1", "available", 1*day, ours())
		r.add("s-10", "available", 10*day, ours())
		r.add("s-20", "available", 20*day, ours())
		r.add("manual-30", "available", 30*day, map[string]string{})
	}
	w.dr.add("s-40", "available", 40*day, ours(backup.TagInUseBy, "drill-web-prod-202611290500"))
	// Pre-deploy snapshots (the catalog keeps the newest one and those
	// younger than a day) neither count toward nor are kept by retention;
	// in the DR region nothing is told apart.
	w.home.add(preID+"1", "available", time.Hour, ours(backup.TagPurpose, backup.PurposePreDeploy))
	w.home.add(preID+"2", "available", 30*time.Hour, ours(backup.TagPurpose, backup.PurposePreDeploy))
	w.dr.add(preID+"3", "available", 30*day, ours(backup.TagPurpose, backup.PurposePreDeploy))

	got, err := w.run(t, Task{Call: backup.Call{Action: ActionPrune, Service: "web", Environment: "production"}})
	if err != nil {
		t.Fatal(err)
	}
	res := got.(PruneResult)
	if len(res.Regions) != 2 || res.Regions[0].Region != "us-east-1" || res.Regions[1].Region != "us-west-2" {
		t.Fatalf("regions %+v", res.Regions)
	}
	names := func(ds []backup.Decision) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Snapshot)
		}
		return out
	}
	for i, want := range [][]string{{preID + "2", "s-10", "s-20"}, {"s-10", "s-20", preID + "3"}} {
		if got := names(res.Regions[i].Deleted); !slices.Equal(got, want) {
			t.Errorf("%s deleted %v, want %v", res.Regions[i].Region, got, want)
		}
	}
	if got := names(res.Regions[1].Kept); !slices.Equal(got, []string{"s-0", "s-1", "s-40"}) {
		t.Errorf("DR kept %v", got)
	}
	if _, ok := w.home.snapshots["manual-30"]; !ok {
		t.Error("pruning deleted a snapshot that is not stepship's")
	}
	if res.NewestCopy == nil || res.NewestCopy.ID != "s-0" || res.RPOSeconds == nil || *res.RPOSeconds != 7200 {
		t.Errorf("RPO: newest %+v, %v", res.NewestCopy, res.RPOSeconds)
	}

	// Run again: nothing left to delete, same RPO.
	again, err := w.run(t, Task{Call: backup.Call{Action: ActionPrune, Service: "web", Environment: "production"}})
	if err != nil || len(again.(PruneResult).Regions[0].Deleted) != 0 {
		t.Errorf("second prune %+v, %v", again, err)
	}
}

// preID starts the identifiers of web-prod's pre-deploy snapshots.
const preID = "stepship-web-prod-pre-deploy-"

// After a pre-deploy snapshot: the pre-deploy retention in the home region,
// on pre-deploy snapshots only; nothing for an environment without them.
func TestPrunePreDeploy(t *testing.T) {
	w := newWorld(t)
	day := 24 * time.Hour
	w.home.add(preID+"1", "available", time.Hour, ours(backup.TagPurpose, backup.PurposePreDeploy))
	w.home.add(preID+"2", "available", 30*time.Hour, ours(backup.TagPurpose, backup.PurposePreDeploy))
	w.home.add(preID+"tag-only", "available", 40*time.Hour, ours())
	w.home.add("s-90", "available", 90*day, ours())
	w.dr.add(preID+"3", "available", 30*day, ours(backup.TagPurpose, backup.PurposePreDeploy))
	got, err := w.run(t, Task{Call: backup.Call{Action: ActionPrunePreDeploy, Service: "web", Environment: "production"}})
	if err != nil {
		t.Fatal(err)
	}
	p := got.(Pruned)
	names := func(ds []backup.Decision) (out []string) {
		for _, d := range ds {
			out = append(out, d.Snapshot)
		}
		return out
	}
	if p.Region != "us-east-1" || !slices.Equal(names(p.Kept), []string{preID + "1"}) || !slices.Equal(names(p.Deleted), []string{preID + "2"}) {
		t.Errorf("pruned %+v", p)
	}
	for _, id := range []string{preID + "tag-only", "s-90"} {
		if _, ok := w.home.snapshots[id]; !ok {
			t.Errorf("%s was deleted: not a pre-deploy snapshot", id)
		}
	}
	if _, ok := w.dr.snapshots[preID+"3"]; !ok {
		t.Error("a DR copy was deleted")
	}
	none, err := w.run(t, Task{Call: backup.Call{Action: ActionPrunePreDeploy, Service: "web", Environment: "dr-only"}})
	if err != nil || len(none.(Pruned).Kept)+len(none.(Pruned).Deleted) != 0 {
		t.Errorf("an environment without pre-deploy snapshots: %+v, %v", none, err)
	}
	w.home.add(preID+"4", "available", 50*time.Hour, ours(backup.TagPurpose, backup.PurposePreDeploy))
	w.home.deleteErr = &smithy.GenericAPIError{Code: "InvalidDBSnapshotState", Message: "busy"}
	_, err = w.run(t, Task{Call: backup.Call{Action: ActionPrunePreDeploy, Service: "web", Environment: "production"}})
	wantErr(t, err, "RDSCallFailed", "failed to delete "+preID+"4 in us-east-1")
}

func TestPruneWithoutACopyHasNoRPO(t *testing.T) {
	w := newWorld(t)
	w.home.add("s-0", "available", time.Hour, ours())
	got, err := w.run(t, Task{Call: backup.Call{Action: ActionPrune, Service: "web", Environment: "production"}})
	if err != nil || got.(PruneResult).RPOSeconds != nil || got.(PruneResult).NewestCopy != nil {
		t.Errorf("prune %+v, %v", got, err)
	}
	raw, _ := json.Marshal(got)
	if strings.Contains(string(raw), "rpoSeconds") {
		t.Errorf("the state machine's Choice needs rpoSeconds absent: %s", raw)
	}
}

func TestPruneDeleteFailureIsNamed(t *testing.T) {
	w := newWorld(t)
	w.home.add("s-old", "available", 90*24*time.Hour, ours())
	w.home.add("s-1", "available", time.Hour, ours())
	w.home.add("s-2", "available", 2*time.Hour, ours())
	w.home.deleteErr = &smithy.GenericAPIError{Code: "InvalidDBSnapshotState", Message: "busy"}
	_, err := w.run(t, Task{Call: backup.Call{Action: ActionPrune, Service: "web", Environment: "production"}})
	wantErr(t, err, "RDSCallFailed", "failed to delete s-old in us-east-1")
}

func TestNewHandlerNeedsAClientPerRegion(t *testing.T) {
	cat, _ := catalog.Parse([]byte(testCatalog))
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	_, err := NewHandler(cat, "us-east-1", map[string]rdsAPI{"us-east-1": newFakeRDS("us-east-1")}, log)
	if err == nil || !strings.Contains(err.Error(), "no RDS client for region us-west-2") {
		t.Errorf("error %v", err)
	}
	if _, err := NewHandler(nil, "us-east-1", nil, log); err == nil {
		t.Error("accepted a nil catalog")
	}
	if got := backup.DRRegions(cat.Targets()); !slices.Equal(got, []string{"us-west-2", "eu-west-1"}) {
		t.Errorf("DRRegions %v", got)
	}
}
