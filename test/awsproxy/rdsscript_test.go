package awsproxy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/stepship/stepship/test/awsproxy"
)

// Waiter timings for tests: the SDK's waiters take any delay.
func fastInstanceWait(o *rds.DBInstanceAvailableWaiterOptions) {
	o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
}

func fastSnapshotWait(o *rds.DBSnapshotAvailableWaiterOptions) {
	o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
}

func createInstance(t *testing.T, client *rds.Client, id string) *rdstypes.DBInstance {
	t.Helper()
	out, err := client.CreateDBInstance(t.Context(), &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(id), DBInstanceClass: aws.String("db.t3.micro"), Engine: aws.String("postgres"),
		AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("password1"),
	})
	if err != nil {
		t.Fatalf("CreateDBInstance: %v", err)
	}
	return out.DBInstance
}

// withSnapshot is setup with an instance db and its snapshot snap, made
// before any script is installed.
func withSnapshot(t *testing.T) (p *awsproxy.Proxy, client *rds.Client, db, snap string) {
	t.Helper()
	p, cfg := setup(t, 1)
	client = rds.NewFromConfig(cfg)
	db, snap = name("db"), name("snap")
	createInstance(t, client, db)
	if _, err := client.CreateDBSnapshot(t.Context(), &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(db), DBSnapshotIdentifier: aws.String(snap)}); err != nil {
		t.Fatal(err)
	}
	return p, client, db, snap
}

// TestRDSCreatingThenAvailable: the SDK's waiters wait through the scripted
// "creating" answers and succeed after them.
func TestRDSCreatingThenAvailable(t *testing.T) {
	p, cfg := setup(t, 1)
	ctx := t.Context()
	awsproxy.RDSScript{SnapshotPolls: 3, InstancePolls: 2}.Install(p)
	client := rds.NewFromConfig(cfg)

	db := name("db")
	if in := createInstance(t, client, db); aws.ToString(in.DBInstanceStatus) != "creating" || in.Endpoint != nil {
		t.Errorf("CreateDBInstance answered %s with endpoint %v, want creating without one", aws.ToString(in.DBInstanceStatus), in.Endpoint)
	}
	if err := rds.NewDBInstanceAvailableWaiter(client, fastInstanceWait).Wait(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(db)}, 10*time.Second); err != nil {
		t.Fatalf("DBInstanceAvailable waiter: %v", err)
	}
	if n := p.Count("rds", "DescribeDBInstances"); n != 3 {
		t.Errorf("the waiter polled %d times, want 3 (2 creating, then available)", n)
	}

	snap := name("snap")
	out, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(db), DBSnapshotIdentifier: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.DBSnapshot; aws.ToString(s.Status) != "creating" || s.SnapshotCreateTime != nil || aws.ToInt32(s.PercentProgress) != 0 {
		t.Errorf("CreateDBSnapshot answered %s, %v, %d%%", aws.ToString(s.Status), s.SnapshotCreateTime, aws.ToInt32(s.PercentProgress))
	}
	desc, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.DBSnapshots[0]; aws.ToString(s.Status) != "creating" || aws.ToInt32(s.PercentProgress) != 25 {
		t.Errorf("first poll: %s %d%%, want creating 25%%", aws.ToString(s.Status), aws.ToInt32(s.PercentProgress))
	}
	if err := rds.NewDBSnapshotAvailableWaiter(client, fastSnapshotWait).Wait(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)}, 10*time.Second); err != nil {
		t.Fatalf("DBSnapshotAvailable waiter: %v", err)
	}
	if n := p.Count("rds", "DescribeDBSnapshots"); n != 4 {
		t.Errorf("%d snapshot polls, want 4 (3 creating, then available)", n)
	}
	desc, err = client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.DBSnapshots[0]; aws.ToString(s.Status) != "available" || aws.ToInt32(s.PercentProgress) != 100 || s.SnapshotCreateTime == nil {
		t.Errorf("after: %s %d%% %v", aws.ToString(s.Status), aws.ToInt32(s.PercentProgress), s.SnapshotCreateTime)
	}
}

// TestRDSCopyQuotaAndRestoreFailures: the copy quota error for the first K
// copies; a restore that fails by its status or by an API error.
func TestRDSCopyQuotaAndRestoreFailures(t *testing.T) {
	p, client, _, snap := withSnapshot(t)
	ctx := t.Context()
	awsproxy.RDSScript{CopyQuotaExceeded: 2, InstancePolls: 1, RestoredStatus: "incompatible-restore"}.Install(p)

	for i := 1; i <= 3; i++ {
		_, err := client.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String(snap), TargetDBSnapshotIdentifier: aws.String(name("copy"))})
		var quota *rdstypes.SnapshotQuotaExceededFault
		if i <= 2 && (!errors.As(err, &quota) || quota.ErrorMessage() != awsproxy.CopyQuotaMessage) {
			t.Errorf("copy %d: %v, want SnapshotQuotaExceeded", i, err)
		}
		if i == 3 && err != nil {
			t.Errorf("copy 3: %v", err)
		}
	}

	restored := name("restored")
	if _, err := client.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBInstanceIdentifier: aws.String(restored), DBSnapshotIdentifier: aws.String(snap)}); err != nil {
		t.Fatal(err)
	}
	err := rds.NewDBInstanceAvailableWaiter(client, fastInstanceWait).Wait(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(restored)}, 10*time.Second)
	if err == nil {
		t.Fatal("the waiter succeeded on a failed restore")
	}
	if n := p.Count("rds", "DescribeDBInstances"); n != 2 {
		t.Errorf("%d polls, want 2 (creating, then incompatible-restore ends the wait)", n)
	}

	awsproxy.RDSScript{RestoreError: awsproxy.Error("InsufficientDBInstanceCapacity", "no capacity", 400), RestoreErrorCalls: awsproxy.Nth(1)}.Install(p)
	_, err = client.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBInstanceIdentifier: aws.String(name("r")), DBSnapshotIdentifier: aws.String(snap)})
	var capacity *rdstypes.InsufficientDBInstanceCapacityFault
	if !errors.As(err, &capacity) {
		t.Errorf("restore: %v, want InsufficientDBInstanceCapacity", err)
	}
}

// TestRDSSnapshotVanishes: a snapshot seen once is then gone, by identifier,
// from listings, and as the source of a copy.
func TestRDSSnapshotVanishes(t *testing.T) {
	p, client, db, snap := withSnapshot(t)
	ctx := t.Context()
	awsproxy.RDSScript{VanishingSnapshots: map[string]int{snap: 1}}.Install(p)

	if _, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)}); err != nil {
		t.Fatalf("first describe: %v", err)
	}
	var notFound *rdstypes.DBSnapshotNotFoundFault
	_, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("arn:aws:rds:us-east-1:123456789012:snapshot:" + snap)})
	if !errors.As(err, &notFound) {
		t.Errorf("describe after: %v, want DBSnapshotNotFound", err)
	}
	list, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBInstanceIdentifier: aws.String(db)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.DBSnapshots {
		if aws.ToString(s.DBSnapshotIdentifier) == snap {
			t.Errorf("the listing still has %s", snap)
		}
	}
	if len(list.DBSnapshots) == 0 {
		t.Error("the listing lost the instance's automated snapshot too")
	}
	_, err = client.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String(snap), TargetDBSnapshotIdentifier: aws.String(name("copy"))})
	if !errors.As(err, &notFound) {
		t.Errorf("copy: %v, want DBSnapshotNotFound", err)
	}
}

// TestRDSSnapshotVanishesByPrefix: a prefix entry makes every snapshot
// whose name starts with it vanish — one made through the proxy, whose
// name the test does not know — and tagging it fails as RDS answers for a
// deleted snapshot.
func TestRDSSnapshotVanishesByPrefix(t *testing.T) {
	p, client, db, old := withSnapshot(t)
	ctx := t.Context()
	prefix := name("backup") + "-"
	awsproxy.RDSScript{SnapshotPolls: 1, VanishingSnapshots: map[string]int{prefix + "*": 1, prefix + "kept-*": 5}}.Install(p)

	snap := prefix + "20261130"
	out, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(db), DBSnapshotIdentifier: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)})
	if err != nil || aws.ToString(desc.DBSnapshots[0].Status) != "creating" {
		t.Fatalf("first describe: %v", err)
	}
	var notFound *rdstypes.DBSnapshotNotFoundFault
	if _, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)}); !errors.As(err, &notFound) {
		t.Errorf("second describe: %v, want DBSnapshotNotFound", err)
	}
	for _, tag := range []func() error{
		func() error {
			_, err := client.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: out.DBSnapshot.DBSnapshotArn, Tags: []rdstypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		},
		func() error {
			_, err := client.RemoveTagsFromResource(ctx, &rds.RemoveTagsFromResourceInput{ResourceName: out.DBSnapshot.DBSnapshotArn, TagKeys: []string{"k"}})
			return err
		},
	} {
		if err := tag(); !errors.As(err, &notFound) {
			t.Errorf("tagging the vanished snapshot: %v, want DBSnapshotNotFound", err)
		}
	}
	// The longest prefix decides; a snapshot no entry names stays.
	kept := prefix + "kept-1"
	if _, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(db), DBSnapshotIdentifier: aws.String(kept)}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(kept)}); err != nil {
			t.Errorf("describe %d of %s: %v", i+1, kept, err)
		}
	}
	if _, err := client.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: aws.String("arn:aws:rds:us-east-1:123456789012:snapshot:" + old), Tags: []rdstypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Errorf("tagging a snapshot no entry names: %v", err)
	}
}

// TestRDSCrossRegionCopyOfAVanishedSnapshot: the source of a cross-region
// copy is gone in the region its ARN names, not in the region the copy is
// made in (where the copy of the same name may be gone instead).
func TestRDSCrossRegionCopyOfAVanishedSnapshot(t *testing.T) {
	p, home, _, snap := withSnapshot(t)
	ctx := t.Context()
	src, err := home.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	arn := src.DBSnapshots[0].DBSnapshotArn
	dr := rds.New(home.Options(), func(o *rds.Options) { o.Region = "us-west-2" })
	copyIt := func() error {
		_, err := dr.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: arn, TargetDBSnapshotIdentifier: aws.String(snap), SourceRegion: aws.String("us-east-1")})
		return err
	}
	// Gone in the copy's region: the source is still there.
	s := awsproxy.RDSScript{Region: "us-west-2", VanishingSnapshots: map[string]int{snap: 0}}.Install(p)
	if err := copyIt(); err != nil {
		t.Errorf("copy from %s while a snapshot of that name is gone in us-west-2: %v", aws.ToString(arn), err)
	}
	s.Remove()
	// Gone in the source's region: the copy cannot be made.
	awsproxy.RDSScript{VanishingSnapshots: map[string]int{snap: 0}}.Install(p)
	var notFound *rdstypes.DBSnapshotNotFoundFault
	if err := copyIt(); !errors.As(err, &notFound) {
		t.Errorf("copy from a vanished source: %v, want DBSnapshotNotFound", err)
	}
}

// TestRDSMadeAt: a snapshot answers with the creation time the script
// gives it, as one made before the test would.
func TestRDSMadeAt(t *testing.T) {
	p, client, _, snap := withSnapshot(t)
	made := time.Date(2026, 9, 1, 3, 0, 0, 0, time.UTC)
	defer awsproxy.RDSScript{MadeAt: map[string]time.Time{snap: made}}.Install(p).Remove()
	d, err := client.DescribeDBSnapshots(t.Context(), &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToTime(d.DBSnapshots[0].SnapshotCreateTime); !got.Equal(made) {
		t.Errorf("SnapshotCreateTime %v, want %v", got, made)
	}
}
