package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/backup/rdssnap"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// The RDS calls the snapshot function makes, in the SDK's shapes, so tests
// plug in fakes.
type (
	snapshotCopier interface {
		CopyDBSnapshot(ctx context.Context, in *rds.CopyDBSnapshotInput, optFns ...func(*rds.Options)) (*rds.CopyDBSnapshotOutput, error)
		CopyDBClusterSnapshot(ctx context.Context, in *rds.CopyDBClusterSnapshotInput, optFns ...func(*rds.Options)) (*rds.CopyDBClusterSnapshotOutput, error)
	}
	snapshotDeleter interface {
		DeleteDBSnapshot(ctx context.Context, in *rds.DeleteDBSnapshotInput, optFns ...func(*rds.Options)) (*rds.DeleteDBSnapshotOutput, error)
		DeleteDBClusterSnapshot(ctx context.Context, in *rds.DeleteDBClusterSnapshotInput, optFns ...func(*rds.Options)) (*rds.DeleteDBClusterSnapshotOutput, error)
	}
	rdsAPI interface {
		rdssnap.SnapshotLister
		snapshotCopier
		snapshotDeleter
		snapshotSharer
	}
)

var _ rdsAPI = (*rds.Client)(nil)

// Actions of the snapshot function.
const (
	ActionPlan  = "plan"
	ActionCopy  = "copy"
	ActionPrune = "prune"
	// ActionPrunePreDeploy applies the pre-deploy snapshots' retention in
	// the home region, after a pre-deploy snapshot is available.
	ActionPrunePreDeploy = "prune-pre-deploy"
)

// Task is what the backup state machine sends: an action and its arguments.
type Task struct {
	backup.Call // StartedAt is the backup's point in time
	// Snapshot is the identifier of the snapshot to copy (copy, and the
	// backup-account steps).
	Snapshot string `json:"snapshot,omitempty"`
	// Polls is how often the state machine has polled the copy already
	// (copy): after the first poll the copy existed, so a copy missing then
	// was deleted (or cancelled) while it was being made, and is not made
	// again.
	Polls int `json:"polls,omitempty"`
}

// Plan is what the backup state machine does, resolved from the catalog.
type Plan struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Database is the instance or cluster identifier; Aurora says which.
	Database string `json:"database"`
	Aurora   bool   `json:"aurora"`
	// Snapshot is the identifier of the snapshot to take, and of its copy.
	Snapshot string       `json:"snapshot"`
	Tags     []backup.Tag `json:"tags"`
	DRRegion string       `json:"drRegion"`
	// BackupAccount, when the catalog names one, is where the DR copy is
	// copied next (the state machine's Choice looks for it).
	BackupAccount *AccountPlan `json:"backupAccount,omitempty"`
	// MaxPolls bounds each wait loop of the state machine (a poll every
	// PollSeconds).
	PollSeconds int `json:"pollSeconds"`
	MaxPolls    int `json:"maxPolls"`
	// SnapshotOnly is the request's: the machine stops once the snapshot is
	// available (a deploy's pre-deploy snapshot).
	SnapshotOnly bool `json:"snapshotOnly"`
}

// Copy is the state of a snapshot's copy in the DR region, or in the
// backup account (in the DR region too).
type Copy struct {
	Snapshot string `json:"snapshot"`
	ARN      string `json:"arn"`
	Region   string `json:"region"`
	// Account is the backup account's id, for a copy there.
	Account string `json:"account,omitempty"`
	Status  string `json:"status"`
	// Available is Status == "available", for the state machine's Choice.
	Available bool `json:"available"`
	// Started says this call started the copy (false: it existed).
	Started bool `json:"started"`
}

// Pruned is what pruning did in one region.
type Pruned struct {
	Region  string            `json:"region"`
	Kept    []backup.Decision `json:"kept"`
	Deleted []backup.Decision `json:"deleted"`
}

// PruneResult is what pruning did in both regions, and the RPO achieved.
type PruneResult struct {
	Regions []Pruned `json:"regions"`
	// NewestCopy is the newest available copy in the DR region, if any.
	NewestCopy *backup.Snapshot `json:"newestCopy,omitempty"`
	// RPOSeconds is the age of NewestCopy's data (absent without a copy).
	RPOSeconds *int64 `json:"rpoSeconds,omitempty"`
}

// Wait bounds of the backup state machine's loops: snapshots and copies of
// large databases take hours; the machine's own TimeoutSeconds is the outer
// bound.
const (
	pollSeconds = 60
	maxPolls    = 360 // 6 h at one poll a minute
)

// Handler runs the snapshot function's actions over RDS clients in the home
// region and in every DR region the catalog names, and for the backup
// accounts (WithBackupAccounts) KMS clients in their DR regions and RDS
// clients acting as their roles.
type Handler struct {
	catalog *catalog.Catalog
	home    string
	clients map[string]rdsAPI
	log     *slog.Logger
	now     func() time.Time

	keys     map[string]kmsAPI
	accounts map[backup.AccountRole]accountRDS
	// self is the function's own role: the retiring principal of its grants.
	self string
	// offsite, when set, is the backup account the function runs in
	// (NewBackupAccountHandler): home is then its region, and
	// prune-backup-account its only action.
	offsite string
}

// Option sets an optional setting of a Handler.
type Option func(*Handler)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// NewHandler returns a Handler. clients maps each region to its RDS client:
// home and every drRegion of the catalog's backups. When the catalog names
// a backup account, WithBackupAccounts is required.
func NewHandler(cat *catalog.Catalog, home string, clients map[string]rdsAPI, log *slog.Logger, opts ...Option) (*Handler, error) {
	if cat == nil || log == nil || home == "" {
		return nil, errors.New("snapshot: catalog, home region and logger are required")
	}
	for _, r := range append([]string{home}, backup.DRRegions(cat.Targets())...) {
		if clients[r] == nil {
			return nil, fmt.Errorf("snapshot: no RDS client for region %s", r)
		}
	}
	h := &Handler{catalog: cat, home: home, clients: clients, log: log, now: time.Now}
	for _, o := range opts {
		o(h)
	}
	if err := h.checkBackupAccounts(); err != nil {
		return nil, err
	}
	return h, nil
}

// Handle runs one action. Errors are the named types of shared/taskerr:
// InvalidBackupRequest, UnknownTarget, SnapshotNotFound, CopyQuotaExceeded,
// SnapshotQuotaExceeded, RDSCallFailed, KMSCallFailed.
func (h *Handler) Handle(ctx context.Context, inv payload.Invocation[Task]) (any, error) {
	log := logging.ForExecution(h.log, inv.ExecutionID).With(slog.String("action", inv.Input.Action))
	if (h.offsite != "") != (inv.Input.Action == ActionPruneBackupAccount) {
		if h.offsite != "" {
			return nil, &taskerr.InvalidBackupRequest{Reason: fmt.Sprintf("this function runs in backup account %s: its only action is %s, not %q", h.offsite, ActionPruneBackupAccount, inv.Input.Action)}
		}
		return nil, &taskerr.InvalidBackupRequest{Reason: ActionPruneBackupAccount + " runs in a backup account, by its stack's schedule; the home account deletes nothing there"}
	}
	switch t := inv.Input; t.Action {
	case ActionPruneBackupAccount:
		return h.pruneBackupAccount(ctx, log)
	case ActionPlan:
		return h.plan(t, log)
	case ActionCopy:
		return h.copyToDR(ctx, t, log)
	case ActionPrune:
		return h.prune(ctx, t, log)
	case ActionPrunePreDeploy:
		return h.prunePreDeploy(ctx, t, log)
	case ActionShare:
		return h.share(ctx, t, log)
	case ActionAccountCopy:
		return h.copyToAccount(ctx, t, log)
	case ActionUnshare:
		return h.unshare(ctx, t, log)
	default:
		return nil, &taskerr.InvalidBackupRequest{Reason: fmt.Sprintf("unknown action %q (plan, copy, share, account-copy, unshare, prune or prune-pre-deploy)", t.Action)}
	}
}

func (h *Handler) plan(t Task, log *slog.Logger) (Plan, error) {
	req, err := payload.DecodeBackupRequest(t.Request)
	if err != nil {
		log.Warn("backup input refused", slog.String("reason", err.Error()))
		return Plan{}, &taskerr.InvalidBackupRequest{Reason: err.Error()}
	}
	if t.StartedAt.IsZero() {
		return Plan{}, &taskerr.InvalidBackupRequest{Reason: "startedAt (the execution's start time) is required"}
	}
	tg, err := h.target(req.Service, req.Environment)
	if err != nil {
		return Plan{}, err
	}
	db := tg.Database.Identifier()
	id, pre := backup.SnapshotID(db, t.StartedAt), preDeploy(req, tg)
	if pre {
		id = backup.PreDeploySnapshotID(db, t.StartedAt)
	}
	p := Plan{
		Service: tg.Service, Environment: tg.Environment, Database: db, Aurora: tg.Database.Aurora(),
		Snapshot: id, Tags: backup.SnapshotTags(tg, req.Reason, t.StartedAt, pre),
		DRRegion: tg.Backup.DRRegion, BackupAccount: accountPlan(tg.Backup, id), PollSeconds: pollSeconds, MaxPolls: maxPolls, SnapshotOnly: req.SnapshotOnly,
	}
	log.Info("backup planned", slog.String("service", p.Service), slog.String("environment", p.Environment),
		slog.String("database", db), slog.String("snapshot", p.Snapshot), slog.String("drRegion", p.DRRegion), slog.Bool("snapshotOnly", p.SnapshotOnly))
	return p, nil
}

// preDeploy reports whether the request is a deploy's pre-deploy snapshot:
// snapshot-only, started by another execution (the deploy machine's
// PreDeploySnapshot), of an environment that takes them (catalog
// backup.beforeDeploy). Its snapshot is named and tagged so and pruned
// apart (backup.Prune); a snapshot-only backup an engineer starts is kept by
// the catalog's retention like the scheduled ones.
func preDeploy(req payload.BackupRequest, tg catalog.Target) bool {
	return req.SnapshotOnly && req.StartedBy != "" && tg.Backup.PreDeployRetention() != nil
}

func (h *Handler) target(service, environment string) (catalog.Target, error) {
	return backup.BackupTarget(h.catalog, service, environment)
}

// copyToDR makes sure the DR region has a copy of the snapshot, re-encrypted
// with the DR region's key, and reports its status. It is what the state
// machine polls, too: a copy that exists is found, never made twice.
func (h *Handler) copyToDR(ctx context.Context, t Task, log *slog.Logger) (Copy, error) {
	tg, err := h.target(t.Service, t.Environment)
	if err != nil {
		return Copy{}, err
	}
	if t.Snapshot == "" {
		return Copy{}, &taskerr.InvalidBackupRequest{Reason: "snapshot is required for copy"}
	}
	db, dr := tg.Database.Identifier(), tg.Backup.DRRegion
	drSnaps := rdssnap.Snapshots{Client: h.clients[dr], Database: *tg.Database}
	if c, err := drSnaps.Get(ctx, t.Snapshot); err == nil {
		return copyOf(c, dr, false), nil
	} else if !errors.Is(err, rdssnap.ErrSnapshotNotFound) {
		return Copy{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to look for the copy in %s: %v", dr, err)}
	} else if t.Polls > 0 {
		return Copy{}, &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("the copy of %s disappeared from %s while it was being made (deleted, or the copy cancelled): not copied again", t.Snapshot, dr)}
	}
	src, err := rdssnap.Snapshots{Client: h.clients[h.home], Database: *tg.Database}.Get(ctx, t.Snapshot)
	if errors.Is(err, rdssnap.ErrSnapshotNotFound) {
		return Copy{}, &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("snapshot %s is not in %s: nothing to copy", t.Snapshot, h.home)}
	}
	if err != nil {
		return Copy{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to read the snapshot to copy in %s: %v", h.home, err)}
	}
	if !src.Ours(db) {
		return Copy{}, &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("snapshot %s is not stepship's snapshot of %s: not copied", t.Snapshot, db)}
	}
	if src.Status != backup.StatusAvailable {
		return Copy{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("snapshot %s is %s, not yet available to copy", t.Snapshot, src.Status)}
	}
	c, err := startCopy(ctx, h.clients[dr], copyRequest{aurora: tg.Database.Aurora(), source: src.ARN, id: t.Snapshot, key: tg.Backup.DRKMSKey,
		sourceRegion: h.home, copyTags: true, tags: copyTags(src, tg.Backup.Retention.Days)})
	if err != nil {
		return h.copyFailed(ctx, drSnaps, t.Snapshot, dr, dr, err)
	}
	c.Region = dr
	log.Info("copy started", slog.String("snapshot", t.Snapshot), slog.String("from", h.home), slog.String("to", dr), slog.String("status", c.Status))
	return c, nil
}

// copyRequest is one snapshot copy into a client's region and account.
type copyRequest struct {
	aurora bool
	// source is the ARN of the snapshot copied; id the copy's identifier;
	// key the KMS key it is encrypted with.
	source, id, key string
	// sourceRegion is the source's region, for a copy from another region.
	sourceRegion string
	copyTags     bool
	tags         []rdstypes.Tag
}

// startCopy makes the copy (CopyDBSnapshot, or CopyDBClusterSnapshot for
// Aurora) and returns it as RDS answered, Started; the caller sets its
// Region.
func startCopy(ctx context.Context, client snapshotCopier, r copyRequest) (Copy, error) {
	var region *string
	if r.sourceRegion != "" {
		region = aws.String(r.sourceRegion)
	}
	c := Copy{Snapshot: r.id, Started: true}
	if r.aurora {
		out, err := client.CopyDBClusterSnapshot(ctx, &rds.CopyDBClusterSnapshotInput{
			SourceDBClusterSnapshotIdentifier: aws.String(r.source), TargetDBClusterSnapshotIdentifier: aws.String(r.id),
			KmsKeyId: aws.String(r.key), SourceRegion: region, CopyTags: aws.Bool(r.copyTags), Tags: r.tags,
		})
		if err != nil {
			return Copy{}, err
		}
		c.ARN, c.Status = aws.ToString(out.DBClusterSnapshot.DBClusterSnapshotArn), aws.ToString(out.DBClusterSnapshot.Status)
	} else {
		out, err := client.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{
			SourceDBSnapshotIdentifier: aws.String(r.source), TargetDBSnapshotIdentifier: aws.String(r.id),
			KmsKeyId: aws.String(r.key), SourceRegion: region, CopyTags: aws.Bool(r.copyTags), Tags: r.tags,
		})
		if err != nil {
			return Copy{}, err
		}
		c.ARN, c.Status = aws.ToString(out.DBSnapshot.DBSnapshotArn), aws.ToString(out.DBSnapshot.Status)
	}
	c.Available = c.Status == backup.StatusAvailable
	return c, nil
}

func copyOf(s backup.Snapshot, region string, started bool) Copy {
	return Copy{Snapshot: s.ID, ARN: s.ARN, Region: region, Status: s.Status, Available: s.Status == backup.StatusAvailable, Started: started}
}

// copyTags are the tags of a copy of src: its own (but the reserved aws:
// ones), stepship:copy-of naming src, and stepship:expires for a retention
// of days days where the copy is kept.
func copyTags(src backup.Snapshot, days int) []rdstypes.Tag {
	tags := maps.Clone(src.Tags)
	tags[backup.TagCopyOf] = src.ARN
	if !src.TakenAt.IsZero() {
		tags[backup.TagExpires] = backup.Expires(src.TakenAt, days)
	}
	return rdssnap.RDSTags(rdssnap.UserTags(tags))
}

// copyFailed names a failed copy call to region (where, in messages): the
// concurrent-copy quota is retriable, the manual-snapshot quota is not (RDS
// reports both as SnapshotQuotaExceeded, told apart by the message), a copy
// that an earlier attempt already started is found and reported.
func (h *Handler) copyFailed(ctx context.Context, there rdssnap.Snapshots, id, region, where string, err error) (Copy, error) {
	var quota *rdstypes.SnapshotQuotaExceededFault
	if errors.As(err, &quota) {
		msg := strings.ToLower(quota.ErrorMessage())
		if strings.Contains(msg, "across regions") || strings.Contains(msg, "copies") || strings.Contains(msg, "concurrent") {
			return Copy{}, &taskerr.CopyQuotaExceeded{Reason: fmt.Sprintf("%s already runs as many snapshot copies as RDS allows; the copy of %s waits: %v", where, id, err)}
		}
		return Copy{}, &taskerr.SnapshotQuotaExceeded{Reason: fmt.Sprintf("%s holds as many manual snapshots as its quota allows: prune, or raise the quota; %s was not copied: %v", where, id, err)}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "DBSnapshotAlreadyExists" || apiErr.ErrorCode() == "DBClusterSnapshotAlreadyExistsFault") {
		if c, gerr := there.Get(ctx, id); gerr == nil {
			return copyOf(c, region, false), nil
		}
	}
	return Copy{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to copy snapshot %s to %s: %v", id, where, err)}
}

// prune applies the catalog's retention in the home and the DR region (and
// the pre-deploy snapshots' own in the home region), and measures the RPO:
// the age of the newest available copy in the DR region.
func (h *Handler) prune(ctx context.Context, t Task, log *slog.Logger) (PruneResult, error) {
	tg, err := h.target(t.Service, t.Environment)
	if err != nil {
		return PruneResult{}, err
	}
	db, now := tg.Database.Identifier(), h.now()
	var res PruneResult
	var failures []string
	for _, region := range []string{h.home, tg.Backup.DRRegion} {
		// Pre-deploy snapshots are told apart in the home region only: they
		// are never copied, and no tag or name makes a DR copy go sooner.
		var pre *catalog.Retention
		if region == h.home {
			pre = tg.Backup.PreDeployRetention()
		}
		p, snaps, failed, err := h.pruneIn(ctx, tg, region, func(snaps []backup.Snapshot) backup.PrunePlan {
			return backup.Prune(snaps, db, tg.Backup.Retention, pre, now)
		}, log)
		if err != nil {
			return PruneResult{}, err
		}
		if region == tg.Backup.DRRegion {
			if n, ok := backup.Newest(snaps, db); ok {
				rpo := backup.RPO(n, now)
				res.NewestCopy, res.RPOSeconds = &n, &rpo
			}
		}
		failures = append(failures, failed...)
		res.Regions = append(res.Regions, p)
	}
	if len(failures) > 0 {
		return PruneResult{}, &taskerr.RDSCallFailed{Reason: "failed to delete " + strings.Join(failures, "; ")}
	}
	return res, nil
}

// prunePreDeploy applies the pre-deploy snapshots' retention (catalog
// backup.beforeDeployRetention) to the pre-deploy snapshots in the home
// region, and to nothing else: what a pre-deploy snapshot's run does once
// its snapshot is available, so that they never pile up between two
// scheduled backups. An environment that takes none has nothing to prune.
func (h *Handler) prunePreDeploy(ctx context.Context, t Task, log *slog.Logger) (Pruned, error) {
	tg, err := h.target(t.Service, t.Environment)
	if err != nil {
		return Pruned{}, err
	}
	r := tg.Backup.PreDeployRetention()
	if r == nil {
		return Pruned{Region: h.home, Kept: []backup.Decision{}, Deleted: []backup.Decision{}}, nil
	}
	db, now := tg.Database.Identifier(), h.now()
	p, _, failures, err := h.pruneIn(ctx, tg, h.home, func(snaps []backup.Snapshot) backup.PrunePlan {
		return backup.PrunePreDeploy(snaps, db, *r, now)
	}, log)
	if err != nil {
		return Pruned{}, err
	}
	if len(failures) > 0 {
		return Pruned{}, &taskerr.RDSCallFailed{Reason: "failed to delete " + strings.Join(failures, "; ")}
	}
	return p, nil
}

// pruneIn lists the target database's snapshots in region, deletes what
// plan says, and returns what it kept and deleted, the snapshots as listed,
// and one failure ("ID in REGION: error") per snapshot it could not delete.
func (h *Handler) pruneIn(ctx context.Context, tg catalog.Target, region string, plan func([]backup.Snapshot) backup.PrunePlan, log *slog.Logger) (Pruned, []backup.Snapshot, []string, error) {
	client := h.clients[region]
	snaps, err := rdssnap.Snapshots{Client: client, Database: *tg.Database}.List(ctx)
	if err != nil {
		return Pruned{}, nil, nil, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to list snapshots in %s: %v", region, err)}
	}
	pl := plan(snaps)
	deleted, failures := deletePlanned(ctx, client, tg.Database.Aurora(), pl.Delete, " in "+region,
		log.With(slog.String("region", region)), "snapshot deleted")
	return Pruned{Region: region, Kept: pl.Keep, Deleted: deleted}, snaps, failures, nil
}

// deletePlanned deletes the snapshots of decisions, logging each deletion as
// msg; it returns those deleted and one failure ("ID" + where + ": error")
// per snapshot it could not delete.
func deletePlanned(ctx context.Context, client snapshotDeleter, aurora bool, decisions []backup.Decision, where string, log *slog.Logger, msg string) ([]backup.Decision, []string) {
	deleted, failures := []backup.Decision{}, []string(nil)
	for _, d := range decisions {
		if err := deleteSnapshot(ctx, client, aurora, d.Snapshot); err != nil {
			failures = append(failures, fmt.Sprintf("%s%s: %v", d.Snapshot, where, err))
			continue
		}
		log.Info(msg, slog.String("snapshot", d.Snapshot), slog.String("reason", d.Reason))
		deleted = append(deleted, d)
	}
	return deleted, failures
}

// deleteSnapshot deletes one snapshot; one already gone is fine.
func deleteSnapshot(ctx context.Context, client snapshotDeleter, aurora bool, id string) error {
	var err error
	if aurora {
		_, err = client.DeleteDBClusterSnapshot(ctx, &rds.DeleteDBClusterSnapshotInput{DBClusterSnapshotIdentifier: aws.String(id)})
	} else {
		_, err = client.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String(id)})
	}
	var nf *rdstypes.DBSnapshotNotFoundFault
	var cnf *rdstypes.DBClusterSnapshotNotFoundFault
	if errors.As(err, &nf) || errors.As(err, &cnf) {
		return nil
	}
	return err
}
