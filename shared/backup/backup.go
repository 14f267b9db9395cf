// Package backup holds what stepship's backups and disaster-recovery drills
// agree on: the tags that mark a snapshot as stepship's, the names of the
// snapshots and of the databases a drill restores, the retention policy that
// decides which snapshots pruning deletes, and how the recovery point
// objective (RPO) is measured. The snapshot and restore functions, the local
// stack and the demo all use it; it makes no AWS call (package rdssnap reads
// RDS snapshots as Snapshot values).
//
// The rules of retention, in each region separately, over stepship's own
// snapshots of one database only (tagged stepship:managed-by=stepship and
// stepship:database=ID; every other snapshot is never looked at):
//
//   - a snapshot a drill is restoring (tagged stepship:in-use-by) is kept;
//   - a snapshot that is not available (creating, copying, failed) is kept;
//   - the newest Retention.Count available snapshots are kept;
//   - every snapshot younger than Retention.Days days is kept;
//   - the rest is deleted.
//
// Pre-deploy snapshots (taken by a deploy, catalog backup.beforeDeploy:
// named PreDeploySnapshotID and tagged stepship:purpose=pre-deploy, both
// required) are pruned apart, in the home region only, by the same rules
// with their own retention (Backup.PreDeployRetention); the scheduled
// retention neither keeps nor counts them, so that frequent deploys neither
// fill RDS's manual-snapshot quota nor push scheduled snapshots out of
// Retention.Count. No tag alone makes a snapshot pre-deploy: a name cannot
// be changed after the snapshot is made.
package backup

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/taskerr"
)

// Tag keys stepship writes on snapshots and on the databases a drill
// restores.
const (
	// TagManagedBy marks what stepship created; its value is ManagedBy.
	TagManagedBy = "stepship:managed-by"
	// TagService and TagEnvironment name the catalog entry.
	TagService     = "stepship:service"
	TagEnvironment = "stepship:environment"
	// TagDatabase is the identifier of the database the snapshot is of.
	TagDatabase = "stepship:database"
	// TagReason is why the snapshot was taken (the request's reason).
	TagReason = "stepship:reason"
	// TagTakenAt is when the backup began (RFC 3339, UTC): the point in time
	// the data is from, never later than the snapshot itself.
	TagTakenAt = "stepship:taken-at"
	// TagExpires is when retention by age stops keeping the snapshot (RFC
	// 3339 date): informative; the count rule may keep it longer.
	TagExpires = "stepship:expires"
	// TagCopyOf, on a copy, is the ARN of the snapshot it was copied from.
	TagCopyOf = "stepship:copy-of"
	// TagInUseBy, on a snapshot, names the database a drill is restoring from
	// it: pruning never deletes it. The drill's cleanup removes the tag.
	TagInUseBy = "stepship:in-use-by"
	// TagDrill, on a restored database, is the execution that restored it.
	TagDrill = "stepship:drill"
	// TagPurpose, on a restored database, is drill or failover; on a
	// snapshot a deploy took before its migrations, PurposePreDeploy.
	TagPurpose = "stepship:purpose"
)

// PurposePreDeploy is TagPurpose on a pre-deploy snapshot.
const PurposePreDeploy = "pre-deploy"

// The CloudWatch metrics the backup and dr-drill state machines publish
// (statemachines/backup.asl.json RecordRPO, dr-drill.asl.json
// RecordMetrics), with the dimensions Service and Environment; the stack's
// alarms and dashboard watch them, and fail the synth when a state machine
// no longer publishes one.
const (
	// MetricNamespaceBackups holds the backup's RPO (home region).
	MetricNamespaceBackups = "Stepship/Backups"
	// MetricNamespaceDrills holds a drill's RTO and RPO (DR region).
	MetricNamespaceDrills = "Stepship/DRDrills"
	// MetricRPO is the age of the newest DR copy's data, in seconds.
	MetricRPO = "RPOSeconds"
	// MetricRTO is a drill's time from restore to verified data, in seconds.
	MetricRTO = "RTOSeconds"
	// DimensionService and DimensionEnvironment name the catalog entry.
	DimensionService     = "Service"
	DimensionEnvironment = "Environment"
)

// ManagedBy is the value of TagManagedBy.
const ManagedBy = "stepship"

// Snapshot statuses RDS reports.
const (
	StatusAvailable = "available"
	StatusFailed    = "failed"
)

// Tag is an RDS tag, with the JSON names the RDS API (and so a Step
// Functions SDK integration's Parameters) uses.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// maxTagValue is RDS's limit on a tag value, in characters.
const maxTagValue = 256

// TagValue makes s a valid RDS tag value: characters RDS refuses become '_',
// and it is cut to 256 characters.
func TagValue(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxTagValue {
			break
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("_.:/=+-@", r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
		n++
	}
	return b.String()
}

// SnapshotTags are the tags of a new snapshot of the target's database; a
// pre-deploy snapshot is tagged so (TagPurpose), and expires by the
// pre-deploy retention's days.
func SnapshotTags(t catalog.Target, reason string, takenAt time.Time, preDeploy bool) []Tag {
	takenAt = takenAt.UTC()
	tags := []Tag{
		{TagManagedBy, ManagedBy},
		{TagService, t.Service},
		{TagEnvironment, t.Environment},
		{TagDatabase, t.Database.Identifier()},
		{TagReason, TagValue(reason)},
		{TagTakenAt, takenAt.Format(time.RFC3339)},
	}
	if r := t.Backup.PreDeployRetention(); preDeploy && r != nil {
		return append(tags, Tag{TagExpires, Expires(takenAt, r.Days)}, Tag{TagPurpose, PurposePreDeploy})
	}
	return append(tags, Tag{TagExpires, Expires(takenAt, t.Backup.Retention.Days)})
}

// Expires is the value of TagExpires on a snapshot whose data is from
// takenAt, kept days days by retention by age.
func Expires(takenAt time.Time, days int) string {
	return takenAt.UTC().AddDate(0, 0, days).Format(time.DateOnly)
}

// SnapshotID is the identifier of the snapshot a backup that began at
// takenAt takes of a database; its copies in other regions have the same
// identifier.
func SnapshotID(database string, takenAt time.Time) string {
	return SnapshotPrefix(database) + takenAt.UTC().Format("20060102-150405")
}

// PreDeploySnapshotID is the identifier of a deploy's pre-deploy snapshot
// of database, taken at takenAt: "stepship-DB-pre-deploy-YYYYMMDD-HHMMSS".
func PreDeploySnapshotID(database string, takenAt time.Time) string {
	return preDeployPrefix(database) + takenAt.UTC().Format("20060102-150405")
}

func preDeployPrefix(database string) string {
	return SnapshotPrefix(database) + PurposePreDeploy + "-"
}

// SnapshotPrefix is what every SnapshotID of a database starts with:
// "stepship-DB-" (IAM scopes the backup's permissions with it).
func SnapshotPrefix(database string) string { return "stepship-" + database + "-" }

// SecretReplica is the ARN of a Secrets Manager secret's replica in region:
// the secret's own ARN with the region replaced (a replica keeps the name and
// its suffix), or the secret itself when it is in region. The drill reads a
// database's credentials there, so that it needs nothing from the home
// region.
func SecretReplica(secretARN, region string) (string, error) {
	a, err := arn.Parse(secretARN)
	if err != nil || a.Service != "secretsmanager" {
		return "", fmt.Errorf("%q is not a Secrets Manager secret ARN", secretARN)
	}
	a.Region = region
	return a.String(), nil
}

// DRRegions lists the DR regions of the targets' backups, in order, each
// once.
func DRRegions(targets []catalog.Target) []string { return drRegions(targets, false) }

// DrillRegions lists the DR regions the targets' drills run in, in order,
// each once: where stepship's DR stacks are.
func DrillRegions(targets []catalog.Target) []string { return drRegions(targets, true) }

func drRegions(targets []catalog.Target, drills bool) []string {
	var out []string
	for _, t := range targets {
		if t.Backup != nil && (t.Drill != nil || !drills) && !slices.Contains(out, t.Backup.DRRegion) {
			out = append(out, t.Backup.DRRegion)
		}
	}
	return out
}

// AccountRole is a backup account's role (catalog backup.backupAccount.role)
// in the region its copies are made in: the DR region.
type AccountRole struct{ Role, Region string }

// AccountRoles lists the backup-account roles of the targets' backups, in
// order, each once.
func AccountRoles(targets []catalog.Target) []AccountRole {
	var out []AccountRole
	for _, t := range targets {
		if t.Backup == nil || t.Backup.BackupAccount == nil {
			continue
		}
		if r := (AccountRole{t.Backup.BackupAccount.Role, t.Backup.DRRegion}); !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// ShareGrantName names the KMS grant that lets a backup account use the DR
// key for one snapshot's copy: the backup makes it with this name (a retried
// CreateGrant with the same name and parameters returns the same grant) and
// retires every grant of that name when it unshares.
func ShareGrantName(snapshot string) string { return "stepship-share-" + snapshot }

// ShareGrantOperations are the KMS operations the grant gives the backup
// account's role on the DR key: what RDS needs to copy a snapshot encrypted
// with it (describe the key, decrypt the snapshot's data key, and create the
// grant the copy runs under), and nothing else. The home stack allows the
// snapshot function to make a grant with these only (kms:GrantOperations).
func ShareGrantOperations() []string { return []string{"CreateGrant", "Decrypt", "DescribeKey"} }

// maxRestoredStem bounds the part of a restored database's identifier taken
// from the source database's, so that it stays within RDS's 63 characters
// with the prefix, the time and, for an Aurora writer, "-1".
const maxRestoredStem = 40

// RestoredID is the identifier of the database a drill (or a failover) that
// began at startedAt restores: "drill-DB-YYYYMMDDHHMM" or
// "failover-DB-YYYYMMDDHHMM", DB cut to 40 characters.
func RestoredID(purpose, database string, startedAt time.Time) string {
	return RestoredPrefix(purpose, database) + startedAt.UTC().Format("200601021504")
}

// RestoredPrefix is what every RestoredID of a purpose and database starts
// with: "drill-DB-" (IAM scopes the drill's permissions with it).
func RestoredPrefix(purpose, database string) string {
	stem := database
	if len(stem) > maxRestoredStem {
		stem = strings.TrimRight(stem[:maxRestoredStem], "-")
	}
	return purpose + "-" + stem + "-"
}

// Restored names a database a drill restores: the instance to wait for and
// connect to, and for Aurora the cluster it belongs to.
type Restored struct {
	Instance string `json:"instance"`
	Cluster  string `json:"cluster,omitempty"`
}

// WriterID is the identifier of the one instance a drill creates in a
// restored Aurora cluster.
func WriterID(cluster string) string { return cluster + "-1" }

// Snapshot is one RDS DB snapshot or DB cluster snapshot, as retention and
// drills see it.
type Snapshot struct {
	ID     string `json:"id"`
	ARN    string `json:"arn"`
	Status string `json:"status"`
	// Engine is the database engine (postgres, aurora-postgresql, …).
	Engine string `json:"engine,omitempty"`
	// TakenAt is when its data is from: the TagTakenAt tag, else RDS's
	// original creation time, else its creation time.
	TakenAt time.Time         `json:"takenAt"`
	Tags    map[string]string `json:"-"`
	// CreatedAt is when RDS made this snapshot (or this copy): what a tag
	// cannot change.
	CreatedAt time.Time `json:"-"`
}

// Ours reports whether stepship took the snapshot, of database db.
func (s Snapshot) Ours(db string) bool {
	return s.Tags[TagManagedBy] == ManagedBy && s.Tags[TagDatabase] == db
}

// InUseBy names the database a drill is restoring from the snapshot, or "".
func (s Snapshot) InUseBy() string { return s.Tags[TagInUseBy] }

// PreDeploy reports whether a deploy took the snapshot of db before its
// migrations: named so (PreDeploySnapshotID) and tagged so (TagPurpose).
func (s Snapshot) PreDeploy(db string) bool {
	return s.Ours(db) && s.Tags[TagPurpose] == PurposePreDeploy && strings.HasPrefix(s.ID, preDeployPrefix(db))
}

// TakenAt picks the time a snapshot's data is from.
func TakenAt(tags map[string]string, original, created *time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, tags[TagTakenAt]); err == nil {
		return t.UTC()
	}
	for _, t := range []*time.Time{original, created} {
		if t != nil && !t.IsZero() {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Decision is what pruning does with one snapshot, and why.
type Decision struct {
	Snapshot string    `json:"snapshot"`
	TakenAt  time.Time `json:"takenAt"`
	Reason   string    `json:"reason"`
}

// PrunePlan is what pruning keeps and deletes of one database's snapshots in
// one region, newest first.
type PrunePlan struct {
	Keep   []Decision `json:"keep"`
	Delete []Decision `json:"delete"`
}

// Prune decides which of snapshots retention deletes (see the package doc).
// Snapshots that are not stepship's, of db, are not in the plan. preDeploy
// is the retention of pre-deploy snapshots (catalog
// Backup.PreDeployRetention), nil where they are not told apart (the DR
// region and a backup account, which hold no pre-deploy snapshot, or an
// environment that takes none): then every snapshot is counted by r alike.
func Prune(snapshots []Snapshot, db string, r catalog.Retention, preDeploy *catalog.Retention, now time.Time) PrunePlan {
	return prune(snapshots, db, r, preDeploy, now, func(Snapshot) bool { return true })
}

// PrunePreDeploy decides which of db's pre-deploy snapshots their retention
// deletes; no other snapshot is in the plan (what a pre-deploy snapshot's
// run prunes once its snapshot is available).
func PrunePreDeploy(snapshots []Snapshot, db string, preDeploy catalog.Retention, now time.Time) PrunePlan {
	return prune(snapshots, db, catalog.Retention{}, &preDeploy, now, func(s Snapshot) bool { return s.PreDeploy(db) })
}

func prune(snapshots []Snapshot, db string, r catalog.Retention, preDeploy *catalog.Retention, now time.Time, in func(Snapshot) bool) PrunePlan {
	ours := newestFirst(snapshots, func(s Snapshot) bool { return s.Ours(db) && in(s) })
	plan := PrunePlan{Keep: []Decision{}, Delete: []Decision{}}
	scheduled := retention{Retention: r, cutoff: now.AddDate(0, 0, -r.Days)}
	var pre retention
	if preDeploy != nil {
		pre = retention{Retention: *preDeploy, cutoff: now.AddDate(0, 0, -preDeploy.Days), what: "pre-deploy snapshot: "}
	}
	for _, s := range ours {
		kind := &scheduled
		if preDeploy != nil && s.PreDeploy(db) {
			kind = &pre
		}
		d := Decision{Snapshot: s.ID, TakenAt: s.TakenAt}
		var keep bool
		d.Reason, keep = kind.retain(s)
		if keep {
			plan.Keep = append(plan.Keep, d)
		} else {
			plan.Delete = append(plan.Delete, d)
		}
	}
	return plan
}

// retention applies one Retention to snapshots given newest first.
type retention struct {
	catalog.Retention
	cutoff    time.Time
	available int    // available snapshots seen so far
	what      string // the reasons' prefix
}

// retain says whether the retention keeps s, the next snapshot, and why.
func (r *retention) retain(s Snapshot) (reason string, keep bool) {
	if s.Status == StatusAvailable {
		r.available++ // one a drill uses counts too
	}
	if s.InUseBy() != "" {
		return r.what + "in use by drill database " + s.InUseBy(), true
	}
	if s.Status != StatusAvailable {
		return r.what + fmt.Sprintf("status %s: only available snapshots are deleted", s.Status), true
	}
	if r.available <= r.Count {
		return r.what + fmt.Sprintf("one of the newest %d available", r.Count), true
	}
	if s.TakenAt.After(r.cutoff) {
		return r.what + fmt.Sprintf("younger than %d days", r.Days), true
	}
	return r.what + fmt.Sprintf("older than %d days and not among the newest %d available", r.Days, r.Count), false
}

// Newest returns stepship's newest available snapshot of db, or false.
func Newest(snapshots []Snapshot, db string) (Snapshot, bool) {
	ours := newestFirst(snapshots, func(s Snapshot) bool { return s.Ours(db) && s.Status == StatusAvailable })
	if len(ours) == 0 {
		return Snapshot{}, false
	}
	return ours[0], true
}

// NoOlderThanMade returns the snapshots with TakenAt no earlier than their
// CreatedAt: for retention where the tags are not trusted (in a backup
// account, where the home account's role may tag copies), so that a copy
// whose stepship:taken-at says it is old is kept at least Retention.Days
// after it was made all the same.
func NoOlderThanMade(snapshots []Snapshot) []Snapshot {
	out := slices.Clone(snapshots)
	for i, s := range out {
		if s.CreatedAt.After(s.TakenAt) {
			out[i].TakenAt = s.CreatedAt
		}
	}
	return out
}

// RPO is the recovery point objective a snapshot achieves at now: the age of
// its data, in whole seconds.
func RPO(s Snapshot, now time.Time) int64 {
	return int64(now.Sub(s.TakenAt) / time.Second)
}

// newestFirst returns the snapshots keep accepts, newest first (ties by
// identifier, so that the order never depends on the API's).
func newestFirst(snapshots []Snapshot, keep func(Snapshot) bool) []Snapshot {
	var out []Snapshot
	for _, s := range snapshots {
		if keep(s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Snapshot) int {
		return cmp.Or(b.TakenAt.Compare(a.TakenAt), strings.Compare(b.ID, a.ID))
	})
	return out
}

// BackupTarget resolves a catalog entry that has backups, or returns a
// *taskerr.UnknownTarget that says what is missing.
func BackupTarget(cat *catalog.Catalog, service, environment string) (catalog.Target, error) {
	tg, err := cat.Resolve(service, environment)
	if err != nil {
		return catalog.Target{}, &taskerr.UnknownTarget{Reason: err.Error() + "; nothing was changed"}
	}
	if tg.Backup == nil {
		return catalog.Target{}, &taskerr.UnknownTarget{Reason: fmt.Sprintf("service %q has no backup in environment %q of the catalog; nothing was changed", service, environment)}
	}
	return tg, nil
}

// DrillTarget resolves a catalog entry that has drills, for a function
// running in region, which must be the entry's DR region; else it returns a
// *taskerr.UnknownTarget.
func DrillTarget(cat *catalog.Catalog, service, environment, region string) (catalog.Target, error) {
	tg, err := BackupTarget(cat, service, environment)
	if err != nil {
		return catalog.Target{}, err
	}
	if tg.Drill == nil {
		return catalog.Target{}, &taskerr.UnknownTarget{Reason: fmt.Sprintf("service %q has no drill in environment %q of the catalog; nothing was changed", service, environment)}
	}
	if tg.Backup.DRRegion != region {
		return catalog.Target{}, &taskerr.UnknownTarget{Reason: fmt.Sprintf("the drills of %s/%s run in its drRegion %s, and this function runs in %s; nothing was changed", service, environment, tg.Backup.DRRegion, region)}
	}
	return tg, nil
}

// ActionPruneBackupAccount is the snapshot function's action that applies
// the catalog's backupAccount retention in the backup account it runs in:
// what the backup-account stack's schedule invokes it with.
const ActionPruneBackupAccount = "prune-backup-account"

// Call is what the backup and dr-drill state machines send their functions:
// an action and the arguments every action shares. Each function's Task
// embeds it and adds its own.
type Call struct {
	Action string `json:"action"`
	// Request is the execution's input (plan), decoded strictly.
	Request json.RawMessage `json:"request,omitempty"`
	// StartedAt is the execution's start (plan).
	StartedAt time.Time `json:"startedAt"`
	// Service and Environment name the catalog entry (every other action).
	Service     string `json:"service,omitempty"`
	Environment string `json:"environment,omitempty"`
}
