package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/backup/rdssnap"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/ledger"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// The AWS calls the restore function makes, in the SDK's shapes.
type (
	instanceRestorer interface {
		RestoreDBInstanceFromDBSnapshot(ctx context.Context, in *rds.RestoreDBInstanceFromDBSnapshotInput, optFns ...func(*rds.Options)) (*rds.RestoreDBInstanceFromDBSnapshotOutput, error)
	}
	clusterRestorer interface {
		RestoreDBClusterFromSnapshot(ctx context.Context, in *rds.RestoreDBClusterFromSnapshotInput, optFns ...func(*rds.Options)) (*rds.RestoreDBClusterFromSnapshotOutput, error)
		CreateDBInstance(ctx context.Context, in *rds.CreateDBInstanceInput, optFns ...func(*rds.Options)) (*rds.CreateDBInstanceOutput, error)
	}
	instanceDescriber interface {
		rds.DescribeDBInstancesAPIClient
	}
	deleter interface {
		DeleteDBInstance(ctx context.Context, in *rds.DeleteDBInstanceInput, optFns ...func(*rds.Options)) (*rds.DeleteDBInstanceOutput, error)
		DeleteDBCluster(ctx context.Context, in *rds.DeleteDBClusterInput, optFns ...func(*rds.Options)) (*rds.DeleteDBClusterOutput, error)
	}
	tagger interface {
		AddTagsToResource(ctx context.Context, in *rds.AddTagsToResourceInput, optFns ...func(*rds.Options)) (*rds.AddTagsToResourceOutput, error)
		RemoveTagsFromResource(ctx context.Context, in *rds.RemoveTagsFromResourceInput, optFns ...func(*rds.Options)) (*rds.RemoveTagsFromResourceOutput, error)
	}
	rdsAPI interface {
		rdssnap.SnapshotLister
		instanceRestorer
		clusterRestorer
		instanceDescriber
		deleter
		tagger
	}
)

var _ rdsAPI = (*rds.Client)(nil)

// Actions of the restore function, in the order a drill runs them (the
// dr-verify function checks the data between restore and cleanup).
const (
	ActionPlan    = "plan"
	ActionPick    = "pick"
	ActionExpect  = "expect"
	ActionRestore = "restore"
	ActionCleanup = "cleanup"
	ActionReport  = "report"
)

// Task is what the dr-drill state machine sends: an action and its
// arguments. Every action re-resolves its target from the catalog by
// Service and Environment; the rest names what earlier actions made.
type Task struct {
	backup.Call // StartedAt names the restored database
	// Restored names the database the drill restores (restore, cleanup), as
	// plan made it.
	Restored *Restored `json:"restored,omitempty"`
	// Snapshot is the identifier of the copy picked (restore, cleanup).
	Snapshot string `json:"snapshot,omitempty"`
	// ExecutionName tags the restored database (restore).
	ExecutionName string `json:"executionName,omitempty"`
	// Mode tags the restored database as a drill's (the default) or a
	// failover's (restore); cleanup deletes only a drill's.
	Mode payload.DrillMode `json:"mode,omitempty"`
	// TakenAt is when the picked copy's data is from (expect).
	TakenAt *time.Time `json:"takenAt,omitempty"`
	// ExpectedSchemaVersion is the input's override of the ledger (expect;
	// null when not given).
	ExpectedSchemaVersion *int64 `json:"expectedSchemaVersion,omitempty"`
	// Drill is the drill's whole state (report).
	Drill *DrillState `json:"drill,omitempty"`
}

// DrillState is the dr-drill state machine's state, as the report action
// reads it: what each earlier state wrote, absent when it did not run.
type DrillState struct {
	Plan         *Plan                `json:"plan"`
	Picked       *Picked              `json:"picked"`
	Expected     *backup.Expectation  `json:"expected"`
	Restore      *RestoreStarted      `json:"restore"`
	Report       *backup.Verification `json:"report"`
	Error        *payload.ErrorSlot   `json:"error"`
	Cleanup      *Cleaned             `json:"cleanup"`
	CleanupError *payload.ErrorSlot   `json:"cleanupError"`
}

// Reported is what the report action did: the report, whether the ledger
// has it, and the notification's subject. The drill publishes it.
type Reported struct {
	Outcome   string `json:"outcome"`
	Subject   string `json:"subject"`
	Execution string `json:"execution"`
	// Recorded says whether the report is in the ledger; RecordError why
	// not.
	Recorded    bool               `json:"recorded"`
	RecordError string             `json:"recordError,omitempty"`
	Report      backup.DrillReport `json:"report"`
}

// Restored is backup.Restored: what a drill restores.
type Restored = backup.Restored

// Plan is what the dr-drill state machine does, resolved from the catalog.
type Plan struct {
	Service     string            `json:"service"`
	Environment string            `json:"environment"`
	Mode        payload.DrillMode `json:"mode"`
	Database    string            `json:"database"`
	Aurora      bool              `json:"aurora"`
	Restored    Restored          `json:"restored"`
	// ExpectedSchemaVersion is the request's override of the ledger, passed
	// on to expect (null when not given: the state machine's path always
	// finds it).
	ExpectedSchemaVersion *int64 `json:"expectedSchemaVersion"`
	// PollSeconds and MaxPolls bound the wait for the restored database:
	// the catalog's drill.timeoutMinutes.
	PollSeconds int `json:"pollSeconds"`
	MaxPolls    int `json:"maxPolls"`
}

// Picked is the copy a drill restores, and the RPO it stands for.
type Picked struct {
	Snapshot   string    `json:"snapshot"`
	ARN        string    `json:"arn"`
	TakenAt    time.Time `json:"takenAt"`
	RPOSeconds int64     `json:"rpoSeconds"`
}

// RestoreStarted says the restore is under way.
type RestoreStarted struct {
	Restored
	StartedAt time.Time `json:"startedAt"`
}

// Cleaned is what cleanup deleted.
type Cleaned struct {
	Deleted     []string `json:"deleted"`
	AlreadyGone []string `json:"alreadyGone"`
	// Released is the snapshot whose in-use tag was removed, if any.
	Released string `json:"released,omitempty"`
}

// pollSeconds is the interval of the wait for the restored database.
const pollSeconds = 60

// Handler runs the restore function's actions in its own region, which must
// be the catalog's drRegion of the drills it runs.
type Handler struct {
	catalog *catalog.Catalog
	region  string
	rds     rdsAPI
	log     *slog.Logger
	now     func() time.Time
	// drillSecurityGroup is the security group of a drill whose catalog
	// entry names none: the DR stack's.
	drillSecurityGroup string
	// ledger is the deploy pipeline's table in the home region (nil: none,
	// as if unreachable).
	ledger *ledger.Table
}

// Option sets an optional setting of a Handler.
type Option func(*Handler)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithDrillSecurityGroup sets the security group a drill restores into when
// its catalog entry names none (config.EnvDrillSecurityGroup: the DR stack's
// drill security group).
func WithDrillSecurityGroup(id string) Option {
	return func(h *Handler) { h.drillSecurityGroup = id }
}

// WithLedger sets the ledger (config.EnvLedgerTable in
// config.EnvLedgerRegion, the home region): expect reads the deploys'
// migration versions there, report writes the drill's report.
func WithLedger(t ledger.Table) Option { return func(h *Handler) { h.ledger = &t } }

// NewHandler returns a Handler for region. Every drill of the region must
// have a security group: its catalog entry's, or WithDrillSecurityGroup's.
func NewHandler(cat *catalog.Catalog, region string, client rdsAPI, log *slog.Logger, opts ...Option) (*Handler, error) {
	if cat == nil || region == "" || client == nil || log == nil {
		return nil, errors.New("restore: catalog, region, RDS client and logger are required")
	}
	h := &Handler{catalog: cat, region: region, rds: client, log: log, now: time.Now}
	for _, o := range opts {
		o(h)
	}
	for _, t := range cat.Targets() {
		if t.Drill != nil && t.Backup.DRRegion == region && t.Drill.SecurityGroup == "" && h.drillSecurityGroup == "" {
			return nil, fmt.Errorf("restore: the drill of %s/%s names no securityGroup, and %s (the DR stack's drill security group) is not set", t.Service, t.Environment, config.EnvDrillSecurityGroup)
		}
	}
	return h, nil
}

// securityGroup is the security group a drill of tg restores into.
func (h *Handler) securityGroup(tg catalog.Target) string {
	if tg.Drill.SecurityGroup != "" {
		return tg.Drill.SecurityGroup
	}
	return h.drillSecurityGroup
}

// Handle runs one action. Errors are the named types of shared/taskerr
// (expect and report fail only on a bad input: the ledger's own failures are
// in their results):
// InvalidDrillRequest, UnknownTarget, NoSnapshotToRestore, SnapshotNotFound,
// RDSCallFailed.
func (h *Handler) Handle(ctx context.Context, inv payload.Invocation[Task]) (any, error) {
	log := logging.ForExecution(h.log, inv.ExecutionID).With(slog.String("action", inv.Input.Action))
	t := inv.Input
	if t.Action == ActionPlan {
		return h.plan(t, log)
	}
	tg, err := h.target(t.Service, t.Environment)
	if err != nil {
		return nil, err
	}
	switch t.Action {
	case ActionPick:
		return h.pick(ctx, tg, log)
	case ActionExpect:
		return h.expect(ctx, tg, t, log)
	case ActionReport:
		return h.report(ctx, tg, t, inv.ExecutionID, log)
	}
	if t.Restored == nil || t.Restored.Instance == "" {
		return nil, &taskerr.InvalidDrillRequest{Reason: "restored (the database plan named) is required for " + t.Action}
	}
	switch t.Action {
	case ActionRestore:
		return h.restore(ctx, tg, t, log)
	case ActionCleanup:
		return h.cleanup(ctx, tg, t, log)
	default:
		return nil, &taskerr.InvalidDrillRequest{Reason: fmt.Sprintf("unknown action %q (plan, pick, expect, restore, cleanup or report)", t.Action)}
	}
}

func (h *Handler) plan(t Task, log *slog.Logger) (Plan, error) {
	req, err := payload.DecodeDrillRequest(t.Request)
	if err != nil {
		log.Warn("drill input refused", slog.String("reason", err.Error()))
		return Plan{}, &taskerr.InvalidDrillRequest{Reason: err.Error()}
	}
	if t.StartedAt.IsZero() {
		return Plan{}, &taskerr.InvalidDrillRequest{Reason: "startedAt (the execution's start time) is required"}
	}
	tg, err := h.target(req.Service, req.Environment)
	if err != nil {
		return Plan{}, err
	}
	db := tg.Database.Identifier()
	id := backup.RestoredID(string(req.Mode), db, t.StartedAt)
	restored := Restored{Instance: id}
	if tg.Database.Aurora() {
		restored = Restored{Instance: backup.WriterID(id), Cluster: id}
	}
	p := Plan{
		Service: tg.Service, Environment: tg.Environment, Mode: req.Mode, Database: db, Aurora: tg.Database.Aurora(),
		Restored: restored, ExpectedSchemaVersion: req.ExpectedSchemaVersion,
		PollSeconds: pollSeconds, MaxPolls: tg.Drill.TimeoutMinutes * 60 / pollSeconds,
	}
	log.Info("drill planned", slog.String("service", p.Service), slog.String("environment", p.Environment),
		slog.String("mode", string(p.Mode)), slog.String("restored", id), slog.String("reason", req.Reason))
	return p, nil
}

func (h *Handler) target(service, environment string) (catalog.Target, error) {
	return backup.DrillTarget(h.catalog, service, environment, h.region)
}

func (h *Handler) snapshots(tg catalog.Target) rdssnap.Snapshots {
	return rdssnap.Snapshots{Client: h.rds, Database: *tg.Database}
}

// pick finds the newest available copy stepship made of the database in
// this (the DR) region.
func (h *Handler) pick(ctx context.Context, tg catalog.Target, log *slog.Logger) (Picked, error) {
	snaps, err := h.snapshots(tg).List(ctx)
	if err != nil {
		return Picked{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to list the copies in %s: %v", h.region, err)}
	}
	db := tg.Database.Identifier()
	s, ok := backup.Newest(snaps, db)
	if !ok {
		return Picked{}, &taskerr.NoSnapshotToRestore{Reason: fmt.Sprintf("%s has no available stepship copy of %s: run a backup first; nothing was restored", h.region, db)}
	}
	p := Picked{Snapshot: s.ID, ARN: s.ARN, TakenAt: s.TakenAt, RPOSeconds: backup.RPO(s, h.now())}
	log.Info("copy picked", slog.String("snapshot", s.ID), slog.Int64("rpoSeconds", p.RPOSeconds))
	return p, nil
}

// restore marks the copy as in use (so pruning keeps it) and restores it
// into the drill's isolated subnet group and security group, never publicly
// accessible. A database an earlier attempt already restored is found, not
// restored twice.
func (h *Handler) restore(ctx context.Context, tg catalog.Target, t Task, log *slog.Logger) (RestoreStarted, error) {
	snap, err := h.snapshots(tg).Get(ctx, t.Snapshot)
	if errors.Is(err, rdssnap.ErrSnapshotNotFound) {
		return RestoreStarted{}, &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("copy %s is not in %s (pruned or deleted since it was picked); nothing was restored", t.Snapshot, h.region)}
	}
	if err != nil {
		return RestoreStarted{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to read copy %s: %v", t.Snapshot, err)}
	}
	if !snap.Ours(tg.Database.Identifier()) {
		return RestoreStarted{}, &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("snapshot %s is not stepship's copy of %s; nothing was restored", t.Snapshot, tg.Database.Identifier())}
	}
	r := *t.Restored
	name := r.Cluster
	if name == "" {
		name = r.Instance
	}
	if _, err := h.rds.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: aws.String(snap.ARN),
		Tags: rdssnap.RDSTags([]backup.Tag{{Key: backup.TagInUseBy, Value: name}})}); err != nil {
		if snapshotGone(err) {
			return RestoreStarted{}, h.copyGone(t.Snapshot, err)
		}
		return RestoreStarted{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to mark copy %s as in use: %v", t.Snapshot, err)}
	}
	purpose := payload.ModeDrill
	if t.Mode == payload.ModeFailover {
		purpose = payload.ModeFailover
	}
	tags := rdssnap.RDSTags([]backup.Tag{
		{Key: backup.TagManagedBy, Value: backup.ManagedBy}, {Key: backup.TagService, Value: tg.Service},
		{Key: backup.TagEnvironment, Value: tg.Environment}, {Key: backup.TagDatabase, Value: tg.Database.Identifier()},
		{Key: backup.TagPurpose, Value: string(purpose)}, {Key: backup.TagDrill, Value: backup.TagValue(t.ExecutionName)},
		{Key: backup.TagCopyOf, Value: snap.ARN},
	})
	d, sg := tg.Drill, h.securityGroup(tg)
	started := h.now()
	if r.Cluster == "" {
		in := &rds.RestoreDBInstanceFromDBSnapshotInput{
			DBInstanceIdentifier: aws.String(r.Instance), DBSnapshotIdentifier: aws.String(snap.ID),
			DBSubnetGroupName: aws.String(d.SubnetGroup), VpcSecurityGroupIds: []string{sg},
			PubliclyAccessible: aws.Bool(false), MultiAZ: aws.Bool(false), DeletionProtection: aws.Bool(false), Tags: tags,
		}
		if d.InstanceClass != "" {
			in.DBInstanceClass = aws.String(d.InstanceClass)
		}
		if _, err := h.rds.RestoreDBInstanceFromDBSnapshot(ctx, in); err != nil && !alreadyExists(err) {
			if snapshotGone(err) {
				return RestoreStarted{}, h.copyGone(t.Snapshot, err)
			}
			return RestoreStarted{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to restore %s from %s: %v", r.Instance, snap.ID, err)}
		}
	} else {
		if _, err := h.rds.RestoreDBClusterFromSnapshot(ctx, &rds.RestoreDBClusterFromSnapshotInput{
			DBClusterIdentifier: aws.String(r.Cluster), SnapshotIdentifier: aws.String(snap.ID), Engine: aws.String(snap.Engine),
			DBSubnetGroupName: aws.String(d.SubnetGroup), VpcSecurityGroupIds: []string{sg},
			DeletionProtection: aws.Bool(false), Tags: tags,
		}); err != nil && !alreadyExists(err) {
			if snapshotGone(err) {
				return RestoreStarted{}, h.copyGone(t.Snapshot, err)
			}
			return RestoreStarted{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to restore cluster %s from %s: %v", r.Cluster, snap.ID, err)}
		}
		if _, err := h.rds.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
			DBInstanceIdentifier: aws.String(r.Instance), DBClusterIdentifier: aws.String(r.Cluster), Engine: aws.String(snap.Engine),
			DBInstanceClass: aws.String(d.InstanceClass), PubliclyAccessible: aws.Bool(false), Tags: tags,
		}); err != nil && !alreadyExists(err) {
			return RestoreStarted{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to create instance %s in cluster %s: %v", r.Instance, r.Cluster, err)}
		}
	}
	log.Info("restore started", slog.String("snapshot", snap.ID), slog.String("instance", r.Instance), slog.String("cluster", r.Cluster),
		slog.String("subnetGroup", d.SubnetGroup), slog.String("securityGroup", sg))
	return RestoreStarted{Restored: r, StartedAt: started}, nil
}

// snapshotGone: RDS no longer has the snapshot (deleted since it was read).
func snapshotGone(err error) bool {
	var nf *rdstypes.DBSnapshotNotFoundFault
	var cnf *rdstypes.DBClusterSnapshotNotFoundFault
	return errors.As(err, &nf) || errors.As(err, &cnf)
}

// copyGone names a copy deleted between the drill's look at it and its use.
func (h *Handler) copyGone(id string, err error) error {
	return &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("copy %s was deleted from %s while the drill restored it (%v); nothing was restored", id, h.region, err)}
}

// alreadyExists: an earlier attempt made it.
func alreadyExists(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "DBInstanceAlreadyExists", "DBClusterAlreadyExistsFault":
		return true
	}
	return false
}

// notFound: it is gone already.
func notFound(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "DBInstanceNotFound", "DBClusterNotFoundFault":
		return true
	}
	return false
}

// cleanup deletes what the drill restored (no final snapshot: it is a copy
// of a snapshot that stays) and releases the copy for pruning. It refuses to
// delete a database stepship did not restore for a drill, and is idempotent:
// what is gone already is reported, not an error.
func (h *Handler) cleanup(ctx context.Context, tg catalog.Target, t Task, log *slog.Logger) (Cleaned, error) {
	r := *t.Restored
	res := Cleaned{Deleted: []string{}, AlreadyGone: []string{}}
	if err := h.checkDrillDatabase(ctx, r.Instance); err != nil {
		return Cleaned{}, err
	}
	_, err := h.rds.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(r.Instance),
		SkipFinalSnapshot: aws.Bool(true), DeleteAutomatedBackups: aws.Bool(true)})
	if notFound(err) {
		res.AlreadyGone = append(res.AlreadyGone, r.Instance)
	} else if err == nil || isDeleting(err) {
		res.Deleted = append(res.Deleted, r.Instance)
	} else {
		return Cleaned{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to delete drill database %s: %v", r.Instance, err)}
	}
	if r.Cluster != "" {
		_, err := h.rds.DeleteDBCluster(ctx, &rds.DeleteDBClusterInput{DBClusterIdentifier: aws.String(r.Cluster), SkipFinalSnapshot: aws.Bool(true)})
		if notFound(err) {
			res.AlreadyGone = append(res.AlreadyGone, r.Cluster)
		} else if err != nil {
			// Aurora refuses while its instance is still being deleted: the
			// state machine retries.
			return Cleaned{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to delete drill cluster %s (its instance %s is being deleted): %v", r.Cluster, r.Instance, err)}
		} else {
			res.Deleted = append(res.Deleted, r.Cluster)
		}
	}
	if t.Snapshot != "" {
		snap, err := h.snapshots(tg).Get(ctx, t.Snapshot)
		if err != nil && !errors.Is(err, rdssnap.ErrSnapshotNotFound) {
			return Cleaned{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to read copy %s to release it: %v", t.Snapshot, err)}
		}
		if err == nil {
			_, err := h.rds.RemoveTagsFromResource(ctx, &rds.RemoveTagsFromResourceInput{ResourceName: aws.String(snap.ARN), TagKeys: []string{backup.TagInUseBy}})
			if err == nil {
				res.Released = snap.ID
			} else if !snapshotGone(err) { // gone since it was read: nothing to release
				return Cleaned{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to release copy %s: %v", t.Snapshot, err)}
			}
		}
	}
	log.Info("drill cleaned up", slog.Any("deleted", res.Deleted), slog.Any("alreadyGone", res.AlreadyGone), slog.String("released", res.Released))
	return res, nil
}

// isDeleting: RDS refuses to delete what it is deleting already.
func isDeleting(err error) bool {
	var state *rdstypes.InvalidDBInstanceStateFault
	return errors.As(err, &state) && state.Message != nil && strings.Contains(strings.ToLower(*state.Message), "deleting")
}

// checkDrillDatabase refuses to go on unless the instance is gone or was
// restored by stepship for a drill: cleanup never deletes anything else.
func (h *Handler) checkDrillDatabase(ctx context.Context, instance string) error {
	out, err := h.rds.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(instance)})
	if notFound(err) {
		return nil
	}
	if err != nil {
		return &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to describe drill database %s: %v", instance, err)}
	}
	for _, db := range out.DBInstances {
		tags := map[string]string{}
		for _, t := range db.TagList {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if tags[backup.TagManagedBy] != backup.ManagedBy || tags[backup.TagPurpose] != string(payload.ModeDrill) {
			return &taskerr.InvalidDrillRequest{Reason: fmt.Sprintf("database %s is not one stepship restored for a drill (tags %s=%q, %s=%q): not deleted", instance,
				backup.TagManagedBy, tags[backup.TagManagedBy], backup.TagPurpose, tags[backup.TagPurpose])}
		}
	}
	return nil
}
