package main

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

const drill = `drill: {schedule: "cron(0 5 ? * SUN *)", subnetGroup: drill-isolated, securityGroup: sg-0123456789abcdef0`

func backupTo(region string) string {
	return `backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 2, days: 7}, drRegion: ` + region + `, drKmsKey: "arn:aws:kms:` + region + `:123456789012:key/k"}`
}

// testCatalog: drills of an instance and of an Aurora cluster in us-west-2,
// one in eu-west-1, and an environment without any.
var testCatalog = catalogtest.Web(
	catalogtest.Environment("production", `database: {instance: web-prod, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-db-AbCdEf"}`,
		backupTo("us-west-2"), drill+`, timeoutMinutes: 30}`),
	catalogtest.Environment("aurora", `database: {cluster: web-aurora, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-aurora-AbCdEf"}`,
		backupTo("us-west-2"), drill+`, instanceClass: db.r6g.large}`),
	catalogtest.Environment("elsewhere", `database: {instance: web-eu, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-eu-AbCdEf"}`,
		backupTo("eu-west-1"), drill+`}`),
	catalogtest.Environment("staging"),
)

var now = time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)

// fakeRDS is the DR region: copies, restored instances and clusters, and a
// record of every call.
type fakeRDS struct {
	snapshots  map[string]*rdstypes.DBSnapshot
	instances  map[string][]rdstypes.Tag
	clusters   map[string]bool
	calls      []string
	restoreErr error
	deleteErr  error
	restores   []*rds.RestoreDBInstanceFromDBSnapshotInput
	// fail makes the calls it names (by operation) fail with its error.
	fail map[string]error
}

func newFakeRDS() *fakeRDS {
	return &fakeRDS{snapshots: map[string]*rdstypes.DBSnapshot{}, instances: map[string][]rdstypes.Tag{}, clusters: map[string]bool{}}
}

func (f *fakeRDS) add(id string, age time.Duration, status string, tags map[string]string) {
	created := now.Add(-age)
	var tl []rdstypes.Tag
	for k, v := range tags {
		tl = append(tl, rdstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	f.snapshots[id] = &rdstypes.DBSnapshot{DBSnapshotIdentifier: aws.String(id), DBSnapshotArn: aws.String("arn:aws:rds:us-west-2:123456789012:snapshot:" + id),
		DBInstanceIdentifier: aws.String("web-prod"), Status: aws.String(status), Engine: aws.String("postgres"), SnapshotCreateTime: &created, TagList: tl}
}

func ours() map[string]string {
	return map[string]string{backup.TagManagedBy: backup.ManagedBy, backup.TagDatabase: "web-prod"}
}

func (f *fakeRDS) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	if err := f.fail["DescribeDBSnapshots"]; err != nil {
		return nil, err
	}
	if id := aws.ToString(in.DBSnapshotIdentifier); id != "" {
		if s, ok := f.snapshots[id]; ok {
			return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{*s}}, nil
		}
		return nil, &rdstypes.DBSnapshotNotFoundFault{}
	}
	out := &rds.DescribeDBSnapshotsOutput{}
	for _, s := range f.snapshots {
		out.DBSnapshots = append(out.DBSnapshots, *s)
	}
	return out, nil
}

func (f *fakeRDS) DescribeDBClusterSnapshots(_ context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	return nil, &rdstypes.DBClusterSnapshotNotFoundFault{}
}

func (f *fakeRDS) RestoreDBInstanceFromDBSnapshot(_ context.Context, in *rds.RestoreDBInstanceFromDBSnapshotInput, _ ...func(*rds.Options)) (*rds.RestoreDBInstanceFromDBSnapshotOutput, error) {
	f.calls = append(f.calls, "restore "+aws.ToString(in.DBInstanceIdentifier))
	if f.restoreErr != nil {
		return nil, f.restoreErr
	}
	id := aws.ToString(in.DBInstanceIdentifier)
	if _, ok := f.instances[id]; ok {
		return nil, &smithy.GenericAPIError{Code: "DBInstanceAlreadyExists", Message: "DB instance already exists"}
	}
	f.restores = append(f.restores, in)
	f.instances[id] = in.Tags
	return &rds.RestoreDBInstanceFromDBSnapshotOutput{}, nil
}

func (f *fakeRDS) RestoreDBClusterFromSnapshot(_ context.Context, in *rds.RestoreDBClusterFromSnapshotInput, _ ...func(*rds.Options)) (*rds.RestoreDBClusterFromSnapshotOutput, error) {
	f.calls = append(f.calls, "restore cluster "+aws.ToString(in.DBClusterIdentifier)+" "+aws.ToString(in.Engine))
	if err := f.fail["RestoreDBClusterFromSnapshot"]; err != nil {
		return nil, err
	}
	f.clusters[aws.ToString(in.DBClusterIdentifier)] = true
	return &rds.RestoreDBClusterFromSnapshotOutput{}, nil
}

func (f *fakeRDS) CreateDBInstance(_ context.Context, in *rds.CreateDBInstanceInput, _ ...func(*rds.Options)) (*rds.CreateDBInstanceOutput, error) {
	f.calls = append(f.calls, "create "+aws.ToString(in.DBInstanceIdentifier)+" in "+aws.ToString(in.DBClusterIdentifier)+" "+aws.ToString(in.DBInstanceClass))
	if err := f.fail["CreateDBInstance"]; err != nil {
		return nil, err
	}
	f.instances[aws.ToString(in.DBInstanceIdentifier)] = in.Tags
	return &rds.CreateDBInstanceOutput{}, nil
}

func (f *fakeRDS) DescribeDBInstances(_ context.Context, in *rds.DescribeDBInstancesInput, _ ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error) {
	if err := f.fail["DescribeDBInstances"]; err != nil {
		return nil, err
	}
	id := aws.ToString(in.DBInstanceIdentifier)
	tags, ok := f.instances[id]
	if !ok {
		return nil, &rdstypes.DBInstanceNotFoundFault{}
	}
	return &rds.DescribeDBInstancesOutput{DBInstances: []rdstypes.DBInstance{{DBInstanceIdentifier: aws.String(id), TagList: tags}}}, nil
}

func (f *fakeRDS) DeleteDBInstance(_ context.Context, in *rds.DeleteDBInstanceInput, _ ...func(*rds.Options)) (*rds.DeleteDBInstanceOutput, error) {
	id := aws.ToString(in.DBInstanceIdentifier)
	f.calls = append(f.calls, "delete "+id)
	if !aws.ToBool(in.SkipFinalSnapshot) {
		return nil, &smithy.GenericAPIError{Code: "InvalidParameterCombination", Message: "FinalDBSnapshotIdentifier is required"}
	}
	if f.deleteErr != nil {
		return nil, f.deleteErr
	}
	if _, ok := f.instances[id]; !ok {
		return nil, &rdstypes.DBInstanceNotFoundFault{Message: aws.String("DBInstance " + id + " not found.")}
	}
	delete(f.instances, id)
	return &rds.DeleteDBInstanceOutput{}, nil
}

func (f *fakeRDS) DeleteDBCluster(_ context.Context, in *rds.DeleteDBClusterInput, _ ...func(*rds.Options)) (*rds.DeleteDBClusterOutput, error) {
	id := aws.ToString(in.DBClusterIdentifier)
	f.calls = append(f.calls, "delete cluster "+id)
	if err := f.fail["DeleteDBCluster"]; err != nil {
		return nil, err
	}
	if !f.clusters[id] {
		return nil, &smithy.GenericAPIError{Code: "DBClusterNotFoundFault", Message: "not found"}
	}
	delete(f.clusters, id)
	return &rds.DeleteDBClusterOutput{}, nil
}

func (f *fakeRDS) AddTagsToResource(_ context.Context, in *rds.AddTagsToResourceInput, _ ...func(*rds.Options)) (*rds.AddTagsToResourceOutput, error) {
	f.calls = append(f.calls, "tag "+aws.ToString(in.ResourceName)+" "+aws.ToString(in.Tags[0].Key)+"="+aws.ToString(in.Tags[0].Value))
	return &rds.AddTagsToResourceOutput{}, f.fail["AddTagsToResource"]
}

func (f *fakeRDS) RemoveTagsFromResource(_ context.Context, in *rds.RemoveTagsFromResourceInput, _ ...func(*rds.Options)) (*rds.RemoveTagsFromResourceOutput, error) {
	f.calls = append(f.calls, "untag "+aws.ToString(in.ResourceName)+" "+strings.Join(in.TagKeys, ","))
	return &rds.RemoveTagsFromResourceOutput{}, f.fail["RemoveTagsFromResource"]
}

func newHandler(t *testing.T) (*Handler, *fakeRDS) {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeRDS()
	h, err := NewHandler(cat, "us-west-2", f, slog.New(slog.NewJSONHandler(io.Discard, nil)), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return h, f
}

func run(h *Handler, task Task) (any, error) {
	return h.Handle(context.Background(), payload.Invocation[Task]{ExecutionID: "arn:aws:states:us-west-2:123456789012:execution:stepship-dr-drill:weekly", Input: task})
}

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
	h, _ := newHandler(t)
	started := time.Date(2026, 11, 29, 5, 0, 3, 0, time.UTC)
	got, err := run(h, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(`{"service":"web","environment":"production","reason":"weekly","expectedSchemaVersion":7}`)}})
	if err != nil {
		t.Fatal(err)
	}
	seven := int64(7)
	want := Plan{Service: "web", Environment: "production", Mode: payload.ModeDrill, Database: "web-prod",
		Restored: Restored{Instance: "drill-web-prod-202611290500"}, ExpectedSchemaVersion: &seven, PollSeconds: 60, MaxPolls: 30}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan %+v, want %+v", got, want)
	}
	a, err := run(h, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(`{"service":"web","environment":"aurora","reason":"outage","mode":"failover","confirmFailover":"web/aurora"}`)}})
	if err != nil || a.(Plan).Restored != (Restored{Instance: "failover-web-aurora-202611290500-1", Cluster: "failover-web-aurora-202611290500"}) || a.(Plan).MaxPolls != 60 {
		t.Errorf("aurora failover plan %+v, %v", a, err)
	}
	tests := []struct{ name, request, errName, text string }{
		{"unconfirmed failover", `{"service":"web","environment":"production","reason":"x","mode":"failover"}`, "InvalidDrillRequest", `confirmFailover must be "web/production"`},
		{"a subnet group named", `{"service":"web","environment":"production","reason":"x","subnetGroup":"public"}`, "InvalidDrillRequest", `field "subnetGroup" is not allowed`},
		{"no drill there", `{"service":"web","environment":"staging","reason":"x"}`, "UnknownTarget", `has no backup in environment "staging"`},
		{"another DR region", `{"service":"web","environment":"elsewhere","reason":"x"}`, "UnknownTarget", "run in its drRegion eu-west-1, and this function runs in us-west-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(h, Task{Call: backup.Call{Action: ActionPlan, StartedAt: started, Request: json.RawMessage(tt.request)}})
			wantErr(t, err, tt.errName, tt.text)
		})
	}
}

func TestPick(t *testing.T) {
	h, f := newHandler(t)
	_, err := run(h, Task{Call: backup.Call{Action: ActionPick, Service: "web", Environment: "production"}})
	wantErr(t, err, "NoSnapshotToRestore", "us-west-2 has no available stepship copy of web-prod: run a backup first")

	f.add("older", 26*time.Hour, "available", ours())
	f.add("newest", 2*time.Hour, "available", ours())
	f.add("copying", time.Hour, "copying", ours())
	f.add("not-ours", time.Minute, "available", map[string]string{})
	got, err := run(h, Task{Call: backup.Call{Action: ActionPick, Service: "web", Environment: "production"}})
	if err != nil || got.(Picked).Snapshot != "newest" || got.(Picked).RPOSeconds != 7200 {
		t.Errorf("pick %+v, %v", got, err)
	}
}

func TestRestoreAndCleanup(t *testing.T) {
	h, f := newHandler(t)
	f.add("newest", 2*time.Hour, "available", ours())
	r := &Restored{Instance: "drill-web-prod-202611300500"}
	task := Task{Call: backup.Call{Action: ActionRestore, Service: "web", Environment: "production"}, Snapshot: "newest", Restored: r, ExecutionName: "weekly"}
	got, err := run(h, task)
	if err != nil {
		t.Fatal(err)
	}
	if got.(RestoreStarted).Instance != r.Instance || !got.(RestoreStarted).StartedAt.Equal(now) {
		t.Errorf("restore %+v", got)
	}
	in := f.restores[0]
	if aws.ToString(in.DBSubnetGroupName) != "drill-isolated" || !slices.Equal(in.VpcSecurityGroupIds, []string{"sg-0123456789abcdef0"}) ||
		aws.ToBool(in.PubliclyAccessible) || in.PubliclyAccessible == nil || aws.ToBool(in.DeletionProtection) || in.DBInstanceClass != nil {
		t.Errorf("restore input %+v", in)
	}
	tags := map[string]string{}
	for _, tg := range in.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags[backup.TagPurpose] != "drill" || tags[backup.TagDrill] != "weekly" || tags[backup.TagManagedBy] != backup.ManagedBy {
		t.Errorf("restored database tags %v", tags)
	}
	// Retried: found, not restored twice.
	if _, err := run(h, task); err != nil || len(f.restores) != 1 {
		t.Errorf("retry: %v, restores %d", err, len(f.restores))
	}

	clean := Task{Call: backup.Call{Action: ActionCleanup, Service: "web", Environment: "production"}, Snapshot: "newest", Restored: r}
	got, err = run(h, clean)
	if err != nil || !reflect.DeepEqual(got, Cleaned{Deleted: []string{r.Instance}, AlreadyGone: []string{}, Released: "newest"}) {
		t.Errorf("cleanup %+v, %v", got, err)
	}
	// Cleaned up twice (a retry, or a Catch after a cleanup): fine.
	got, err = run(h, clean)
	if err != nil || !reflect.DeepEqual(got.(Cleaned).AlreadyGone, []string{r.Instance}) {
		t.Errorf("second cleanup %+v, %v", got, err)
	}
	want := []string{
		"tag arn:aws:rds:us-west-2:123456789012:snapshot:newest stepship:in-use-by=drill-web-prod-202611300500",
		"restore drill-web-prod-202611300500",
		"tag arn:aws:rds:us-west-2:123456789012:snapshot:newest stepship:in-use-by=drill-web-prod-202611300500",
		"restore drill-web-prod-202611300500",
		"delete drill-web-prod-202611300500",
		"untag arn:aws:rds:us-west-2:123456789012:snapshot:newest stepship:in-use-by",
		"delete drill-web-prod-202611300500",
		"untag arn:aws:rds:us-west-2:123456789012:snapshot:newest stepship:in-use-by",
	}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
}

// Cleanup deletes only what a drill restored: never a failover's database,
// never one stepship did not make.
func TestCleanupRefusesWhatIsNotADrill(t *testing.T) {
	for name, tags := range map[string][]rdstypes.Tag{
		"a failover's database": {{Key: aws.String(backup.TagManagedBy), Value: aws.String(backup.ManagedBy)}, {Key: aws.String(backup.TagPurpose), Value: aws.String("failover")}},
		"someone else's":        {{Key: aws.String("team"), Value: aws.String("web")}},
	} {
		t.Run(name, func(t *testing.T) {
			h, f := newHandler(t)
			f.instances["web-prod"] = tags
			_, err := run(h, Task{Call: backup.Call{Action: ActionCleanup, Service: "web", Environment: "production"}, Restored: &Restored{Instance: "web-prod"}})
			wantErr(t, err, "InvalidDrillRequest", "is not one stepship restored for a drill")
			if slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "delete") }) {
				t.Errorf("deleted: %v", f.calls)
			}
		})
	}
}

func TestRestoreAndCleanupFailures(t *testing.T) {
	h, f := newHandler(t)
	f.add("newest", time.Hour, "available", ours())
	f.add("foreign", time.Hour, "available", map[string]string{})
	r := &Restored{Instance: "drill-web-prod-202611300500"}
	_, err := run(h, Task{Call: backup.Call{Action: ActionRestore, Service: "web", Environment: "production"}, Snapshot: "gone", Restored: r})
	wantErr(t, err, "SnapshotNotFound", "copy gone is not in us-west-2")
	_, err = run(h, Task{Call: backup.Call{Action: ActionRestore, Service: "web", Environment: "production"}, Snapshot: "foreign", Restored: r})
	wantErr(t, err, "SnapshotNotFound", "is not stepship's copy of web-prod")
	f.restoreErr = &smithy.GenericAPIError{Code: "InsufficientDBInstanceCapacity", Message: "no capacity"}
	_, err = run(h, Task{Call: backup.Call{Action: ActionRestore, Service: "web", Environment: "production"}, Snapshot: "newest", Restored: r})
	wantErr(t, err, "RDSCallFailed", "failed to restore drill-web-prod-202611300500 from newest")
	_, err = run(h, Task{Call: backup.Call{Action: ActionRestore, Service: "web", Environment: "production"}, Snapshot: "newest"})
	wantErr(t, err, "InvalidDrillRequest", "restored (the database plan named) is required for restore")

	// Being deleted already: fine. Any other refusal: retriable.
	f.instances[r.Instance] = []rdstypes.Tag{{Key: aws.String(backup.TagManagedBy), Value: aws.String(backup.ManagedBy)}, {Key: aws.String(backup.TagPurpose), Value: aws.String("drill")}}
	f.deleteErr = &rdstypes.InvalidDBInstanceStateFault{Message: aws.String("Instance drill-web-prod-202611300500 is already being deleting.")}
	if got, err := run(h, Task{Call: backup.Call{Action: ActionCleanup, Service: "web", Environment: "production"}, Restored: r}); err != nil || got.(Cleaned).Deleted[0] != r.Instance {
		t.Errorf("deleting already: %+v, %v", got, err)
	}
	f.deleteErr = &rdstypes.InvalidDBInstanceStateFault{Message: aws.String("Instance is in state creating")}
	_, err = run(h, Task{Call: backup.Call{Action: ActionCleanup, Service: "web", Environment: "production"}, Restored: r})
	wantErr(t, err, "RDSCallFailed", "failed to delete drill database drill-web-prod-202611300500")
}

func TestAuroraRestoreAndCleanup(t *testing.T) {
	h, f := newHandler(t)
	f.add("newest", time.Hour, "available", map[string]string{backup.TagManagedBy: backup.ManagedBy, backup.TagDatabase: "web-aurora"})
	h.rds = &clusterSnapshots{fakeRDS: f}
	r := &Restored{Instance: "drill-web-aurora-202611300500-1", Cluster: "drill-web-aurora-202611300500"}
	if _, err := run(h, Task{Call: backup.Call{Action: ActionRestore, Service: "web", Environment: "aurora"}, Snapshot: "newest", Restored: r}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(h, Task{Call: backup.Call{Action: ActionCleanup, Service: "web", Environment: "aurora"}, Snapshot: "newest", Restored: r}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tag arn:newest stepship:in-use-by=drill-web-aurora-202611300500",
		"restore cluster drill-web-aurora-202611300500 aurora-postgresql",
		"create drill-web-aurora-202611300500-1 in drill-web-aurora-202611300500 db.r6g.large",
		"delete drill-web-aurora-202611300500-1",
		"delete cluster drill-web-aurora-202611300500",
		"untag arn:newest stepship:in-use-by",
	}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
}

// clusterSnapshots serves the fake's snapshots as cluster snapshots.
type clusterSnapshots struct{ *fakeRDS }

func (c *clusterSnapshots) DescribeDBClusterSnapshots(_ context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	if err := c.fail["DescribeDBSnapshots"]; err != nil {
		return nil, err
	}
	s, ok := c.snapshots[aws.ToString(in.DBClusterSnapshotIdentifier)]
	if !ok {
		return nil, &rdstypes.DBClusterSnapshotNotFoundFault{}
	}
	return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{{
		DBClusterSnapshotIdentifier: s.DBSnapshotIdentifier, DBClusterSnapshotArn: aws.String("arn:" + aws.ToString(s.DBSnapshotIdentifier)),
		Status: s.Status, Engine: aws.String("aurora-postgresql"), TagList: s.TagList,
	}}}, nil
}

func TestUnknownAction(t *testing.T) {
	h, _ := newHandler(t)
	_, err := run(h, Task{Call: backup.Call{Action: "verify", Service: "web", Environment: "production"}, Restored: &Restored{Instance: "x"}})
	wantErr(t, err, "InvalidDrillRequest", `unknown action "verify"`)
}

// Every failing RDS call is named, and what comes after it is not done; what
// an earlier attempt made or removed already is fine.
func TestCallFailures(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	instance := &Restored{Instance: "drill-web-prod-202611300500"}
	cluster := &Restored{Instance: "drill-web-aurora-202611300500-1", Cluster: "drill-web-aurora-202611300500"}
	drillTags := []rdstypes.Tag{{Key: aws.String(backup.TagManagedBy), Value: aws.String(backup.ManagedBy)}, {Key: aws.String(backup.TagPurpose), Value: aws.String("drill")}}
	for _, tc := range []struct {
		name     string
		action   string
		restored *Restored
		snapshot string // "" for none
		setup    func(f *fakeRDS)
		errName  string // "" for none
		text     string // a part of the error, or of the result's JSON
		notCalls []string
	}{
		{name: "restore: the copy cannot be read", action: ActionRestore, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) { f.fail = map[string]error{"DescribeDBSnapshots": throttled} }, errName: "RDSCallFailed", text: "failed to read copy newest: ", notCalls: []string{"tag", "restore"}},
		{name: "restore: the copy cannot be marked", action: ActionRestore, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) { f.fail = map[string]error{"AddTagsToResource": throttled} }, errName: "RDSCallFailed", text: "failed to mark copy newest as in use", notCalls: []string{"restore"}},
		{name: "restore: not an API error", action: ActionRestore, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) { f.restoreErr = errors.New("connection reset") }, errName: "RDSCallFailed", text: "failed to restore drill-web-prod-202611300500 from newest: connection reset"},
		{name: "restore cluster fails", action: ActionRestore, restored: cluster, snapshot: "newest",
			setup: func(f *fakeRDS) { f.fail = map[string]error{"RestoreDBClusterFromSnapshot": throttled} }, errName: "RDSCallFailed", text: "failed to restore cluster drill-web-aurora-202611300500 from newest", notCalls: []string{"create"}},
		{name: "restore cluster: its instance fails", action: ActionRestore, restored: cluster, snapshot: "newest",
			setup: func(f *fakeRDS) { f.fail = map[string]error{"CreateDBInstance": throttled} }, errName: "RDSCallFailed", text: "failed to create instance drill-web-aurora-202611300500-1 in cluster drill-web-aurora-202611300500"},
		{name: "restore cluster again: both exist", action: ActionRestore, restored: cluster, snapshot: "newest",
			setup: func(f *fakeRDS) {
				f.fail = map[string]error{"RestoreDBClusterFromSnapshot": &smithy.GenericAPIError{Code: "DBClusterAlreadyExistsFault"},
					"CreateDBInstance": &smithy.GenericAPIError{Code: "DBInstanceAlreadyExists"}}
			}, text: `"instance":"drill-web-aurora-202611300500-1","cluster":"drill-web-aurora-202611300500"`},
		{name: "cleanup: the database cannot be described", action: ActionCleanup, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) { f.fail = map[string]error{"DescribeDBInstances": throttled} }, errName: "RDSCallFailed", text: "failed to describe drill database drill-web-prod-202611300500", notCalls: []string{"delete", "untag"}},
		{name: "cleanup: not an API error", action: ActionCleanup, restored: instance,
			setup: func(f *fakeRDS) {
				f.instances[instance.Instance] = drillTags
				f.deleteErr = errors.New("connection reset")
			}, errName: "RDSCallFailed", text: "failed to delete drill database drill-web-prod-202611300500: connection reset"},
		{name: "cleanup: the cluster is busy", action: ActionCleanup, restored: cluster, snapshot: "newest",
			setup: func(f *fakeRDS) {
				f.fail = map[string]error{"DeleteDBCluster": &smithy.GenericAPIError{Code: "InvalidDBClusterStateFault", Message: "busy"}}
			}, errName: "RDSCallFailed", text: "failed to delete drill cluster drill-web-aurora-202611300500 (its instance drill-web-aurora-202611300500-1 is being deleted)", notCalls: []string{"untag"}},
		{name: "cleanup: both gone already", action: ActionCleanup, restored: cluster,
			text: `"alreadyGone":["drill-web-aurora-202611300500-1","drill-web-aurora-202611300500"]`},
		{name: "cleanup: the copy cannot be read", action: ActionCleanup, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) { f.fail = map[string]error{"DescribeDBSnapshots": throttled} }, errName: "RDSCallFailed", text: "failed to read copy newest to release it", notCalls: []string{"untag"}},
		{name: "cleanup: the copy cannot be released", action: ActionCleanup, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) { f.fail = map[string]error{"RemoveTagsFromResource": throttled} }, errName: "RDSCallFailed", text: "failed to release copy newest"},
		{name: "restore: the copy is deleted before it is marked", action: ActionRestore, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) {
				f.fail = map[string]error{"AddTagsToResource": &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot not found.")}}
			},
			errName: "SnapshotNotFound", text: "copy newest was deleted from us-west-2 while the drill restored it", notCalls: []string{"restore"}},
		{name: "restore: the copy is deleted before it is restored", action: ActionRestore, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) {
				f.restoreErr = &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot not found.")}
			},
			errName: "SnapshotNotFound", text: "nothing was restored"},
		{name: "restore cluster: the copy is deleted before it is restored", action: ActionRestore, restored: cluster, snapshot: "newest",
			setup: func(f *fakeRDS) {
				f.fail = map[string]error{"RestoreDBClusterFromSnapshot": &rdstypes.DBClusterSnapshotNotFoundFault{Message: aws.String("not found")}}
			}, errName: "SnapshotNotFound", text: "copy newest was deleted", notCalls: []string{"create"}},
		{name: "cleanup: the copy is deleted before it is released", action: ActionCleanup, restored: instance, snapshot: "newest",
			setup: func(f *fakeRDS) {
				f.fail = map[string]error{"RemoveTagsFromResource": &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot not found.")}}
			}, text: `{"deleted":[],"alreadyGone":["drill-web-prod-202611300500"]}`},
		{name: "cleanup: the copy is gone", action: ActionCleanup, restored: instance, snapshot: "pruned",
			text: `{"deleted":[],"alreadyGone":["drill-web-prod-202611300500"]}`, notCalls: []string{"untag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f := newHandler(t)
			environment := "production"
			if tc.restored.Cluster != "" {
				environment = "aurora"
				h.rds = &clusterSnapshots{fakeRDS: f}
				f.add("newest", time.Hour, "available", map[string]string{backup.TagManagedBy: backup.ManagedBy, backup.TagDatabase: "web-aurora"})
			} else {
				f.add("newest", time.Hour, "available", ours())
			}
			if tc.setup != nil {
				tc.setup(f)
			}
			got, err := run(h, Task{Call: backup.Call{Action: tc.action, Service: "web", Environment: environment}, Restored: tc.restored, Snapshot: tc.snapshot})
			if tc.errName != "" {
				wantErr(t, err, tc.errName, tc.text)
			} else if raw, _ := json.Marshal(got); err != nil || !strings.Contains(string(raw), tc.text) {
				t.Errorf("%s = %s, %v; want %s", tc.action, raw, err, tc.text)
			}
			for _, c := range f.calls {
				for _, not := range tc.notCalls {
					if strings.HasPrefix(c, not+" ") {
						t.Errorf("called %q after the failure", c)
					}
				}
			}
		})
	}
}

func TestADrillWithoutASecurityGroupUsesTheDRStacks(t *testing.T) {
	// GIVEN a catalog whose us-west-2 drill names no security group
	cat, err := catalog.Parse([]byte(catalogtest.Web(
		catalogtest.Environment("production", `database: {instance: web-prod, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-db-AbCdEf"}`,
			backupTo("us-west-2"), `drill: {schedule: "cron(0 5 ? * SUN *)", subnetGroup: drill-isolated}`))))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	// WHEN the handler starts without the DR stack's security group
	// THEN it refuses, naming the entry and the variable
	if _, err := NewHandler(cat, "us-west-2", newFakeRDS(), log); err == nil ||
		!strings.Contains(err.Error(), "web/production") || !strings.Contains(err.Error(), config.EnvDrillSecurityGroup) {
		t.Errorf("NewHandler without a security group: %v", err)
	}
	// AND in another region the entry is not its business
	if _, err := NewHandler(cat, "eu-west-1", newFakeRDS(), log); err != nil {
		t.Errorf("NewHandler in eu-west-1: %v", err)
	}

	// WHEN it starts with the DR stack's security group and restores
	f := newFakeRDS()
	h, err := NewHandler(cat, "us-west-2", f, log, WithClock(func() time.Time { return now }), WithDrillSecurityGroup("sg-0fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	f.add("newest", 2*time.Hour, "available", ours())
	if _, err := run(h, Task{Call: backup.Call{Action: ActionRestore, Service: "web", Environment: "production"}, Snapshot: "newest",
		Restored: &Restored{Instance: "drill-web-prod-202611300500"}, ExecutionName: "weekly"}); err != nil {
		t.Fatal(err)
	}

	// THEN the restored database is in that security group only
	if got := f.restores[0].VpcSecurityGroupIds; !slices.Equal(got, []string{"sg-0fedcba9876543210"}) {
		t.Errorf("security groups %v", got)
	}
}
