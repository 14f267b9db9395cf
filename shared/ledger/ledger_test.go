package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/payload"
)

// takenAt is the copy's time in every case.
var takenAt = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)

// rel is a deploy that started and ended at offsets from takenAt, recording
// the migration versions before and after ("" for none).
func rel(commit, outcome string, start, end time.Duration, before, after string) Release {
	r := Release{SortKey: ReleasePrefix + takenAt.Add(start).Format(payload.TimeFormat) + "#" + commit, Execution: "arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:" + commit,
		Commit: commit + "000000", Outcome: outcome, Start: takenAt.Add(start), End: takenAt.Add(end)}
	for _, m := range []struct {
		v  string
		to **int64
	}{{before, &r.MigrationBefore}, {after, &r.MigrationAfter}} {
		if m.v != "" {
			n, _ := strconv.ParseInt(m.v, 10, 64)
			*m.to = &n
		}
	}
	return r
}

const (
	ok    = payload.OutcomeSucceeded
	back  = payload.OutcomeRolledBack
	clean = payload.OutcomeFailedClean
	dirty = payload.OutcomeFailedDirty
)

func TestSchemaAt(t *testing.T) {
	h := time.Hour
	m := time.Minute
	tests := []struct {
		name     string
		releases []Release
		source   backup.ExpectationSource
		versions []int64
		detail   []string // substrings of the detail
	}{
		{"an empty ledger", nil, backup.NoMigrationRecorded, []int64{}, []string{"no deploy with an SQL migration by 2026-11-30T03:00:00Z"}},
		{"deploys without a migration", []Release{rel("a", ok, -5*h, -4*h, "", ""), rel("b", ok, -2*h, -h, "", "")},
			backup.NoMigrationRecorded, []int64{}, nil},
		{"the last deploy that ended before taken-at", []Release{rel("a", ok, -5*h, -4*h, "1", "2"), rel("b", ok, -2*h, -h, "2", "3"), rel("c", ok, -30*m, -20*m, "", "")},
			backup.FromLedger, []int64{3}, []string{"3 after the deploy of b000000 (SUCCEEDED, 2026-11-30T01:00:00Z to 2026-11-30T02:00:00Z)"}},
		{"the last to end, not the last to start", []Release{rel("a", ok, -3*h, -90*m, "4", "5"), rel("b", ok, -2*h, -105*m, "3", "4")},
			backup.FromLedger, []int64{5}, []string{"5 after the deploy of a000000"}},
		{"one that ended exactly at taken-at is before it", []Release{rel("a", ok, -2*h, -h, "2", "3"), rel("b", ok, -10*m, 0, "3", "4")},
			backup.FromLedger, []int64{4}, nil},
		{"one that started exactly at taken-at was running", []Release{rel("a", ok, -2*h, -h, "2", "3"), rel("b", ok, 0, 10*m, "3", "4")},
			backup.FromLedger, []int64{3, 4}, []string{"3 or 4: the deploy of b000000", "was running at 2026-11-30T03:00:00Z"}},
		{"a deploy running at taken-at: its before or after version", []Release{rel("a", ok, -5*m, 5*m, "3", "4")},
			backup.FromLedger, []int64{3, 4}, nil},
		{"a running deploy overlapping the last one (a lock taken over)", []Release{rel("a", ok, -2*h, -h, "2", "3"), rel("b", back, -30*m, 30*m, "4", "5")},
			backup.FromLedger, []int64{3, 4, 5}, nil},
		{"a running deploy that recorded only its result", []Release{rel("a", ok, -5*m, 5*m, "", "4")},
			backup.FromLedger, []int64{4}, []string{"4: the deploy of a000000"}},
		{"one that started after taken-at is not in the copy", []Release{rel("a", ok, -2*h, -h, "2", "3"), rel("b", ok, time.Second, 10*m, "3", "4")},
			backup.FromLedger, []int64{3}, nil},
		{"a rolled-back deploy's migration is not reversed", []Release{rel("a", ok, -5*h, -4*h, "1", "2"), rel("b", back, -2*h, -h, "2", "3")},
			backup.FromLedger, []int64{3}, []string{"(ROLLED_BACK,"}},
		{"nor a FAILED_DIRTY one's", []Release{rel("a", ok, -5*h, -4*h, "1", "2"), rel("b", dirty, -2*h, -h, "2", "3")},
			backup.FromLedger, []int64{3}, nil},
		{"a FAILED_CLEAN deploy whose migration failed records none: the version before it stands",
			[]Release{rel("a", ok, -5*h, -4*h, "1", "2"), rel("b", clean, -2*h, -h, "", "")}, backup.FromLedger, []int64{2}, nil},
		{"one that recorded only migrationBefore leaves it", []Release{rel("a", ok, -5*h, -4*h, "1", "2"), rel("b", clean, -2*h, -h, "2", "")},
			backup.FromLedger, []int64{2}, []string{"2 after the deploy of b000000 (FAILED_CLEAN"}},
		{"only failed deploys, none with a version", []Release{rel("a", clean, -5*h, -4*h, "", ""), rel("b", clean, -2*h, -h, "", "")},
			backup.NoMigrationRecorded, []int64{}, nil},
		{"only failed deploys, one rolled back after its migration", []Release{rel("a", clean, -5*h, -4*h, "", ""), rel("b", back, -2*h, -h, "0", "1")},
			backup.FromLedger, []int64{1}, nil},
		{"nothing to apply: before and after alike", []Release{rel("a", ok, -2*h, -h, "3", "3")}, backup.FromLedger, []int64{3}, nil},
		{"a tie on the end: the later entry", []Release{rel("b", ok, -3*h, -h, "3", "4"), rel("a", ok, -2*h, -h, "3", "5")},
			backup.FromLedger, []int64{5}, nil},
		{"a commit named by its first 7 characters", []Release{rel("abcdef1234", ok, -2*h, -h, "2", "3")},
			backup.FromLedger, []int64{3}, []string{"3 after the deploy of abcdef1 (SUCCEEDED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The order the entries arrive in does not matter.
			for _, order := range [][]Release{tt.releases, reversed(tt.releases)} {
				got := SchemaAt(order, takenAt)
				if got.Source != tt.source || !slices.Equal(got.Versions, tt.versions) || got.Versions == nil {
					t.Errorf("SchemaAt = %s %v (%s), want %s %v", got.Source, got.Versions, got.Detail, tt.source, tt.versions)
				}
				for _, d := range tt.detail {
					if !strings.Contains(got.Detail, d) {
						t.Errorf("detail %q does not say %q", got.Detail, d)
					}
				}
			}
		})
	}
}

func reversed(r []Release) []Release {
	out := slices.Clone(r)
	slices.Reverse(out)
	return out
}

// fakeTable is the ledger table: Query over one partition by sort key, with
// paging, and PutItem.
type fakeTable struct {
	items   []map[string]types.AttributeValue
	queries []*dynamodb.QueryInput
	puts    []*dynamodb.PutItemInput
	err     error
	// matched is what the key condition matched, newest first, once per
	// condition (and number of items): the pages of one query read it.
	matchedBy string
	matched   []map[string]types.AttributeValue
}

func (f *fakeTable) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.queries = append(f.queries, in)
	if f.err != nil {
		return nil, f.err
	}
	s := func(av types.AttributeValue) string { return av.(*types.AttributeValueMemberS).Value }
	v := in.ExpressionAttributeValues
	if by := fmt.Sprintf("%q %q %q %d", s(v[":pk"]), s(v[":from"]), s(v[":to"]), len(f.items)); by != f.matchedBy {
		f.matched, f.matchedBy = nil, by
		for _, it := range f.items {
			if s(it["PK"]) == s(v[":pk"]) && s(it["SK"]) >= s(v[":from"]) && s(it["SK"]) <= s(v[":to"]) {
				f.matched = append(f.matched, it)
			}
		}
		sort.Slice(f.matched, func(i, j int) bool { return s(f.matched[i]["SK"]) > s(f.matched[j]["SK"]) })
	}
	match := f.matched
	if in.ExclusiveStartKey != nil {
		from := s(in.ExclusiveStartKey["SK"])
		match = match[sort.Search(len(match), func(i int) bool { return s(match[i]["SK"]) < from }):]
	}
	out := &dynamodb.QueryOutput{}
	n := int(aws.ToInt32(in.Limit))
	if n > 0 && len(match) > n {
		out.LastEvaluatedKey = map[string]types.AttributeValue{"PK": match[n-1]["PK"], "SK": match[n-1]["SK"]}
		match = match[:n]
	}
	out.Items = match
	return out, nil
}

func (f *fakeTable) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	return &dynamodb.PutItemOutput{}, f.err
}

// item is a deploy's entry as the deploy machine writes it.
func item(service, environment string, r Release) map[string]types.AttributeValue {
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	version := func(v *int64) types.AttributeValue {
		if v == nil {
			return str("")
		}
		return str(strconv.FormatInt(*v, 10))
	}
	return map[string]types.AttributeValue{"PK": str(payload.LockKey(service, environment)), "SK": str(r.SortKey), "commit": str(r.Commit),
		"outcome": str(r.Outcome), "execution": str(r.Execution), "start": str(r.Start.Format(payload.TimeFormat)), "end": str(r.End.Format(payload.TimeFormat)),
		"migrationBefore": version(r.MigrationBefore), "migrationAfter": version(r.MigrationAfter), "reason": str("")}
}

func TestExpectedSchemaReadsTheTargetsDeploysUpToTakenAt(t *testing.T) {
	f := &fakeTable{}
	for _, r := range []Release{rel("a", ok, -3*time.Hour, -2*time.Hour, "1", "2"), rel("b", ok, -time.Hour, -50*time.Minute, "2", "3"),
		rel("c", ok, time.Hour, 2*time.Hour, "3", "4")} {
		f.items = append(f.items, item("web", "production", r), item("web", "staging", rel("s"+r.Commit[:1], ok, r.Start.Sub(takenAt), r.End.Sub(takenAt), "8", "9")))
	}
	// The lock and the last item share the partition; they are not entries.
	f.items = append(f.items, map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "deploy#web#production"}, "SK": &types.AttributeValueMemberS{Value: "lock"}})
	got, err := Table{Name: "stepship-ledger", Client: f}.ExpectedSchema(context.Background(), "web", "production", takenAt)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing unreadable, nothing left unread: the detail says only why.
	if got.Source != backup.FromLedger || !slices.Equal(got.Versions, []int64{3}) ||
		got.Detail != "3 after the deploy of b000000 (SUCCEEDED, 2026-11-30T02:00:00Z to 2026-11-30T02:10:00Z)" {
		t.Errorf("expectation %+v", got)
	}
	q := f.queries[0]
	v := q.ExpressionAttributeValues
	if aws.ToString(q.TableName) != "stepship-ledger" || aws.ToBool(q.ScanIndexForward) || !aws.ToBool(q.ConsistentRead) ||
		v[":pk"].(*types.AttributeValueMemberS).Value != "deploy#web#production" || v[":from"].(*types.AttributeValueMemberS).Value != "release#" ||
		v[":to"].(*types.AttributeValueMemberS).Value != "release#2026-11-30T03:00:00.001Z" {
		t.Errorf("query %s %v", aws.ToString(q.KeyConditionExpression), v)
	}
}

// Newest first, the reading stops once older entries cannot matter: daily
// deploys for a year, each migrating, read in one page; without any
// migration, every entry is read.
func TestExpectedSchemaStopsReadingWhenOlderEntriesCannotMatter(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		name      string
		migrating bool
		queries   int
		versions  []int64
	}{
		{"each deploy migrates", true, 1, []int64{365}},
		{"no deploy migrates", false, 365/pageSize + 1, []int64{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTable{}
			for i := 1; i <= 365; i++ {
				before, after := "", ""
				if tt.migrating {
					before, after = fmt.Sprint(i-1), fmt.Sprint(i)
				}
				start := -time.Duration(366-i) * day
				f.items = append(f.items, item("web", "production", rel(fmt.Sprintf("c%03d", i), ok, start, start+10*time.Minute, before, after)))
			}
			got, err := Table{Name: "t", Client: f}.ExpectedSchema(context.Background(), "web", "production", takenAt)
			if err != nil || !slices.Equal(got.Versions, tt.versions) {
				t.Errorf("expectation %+v, %v", got, err)
			}
			if len(f.queries) != tt.queries {
				t.Errorf("%d queries, want %d", len(f.queries), tt.queries)
			}
		})
	}
	// A deploy may run for up to payload.DeployLease: one that started
	// within the lease before taken-at is still read, and counts.
	f := &fakeTable{}
	for i := range pageSize {
		f.items = append(f.items, item("web", "production", rel(fmt.Sprintf("n%03d", i), ok, -time.Duration(pageSize-i)*time.Minute, -time.Duration(pageSize-i)*time.Minute+10*time.Second, "", "")))
	}
	f.items = append(f.items, item("web", "production", rel("long", ok, -100*time.Minute, 30*time.Minute, "6", "7")),
		item("web", "production", rel("old", ok, -5*time.Hour, -4*time.Hour, "5", "6")))
	got, err := Table{Name: "t", Client: f}.ExpectedSchema(context.Background(), "web", "production", takenAt)
	if err != nil || !slices.Equal(got.Versions, []int64{6, 7}) || len(f.queries) != 2 {
		t.Errorf("a long deploy running at taken-at: %+v, %v, %d queries", got, err, len(f.queries))
	}
}

// A ledger of more than maxReleases entries, none of which decides, is read
// up to maxReleases, and the detail says so; one of exactly maxReleases is
// read whole.
func TestExpectedSchemaReadsAtMostMaxReleases(t *testing.T) {
	for _, tt := range []struct {
		name    string
		entries int
		note    bool
	}{
		{"more than maxReleases", maxReleases + pageSize, true},
		{"exactly maxReleases", maxReleases, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTable{}
			for i := range tt.entries {
				start := -time.Duration(tt.entries-i) * time.Minute
				f.items = append(f.items, item("web", "production", rel(fmt.Sprintf("c%05d", i), ok, start, start+10*time.Second, "", "")))
			}
			got, err := Table{Name: "t", Client: f}.ExpectedSchema(context.Background(), "web", "production", takenAt)
			if err != nil || got.Source != backup.NoMigrationRecorded {
				t.Fatalf("expectation %+v, %v", got, err)
			}
			if len(f.queries) != maxReleases/pageSize {
				t.Errorf("%d queries, want %d", len(f.queries), maxReleases/pageSize)
			}
			if note := strings.HasSuffix(got.Detail, " (only the newest 10000 entries read)"); note != tt.note {
				t.Errorf("detail %q", got.Detail)
			}
		})
	}
}

func TestExpectedSchemaIgnoresUnreadableEntriesAndSaysSo(t *testing.T) {
	good := item("web", "production", rel("a", ok, -2*time.Hour, -time.Hour, "2", "3"))
	badVersion := item("web", "production", rel("b", ok, -30*time.Minute, -20*time.Minute, "", ""))
	badVersion["migrationAfter"] = &types.AttributeValueMemberS{Value: "twelve"}
	badTime := item("web", "production", rel("c", ok, -15*time.Minute, -10*time.Minute, "3", "4"))
	badTime["end"] = &types.AttributeValueMemberS{Value: "yesterday"}
	f := &fakeTable{items: []map[string]types.AttributeValue{good, badVersion, badTime}}
	got, err := Table{Name: "t", Client: f}.ExpectedSchema(context.Background(), "web", "production", takenAt)
	if err != nil || !slices.Equal(got.Versions, []int64{3}) || !strings.HasSuffix(got.Detail, "(2 unreadable entries ignored)") {
		t.Errorf("expectation %+v, %v", got, err)
	}
}

func TestDecodeRelease(t *testing.T) {
	base := func(edit func(map[string]types.AttributeValue)) map[string]types.AttributeValue {
		it := item("web", "production", rel("a", ok, -2*time.Hour, -time.Hour, "", ""))
		edit(it)
		return it
	}
	set := func(k, v string) func(map[string]types.AttributeValue) {
		return func(it map[string]types.AttributeValue) { it[k] = &types.AttributeValueMemberS{Value: v} }
	}
	ptr := func(n int64) *int64 { return &n }
	for _, tt := range []struct {
		name          string
		item          map[string]types.AttributeValue
		before, after *int64
		err           string
	}{
		{"no versions", base(func(map[string]types.AttributeValue) {}), nil, nil, ""},
		{"version 0, goose's first", base(func(it map[string]types.AttributeValue) {
			set("migrationBefore", "0")(it)
			set("migrationAfter", "1")(it)
		}), ptr(0), ptr(1), ""},
		{"a negative version", base(set("migrationAfter", "-1")), nil, nil, `migrationAfter "-1" is not a migration version`},
		{"a version that is not a number", base(set("migrationBefore", "twelve")), nil, nil, `migrationBefore "twelve" is not a migration version`},
		{"no start", base(func(it map[string]types.AttributeValue) { delete(it, "start") }), nil, nil, ": start: parsing time"},
		{"an unreadable end", base(set("end", "yesterday")), nil, nil, ": end: parsing time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeRelease(tt.item)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "entry release#") {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(r.MigrationBefore, tt.before) || !reflect.DeepEqual(r.MigrationAfter, tt.after) ||
				r.Commit != "a000000" || !r.Start.Equal(takenAt.Add(-2*time.Hour)) || !r.End.Equal(takenAt.Add(-time.Hour)) {
				t.Errorf("release %+v, %v", r, err)
			}
		})
	}
}

func TestExpectedSchemaSaysWhyTheLedgerCannotBeRead(t *testing.T) {
	f := &fakeTable{err: errors.New("dial tcp: lookup dynamodb.us-east-1.amazonaws.com: no such host")}
	_, err := Table{Name: "stepship-ledger", Client: f}.ExpectedSchema(context.Background(), "web", "production", takenAt)
	if err == nil || !strings.Contains(err.Error(), "failed to read the ledger stepship-ledger of web/production: dial tcp") {
		t.Errorf("error %v", err)
	}
}

func TestRecordDrill(t *testing.T) {
	rpo, rto, v := int64(7200), int64(1250), int64(3)
	r := backup.DrillReport{Service: "web", Environment: "production", Mode: payload.ModeDrill,
		Execution: "arn:aws:states:us-west-2:123456789012:execution:stepship-dr-drill:weekly-1", StartedAt: takenAt.Add(2 * time.Hour).Add(123 * time.Millisecond),
		Outcome: backup.OutcomeDrillPassed, Passed: true, Snapshot: "stepship-web-prod-20261130-030000", TakenAt: &takenAt, RPOSeconds: &rpo, RTOSeconds: &rto,
		SchemaVersion: &v, Checks: []backup.Check{{Name: "goose_db_version", Kind: backup.CheckSchema, Passed: true, Detail: "version 3"}}}
	f := &fakeTable{}
	end := takenAt.Add(3 * time.Hour)
	if err := (Table{Name: "stepship-ledger", Client: f}).RecordDrill(context.Background(), r, end); err != nil {
		t.Fatal(err)
	}
	it := f.puts[0].Item
	s := func(k string) string {
		v, _ := it[k].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	want := map[string]string{"PK": "drill#web#production", "SK": "drill#2026-11-30T05:00:00.123Z#weekly-1", "service": "web", "environment": "production",
		"execution": r.Execution, "mode": "drill", "outcome": "DrillPassed", "start": "2026-11-30T05:00:00.123Z", "end": "2026-11-30T06:00:00.000Z"}
	for k, v := range want {
		if s(k) != v {
			t.Errorf("%s = %q, want %q", k, s(k), v)
		}
	}
	if p, _ := it["passed"].(*types.AttributeValueMemberBOOL); p == nil || !p.Value || aws.ToString(f.puts[0].TableName) != "stepship-ledger" {
		t.Errorf("passed %v, table %s", it["passed"], aws.ToString(f.puts[0].TableName))
	}
	var back backup.DrillReport
	if err := json.Unmarshal([]byte(s("report")), &back); err != nil || !reflect.DeepEqual(back.Checks, r.Checks) || *back.RPOSeconds != rpo || back.Snapshot != r.Snapshot {
		t.Errorf("report %s: %v", s("report"), err)
	}

	f.err = errors.New("AccessDeniedException: not authorized")
	if err := (Table{Name: "stepship-ledger", Client: f}).RecordDrill(context.Background(), r, end); err == nil ||
		!strings.Contains(err.Error(), "failed to write the drill report to the ledger stepship-ledger: AccessDeniedException") {
		t.Errorf("error %v", err)
	}
}
