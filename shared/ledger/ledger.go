// Package ledger is how the disaster-recovery drill uses stepship's ledger,
// the deploy pipeline's DynamoDB table in the home region (docs/deploy.md,
// "Ledger"), from the DR region it runs in: it reads the migration versions
// the deploys recorded, to know which version a copy's data must have
// (SchemaAt), and it writes each drill's report there (RecordDrill).
//
// The rule of SchemaAt, for a copy whose data is from taken-at (its
// stepship:taken-at tag, the start of the backup that took it):
//
//   - only deploys whose entry records a migration version count (an SQL
//     migration ran); a deploy that records none (no SQL migration, a
//     migration task, or a migration that failed) changed no version the
//     ledger knows;
//   - the version a deploy leaves is its migrationAfter (else its
//     migrationBefore), whatever its outcome: ROLLED_BACK and FAILED_DIRTY
//     deploys do not reverse their migration, and a FAILED_CLEAN deploy
//     whose migration failed records no version, so the one before it
//     stands;
//   - the expected version is the one left by the deploy that ended last at
//     or before taken-at;
//   - a deploy running at taken-at (start ≤ taken-at < end) may or may not
//     have migrated the copy's data: its migrationBefore and its
//     migrationAfter are acceptable too;
//   - without any such deploy, the version is reported, not compared.
package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/payload"
)

// Sort-key prefixes of the ledger's items.
const (
	// ReleasePrefix starts a deploy's entry: "release#ARRIVAL#EXECUTION",
	// under the target's payload.LockKey.
	ReleasePrefix = "release#"
	// DrillPrefix starts a drill's partition and sort keys: the partition
	// "drill#SERVICE#ENVIRONMENT", the item "drill#START#EXECUTION".
	DrillPrefix = "drill#"
)

// DrillKey is the partition key of a target's drill reports.
func DrillKey(service, environment string) string {
	return DrillPrefix + service + "#" + environment
}

// DrillSortKey is the sort key of the report of the drill execution (by
// ARN) that started at start: newer sorts later.
func DrillSortKey(start time.Time, execution string) string {
	return DrillPrefix + start.UTC().Format(payload.TimeFormat) + "#" + execution[strings.LastIndex(execution, ":")+1:]
}

// API is the DynamoDB calls the ledger makes, in the SDK's shapes.
type API interface {
	dynamodb.QueryAPIClient
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Table is the ledger: its name, and a client of its region (the home
// region).
type Table struct {
	Name   string
	Client API
}

// Release is a deploy's ledger entry, as the drill reads it.
type Release struct {
	SortKey   string
	Execution string
	Commit    string
	Outcome   string
	Start     time.Time
	End       time.Time
	// MigrationBefore and MigrationAfter are the goose versions the entry
	// records; nil when it records none.
	MigrationBefore *int64
	MigrationAfter  *int64
}

// left is the version the deploy left the database at: its migrationAfter,
// else its migrationBefore; false when it records no migration.
func (r Release) left() (int64, bool) {
	if r.MigrationAfter != nil {
		return *r.MigrationAfter, true
	}
	if r.MigrationBefore != nil {
		return *r.MigrationBefore, true
	}
	return 0, false
}

func (r Release) String() string {
	commit := r.Commit[:min(len(r.Commit), 7)]
	return fmt.Sprintf("the deploy of %s (%s, %s to %s)", commit, r.Outcome, r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339))
}

// SchemaAt applies the package's rule to a target's deploys: the versions a
// copy taken at takenAt may have.
func SchemaAt(releases []Release, takenAt time.Time) backup.Expectation {
	var last *Release
	var running []Release
	for i, r := range releases {
		if _, ok := r.left(); !ok || r.Start.After(takenAt) {
			continue
		}
		if r.End.After(takenAt) {
			running = append(running, r)
			continue
		}
		if last == nil || cmp.Or(r.End.Compare(last.End), strings.Compare(r.SortKey, last.SortKey)) > 0 {
			last = &releases[i]
		}
	}
	at := takenAt.UTC().Format(time.RFC3339)
	if last == nil && len(running) == 0 {
		return backup.Expectation{Source: backup.NoMigrationRecorded, Versions: []int64{},
			Detail: "the ledger records no deploy with an SQL migration by " + at}
	}
	var versions []int64
	var why []string
	if last != nil {
		v, _ := last.left()
		versions = append(versions, v)
		why = append(why, fmt.Sprintf("%d after %s", v, last))
	}
	slices.SortFunc(running, func(a, b Release) int { return a.Start.Compare(b.Start) })
	for _, r := range running {
		v, _ := r.left()
		versions = append(versions, v)
		if b := r.MigrationBefore; b != nil && *b != v {
			versions = append(versions, *b)
			why = append(why, fmt.Sprintf("%d or %d: %s was running at %s", *b, v, r, at))
		} else {
			why = append(why, fmt.Sprintf("%d: %s was running at %s", v, r, at))
		}
	}
	slices.Sort(versions)
	return backup.Expectation{Source: backup.FromLedger, Versions: slices.Compact(versions), Detail: strings.Join(why, "; ")}
}

// maxReleases bounds how many entries ExpectedSchema reads.
const maxReleases = 10000

// pageSize is how many entries one Query reads: the newest entries usually
// decide, and reading stops as soon as older ones cannot change the result.
const pageSize = 50

// ExpectedSchema reads a target's deploys up to takenAt, newest first, and
// applies SchemaAt. It stops reading at the first entry old enough that no
// older one can matter: every deploy ends within payload.DeployLease of its
// start (the deploy machine's timeout), so an entry that started more than
// that before both takenAt and the end of the deploy already chosen can
// neither have been running at takenAt nor have ended later.
func (t Table) ExpectedSchema(ctx context.Context, service, environment string, takenAt time.Time) (backup.Expectation, error) {
	p := dynamodb.NewQueryPaginator(t.Client, &dynamodb.QueryInput{
		TableName:              aws.String(t.Name),
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":   &types.AttributeValueMemberS{Value: payload.LockKey(service, environment)},
			":from": &types.AttributeValueMemberS{Value: ReleasePrefix},
			// Every entry that arrived by takenAt: "release#ARRIVAL#…" sorts
			// before the next millisecond.
			":to": &types.AttributeValueMemberS{Value: ReleasePrefix + takenAt.Add(time.Millisecond).UTC().Format(payload.TimeFormat)},
		},
		ScanIndexForward: aws.Bool(false),
		ConsistentRead:   aws.Bool(true),
		Limit:            aws.Int32(pageSize),
	})
	var releases []Release
	skipped := 0
	read := 0
	for p.HasMorePages() && read < maxReleases {
		page, err := p.NextPage(ctx)
		if err != nil {
			return backup.Expectation{}, fmt.Errorf("failed to read the ledger %s of %s/%s: %w", t.Name, service, environment, err)
		}
		for _, item := range page.Items {
			read++
			r, err := decodeRelease(item)
			if err != nil {
				skipped++
				continue
			}
			releases = append(releases, r)
		}
		if enough(releases, takenAt) {
			break
		}
	}
	e := SchemaAt(releases, takenAt)
	if skipped > 0 {
		e.Detail += fmt.Sprintf(" (%d unreadable entries ignored)", skipped)
	}
	if read >= maxReleases && p.HasMorePages() {
		e.Detail += fmt.Sprintf(" (only the newest %d entries read)", maxReleases)
	}
	return e, nil
}

// enough reports whether entries older than the oldest of releases (read
// newest first) can no longer change SchemaAt's result; never for none.
func enough(releases []Release, takenAt time.Time) bool {
	var chosen *time.Time
	for i := range releases {
		r := &releases[i]
		if _, ok := r.left(); ok && !r.Start.After(takenAt) && !r.End.After(takenAt) && (chosen == nil || r.End.After(*chosen)) {
			chosen = &r.End
		}
	}
	if chosen == nil {
		return false
	}
	latestEnd := releases[len(releases)-1].Start.Add(payload.DeployLease)
	return !latestEnd.After(takenAt) && !latestEnd.After(*chosen)
}

// decodeRelease reads a deploy's entry; an entry whose times or versions do
// not parse is an error.
func decodeRelease(item map[string]types.AttributeValue) (Release, error) {
	s := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	r := Release{SortKey: s("SK"), Execution: s("execution"), Commit: s("commit"), Outcome: s("outcome")}
	var err error
	if r.Start, err = time.Parse(time.RFC3339Nano, s("start")); err != nil {
		return Release{}, fmt.Errorf("entry %s: start: %w", r.SortKey, err)
	}
	if r.End, err = time.Parse(time.RFC3339Nano, s("end")); err != nil {
		return Release{}, fmt.Errorf("entry %s: end: %w", r.SortKey, err)
	}
	for _, m := range []struct {
		name string
		to   **int64
	}{{"migrationBefore", &r.MigrationBefore}, {"migrationAfter", &r.MigrationAfter}} {
		v := s(m.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return Release{}, fmt.Errorf("entry %s: %s %q is not a migration version", r.SortKey, m.name, v)
		}
		*m.to = &n
	}
	return r, nil
}

// RecordDrill writes a drill's report as its ledger item (docs/backups.md,
// "The drill report"): under DrillKey, sorted by DrillSortKey, with the
// outcome, whether it passed, its start and end, and the whole report as
// JSON.
func (t Table) RecordDrill(ctx context.Context, r backup.DrillReport, end time.Time) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("failed to encode the drill report: %w", err)
	}
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	item := map[string]types.AttributeValue{
		"PK":          str(DrillKey(r.Service, r.Environment)),
		"SK":          str(DrillSortKey(r.StartedAt, r.Execution)),
		"service":     str(r.Service),
		"environment": str(r.Environment),
		"execution":   str(r.Execution),
		"mode":        str(string(r.Mode)),
		"outcome":     str(r.Outcome),
		"passed":      &types.AttributeValueMemberBOOL{Value: r.Passed},
		"start":       str(r.StartedAt.UTC().Format(payload.TimeFormat)),
		"end":         str(end.UTC().Format(payload.TimeFormat)),
		"report":      str(string(raw)),
	}
	if _, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.Name), Item: item}); err != nil {
		return fmt.Errorf("failed to write the drill report to the ledger %s: %w", t.Name, err)
	}
	return nil
}
