package rdssnap

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
)

var now = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)

const (
	TagTakenAt   = backup.TagTakenAt
	TagManagedBy = backup.TagManagedBy
	ManagedBy    = backup.ManagedBy
)

func TestUserTags(t *testing.T) {
	if u := UserTags(map[string]string{"b": "2", "aws:backup": "x", "AWS:x": "y", "a": "1"}); !slices.Equal(u, []backup.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}) {
		t.Errorf("UserTags = %v", u)
	}
	if r := RDSTags([]backup.Tag{{Key: "k", Value: "v"}}); len(r) != 1 || aws.ToString(r[0].Key) != "k" || aws.ToString(r[0].Value) != "v" {
		t.Errorf("RDSTags = %v", r)
	}
}

// fakeLister pages DB snapshots two at a time and lists cluster snapshots in
// one page. A snapshot that is not there is a not-found fault, or with
// emptyWhenMissing an empty answer; with err every call fails.
type fakeLister struct {
	snapshots        []rdstypes.DBSnapshot
	clusters         []rdstypes.DBClusterSnapshot
	emptyWhenMissing bool
	err              error
	calls            []string
}

func (f *fakeLister) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	if id := aws.ToString(in.DBSnapshotIdentifier); id != "" {
		f.calls = append(f.calls, "get "+id)
		if f.err != nil {
			return nil, f.err
		}
		for _, s := range f.snapshots {
			if aws.ToString(s.DBSnapshotIdentifier) == id {
				return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{s}}, nil
			}
		}
		if f.emptyWhenMissing {
			return &rds.DescribeDBSnapshotsOutput{}, nil
		}
		return nil, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot " + id + " not found.")}
	}
	f.calls = append(f.calls, "list "+aws.ToString(in.DBInstanceIdentifier)+" "+aws.ToString(in.SnapshotType)+" from "+aws.ToString(in.Marker))
	if f.err != nil {
		return nil, f.err
	}
	start := 0
	if m := aws.ToString(in.Marker); m != "" {
		start = int(m[0] - '0')
	}
	end := min(start+2, len(f.snapshots))
	out := &rds.DescribeDBSnapshotsOutput{DBSnapshots: f.snapshots[start:end]}
	if end < len(f.snapshots) {
		out.Marker = aws.String(string(rune('0' + end)))
	}
	return out, nil
}

func (f *fakeLister) DescribeDBClusterSnapshots(_ context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	id := aws.ToString(in.DBClusterSnapshotIdentifier)
	f.calls = append(f.calls, "clusters "+aws.ToString(in.DBClusterIdentifier)+" "+aws.ToString(in.SnapshotType)+id)
	if f.err != nil {
		return nil, f.err
	}
	if id == "" {
		return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: f.clusters}, nil
	}
	for _, c := range f.clusters {
		if aws.ToString(c.DBClusterSnapshotIdentifier) == id {
			return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{c}}, nil
		}
	}
	if f.emptyWhenMissing {
		return &rds.DescribeDBClusterSnapshotsOutput{}, nil
	}
	return nil, &rdstypes.DBClusterSnapshotNotFoundFault{}
}

// cluster is a cluster snapshot c1 of web-aurora, an hour old.
func cluster() rdstypes.DBClusterSnapshot {
	created := now.Add(-time.Hour)
	return rdstypes.DBClusterSnapshot{
		DBClusterSnapshotIdentifier: aws.String("c1"), DBClusterSnapshotArn: aws.String("arn:c1"), Status: aws.String("available"),
		Engine: aws.String("aurora-postgresql"), SnapshotCreateTime: &created,
		TagList: []rdstypes.Tag{{Key: aws.String(TagManagedBy), Value: aws.String(ManagedBy)}},
	}
}

func TestSnapshotsListAndGet(t *testing.T) {
	original, copied := now.Add(-48*time.Hour), now.Add(-time.Hour)
	var dbs []rdstypes.DBSnapshot
	for i, id := range []string{"s1", "s2", "s3", "s4", "s5"} {
		d := rdstypes.DBSnapshot{DBSnapshotIdentifier: aws.String(id), DBSnapshotArn: aws.String("arn:" + id), Status: aws.String("available"),
			SnapshotCreateTime: &copied}
		switch i {
		case 0:
			d.TagList = []rdstypes.Tag{{Key: aws.String(TagTakenAt), Value: aws.String("2026-11-01T03:00:00Z")}}
		case 1:
			d.OriginalSnapshotCreateTime = &original
		}
		dbs = append(dbs, d)
	}
	f := &fakeLister{snapshots: dbs, clusters: []rdstypes.DBClusterSnapshot{cluster()}}
	s := Snapshots{Client: f, Database: catalog.Database{Instance: "web-prod"}}
	got, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[4].ID != "s5" {
		t.Fatalf("List = %+v", got)
	}
	if !got[0].TakenAt.Equal(time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)) || !got[1].TakenAt.Equal(original) || !got[2].TakenAt.Equal(copied) {
		t.Errorf("taken at: tag %v, original %v, created %v", got[0].TakenAt, got[1].TakenAt, got[2].TakenAt)
	}
	wantCalls := []string{"list web-prod manual from ", "list web-prod manual from 2", "list web-prod manual from 4"}
	if !slices.Equal(f.calls, wantCalls) {
		t.Errorf("calls %v, want %v", f.calls, wantCalls)
	}
	if g, err := s.Get(context.Background(), "s3"); err != nil || g.ARN != "arn:s3" {
		t.Errorf("Get(s3) = %+v, %v", g, err)
	}
	if _, err := s.Get(context.Background(), "gone"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("Get(gone) = %v, want ErrSnapshotNotFound", err)
	}

	c := Snapshots{Client: f, Database: catalog.Database{Cluster: "web-aurora"}}
	f.calls = nil
	list, err := c.List(context.Background())
	if !slices.Equal(f.calls, []string{"clusters web-aurora manual"}) {
		t.Errorf("cluster calls %v, want one list of web-aurora's manual snapshots", f.calls)
	}
	if err != nil || len(list) != 1 || list[0].Tags[TagManagedBy] != ManagedBy || list[0].ID != "c1" || !list[0].TakenAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("cluster List = %+v, %v", list, err)
	}
	if _, err := c.Get(context.Background(), "nope"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("cluster Get(nope) = %v", err)
	}
}

// Get finds one snapshot or cluster snapshot; one that is not there, however
// RDS says so, is ErrSnapshotNotFound, and any other failure is not.
func TestGet(t *testing.T) {
	taken := now.Add(-2 * time.Hour)
	instance := rdstypes.DBSnapshot{DBSnapshotIdentifier: aws.String("s1"), DBSnapshotArn: aws.String("arn:s1"), Status: aws.String("creating"),
		Engine: aws.String("postgres"), SnapshotCreateTime: &taken,
		TagList: []rdstypes.Tag{{Key: aws.String(TagManagedBy), Value: aws.String(ManagedBy)}, {Key: aws.String("team"), Value: aws.String("web")}}}
	throttled := errors.New("Throttling: rate exceeded")
	for _, tc := range []struct {
		name    string
		aurora  bool
		id      string
		fake    fakeLister
		want    backup.Snapshot // with err "": what Get returns, but its tags
		err     string          // a part of the error
		missing bool            // the error is ErrSnapshotNotFound
	}{
		{name: "instance", id: "s1", want: backup.Snapshot{ID: "s1", ARN: "arn:s1", Status: "creating", Engine: "postgres", TakenAt: taken, CreatedAt: taken}},
		{name: "instance not found", id: "s2", err: "snapshot s2: snapshot not found", missing: true},
		{name: "instance, empty answer", id: "s2", fake: fakeLister{emptyWhenMissing: true}, err: "snapshot s2: snapshot not found", missing: true},
		{name: "instance, RDS fails", id: "s1", fake: fakeLister{err: throttled}, err: "failed to describe snapshot s1: Throttling"},
		{name: "cluster", aurora: true, id: "c1", want: backup.Snapshot{ID: "c1", ARN: "arn:c1", Status: "available", Engine: "aurora-postgresql", TakenAt: now.Add(-time.Hour), CreatedAt: now.Add(-time.Hour)}},
		{name: "cluster not found", aurora: true, id: "c2", err: "cluster snapshot c2: snapshot not found", missing: true},
		{name: "cluster, empty answer", aurora: true, id: "c2", fake: fakeLister{emptyWhenMissing: true}, err: "cluster snapshot c2: snapshot not found", missing: true},
		{name: "cluster, RDS fails", aurora: true, id: "c1", fake: fakeLister{err: throttled}, err: "failed to describe cluster snapshot c1: Throttling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fake
			f.snapshots, f.clusters = []rdstypes.DBSnapshot{instance}, []rdstypes.DBClusterSnapshot{cluster()}
			db := catalog.Database{Instance: "web-prod"}
			if tc.aurora {
				db = catalog.Database{Cluster: "web-aurora"}
			}
			got, err := Snapshots{Client: &f, Database: db}.Get(context.Background(), tc.id)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrSnapshotNotFound) != tc.missing || got.ID != "" {
					t.Fatalf("Get = %+v, %v; want an error saying %q (not found: %v)", got, err, tc.err, tc.missing)
				}
				if tc.fake.err != nil && !errors.Is(err, tc.fake.err) {
					t.Errorf("error %v does not wrap RDS's", err)
				}
				return
			}
			if err != nil || got.Tags[TagManagedBy] != ManagedBy {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			got.Tags = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Get = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// List says which database's snapshots it failed to list, wrapping RDS's
// error.
func TestListFails(t *testing.T) {
	throttled := errors.New("Throttling: rate exceeded")
	for db, want := range map[catalog.Database]string{
		{Instance: "web-prod"}:  "failed to list the snapshots of web-prod",
		{Cluster: "web-aurora"}: "failed to list the cluster snapshots of web-aurora",
	} {
		got, err := Snapshots{Client: &fakeLister{err: throttled}, Database: db}.List(context.Background())
		if !errors.Is(err, throttled) || !strings.Contains(err.Error(), want) || got != nil {
			t.Errorf("List(%s) = %v, %v; want an error saying %s", db.Identifier(), got, err, want)
		}
	}
}
