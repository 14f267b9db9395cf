// Package rdssnap reads RDS DB snapshots and DB cluster snapshots as
// backup.Snapshot values: the one place stepship turns the RDS API's
// snapshot shapes and tags into what retention and drills decide on. It is
// apart from package backup so that a function that only needs the policy
// does not carry the RDS client.
package rdssnap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
)

// SnapshotLister is the RDS calls Snapshots makes: the SDK's own paginator
// interfaces for DB snapshots and DB cluster snapshots.
type SnapshotLister interface {
	rds.DescribeDBSnapshotsAPIClient
	rds.DescribeDBClusterSnapshotsAPIClient
}

var _ SnapshotLister = (*rds.Client)(nil)

// Snapshots lists the manual snapshots of one database in one region: DB
// snapshots of an instance, DB cluster snapshots of an Aurora cluster.
type Snapshots struct {
	Client   SnapshotLister
	Database catalog.Database
}

// List returns every manual snapshot of the database in the client's region,
// with its tags, through the SDK's paginator.
func (s Snapshots) List(ctx context.Context) ([]backup.Snapshot, error) {
	id := s.Database.Identifier()
	var out []backup.Snapshot
	if s.Database.Aurora() {
		p := rds.NewDescribeDBClusterSnapshotsPaginator(s.Client, &rds.DescribeDBClusterSnapshotsInput{
			DBClusterIdentifier: aws.String(id), SnapshotType: aws.String("manual"),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("failed to list the cluster snapshots of %s: %w", id, err)
			}
			for _, c := range page.DBClusterSnapshots {
				out = append(out, fromCluster(c))
			}
		}
		return out, nil
	}
	p := rds.NewDescribeDBSnapshotsPaginator(s.Client, &rds.DescribeDBSnapshotsInput{
		DBInstanceIdentifier: aws.String(id), SnapshotType: aws.String("manual"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("failed to list the snapshots of %s: %w", id, err)
		}
		for _, d := range page.DBSnapshots {
			out = append(out, fromInstance(d))
		}
	}
	return out, nil
}

// ErrSnapshotNotFound: no snapshot has that identifier in the region.
var ErrSnapshotNotFound = errors.New("snapshot not found")

// Get returns the snapshot with the identifier, or an error wrapping
// ErrSnapshotNotFound.
func (s Snapshots) Get(ctx context.Context, id string) (backup.Snapshot, error) {
	if s.Database.Aurora() {
		out, err := s.Client.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String(id)})
		var nf *rdstypes.DBClusterSnapshotNotFoundFault
		if errors.As(err, &nf) || err == nil && len(out.DBClusterSnapshots) == 0 {
			return backup.Snapshot{}, fmt.Errorf("cluster snapshot %s: %w", id, ErrSnapshotNotFound)
		}
		if err != nil {
			return backup.Snapshot{}, fmt.Errorf("failed to describe cluster snapshot %s: %w", id, err)
		}
		return fromCluster(out.DBClusterSnapshots[0]), nil
	}
	out, err := s.Client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(id)})
	var nf *rdstypes.DBSnapshotNotFoundFault
	if errors.As(err, &nf) || err == nil && len(out.DBSnapshots) == 0 {
		return backup.Snapshot{}, fmt.Errorf("snapshot %s: %w", id, ErrSnapshotNotFound)
	}
	if err != nil {
		return backup.Snapshot{}, fmt.Errorf("failed to describe snapshot %s: %w", id, err)
	}
	return fromInstance(out.DBSnapshots[0]), nil
}

func fromInstance(d rdstypes.DBSnapshot) backup.Snapshot {
	tags := tagMap(d.TagList)
	return backup.Snapshot{
		ID: aws.ToString(d.DBSnapshotIdentifier), ARN: aws.ToString(d.DBSnapshotArn), Status: aws.ToString(d.Status), Engine: aws.ToString(d.Engine),
		TakenAt: backup.TakenAt(tags, d.OriginalSnapshotCreateTime, d.SnapshotCreateTime), Tags: tags, CreatedAt: aws.ToTime(d.SnapshotCreateTime).UTC(),
	}
}

func fromCluster(c rdstypes.DBClusterSnapshot) backup.Snapshot {
	tags := tagMap(c.TagList)
	return backup.Snapshot{
		ID: aws.ToString(c.DBClusterSnapshotIdentifier), ARN: aws.ToString(c.DBClusterSnapshotArn), Status: aws.ToString(c.Status), Engine: aws.ToString(c.Engine),
		TakenAt: backup.TakenAt(tags, nil, c.SnapshotCreateTime), Tags: tags, CreatedAt: aws.ToTime(c.SnapshotCreateTime).UTC(),
	}
}

func tagMap(tags []rdstypes.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// RDSTags converts tags to the SDK's type.
func RDSTags(tags []backup.Tag) []rdstypes.Tag {
	out := make([]rdstypes.Tag, len(tags))
	for i, t := range tags {
		out[i] = rdstypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)}
	}
	return out
}

// UserTags returns a snapshot's tags as a list, sorted by key, leaving out
// those under the reserved aws: prefix, which RDS refuses on a copy.
func UserTags(tags map[string]string) []backup.Tag {
	out := make([]backup.Tag, 0, len(tags))
	for k, v := range tags {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			continue
		}
		out = append(out, backup.Tag{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b backup.Tag) int { return strings.Compare(a.Key, b.Key) })
	return out
}
