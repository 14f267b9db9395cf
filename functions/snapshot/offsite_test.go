package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
)

// offsiteWorld is the function as the backup-account stack runs it, in
// 210987654321/us-west-2, where testCatalog's web/production is copied
// (retention: the newest 5 and every one younger than 30 days).
func offsiteWorld(t *testing.T) (*Handler, *fakeRDS) {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	vault := newFakeRDS("us-west-2")
	vault.account = vaultAccount
	h, err := NewBackupAccountHandler(cat, vaultAccount, "us-west-2", vault, slog.New(slog.NewJSONHandler(io.Discard, nil)), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return h, vault
}

// The backup account applies its own retention to stepship's copies there,
// ages never younger than the copies' own creation: a tag saying a copy made
// today is old does not make it go.
func TestPruneBackupAccount(t *testing.T) {
	h, vault := offsiteWorld(t)
	day := 24 * time.Hour
	for i, age := range []int{1, 2, 3, 4, 5, 40, 50} {
		vault.add("copy-"+string(rune('a'+i)), "available", time.Duration(age)*day, ours())
	}
	vault.add("tagged-old", "available", time.Hour, ours(backup.TagTakenAt, "2025-01-01T00:00:00Z"))
	vault.add("by-hand", "available", 90*day, map[string]string{})
	got, err := (&world{h: h}).run(t, Task{Call: backup.Call{Action: ActionPruneBackupAccount}})
	if err != nil {
		t.Fatal(err)
	}
	res := got.(AccountPruneResult)
	if res.Account != vaultAccount || res.Region != "us-west-2" || len(res.Databases) != 1 || res.Databases[0].Database != "web-prod" || res.Databases[0].Environment != "production" {
		t.Fatalf("result %+v", res)
	}
	// the newest 5 (tagged-old by its creation, copy-a…copy-d), then copy-e
	// is younger than 30 days; copy-f and copy-g go
	if !slices.Equal(ids(res.Databases[0].Deleted), []string{"copy-f", "copy-g"}) || !slices.Equal(vault.deleted, []string{"copy-f", "copy-g"}) {
		t.Errorf("deleted %v (%v)", ids(res.Databases[0].Deleted), vault.deleted)
	}
	if _, ok := vault.snapshots["by-hand"]; !ok {
		t.Error("deleted a snapshot that is not stepship's")
	}
}

// The sample an operator runs by hand in the backup account (aws lambda
// invoke … --payload file://events/prune-backup-account.json), the shape the
// backup-account stack's schedule sends, prunes.
func TestPruneBackupAccountSample(t *testing.T) {
	raw, err := os.ReadFile("../../events/prune-backup-account.json")
	if err != nil {
		t.Fatal(err)
	}
	var inv payload.Invocation[Task]
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		t.Fatal(err)
	}
	h, _ := offsiteWorld(t)
	if got, err := h.Handle(t.Context(), inv); err != nil || got.(AccountPruneResult).Account != vaultAccount {
		t.Errorf("the sample: %+v, %v", got, err)
	}
}

func ids(ds []backup.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Snapshot)
	}
	return out
}

func TestPruneBackupAccountFailures(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	h, vault := offsiteWorld(t)
	vault.describeErr = throttled
	_, err := (&world{h: h}).run(t, Task{Call: backup.Call{Action: ActionPruneBackupAccount}})
	wantErr(t, err, "RDSCallFailed", "failed to list the copies in backup account 210987654321 (us-west-2)")

	h, vault = offsiteWorld(t)
	vault.add("copy-old", "available", 90*24*time.Hour, ours())
	for _, id := range []string{"n1", "n2", "n3", "n4", "n5"} {
		vault.add(id, "available", time.Hour, ours())
	}
	vault.deleteErr = throttled
	_, err = (&world{h: h}).run(t, Task{Call: backup.Call{Action: ActionPruneBackupAccount}})
	wantErr(t, err, "RDSCallFailed", "failed to delete in backup account 210987654321: copy-old")
}

// In a backup account the function does nothing but prune there; in the
// home account it never prunes a backup account.
func TestPruneBackupAccountRunsOnlyThere(t *testing.T) {
	h, _ := offsiteWorld(t)
	for _, action := range []string{ActionPlan, ActionCopy, ActionShare, ActionAccountCopy, ActionUnshare, ActionPrune} {
		_, err := (&world{h: h}).run(t, Task{Call: backup.Call{Action: action, Service: "web", Environment: "production"}, Snapshot: snapID})
		wantErr(t, err, "InvalidBackupRequest", "runs in backup account 210987654321: its only action is prune-backup-account")
	}
	_, err := newWorld(t).run(t, Task{Call: backup.Call{Action: ActionPruneBackupAccount}})
	wantErr(t, err, "InvalidBackupRequest", "the home account deletes nothing there")

	cat, _ := catalog.Parse([]byte(testCatalog))
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if _, err := NewBackupAccountHandler(cat, vaultAccount, "us-east-1", newFakeRDS("us-east-1"), log); err == nil {
		t.Error("a backup account and region the catalog copies nothing to")
	}
	if _, err := NewBackupAccountHandler(cat, "", "us-west-2", newFakeRDS("us-west-2"), log); err == nil {
		t.Error("no account")
	}
}
