package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/backup/rdssnap"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/taskerr"
)

// The backup account (catalog backup.backupAccount): once the DR copy is
// available, the backup state machine shares it with that account (a KMS
// grant on the DR key to the account's role, and the snapshot's restore
// attribute), copies it there as that role, re-encrypted with the account's
// own key, polls the copy, and unshares (removes the account from the
// attribute and retires the grant) on every path. The home account only
// reads and copies in the backup account: the client it holds there cannot
// delete (accountRDS), and the role there is denied it.

// The calls the backup-account steps make, in the SDK's shapes.
type (
	// kmsAPI is the DR region's KMS: grant a backup account's role the DR
	// key, find the grants again, retire them.
	kmsAPI interface {
		CreateGrant(ctx context.Context, in *kms.CreateGrantInput, optFns ...func(*kms.Options)) (*kms.CreateGrantOutput, error)
		kms.ListGrantsAPIClient
		RetireGrant(ctx context.Context, in *kms.RetireGrantInput, optFns ...func(*kms.Options)) (*kms.RetireGrantOutput, error)
	}
	// snapshotSharer shares a snapshot with an account, and stops sharing it.
	snapshotSharer interface {
		ModifyDBSnapshotAttribute(ctx context.Context, in *rds.ModifyDBSnapshotAttributeInput, optFns ...func(*rds.Options)) (*rds.ModifyDBSnapshotAttributeOutput, error)
		ModifyDBClusterSnapshotAttribute(ctx context.Context, in *rds.ModifyDBClusterSnapshotAttributeInput, optFns ...func(*rds.Options)) (*rds.ModifyDBClusterSnapshotAttributeOutput, error)
	}
	// accountRDS is what the function does in a backup account, as its
	// role: read and copy stepship's snapshots. Nothing that deletes.
	accountRDS interface {
		rdssnap.SnapshotLister
		snapshotCopier
	}
)

var (
	_ kmsAPI     = (*kms.Client)(nil)
	_ accountRDS = (*rds.Client)(nil)
)

// Actions of the backup-account steps.
const (
	ActionShare       = "share"
	ActionAccountCopy = "account-copy"
	ActionUnshare     = "unshare"
)

// restoreAttribute is the snapshot attribute that lists the accounts a
// snapshot is shared with.
const restoreAttribute = "restore"

// AccountPlan is where a backup's offsite copy goes (Plan.BackupAccount).
type AccountPlan struct {
	Account string `json:"account"`
	Role    string `json:"role"`
	// Region is the DR region: the copy is made there, from the DR copy.
	Region string `json:"region"`
	KMSKey string `json:"kmsKey"`
	// Grant is the name of the KMS grant sharing makes on the DR key
	// (backup.ShareGrantName): what to retire by hand if unsharing fails.
	Grant string `json:"grant"`
}

func accountPlan(b *catalog.Backup, snapshot string) *AccountPlan {
	if b.BackupAccount == nil {
		return nil
	}
	a := b.BackupAccount
	return &AccountPlan{Account: a.Account, Role: a.Role, Region: b.DRRegion, KMSKey: a.KMSKey, Grant: backup.ShareGrantName(snapshot)}
}

// Share is what sharing the DR copy with the backup account did.
type Share struct {
	Snapshot string `json:"snapshot"`
	ARN      string `json:"arn"`
	Account  string `json:"account"`
	// Grant and GrantID name the KMS grant on the DR key to the account's
	// role.
	Grant   string `json:"grant"`
	GrantID string `json:"grantId"`
}

// Unshared is what unsharing removed.
type Unshared struct {
	Snapshot string `json:"snapshot"`
	Account  string `json:"account"`
	// RetiredGrants are the ids of the grants retired (none when sharing
	// never made one, or an earlier attempt retired it).
	RetiredGrants []string `json:"retiredGrants"`
}

// WithBackupAccounts gives the handler what the catalog's backup accounts
// need: a KMS client for each DR region that has one, an RDS client acting
// as each backup account's role in its region, and the ARN of the
// function's own role (the retiring principal of the grants it makes).
func WithBackupAccounts(keys map[string]kmsAPI, accounts map[backup.AccountRole]accountRDS, self string) Option {
	return func(h *Handler) { h.keys, h.accounts, h.self = keys, accounts, self }
}

// checkBackupAccounts reports a missing client of a backup account the
// catalog names.
func (h *Handler) checkBackupAccounts() error {
	for _, r := range backup.AccountRoles(h.catalog.Targets()) {
		if h.self == "" {
			return errors.New("snapshot: the catalog names a backup account, and the function's own role ARN is not set")
		}
		if h.keys[r.Region] == nil {
			return fmt.Errorf("snapshot: no KMS client for region %s (backup account role %s)", r.Region, r.Role)
		}
		if h.accounts[r] == nil {
			return fmt.Errorf("snapshot: no RDS client as role %s in %s", r.Role, r.Region)
		}
	}
	return nil
}

// accountTarget resolves a backup-account step's target and its backup
// account.
func (h *Handler) accountTarget(t Task) (catalog.Target, *catalog.BackupAccount, error) {
	tg, err := h.target(t.Service, t.Environment)
	if err != nil {
		return catalog.Target{}, nil, err
	}
	if tg.Backup.BackupAccount == nil {
		return catalog.Target{}, nil, &taskerr.UnknownTarget{Reason: fmt.Sprintf("service %q has no backup account in environment %q of the catalog; nothing was changed", t.Service, t.Environment)}
	}
	if t.Snapshot == "" {
		return catalog.Target{}, nil, &taskerr.InvalidBackupRequest{Reason: "snapshot is required for " + t.Action}
	}
	return tg, tg.Backup.BackupAccount, nil
}

// drCopy reads the DR copy to share or copy: stepship's, of the target's
// database, available.
func (h *Handler) drCopy(ctx context.Context, tg catalog.Target, id string) (backup.Snapshot, error) {
	dr := tg.Backup.DRRegion
	c, err := rdssnap.Snapshots{Client: h.clients[dr], Database: *tg.Database}.Get(ctx, id)
	if errors.Is(err, rdssnap.ErrSnapshotNotFound) {
		return backup.Snapshot{}, &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("the DR copy %s is not in %s: nothing to give the backup account", id, dr)}
	}
	if err != nil {
		return backup.Snapshot{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to read the DR copy %s in %s: %v", id, dr, err)}
	}
	if !c.Ours(tg.Database.Identifier()) {
		return backup.Snapshot{}, &taskerr.SnapshotNotFound{Reason: fmt.Sprintf("snapshot %s in %s is not stepship's copy of %s: not given to the backup account", id, dr, tg.Database.Identifier())}
	}
	if c.Status != backup.StatusAvailable {
		return backup.Snapshot{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("the DR copy %s is %s, not yet available to share", id, c.Status)}
	}
	return c, nil
}

// share lets the backup account copy the DR copy: a grant on the DR key to
// its role (the operations backup.ShareGrantOperations, retirable by this
// function's role), then the account added to the copy's restore
// attribute. Both are idempotent: a retry finds the grant by its name.
func (h *Handler) share(ctx context.Context, t Task, log *slog.Logger) (Share, error) {
	tg, acct, err := h.accountTarget(t)
	if err != nil {
		return Share{}, err
	}
	src, err := h.drCopy(ctx, tg, t.Snapshot)
	if err != nil {
		return Share{}, err
	}
	dr, name := tg.Backup.DRRegion, backup.ShareGrantName(t.Snapshot)
	var ops []kmstypes.GrantOperation
	for _, op := range backup.ShareGrantOperations() {
		ops = append(ops, kmstypes.GrantOperation(op))
	}
	g, err := h.keys[dr].CreateGrant(ctx, &kms.CreateGrantInput{
		KeyId: aws.String(tg.Backup.DRKMSKey), GranteePrincipal: aws.String(acct.Role), Operations: ops,
		Name: aws.String(name), RetiringPrincipal: aws.String(h.self),
	})
	if err != nil {
		return Share{}, &taskerr.KMSCallFailed{Reason: fmt.Sprintf("failed to grant %s the DR key %s for %s: %v", acct.Role, tg.Backup.DRKMSKey, t.Snapshot, err)}
	}
	if err := h.setShare(ctx, h.clients[dr], tg.Database.Aurora(), t.Snapshot, acct.Account, true); err != nil {
		return Share{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to share %s in %s with backup account %s: %v", t.Snapshot, dr, acct.Account, err)}
	}
	log.Info("DR copy shared with the backup account", slog.String("snapshot", t.Snapshot), slog.String("region", dr),
		slog.String("account", acct.Account), slog.String("grant", name))
	return Share{Snapshot: t.Snapshot, ARN: src.ARN, Account: acct.Account, Grant: name, GrantID: aws.ToString(g.GrantId)}, nil
}

// setShare adds the account to a snapshot's restore attribute, or removes
// it.
func (h *Handler) setShare(ctx context.Context, c snapshotSharer, aurora bool, id, account string, add bool) error {
	var values, remove []string
	if add {
		values = []string{account}
	} else {
		remove = []string{account}
	}
	var err error
	if aurora {
		_, err = c.ModifyDBClusterSnapshotAttribute(ctx, &rds.ModifyDBClusterSnapshotAttributeInput{DBClusterSnapshotIdentifier: aws.String(id),
			AttributeName: aws.String(restoreAttribute), ValuesToAdd: values, ValuesToRemove: remove})
	} else {
		_, err = c.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String(id),
			AttributeName: aws.String(restoreAttribute), ValuesToAdd: values, ValuesToRemove: remove})
	}
	return err
}

// copyToAccount makes sure the backup account has a copy of the DR copy,
// in the DR region (RDS copies a shared encrypted snapshot only within its
// region), re-encrypted with the account's key, and reports its status. It
// is what the state machine polls: a copy that exists is found, never made
// twice.
func (h *Handler) copyToAccount(ctx context.Context, t Task, log *slog.Logger) (Copy, error) {
	tg, acct, err := h.accountTarget(t)
	if err != nil {
		return Copy{}, err
	}
	dr := tg.Backup.DRRegion
	client := h.accounts[backup.AccountRole{Role: acct.Role, Region: dr}]
	there := rdssnap.Snapshots{Client: client, Database: *tg.Database}
	if c, err := there.Get(ctx, t.Snapshot); err == nil {
		return inAccount(copyOf(c, dr, false), acct), nil
	} else if !errors.Is(err, rdssnap.ErrSnapshotNotFound) {
		return Copy{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to look for the copy in backup account %s (%s): %v", acct.Account, dr, err)}
	}
	src, err := h.drCopy(ctx, tg, t.Snapshot)
	if err != nil {
		return Copy{}, err
	}
	c, err := startCopy(ctx, client, copyRequest{aurora: tg.Database.Aurora(), source: src.ARN, id: t.Snapshot, key: acct.KMSKey,
		tags: copyTags(src, acct.Retention.Days)})
	if err != nil {
		c, err := h.copyFailed(ctx, there, t.Snapshot, dr, dr+" of backup account "+acct.Account, err)
		return inAccount(c, acct), err
	}
	c.Region = dr
	log.Info("copy to the backup account started", slog.String("snapshot", t.Snapshot), slog.String("region", dr),
		slog.String("account", acct.Account), slog.String("status", c.Status))
	return inAccount(c, acct), nil
}

// inAccount marks a copy as the backup account's.
func inAccount(c Copy, acct *catalog.BackupAccount) Copy {
	if c.Snapshot != "" {
		c.Account = acct.Account
	}
	return c
}

// unshare stops sharing the DR copy with the backup account: the account
// removed from the copy's restore attribute, and every grant on the DR key
// named for this snapshot to the account's role retired. What is already
// gone is fine, so that it runs after any step of sharing and copying, and
// again. It tries both, and fails (retriably) when either failed.
func (h *Handler) unshare(ctx context.Context, t Task, log *slog.Logger) (Unshared, error) {
	tg, acct, err := h.accountTarget(t)
	if err != nil {
		return Unshared{}, err
	}
	dr := tg.Backup.DRRegion
	var failed []string
	shareErr := h.setShare(ctx, h.clients[dr], tg.Database.Aurora(), t.Snapshot, acct.Account, false)
	var nf *rdstypes.DBSnapshotNotFoundFault
	var cnf *rdstypes.DBClusterSnapshotNotFoundFault
	if shareErr != nil && !errors.As(shareErr, &nf) && !errors.As(shareErr, &cnf) {
		failed = append(failed, fmt.Sprintf("failed to stop sharing %s in %s with %s: %v", t.Snapshot, dr, acct.Account, shareErr))
	}
	retired, err := h.retireGrants(ctx, h.keys[dr], tg.Backup.DRKMSKey, acct.Role, backup.ShareGrantName(t.Snapshot))
	if err != nil {
		failed = append(failed, fmt.Sprintf("failed to retire the grants %s on %s: %v", backup.ShareGrantName(t.Snapshot), tg.Backup.DRKMSKey, err))
	}
	if len(failed) > 0 {
		reason := strings.Join(failed, "; ")
		if err == nil || len(failed) == 2 {
			return Unshared{}, &taskerr.RDSCallFailed{Reason: reason}
		}
		return Unshared{}, &taskerr.KMSCallFailed{Reason: reason}
	}
	log.Info("DR copy no longer shared with the backup account", slog.String("snapshot", t.Snapshot), slog.String("region", dr),
		slog.String("account", acct.Account), slog.Int("retiredGrants", len(retired)))
	return Unshared{Snapshot: t.Snapshot, Account: acct.Account, RetiredGrants: retired}, nil
}

// retireGrants retires every grant on key named name to grantee (the SDK's
// paginator over ListGrants); one already gone is fine.
func (h *Handler) retireGrants(ctx context.Context, c kmsAPI, key, grantee, name string) ([]string, error) {
	retired := []string{}
	p := kms.NewListGrantsPaginator(c, &kms.ListGrantsInput{KeyId: aws.String(key), GranteePrincipal: aws.String(grantee)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return retired, err
		}
		for _, g := range page.Grants {
			if aws.ToString(g.Name) != name || aws.ToString(g.GranteePrincipal) != grantee {
				continue
			}
			_, err := c.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: aws.String(key), GrantId: g.GrantId})
			var gone *kmstypes.NotFoundException
			if err != nil && !errors.As(err, &gone) {
				return retired, err
			}
			retired = append(retired, aws.ToString(g.GrantId))
		}
	}
	return retired, nil
}
