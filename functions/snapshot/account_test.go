package main

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
)

// fakeKMS is one region's KMS, as the home account sees its DR key: the
// grants on it, listed a page per grant (the paginator turns the pages),
// and scripted errors.
type fakeKMS struct {
	grants                        []kmstypes.GrantListEntry
	created                       []*kms.CreateGrantInput
	createErr, listErr, retireErr error
	retired                       []string
	// vanished grants are listed, and answer NotFound when retired (an
	// earlier attempt retired them meanwhile).
	vanished []string
	n        int
}

// CreateGrant makes a grant; one with the same name, grantee, operations
// and retiring principal is returned again, not made twice, as KMS does for
// a grant with a Name.
func (f *fakeKMS) CreateGrant(_ context.Context, in *kms.CreateGrantInput, _ ...func(*kms.Options)) (*kms.CreateGrantOutput, error) {
	f.created = append(f.created, in)
	if f.createErr != nil {
		return nil, f.createErr
	}
	for _, g := range f.grants {
		if aws.ToString(g.Name) == aws.ToString(in.Name) && aws.ToString(g.GranteePrincipal) == aws.ToString(in.GranteePrincipal) &&
			slices.Equal(g.Operations, in.Operations) && aws.ToString(g.RetiringPrincipal) == aws.ToString(in.RetiringPrincipal) {
			return &kms.CreateGrantOutput{GrantId: g.GrantId}, nil
		}
	}
	f.n++
	id := "grant-" + strconv.Itoa(f.n)
	f.grants = append(f.grants, kmstypes.GrantListEntry{GrantId: aws.String(id), KeyId: in.KeyId, Name: in.Name, GranteePrincipal: in.GranteePrincipal,
		Operations: in.Operations, RetiringPrincipal: in.RetiringPrincipal})
	return &kms.CreateGrantOutput{GrantId: aws.String(id)}, nil
}

func (f *fakeKMS) ListGrants(_ context.Context, in *kms.ListGrantsInput, _ ...func(*kms.Options)) (*kms.ListGrantsOutput, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	i, _ := strconv.Atoi(aws.ToString(in.Marker))
	if i >= len(f.grants) {
		return &kms.ListGrantsOutput{}, nil
	}
	out := &kms.ListGrantsOutput{Grants: f.grants[i : i+1]}
	if i+1 < len(f.grants) {
		out.Truncated, out.NextMarker = true, aws.String(strconv.Itoa(i+1))
	}
	return out, nil
}

func (f *fakeKMS) RetireGrant(_ context.Context, in *kms.RetireGrantInput, _ ...func(*kms.Options)) (*kms.RetireGrantOutput, error) {
	if f.retireErr != nil {
		return nil, f.retireErr
	}
	for i, g := range f.grants {
		if slices.Contains(f.vanished, aws.ToString(in.GrantId)) {
			break
		}
		if aws.ToString(g.GrantId) == aws.ToString(in.GrantId) {
			// The listing's next page must not skip the grant after it:
			// keep the slot, marked retired.
			f.grants[i].Name = aws.String("(retired)")
			f.retired = append(f.retired, aws.ToString(in.GrantId))
			return &kms.RetireGrantOutput{}, nil
		}
	}
	return nil, &kmstypes.NotFoundException{Message: aws.String("grant not found")}
}

func (f *fakeRDS) ModifyDBSnapshotAttribute(_ context.Context, in *rds.ModifyDBSnapshotAttributeInput, _ ...func(*rds.Options)) (*rds.ModifyDBSnapshotAttributeOutput, error) {
	id := aws.ToString(in.DBSnapshotIdentifier)
	if _, ok := f.snapshots[id]; !ok {
		return nil, &rdstypes.DBSnapshotNotFoundFault{}
	}
	return &rds.ModifyDBSnapshotAttributeOutput{}, f.modify(id, aws.ToString(in.AttributeName), in.ValuesToAdd, in.ValuesToRemove)
}

func (f *fakeRDS) ModifyDBClusterSnapshotAttribute(_ context.Context, in *rds.ModifyDBClusterSnapshotAttributeInput, _ ...func(*rds.Options)) (*rds.ModifyDBClusterSnapshotAttributeOutput, error) {
	id := aws.ToString(in.DBClusterSnapshotIdentifier)
	if _, ok := f.clusters[id]; !ok {
		return nil, &rdstypes.DBClusterSnapshotNotFoundFault{}
	}
	return &rds.ModifyDBClusterSnapshotAttributeOutput{}, f.modify(id, aws.ToString(in.AttributeName), in.ValuesToAdd, in.ValuesToRemove)
}

func (f *fakeRDS) modify(id, attribute string, add, remove []string) error {
	if f.shareErr != nil {
		return f.shareErr
	}
	if attribute != "restore" {
		return &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "attribute " + attribute}
	}
	for _, a := range add {
		if !slices.Contains(f.shared[id], a) {
			f.shared[id] = append(f.shared[id], a)
		}
	}
	f.shared[id] = slices.DeleteFunc(f.shared[id], func(a string) bool { return slices.Contains(remove, a) })
	return nil
}

func tagMap(tags []rdstypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

const (
	drCopyARN    = "arn:aws:rds:us-west-2:123456789012:snapshot:" + snapID
	drKey        = "arn:aws:kms:us-west-2:123456789012:key/dr-key"
	vaultAccount = "210987654321"
)

func accountTask(action, environment, id string) Task {
	return Task{Call: backup.Call{Action: action, Service: "web", Environment: environment}, Snapshot: id}
}

// The DR copy is shared (a grant on the DR key to the backup account's role
// only, retirable by the function's own role; the account in the copy's
// restore attribute), copied into the backup account once, re-encrypted
// with its key and tagged for its retention, then unshared: the account
// removed, the grant retired. Every step may run again.
func TestShareCopyUnshare(t *testing.T) {
	w := newWorld(t)
	w.dr.add(snapID, "available", time.Hour, ours(backup.TagTakenAt, "2026-11-30T03:00:00Z", backup.TagCopyOf, "arn:aws:rds:us-east-1:123456789012:snapshot:"+snapID,
		backup.TagExpires, "2026-12-07", "aws:backup:source", "x"))

	got, err := w.run(t, accountTask(ActionShare, "production", snapID))
	if err != nil {
		t.Fatal(err)
	}
	want := Share{Snapshot: snapID, ARN: drCopyARN, Account: vaultAccount, Grant: "stepship-share-" + snapID, GrantID: "grant-1"}
	if got.(Share) != want {
		t.Errorf("share %+v, want %+v", got, want)
	}
	in := w.drKey.created[0]
	if aws.ToString(in.KeyId) != drKey || aws.ToString(in.GranteePrincipal) != copierRole || aws.ToString(in.RetiringPrincipal) != selfRole ||
		!slices.Equal(in.Operations, []kmstypes.GrantOperation{"CreateGrant", "Decrypt", "DescribeKey"}) || aws.ToString(in.Name) != want.Grant {
		t.Errorf("CreateGrant %+v", in)
	}
	if !slices.Equal(w.dr.shared[snapID], []string{vaultAccount}) {
		t.Errorf("shared with %v", w.dr.shared[snapID])
	}
	if again, err := w.run(t, accountTask(ActionShare, "production", snapID)); err != nil || again.(Share) != want || len(w.drKey.grants) != 1 || len(w.dr.shared[snapID]) != 1 {
		t.Errorf("share again: %+v, %v; grants %d, shared %v", again, err, len(w.drKey.grants), w.dr.shared[snapID])
	}

	c, err := w.run(t, accountTask(ActionAccountCopy, "production", snapID))
	if err != nil {
		t.Fatal(err)
	}
	if c := c.(Copy); !c.Started || c.Account != vaultAccount || c.Region != "us-west-2" || c.Status != "pending" || c.Available ||
		c.ARN != "arn:aws:rds:us-west-2:210987654321:snapshot:"+snapID {
		t.Errorf("account copy %+v", c)
	}
	if len(w.dr.copies) != 0 || len(w.vault.copies) != 1 {
		t.Fatalf("copies: DR %d, backup account %d; the copy is made as the backup account's role", len(w.dr.copies), len(w.vault.copies))
	}
	cin := w.vault.copies[0]
	if aws.ToString(cin.SourceDBSnapshotIdentifier) != drCopyARN || aws.ToString(cin.TargetDBSnapshotIdentifier) != snapID ||
		aws.ToString(cin.KmsKeyId) != "arn:aws:kms:us-west-2:210987654321:alias/copies" || cin.SourceRegion != nil || aws.ToBool(cin.CopyTags) {
		t.Errorf("CopyDBSnapshot input %+v", cin)
	}
	tags := tagMap(cin.Tags)
	if tags[backup.TagCopyOf] != drCopyARN || tags[backup.TagExpires] != "2026-12-30" || tags[backup.TagTakenAt] != "2026-11-30T03:00:00Z" ||
		tags[backup.TagManagedBy] != backup.ManagedBy || tags[backup.TagDatabase] != "web-prod" || tags["aws:backup:source"] != "" || len(cin.Tags) != 6 {
		t.Errorf("copy tags %v: a copy of the DR copy, expiring after the backup account's 30 days, no aws: tags, each key once", tags)
	}

	// Polled: found, not copied twice; then available.
	if again, err := w.run(t, accountTask(ActionAccountCopy, "production", snapID)); err != nil || again.(Copy).Started || again.(Copy).Account != vaultAccount || len(w.vault.copies) != 1 {
		t.Errorf("second call %+v, %v; copies %d", again, err, len(w.vault.copies))
	}
	w.vault.snapshots[snapID].Status = aws.String("available")
	if done, err := w.run(t, accountTask(ActionAccountCopy, "production", snapID)); err != nil || !done.(Copy).Available {
		t.Errorf("third call %+v, %v", done, err)
	}

	u, err := w.run(t, accountTask(ActionUnshare, "production", snapID))
	if err != nil || !reflect.DeepEqual(u, Unshared{Snapshot: snapID, Account: vaultAccount, RetiredGrants: []string{"grant-1"}}) {
		t.Errorf("unshare %+v, %v", u, err)
	}
	if len(w.dr.shared[snapID]) != 0 || !slices.Equal(w.drKey.retired, []string{"grant-1"}) {
		t.Errorf("after unsharing: shared with %v, retired %v", w.dr.shared[snapID], w.drKey.retired)
	}
	if again, err := w.run(t, accountTask(ActionUnshare, "production", snapID)); err != nil || len(again.(Unshared).RetiredGrants) != 0 {
		t.Errorf("unshare again: %+v, %v", again, err)
	}
	if _, ok := w.dr.snapshots[snapID]; !ok || len(w.dr.deleted)+len(w.vault.deleted) != 0 {
		t.Error("sharing and copying deleted something")
	}
}

// Unsharing retires only the grants named for this snapshot to the backup
// account's role, on every page of the listing: a grant of another
// snapshot's copy (still being copied) and RDS's own stay.
func TestUnshareRetiresOnlyItsGrants(t *testing.T) {
	w := newWorld(t)
	w.dr.add(snapID, "available", time.Hour, ours())
	mine := kmstypes.GrantListEntry{GrantId: aws.String("mine"), Name: aws.String(backup.ShareGrantName(snapID)), GranteePrincipal: aws.String(copierRole)}
	again := mine
	again.GrantId = aws.String("mine-again") // a duplicate from a retried CreateGrant
	w.drKey.grants = []kmstypes.GrantListEntry{
		{GrantId: aws.String("rds"), GranteePrincipal: aws.String("rds.us-west-2.amazonaws.com")},
		mine,
		{GrantId: aws.String("other"), Name: aws.String(backup.ShareGrantName("stepship-web-prod-20261129-030000")), GranteePrincipal: aws.String(copierRole)},
		{GrantId: aws.String("other-grantee"), Name: aws.String(backup.ShareGrantName(snapID)), GranteePrincipal: aws.String("arn:aws:iam::999999999999:role/x")},
		again,
	}
	u, err := w.run(t, accountTask(ActionUnshare, "production", snapID))
	if err != nil || !slices.Equal(u.(Unshared).RetiredGrants, []string{"mine", "mine-again"}) {
		t.Errorf("unshare %+v, %v", u, err)
	}
}

// An Aurora cluster's copy in eu-west-1 is shared and copied with the
// cluster-snapshot calls, into the backup account in eu-west-1, with the
// key the catalog names there.
func TestShareAndCopyAurora(t *testing.T) {
	w := newWorld(t)
	w.eu.clusters["c1"] = cluster("eu-west-1", "c1", "available", "web-aurora")
	if _, err := w.run(t, accountTask(ActionShare, "aurora", "c1")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.eu.shared["c1"], []string{vaultAccount}) || len(w.euKey.grants) != 1 || len(w.drKey.grants) != 0 {
		t.Errorf("shared with %v; grants: eu %d, us-west-2 %d", w.eu.shared["c1"], len(w.euKey.grants), len(w.drKey.grants))
	}
	c, err := w.run(t, accountTask(ActionAccountCopy, "aurora", "c1"))
	if err != nil || !c.(Copy).Started || c.(Copy).Region != "eu-west-1" || c.(Copy).Account != vaultAccount {
		t.Fatalf("copy %+v, %v", c, err)
	}
	if len(w.euVault.ccopies) != 1 || aws.ToString(w.euVault.ccopies[0].KmsKeyId) != "arn:aws:kms:eu-west-1:210987654321:key/eu-copies" ||
		aws.ToString(w.euVault.ccopies[0].SourceDBClusterSnapshotIdentifier) != "arn:aws:rds:eu-west-1:123456789012:snapshot:c1" {
		t.Errorf("cluster copies %+v", w.euVault.ccopies)
	}
	if _, err := w.run(t, accountTask(ActionUnshare, "aurora", "c1")); err != nil || len(w.eu.shared["c1"]) != 0 || len(w.euKey.retired) != 1 {
		t.Errorf("unshare: %v; shared with %v, retired %v", err, w.eu.shared["c1"], w.euKey.retired)
	}
}

func TestBackupAccountFailures(t *testing.T) {
	quota := func(msg string) error { return &rdstypes.SnapshotQuotaExceededFault{Message: aws.String(msg)} }
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	tests := []struct {
		name          string
		action        string
		environment   string
		setup         func(w *world)
		errName, text string
	}{
		{"no backup account", ActionShare, "dr-only", nil, "UnknownTarget", `service "web" has no backup account in environment "dr-only"`},
		{"no backup at all", ActionAccountCopy, "staging", nil, "UnknownTarget", `has no backup in environment "staging"`},
		{"the DR copy is gone", ActionShare, "production", func(w *world) { delete(w.dr.snapshots, snapID) }, "SnapshotNotFound", "the DR copy " + snapID + " is not in us-west-2"},
		{"the DR copy is not ours", ActionShare, "production", func(w *world) { w.dr.add(snapID, "available", time.Hour, map[string]string{}) },
			"SnapshotNotFound", "is not stepship's copy of web-prod"},
		{"the DR copy is still copying", ActionAccountCopy, "production", func(w *world) { w.dr.snapshots[snapID].Status = aws.String("copying") },
			"RDSCallFailed", "is copying, not yet available"},
		{"the DR region cannot be read", ActionShare, "production", func(w *world) { w.dr.describeErr = throttled }, "RDSCallFailed", "failed to read the DR copy"},
		{"the grant is refused", ActionShare, "production", func(w *world) {
			w.drKey.createErr = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed"}
		}, "KMSCallFailed", "failed to grant " + copierRole + " the DR key " + drKey},
		{"the share is refused", ActionShare, "production", func(w *world) { w.dr.shareErr = throttled }, "RDSCallFailed", "failed to share " + snapID + " in us-west-2 with backup account 210987654321"},
		{"the backup account cannot be read", ActionAccountCopy, "production", func(w *world) { w.vault.describeErr = throttled },
			"RDSCallFailed", "failed to look for the copy in backup account 210987654321 (us-west-2)"},
		{"the backup account's copies wait their turn", ActionAccountCopy, "production", func(w *world) { w.vault.copyErr = quota("Too many concurrent copies") },
			"CopyQuotaExceeded", "us-west-2 of backup account 210987654321 already runs as many snapshot copies as RDS allows"},
		{"the backup account is full", ActionAccountCopy, "production", func(w *world) { w.vault.copyErr = quota("Cannot create more than 100 manual snapshots") },
			"SnapshotQuotaExceeded", "us-west-2 of backup account 210987654321 holds as many manual snapshots"},
		{"the key is not shared", ActionAccountCopy, "production", func(w *world) {
			w.vault.copyErr = &smithy.GenericAPIError{Code: "KMSKeyNotAccessibleFault", Message: "key not accessible"}
		}, "RDSCallFailed", "failed to copy snapshot " + snapID + " to us-west-2 of backup account 210987654321: "},
		{"no snapshot named", ActionUnshare, "production", func(w *world) {}, "InvalidBackupRequest", "snapshot is required for unshare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.dr.add(snapID, "available", time.Hour, ours())
			task := accountTask(tt.action, tt.environment, snapID)
			if tt.setup != nil {
				tt.setup(w)
			}
			if tt.name == "no snapshot named" {
				task.Snapshot = ""
			}
			_, err := w.run(t, task)
			wantErr(t, err, tt.errName, tt.text)
			if len(w.vault.copies) != 0 {
				t.Errorf("copied: %+v", w.vault.copies)
			}
			if tt.action == ActionShare && len(w.dr.shared[snapID]) != 0 {
				t.Errorf("shared with %v after a failure", w.dr.shared[snapID])
			}
		})
	}
}

// A copy an earlier attempt started appears between the look and the call:
// found and reported, as the backup account's.
func TestAccountCopyRace(t *testing.T) {
	w := newWorld(t)
	w.dr.add(snapID, "available", time.Hour, ours())
	w.vault.copyErr = &smithy.GenericAPIError{Code: "DBSnapshotAlreadyExists", Message: "exists"}
	w.vault.onCopyErr = func() { w.vault.add(snapID, "copying", 0, ours()) }
	got, err := w.run(t, accountTask(ActionAccountCopy, "production", snapID))
	want := Copy{Snapshot: snapID, ARN: "arn:aws:rds:us-west-2:210987654321:snapshot:" + snapID, Region: "us-west-2", Account: vaultAccount, Status: "copying"}
	if err != nil || got.(Copy) != want {
		t.Errorf("race: %+v, %v", got, err)
	}
}

// Unsharing tries both halves whatever fails, and fails retriably, named
// after what failed; what is already gone is no failure.
func TestUnshareFailures(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	tests := []struct {
		name          string
		setup         func(w *world)
		errName, text string
		unshared      bool // the account was removed all the same
		retired       bool // the grant was retired all the same
	}{
		{"the attribute cannot be changed", func(w *world) { w.dr.shareErr = throttled }, "RDSCallFailed", "failed to stop sharing " + snapID, false, true},
		{"the grants cannot be listed", func(w *world) { w.drKey.listErr = throttled }, "KMSCallFailed", "failed to retire the grants stepship-share-" + snapID, true, false},
		{"the grant cannot be retired", func(w *world) { w.drKey.retireErr = throttled }, "KMSCallFailed", "failed to retire the grants", true, false},
		{"both", func(w *world) { w.dr.shareErr, w.drKey.listErr = throttled, throttled }, "RDSCallFailed", "; failed to retire the grants", false, false},
		{"the DR copy is gone", func(w *world) { delete(w.dr.snapshots, snapID); delete(w.dr.shared, snapID) }, "", "", true, true},
		{"a grant is retired meanwhile", func(w *world) {
			w.drKey.grants = append(w.drKey.grants, w.drKey.grants[0])
			w.drKey.grants[1].GrantId = aws.String("retired-meanwhile")
			w.drKey.vanished = []string{"retired-meanwhile"}
		}, "", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.dr.add(snapID, "available", time.Hour, ours())
			if _, err := w.run(t, accountTask(ActionShare, "production", snapID)); err != nil {
				t.Fatal(err)
			}
			tt.setup(w)
			_, err := w.run(t, accountTask(ActionUnshare, "production", snapID))
			if tt.errName == "" && err != nil {
				t.Fatalf("unshare: %v", err)
			} else if tt.errName != "" {
				wantErr(t, err, tt.errName, tt.text)
			}
			if got := len(w.dr.shared[snapID]) == 0; got != tt.unshared {
				t.Errorf("unshared %v, want %v", got, tt.unshared)
			}
			if got := slices.Contains(w.drKey.retired, "grant-1"); got != tt.retired {
				t.Errorf("grant retired %v, want %v", got, tt.retired)
			}
		})
	}
}

// With a backup account in the catalog, the handler needs the function's
// own role, a KMS client in its DR region and a client as its role there.
func TestNewHandlerNeedsTheBackupAccountsClients(t *testing.T) {
	cat, _ := catalog.Parse([]byte(testCatalog))
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	clients := map[string]rdsAPI{"us-east-1": newFakeRDS("us-east-1"), "us-west-2": newFakeRDS("us-west-2"), "eu-west-1": newFakeRDS("eu-west-1")}
	keys := map[string]kmsAPI{"us-west-2": &fakeKMS{}, "eu-west-1": &fakeKMS{}}
	accounts := map[backup.AccountRole]accountRDS{{Role: copierRole, Region: "us-west-2"}: newFakeRDS("us-west-2"), {Role: copierRole, Region: "eu-west-1"}: newFakeRDS("eu-west-1")}
	for _, tt := range []struct {
		name string
		opts []Option
		want string
	}{
		{"none", nil, "the function's own role ARN is not set"},
		{"no own role", []Option{WithBackupAccounts(keys, accounts, "")}, "the function's own role ARN is not set"},
		{"no KMS client", []Option{WithBackupAccounts(map[string]kmsAPI{"us-west-2": &fakeKMS{}}, accounts, selfRole)}, "no KMS client for region eu-west-1"},
		{"no client as the role", []Option{WithBackupAccounts(keys, map[backup.AccountRole]accountRDS{{Role: copierRole, Region: "us-west-2"}: newFakeRDS("us-west-2")}, selfRole)},
			"no RDS client as role " + copierRole + " in eu-west-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHandler(cat, "us-east-1", clients, log, tt.opts...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := NewHandler(cat, "us-east-1", clients, log, WithBackupAccounts(keys, accounts, selfRole)); err != nil {
		t.Error(err)
	}
}

// What the function holds in a backup account reads and copies, and cannot
// delete: the blast radius of the home account stops at its copies there.
func TestTheBackupAccountClientCannotDelete(t *testing.T) {
	typ := reflect.TypeFor[accountRDS]()
	for i := range typ.NumMethod() {
		if m := typ.Method(i).Name; strings.Contains(m, "Delete") || strings.Contains(m, "Modify") || strings.Contains(m, "Remove") {
			t.Errorf("the backup-account client has %s", m)
		}
	}
	if _, ok := typ.MethodByName("CopyDBSnapshot"); !ok {
		t.Error("the backup-account client cannot copy")
	}
}
