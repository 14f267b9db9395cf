package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/backup/rdssnap"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/taskerr"
)

// Retention in a backup account is applied there, by this function deployed
// in that account (the backup-account stack), never by the home account,
// whose role there may not delete: a compromised home account cannot
// delete the offsite copies, and the backup account's own schedule keeps
// them from piling up.

// ActionPruneBackupAccount applies each catalog entry's backupAccount
// retention to stepship's copies in the backup account and region the
// function runs in.
const ActionPruneBackupAccount = backup.ActionPruneBackupAccount

// AccountPruneResult is what pruning did in a backup account.
type AccountPruneResult struct {
	Account   string           `json:"account"`
	Region    string           `json:"region"`
	Databases []PrunedDatabase `json:"databases"`
}

// PrunedDatabase is what pruning did to one catalog database's copies.
type PrunedDatabase struct {
	Service     string            `json:"service"`
	Environment string            `json:"environment"`
	Database    string            `json:"database"`
	Kept        []backup.Decision `json:"kept"`
	Deleted     []backup.Decision `json:"deleted"`
}

// NewBackupAccountHandler returns a Handler for the function as the
// backup-account stack deploys it, in backup account account and region
// (the DR region of the entries copied there): its only action is
// prune-backup-account, over client, that account's RDS in that region.
func NewBackupAccountHandler(cat *catalog.Catalog, account, region string, client rdsAPI, log *slog.Logger, opts ...Option) (*Handler, error) {
	if cat == nil || log == nil || account == "" || region == "" || client == nil {
		return nil, errors.New("catalog, backup account, region, RDS client and logger are required")
	}
	h := &Handler{catalog: cat, home: region, clients: map[string]rdsAPI{region: client}, log: log, now: time.Now, offsite: account}
	for _, o := range opts {
		o(h)
	}
	if len(h.offsiteTargets()) == 0 {
		return nil, fmt.Errorf("the catalog copies nothing to backup account %s in %s", account, region)
	}
	return h, nil
}

// offsiteTargets are the catalog entries copied to this backup account and
// region.
func (h *Handler) offsiteTargets() []catalog.Target {
	var out []catalog.Target
	for _, t := range h.catalog.Targets() {
		if t.Backup != nil && t.Backup.BackupAccount != nil && t.Backup.BackupAccount.Account == h.offsite && t.Backup.DRRegion == h.home {
			out = append(out, t)
		}
	}
	return out
}

// pruneBackupAccount deletes, of stepship's copies of each database copied
// here, what its backupAccount retention lets go, ages taken no earlier
// than the copies were made (backup.NoOlderThanMade: the home account may
// tag copies here, and a tag must not make one go sooner).
func (h *Handler) pruneBackupAccount(ctx context.Context, log *slog.Logger) (AccountPruneResult, error) {
	client, now := h.clients[h.home], h.now()
	res := AccountPruneResult{Account: h.offsite, Region: h.home, Databases: []PrunedDatabase{}}
	var failures []string
	for _, tg := range h.offsiteTargets() {
		db := tg.Database.Identifier()
		snaps, err := rdssnap.Snapshots{Client: client, Database: *tg.Database}.List(ctx)
		if err != nil {
			return AccountPruneResult{}, &taskerr.RDSCallFailed{Reason: fmt.Sprintf("failed to list the copies in backup account %s (%s): %v", h.offsite, h.home, err)}
		}
		// nil: nothing makes a copy here go sooner (a pre-deploy snapshot
		// is never copied; one named or tagged so is counted alike).
		plan := backup.Prune(backup.NoOlderThanMade(snaps), db, tg.Backup.BackupAccount.Retention, nil, now)
		deleted, failed := deletePlanned(ctx, client, tg.Database.Aurora(), plan.Delete, "", log.With(slog.String("account", h.offsite)), "copy deleted")
		failures = append(failures, failed...)
		res.Databases = append(res.Databases, PrunedDatabase{Service: tg.Service, Environment: tg.Environment, Database: db, Kept: plan.Keep, Deleted: deleted})
	}
	if len(failures) > 0 {
		return AccountPruneResult{}, &taskerr.RDSCallFailed{Reason: "failed to delete in backup account " + h.offsite + ": " + strings.Join(failures, "; ")}
	}
	return res, nil
}
