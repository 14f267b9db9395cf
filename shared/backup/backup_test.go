package backup

import (
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/catalog/catalogtest"
	"github.com/stepship/stepship/shared/taskerr"
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
			p := Prune(tt.snaps, "web-prod", r, nil, now)
			if got := ids(p.Keep); !slices.Equal(got, tt.keep) {
				t.Errorf("keep %v, want %v", got, tt.keep)
			}
			if got := ids(p.Delete); !slices.Equal(got, tt.drop) {
				t.Errorf("delete %v, want %v", got, tt.drop)
			}
		})
	}
}

// Pre-deploy snapshots are pruned apart: by their own retention (the
// newest Count available and every one younger than Days), neither kept nor
// counted by the scheduled one. Only a snapshot both named and tagged
// pre-deploy is one; with no pre-deploy retention (nil) none is.
func TestPrunePreDeploy(t *testing.T) {
	r := catalog.Retention{Count: 2, Days: 7}
	pre := func(id string, days float64, status string, extra ...string) Snapshot {
		return snap("stepship-web-prod-pre-deploy-"+id, days, status, append([]string{TagPurpose, PurposePreDeploy}, extra...)...)
	}
	p := func(ids ...string) []string {
		for i, id := range ids {
			if strings.HasPrefix(id, "p") {
				ids[i] = "stepship-web-prod-pre-deploy-" + id
			}
		}
		return ids
	}
	tests := []struct {
		name       string
		preDeploy  *catalog.Retention
		snaps      []Snapshot
		keep, drop []string
	}{
		{"the newest count kept, then the young ones", &catalog.Retention{Count: 2, Days: 1},
			[]Snapshot{pre("p1", 0.1, "available"), pre("p2", 0.2, "available"), pre("p3", 0.5, "available"), pre("p4", 1.5, "available"), pre("p5", 30, "available")},
			p("p1", "p2", "p3"), p("p4", "p5")},
		{"they do not push scheduled ones out of the count", &catalog.Retention{Count: 1, Days: 1},
			[]Snapshot{pre("p1", 2, "available"), pre("p2", 3, "available"), snap("s1", 30, "available"), snap("s2", 31, "available"), snap("s3", 32, "available")},
			p("p1", "s1", "s2"), p("p2", "s3")},
		{"the scheduled retention does not keep them", &catalog.Retention{Count: 1, Days: 1},
			[]Snapshot{pre("p1", 2, "available"), pre("p2", 3, "available"), snap("s1", 1, "available")},
			p("s1", "p1"), p("p2")},
		{"creating, failed or in use: kept", &catalog.Retention{Count: 1, Days: 1},
			[]Snapshot{pre("pc", 0, "creating"), pre("p1", 2, "available"), pre("pf", 3, "failed"),
				pre("pd", 4, "available", TagInUseBy, "drill-web-prod-202611300500"), pre("p2", 5, "available")},
			p("pc", "p1", "pf", "pd"), p("p2")},
		{"a tag alone is not a pre-deploy snapshot", &catalog.Retention{Count: 1, Days: 1},
			[]Snapshot{snap("s1", 2, "available", TagPurpose, PurposePreDeploy), snap("s2", 3, "available", TagPurpose, PurposePreDeploy), snap("s3", 4, "available", TagPurpose, PurposePreDeploy)},
			p("s1", "s2", "s3"), p()},
		{"a name alone is not either", &catalog.Retention{Count: 1, Days: 1},
			[]Snapshot{pre("p1", 2, "available", TagPurpose, ""), pre("p2", 3, "available", TagPurpose, ""), pre("p3", 4, "available", TagPurpose, "")},
			p("p1", "p2", "p3"), p()},
		{"no pre-deploy retention: counted by the scheduled one", nil,
			[]Snapshot{pre("p1", 0.1, "available"), pre("p2", 0.2, "available"), pre("p3", 0.3, "available"), snap("s1", 30, "available")},
			p("p1", "p2", "p3"), p("s1")},
		{"another database's are not ours", &catalog.Retention{Count: 1, Days: 1},
			[]Snapshot{pre("p1", 2, "available"), pre("po", 3, "available", TagDatabase, "api-prod"), pre("p2", 4, "available")},
			p("p1"), p("p2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Prune(tt.snaps, "web-prod", r, tt.preDeploy, now)
			if got := ids(p.Keep); !slices.Equal(got, tt.keep) {
				t.Errorf("keep %v, want %v", got, tt.keep)
			}
			if got := ids(p.Delete); !slices.Equal(got, tt.drop) {
				t.Errorf("delete %v, want %v", got, tt.drop)
			}
		})
	}
}

// PrunePreDeploy plans for the pre-deploy snapshots only.
func TestPrunePreDeployOnly(t *testing.T) {
	snaps := []Snapshot{
		snap("stepship-web-prod-pre-deploy-1", 2, "available", TagPurpose, PurposePreDeploy),
		snap("stepship-web-prod-pre-deploy-2", 3, "available", TagPurpose, PurposePreDeploy),
		snap("old-scheduled", 90, "available"),
		snap("tagged-only", 90, "available", TagPurpose, PurposePreDeploy),
	}
	p := PrunePreDeploy(snaps, "web-prod", catalog.Retention{Count: 1, Days: 1}, now)
	if !slices.Equal(ids(p.Keep), []string{"stepship-web-prod-pre-deploy-1"}) || !slices.Equal(ids(p.Delete), []string{"stepship-web-prod-pre-deploy-2"}) {
		t.Errorf("plan %+v", p)
	}
	if got := PreDeploySnapshotID("web-prod", now); got != "stepship-web-prod-pre-deploy-20261130-030000" {
		t.Errorf("PreDeploySnapshotID = %s", got)
	}
}

// Pruning never deletes more than it may: whatever the snapshots, the newest
// Count available ones, the young ones, the in-use ones and everyone else's
// are never in the plan's Delete.
func FuzzPruneKeepsWhatItMust(f *testing.F) {
	f.Add([]byte{3, 10, 0, 40, 1, 2, 9, 200, 0, 0}, uint8(2), uint8(7))
	f.Add([]byte{4, 1, 11, 2, 18, 3, 25, 200, 0, 0}, uint8(13), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, count, days uint8) {
		r := catalog.Retention{Count: int(count%10) + 1, Days: int(days%30) + 1}
		var preDeploy *catalog.Retention // nil: not told apart
		if k := int(count/10) % 4; k > 0 {
			preDeploy = &catalog.Retention{Count: k, Days: int(days%3) + 1}
		}
		var snaps []Snapshot
		for i := 0; i+1 < len(data); i += 2 {
			status := []string{"available", "creating", "failed", "available"}[data[i]%4]
			var extra []string
			switch data[i] % 7 {
			case 5:
				extra = []string{TagInUseBy, "drill-x"}
			case 6:
				extra = []string{TagDatabase, "other"}
			case 4:
				extra = []string{TagPurpose, PurposePreDeploy}
			}
			id := string(rune('a'+i%26)) + string(rune('a'+i/26))
			if data[i]%3 == 0 {
				id = "stepship-web-prod-pre-deploy-" + id
			}
			snaps = append(snaps, snap(id, float64(data[i+1])/4, status, extra...))
		}
		p := Prune(snaps, "web-prod", r, preDeploy, now)
		// The oracle: a snapshot is pre-deploy when its name and its tag
		// both say so, and each kind keeps its own newest and young ones.
		apart := func(s Snapshot) bool {
			return preDeploy != nil && strings.HasPrefix(s.ID, "stepship-web-prod-pre-deploy-") && s.Tags[TagPurpose] == PurposePreDeploy
		}
		protected := map[string]bool{}
		for _, kind := range []bool{false, true} {
			keep := r
			if kind {
				if preDeploy == nil {
					continue
				}
				keep = *preDeploy
			}
			for i, s := range newestFirst(snaps, func(s Snapshot) bool { return s.Ours("web-prod") && s.Status == StatusAvailable && apart(s) == kind }) {
				if i < keep.Count || s.TakenAt.After(now.AddDate(0, 0, -keep.Days)) {
					protected[s.ID] = true
				}
			}
		}
		for _, s := range snaps {
			if !s.Ours("web-prod") || s.InUseBy() != "" || s.Status != StatusAvailable {
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
		snap("stepship-web-prod-pre-deploy-20261130-021500", 0.75/24, "available", TagPurpose, PurposePreDeploy),
		snap("stepship-web-prod-pre-deploy-20261129-221500", 4.75/24, "available", TagPurpose, PurposePreDeploy),
		snap("stepship-web-prod-pre-deploy-20261127-161500", 58.75/24, "available", TagPurpose, PurposePreDeploy),
	}
	got, err := json.MarshalIndent(Prune(snaps, "web-prod", catalog.Retention{Count: 3, Days: 7}, &catalog.Retention{Count: 1, Days: 1}, now), "", "  ")
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
		"":                                  "",
		"weekly drill":                      "weekly drill",
		"before migration #42 (alice's)":    "before migration _42 _alice_s_",
		"päivitys 2026-12-01 @ops: a=b+c/d": "päivitys 2026-12-01 @ops: a=b+c/d",
		"a_b.c:d/e=f+g-h@i j":               "a_b.c:d/e=f+g-h@i j",
		"tab\tnew\nline;semi,comma*star":    "tab_new_line_semi_comma_star",
		"emoji 🚀 ok":                        "emoji _ ok",
		strings.Repeat("x", 300):            strings.Repeat("x", 256),
		strings.Repeat("x", 256):            strings.Repeat("x", 256),
		strings.Repeat("x", 255):            strings.Repeat("x", 255),
		strings.Repeat("ä", 300):            strings.Repeat("ä", 256),
		strings.Repeat("#", 257):            strings.Repeat("_", 256),
	} {
		if got := TagValue(in); got != want {
			t.Errorf("TagValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TakenAt: the stepship:taken-at tag when it is a time, else RDS's original
// creation time (of a copy), else the creation time; always in UTC.
func TestTakenAt(t *testing.T) {
	tagged := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	original := time.Date(2026, 11, 30, 3, 5, 0, 0, time.FixedZone("CET", 3600))
	created := time.Date(2026, 11, 30, 4, 10, 0, 0, time.UTC)
	var zero time.Time
	for _, tc := range []struct {
		name              string
		tag               string // "" for none
		original, created *time.Time
		want              time.Time
	}{
		{"tag wins", "2026-11-30T03:00:00Z", &original, &created, tagged},
		{"tag in another zone", "2026-11-30T04:00:00+01:00", &original, &created, tagged},
		{"no tag: original", "", &original, &created, original.UTC()},
		{"tag not a time: original", "yesterday", &original, &created, original.UTC()},
		{"date only is not a time", "2026-11-30", &original, &created, original.UTC()},
		{"no original: created", "", nil, &created, created},
		{"zero original: created", "", &zero, &created, created},
		{"nothing", "", nil, nil, zero},
		{"zero times", "", &zero, &zero, zero},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tags := map[string]string{TagManagedBy: ManagedBy}
			if tc.tag != "" {
				tags[TagTakenAt] = tc.tag
			}
			got := TakenAt(tags, tc.original, tc.created)
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("TakenAt = %v, want %v in UTC", got, tc.want)
			}
		})
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
	if got := WriterID("drill-web-aurora-202611300204"); got != "drill-web-aurora-202611300204-1" {
		t.Errorf("WriterID = %s", got)
	}
	long := "a" + strings.Repeat("b", 38) + "-cdefghijklmnopqrstuvwxyz0123"
	got := RestoredID("failover", long, at)
	if len(WriterID(got)) > 63 || strings.Contains(got, "--") {
		t.Errorf("RestoredID of a long identifier = %s (%d)", got, len(got))
	}
}

// RestoredPrefix keeps up to 40 characters of the database's identifier,
// without a hyphen where it was cut; every RestoredID starts with it.
func TestRestoredPrefix(t *testing.T) {
	b40 := strings.Repeat("b", 40)
	for _, tc := range []struct {
		purpose, database, want string
	}{
		{"drill", "web-prod", "drill-web-prod-"},
		{"failover", "web-prod", "failover-web-prod-"},
		{"drill", b40[:39], "drill-" + b40[:39] + "-"},
		{"drill", b40, "drill-" + b40 + "-"},
		{"drill", b40 + "c", "drill-" + b40 + "-"},
		{"drill", b40[:39] + "-c", "drill-" + b40[:39] + "-"},
		{"drill", b40[:37] + "-x-y-z", "drill-" + b40[:37] + "-x-"},
	} {
		got := RestoredPrefix(tc.purpose, tc.database)
		if got != tc.want {
			t.Errorf("RestoredPrefix(%s, %s) = %s, want %s", tc.purpose, tc.database, got, tc.want)
		}
		if id := RestoredID(tc.purpose, tc.database, now); id != got+"202611300300" {
			t.Errorf("RestoredID(%s, %s) = %s, not %s and the time", tc.purpose, tc.database, id, got)
		}
	}
}

func TestSnapshotTags(t *testing.T) {
	tg := catalog.Target{Service: "web", Environment: "production", Database: &catalog.Database{Instance: "web-prod"},
		Backup: &catalog.Backup{Retention: catalog.Retention{Count: 7, Days: 14}}}
	got := SnapshotTags(tg, "nightly; cron", now, false)
	want := []Tag{{TagManagedBy, "stepship"}, {TagService, "web"}, {TagEnvironment, "production"}, {TagDatabase, "web-prod"},
		{TagReason, "nightly_ cron"}, {TagTakenAt, "2026-11-30T03:00:00Z"}, {TagExpires, "2026-12-14"}}
	if !slices.Equal(got, want) {
		t.Errorf("SnapshotTags = %v, want %v", got, want)
	}
	// A pre-deploy snapshot: its purpose, and its own retention's expiry.
	tg.Backup.BeforeDeploy = true
	got = SnapshotTags(tg, "before deploy", now, true)
	pre := append(slices.Clone(want[:4]), Tag{TagReason, "before deploy"}, Tag{TagTakenAt, "2026-11-30T03:00:00Z"}, Tag{TagExpires, "2026-12-01"}, Tag{TagPurpose, PurposePreDeploy})
	if !slices.Equal(got, pre) {
		t.Errorf("pre-deploy SnapshotTags = %v, want %v", got, pre)
	}
	// An environment that takes none: tagged like any other.
	tg.Backup.BeforeDeploy = false
	if got := SnapshotTags(tg, "nightly; cron", now, true); !slices.Equal(got, want) {
		t.Errorf("SnapshotTags without beforeDeploy = %v, want %v", got, want)
	}
}

// targets: production backs up to us-west-2 and drills there; nodrill backs
// up without drills; staging has neither.
var targets = catalogtest.Web(
	catalogtest.Environment("production", `database: {instance: web-prod, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-db-AbCdEf"}`,
		`backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 2, days: 7}, drRegion: us-west-2, drKmsKey: "arn:aws:kms:us-west-2:123456789012:key/k"}`,
		`drill: {schedule: "cron(0 5 ? * SUN *)", subnetGroup: drill-isolated, securityGroup: sg-0123456789abcdef0}`),
	catalogtest.Environment("nodrill", `database: {instance: web-nodrill, secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-db-AbCdEf"}`,
		`backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 2, days: 7}, drRegion: us-west-2, drKmsKey: "arn:aws:kms:us-west-2:123456789012:key/k"}`),
	catalogtest.Environment("staging"),
)

// BackupTarget and DrillTarget resolve an entry with backups (and drills, in
// this region), else say what is missing as a *taskerr.UnknownTarget.
func TestTargets(t *testing.T) {
	cat, err := catalog.Parse([]byte(targets))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		environment, region string
		backupErr, drillErr string // a part of the error; "" for none
	}{
		{"production", "us-west-2", "", ""},
		{"production", "us-east-1", "", "drills of web/production run in its drRegion us-west-2, and this function runs in us-east-1"},
		{"nodrill", "us-west-2", "", `service "web" has no drill in environment "nodrill"`},
		{"staging", "us-west-2", `service "web" has no backup in environment "staging"`, `service "web" has no backup in environment "staging"`},
		{"qa", "us-west-2", `"qa"`, `"qa"`},
	} {
		t.Run(tc.environment+" in "+tc.region, func(t *testing.T) {
			check := func(what string, tg catalog.Target, err error, want string) {
				t.Helper()
				var unknown *taskerr.UnknownTarget
				if want == "" {
					if err != nil || tg.Environment != tc.environment || tg.Backup == nil {
						t.Errorf("%s = %+v, %v", what, tg, err)
					}
					return
				}
				if !errors.As(err, &unknown) || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), "; nothing was changed") || tg.Backup != nil {
					t.Errorf("%s error %v, want a *taskerr.UnknownTarget saying %s", what, err, want)
				}
			}
			tg, err := BackupTarget(cat, "web", tc.environment)
			check("BackupTarget", tg, err, tc.backupErr)
			tg, err = DrillTarget(cat, "web", tc.environment, tc.region)
			check("DrillTarget", tg, err, tc.drillErr)
			if tc.drillErr == "" && tg.Drill == nil {
				t.Errorf("DrillTarget = %+v without its drill", tg)
			}
		})
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

func TestAccountRoles(t *testing.T) {
	a := func(role string) *catalog.BackupAccount { return &catalog.BackupAccount{Role: role} }
	targets := []catalog.Target{
		{Backup: &catalog.Backup{DRRegion: "us-west-2", BackupAccount: a("r1")}},
		{Backup: &catalog.Backup{DRRegion: "us-west-2"}},
		{},
		{Backup: &catalog.Backup{DRRegion: "eu-west-1", BackupAccount: a("r1")}},
		{Backup: &catalog.Backup{DRRegion: "us-west-2", BackupAccount: a("r1")}},
		{Backup: &catalog.Backup{DRRegion: "us-west-2", BackupAccount: a("r2")}},
	}
	want := []AccountRole{{"r1", "us-west-2"}, {"r1", "eu-west-1"}, {"r2", "us-west-2"}}
	if got := AccountRoles(targets); !slices.Equal(got, want) {
		t.Errorf("AccountRoles = %v, want %v", got, want)
	}
	if got := AccountRoles(targets[1:3]); got != nil {
		t.Errorf("AccountRoles without backup accounts = %v", got)
	}
}

// A grant's name is a valid KMS grant name ([a-zA-Z0-9:/_-], at most 256
// characters) for the longest snapshot identifier; the operations are what
// RDS needs of the source key, and a fresh slice each time.
func TestShareGrant(t *testing.T) {
	id := SnapshotID(strings.Repeat("d", 63), now)
	name := ShareGrantName(id)
	if len(name) > 256 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/_-") != "" || !strings.HasSuffix(name, id) {
		t.Errorf("grant name %q", name)
	}
	ops := ShareGrantOperations()
	ops[0] = "Encrypt"
	if got := ShareGrantOperations(); !slices.Equal(got, []string{"CreateGrant", "Decrypt", "DescribeKey"}) {
		t.Errorf("ShareGrantOperations = %v", got)
	}
}

// In a backup account a copy is kept by its own creation time when its tag
// says it is older: a tag cannot make it go sooner.
func TestNoOlderThanMade(t *testing.T) {
	r := catalog.Retention{Count: 1, Days: 7}
	fresh := snap("tagged-old-made-today", 60, "available")
	fresh.CreatedAt = now.Add(-time.Hour)
	old := snap("old", 30, "available")
	old.CreatedAt = now.Add(-40 * 24 * time.Hour) // made before its tag says: the tag wins
	newest := snap("newest", 0.5, "available")
	newest.CreatedAt = now.Add(-12 * time.Hour)
	in := []Snapshot{fresh, old, newest}
	if p := Prune(in, "web-prod", r, nil, now); !slices.Equal(ids(p.Delete), []string{"old", "tagged-old-made-today"}) {
		t.Fatalf("by the tags alone %v would go", ids(p.Delete))
	}
	got := NoOlderThanMade(in)
	if p := Prune(got, "web-prod", r, nil, now); !slices.Equal(ids(p.Delete), []string{"old"}) {
		t.Errorf("deleted %v, want only old", ids(p.Delete))
	}
	if !in[0].TakenAt.Equal(fresh.TakenAt) || !got[1].TakenAt.Equal(old.TakenAt) {
		t.Error("NoOlderThanMade changed its input, or a snapshot made before its tag")
	}
}

func TestExpires(t *testing.T) {
	if got := Expires(time.Date(2026, 11, 30, 23, 30, 0, 0, time.FixedZone("x", -3600)), 30); got != "2026-12-31" {
		t.Errorf("Expires = %s (the date in UTC, 30 days on)", got)
	}
}
