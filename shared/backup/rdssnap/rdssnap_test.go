package rdssnap

import (
	"context"
	"errors"
	"slices"
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

// fakeLister pages DB snapshots two at a time and has one cluster snapshot.
type fakeLister struct {
	snapshots []rdstypes.DBSnapshot
	calls     []string
}

func (f *fakeLister) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	if id := aws.ToString(in.DBSnapshotIdentifier); id != "" {
		f.calls = append(f.calls, "get "+id)
		for _, s := range f.snapshots {
			if aws.ToString(s.DBSnapshotIdentifier) == id {
				return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{s}}, nil
			}
		}
		return nil, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot " + id + " not found.")}
	}
	f.calls = append(f.calls, "list "+aws.ToString(in.DBInstanceIdentifier)+" "+aws.ToString(in.SnapshotType)+" from "+aws.ToString(in.Marker))
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
	f.calls = append(f.calls, "clusters "+aws.ToString(in.DBClusterIdentifier)+aws.ToString(in.DBClusterSnapshotIdentifier))
	if id := aws.ToString(in.DBClusterSnapshotIdentifier); id != "" && id != "c1" {
		return nil, &rdstypes.DBClusterSnapshotNotFoundFault{}
	}
	created := now.Add(-time.Hour)
	return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{{
		DBClusterSnapshotIdentifier: aws.String("c1"), DBClusterSnapshotArn: aws.String("arn:c1"), Status: aws.String("available"),
		SnapshotCreateTime: &created, TagList: []rdstypes.Tag{{Key: aws.String(TagManagedBy), Value: aws.String(ManagedBy)}},
	}}}, nil
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
	f := &fakeLister{snapshots: dbs}
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
	list, err := c.List(context.Background())
	if err != nil || len(list) != 1 || list[0].Tags[TagManagedBy] != ManagedBy || list[0].ID != "c1" {
		t.Fatalf("cluster List = %+v, %v", list, err)
	}
	if _, err := c.Get(context.Background(), "nope"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("cluster Get(nope) = %v", err)
	}
}
