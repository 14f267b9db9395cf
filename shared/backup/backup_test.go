package backup

import (
	"encoding/json"
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/test/golden"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)

// snap is one of our snapshots of web-prod, days old.
func snap(id string, days float64, status string, extra ...string) Snapshot {
	tags := map[string]string{TagManagedBy: ManagedBy, TagDatabase: "web-prod"}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			delete(tags, extra[i])
			continue
		}
		tags[extra[i]] = extra[i+1]
	}
	return Snapshot{ID: id, Status: status, TakenAt: now.Add(-time.Duration(days * 24 * float64(time.Hour))), Tags: tags}
}

func ids(ds []Decision) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Snapshot)
	}
	return out
}

func TestPrune(t *testing.T) {
	r := catalog.Retention{Count: 2, Days: 7}
	tests := []struct {
		name       string
		snaps      []Snapshot
		keep, drop []string
	}{
		{"nothing", nil, []string{}, []string{}},
		{"fewer than count, all old", []Snapshot{snap("a", 30, "available"), snap("b", 40, "available")}, []string{"a", "b"}, []string{}},
		{"count keeps the newest old ones", []Snapshot{snap("old3", 50, "available"), snap("old1", 30, "available"), snap("old2", 40, "available")},
			[]string{"old1", "old2"}, []string{"old3"}},
		{"age keeps young ones beyond count", []Snapshot{snap("d1", 1, "available"), snap("d2", 2, "available"), snap("d3", 3, "available"), snap("d30", 30, "available")},
			[]string{"d1", "d2", "d3"}, []string{"d30"}},
		{"exactly at the age limit goes", []Snapshot{snap("n1", 0, "available"), snap("n2", 0.5, "available"), snap("d7", 7, "available")},
			[]string{"n1", "n2"}, []string{"d7"}},
		{"a creating snapshot does not count and is kept", []Snapshot{snap("new", 0, "creating"), snap("o1", 20, "available"), snap("o2", 21, "available"), snap("o3", 22, "available")},
			[]string{"new", "o1", "o2"}, []string{"o3"}},
		{"a failed snapshot is kept (only available ones are deleted)", []Snapshot{snap("f", 90, "failed"), snap("o1", 20, "available"), snap("o2", 21, "available")},
			[]string{"o1", "o2", "f"}, []string{}},
		{"in use by a drill is never deleted", []Snapshot{snap("o1", 20, "available"), snap("o2", 21, "available"), snap("drilled", 60, "available", TagInUseBy, "drill-web-prod-202611300500")},
			[]string{"o1", "o2", "drilled"}, []string{}},
		{"other databases' and untagged snapshots are not ours", []Snapshot{
			snap("o1", 20, "available"), snap("o2", 21, "available"),
			snap("other-db", 90, "available", TagDatabase, "api-prod"),
			snap("manual", 90, "available", TagManagedBy, ""),
			snap("someone-else", 90, "available", TagManagedBy, "aws-backup"),
		}, []string{"o1", "o2"}, []string{}},
		{"same time: ordered by identifier", []Snapshot{snap("b", 20, "available"), snap("a", 20, "available"), snap("c", 20, "available")},
			[]string{"c", "b"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Prune(tt.snaps, "web-prod", r, now)
			if got := ids(p.Keep); !slices.Equal(got, tt.keep) {
				t.Errorf("keep %v, want %v", got, tt.keep)
			}
			if got := ids(p.Delete); !slices.Equal(got, tt.drop) {
				t.Errorf("delete %v, want %v", got, tt.drop)
			}
		})
	}
}

// Pruning never deletes more than it may: whatever the snapshots, the newest
// Count available ones, the young ones, the in-use ones and everyone else's
// are never in the plan's Delete.
func FuzzPruneKeepsWhatItMust(f *testing.F) {
	f.Add([]byte{3, 10, 0, 40, 1, 2, 9, 200, 0, 0}, uint8(2), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, count, days uint8) {
		r := catalog.Retention{Count: int(count%10) + 1, Days: int(days%30) + 1}
		var snaps []Snapshot
		for i := 0; i+1 < len(data); i += 2 {
			status := []string{"available", "creating", "failed", "available"}[data[i]%4]
			var extra []string
			switch data[i] % 7 {
			case 5:
				extra = []string{TagInUseBy, "drill-x"}
			case 6:
				extra = []string{TagDatabase, "other"}
			}
			snaps = append(snaps, snap(string(rune('a'+i%26))+string(rune('a'+i/26)), float64(data[i+1])/4, status, extra...))
		}
		p := Prune(snaps, "web-prod", r, now)
		newest := newestFirst(snaps, func(s Snapshot) bool { return s.Ours("web-prod") && s.Status == StatusAvailable })
		protected := map[string]bool{}
		for i, s := range newest {
			if i < r.Count {
				protected[s.ID] = true
			}
		}
		for _, s := range snaps {
			if !s.Ours("web-prod") || s.InUseBy() != "" || s.Status != StatusAvailable || s.TakenAt.After(now.AddDate(0, 0, -r.Days)) {
				protected[s.ID] = true
			}
		}
		for _, d := range p.Delete {
			if protected[d.Snapshot] {
				t.Fatalf("deleted %s, which retention keeps (%+v)", d.Snapshot, p)
			}
		}
		if len(p.Keep)+len(p.Delete) != len(newestFirst(snaps, func(s Snapshot) bool { return s.Ours("web-prod") })) {
			t.Fatalf("plan does not cover every snapshot of ours: %+v", p)
		}
	})
}

// The plan of a typical week, golden: what the prune step reports.
func TestPrunePlanGolden(t *testing.T) {
	snaps := []Snapshot{
		snap("stepship-web-prod-20261130-030000", 0, "creating"),
		snap("stepship-web-prod-20261129-030000", 1, "available"),
		snap("stepship-web-prod-20261128-030000", 2, "available"),
		snap("stepship-web-prod-20261120-030000", 10, "available"),
		snap("stepship-web-prod-20261110-030000", 20, "available"),
		snap("stepship-web-prod-20261020-030000", 41, "available", TagInUseBy, "drill-web-prod-202611300500"),
		snap("stepship-web-prod-20261001-030000", 60, "available"),
		snap("rds:web-prod-2026-11-30", 0, "available", TagManagedBy, ""),
	}
	got, err := json.MarshalIndent(Prune(snaps, "web-prod", catalog.Retention{Count: 3, Days: 7}, now), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "prune-plan.golden.json"), append(got, '\n'), *update)
}

func TestNewestAndRPO(t *testing.T) {
	snaps := []Snapshot{snap("new-but-copying", 0.1, "creating"), snap("one-day", 1, "available"), snap("two-days", 2, "available"),
		snap("not-ours", 0.2, "available", TagManagedBy, "")}
	s, ok := Newest(snaps, "web-prod")
	if !ok || s.ID != "one-day" {
		t.Fatalf("Newest = %v, %v", s.ID, ok)
	}
	if got := RPO(s, now); got != 86400 {
		t.Errorf("RPO = %d, want 86400", got)
	}
	if _, ok := Newest(snaps[:1], "web-prod"); ok {
		t.Error("Newest found an available snapshot among none")
	}
}

func TestTagValue(t *testing.T) {
	for in, want := range map[string]string{
		"weekly drill":                      "weekly drill",
		"before migration #42 (alice's)":    "before migration _42 _alice_s_",
		"päivitys 2026-12-01 @ops: a=b+c/d": "päivitys 2026-12-01 @ops: a=b+c/d",
		strings.Repeat("x", 300):            strings.Repeat("x", 256),
	} {
		if got := TagValue(in); got != want {
			t.Errorf("TagValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	at := time.Date(2026, 11, 30, 3, 4, 5, 0, time.FixedZone("x", 3600))
	if got := SnapshotID("web-prod", at); got != "stepship-web-prod-20261130-020405" || !strings.HasPrefix(got, SnapshotPrefix("web-prod")) {
		t.Errorf("SnapshotID = %s", got)
	}
	if got := RestoredID("drill", "web-prod", at); got != "drill-web-prod-202611300204" {
		t.Errorf("RestoredID = %s", got)
	}
	long := "a" + strings.Repeat("b", 38) + "-cdefghijklmnopqrstuvwxyz0123"
	got := RestoredID("failover", long, at)
	if len(WriterID(got)) > 63 || strings.Contains(got, "--") {
		t.Errorf("RestoredID of a long identifier = %s (%d)", got, len(got))
	}
}

func TestSnapshotTags(t *testing.T) {
	tg := catalog.Target{Service: "web", Environment: "production", Database: &catalog.Database{Instance: "web-prod"},
		Backup: &catalog.Backup{Retention: catalog.Retention{Count: 7, Days: 14}}}
	got := SnapshotTags(tg, "nightly; cron", now)
	want := []Tag{{TagManagedBy, "stepship"}, {TagService, "web"}, {TagEnvironment, "production"}, {TagDatabase, "web-prod"},
		{TagReason, "nightly_ cron"}, {TagTakenAt, "2026-11-30T03:00:00Z"}, {TagExpires, "2026-12-14"}}
	if !slices.Equal(got, want) {
		t.Errorf("SnapshotTags = %v, want %v", got, want)
	}
}

func TestSecretReplica(t *testing.T) {
	got, err := SecretReplica("arn:aws:secretsmanager:us-east-1:123456789012:secret:stepship/web-prod-db-AbCdEf", "us-west-2")
	if err != nil || got != "arn:aws:secretsmanager:us-west-2:123456789012:secret:stepship/web-prod-db-AbCdEf" {
		t.Errorf("SecretReplica = %q, %v", got, err)
	}
	for _, bad := range []string{"web-prod-db", "arn:aws:kms:us-east-1:123456789012:key/k"} {
		if _, err := SecretReplica(bad, "us-west-2"); err == nil || !strings.Contains(err.Error(), "not a Secrets Manager secret ARN") {
			t.Errorf("SecretReplica(%q): %v", bad, err)
		}
	}
}

func TestDRRegionsAndDrillRegions(t *testing.T) {
	targets := []catalog.Target{
		{Backup: &catalog.Backup{DRRegion: "us-west-2"}, Drill: &catalog.Drill{}},
		{Backup: &catalog.Backup{DRRegion: "eu-west-1"}},
		{},
		{Backup: &catalog.Backup{DRRegion: "us-west-2"}},
	}
	if got := DRRegions(targets); !slices.Equal(got, []string{"us-west-2", "eu-west-1"}) {
		t.Errorf("DRRegions = %v", got)
	}
	if got := DrillRegions(targets); !slices.Equal(got, []string{"us-west-2"}) {
		t.Errorf("DrillRegions = %v", got)
	}
}
