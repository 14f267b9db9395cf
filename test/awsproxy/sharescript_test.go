package awsproxy_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/test/awsproxy"
)

// otherAccount is the account a snapshot is shared with.
const otherAccount = "210987654321"

// asAccount is cfg acting as a role of account: credentials from
// AssumeRole through the proxy (moto's are the role's account's).
func asAccount(t *testing.T, cfg aws.Config, account string) aws.Config {
	t.Helper()
	out, err := sts.NewFromConfig(cfg).AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/copier"), RoleSessionName: aws.String("awsproxy-test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	other := cfg.Copy()
	other.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return other
}

func newKey(t *testing.T, cfg aws.Config) string {
	t.Helper()
	out, err := kms.NewFromConfig(cfg).CreateKey(t.Context(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func errCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// TestSharedSnapshotCopy: a copy of an encrypted snapshot of another
// account is refused until the snapshot is shared and its key granted, as
// RDS refuses it; then made in the caller's account only, re-encrypted with
// the caller's key, creating for CopyPolls polls of that account, while the
// same identifier in the owner's account follows its own script.
func TestSharedSnapshotCopy(t *testing.T) {
	p, cfg := setup(t, 1)
	ctx := t.Context()
	cfg.Region = "us-west-2"
	owner := rds.NewFromConfig(cfg)
	ownerKey := newKey(t, cfg)
	db, snap := name("db"), name("snap")
	if _, err := owner.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(db), DBInstanceClass: aws.String("db.t3.micro"), Engine: aws.String("postgres"),
		AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("password1"),
		StorageEncrypted: aws.Bool(true), KmsKeyId: aws.String(ownerKey),
	}); err != nil {
		t.Fatal(err)
	}
	// The owner's snapshot is creating for 3 polls of the owner's account.
	defer awsproxy.RDSScript{Region: cfg.Region, SnapshotPolls: 3}.Install(p).Remove()
	made, err := owner.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String(db), DBSnapshotIdentifier: aws.String(snap),
		Tags: []rdstypes.Tag{{Key: aws.String("stepship:managed-by"), Value: aws.String("stepship")}}})
	if err != nil {
		t.Fatal(err)
	}
	source := aws.ToString(made.DBSnapshot.DBSnapshotArn)

	other := asAccount(t, cfg, otherAccount)
	copier := rds.NewFromConfig(other)
	otherKey := newKey(t, other)
	alias := "alias/" + name("copies")
	if _, err := kms.NewFromConfig(other).CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(otherKey)}); err != nil {
		t.Fatal(err)
	}
	copyIn := &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String(source), TargetDBSnapshotIdentifier: aws.String(snap),
		KmsKeyId: aws.String("arn:aws:kms:us-west-2:" + otherAccount + ":" + alias),
		Tags:     []rdstypes.Tag{{Key: aws.String("stepship:copy-of"), Value: aws.String(source)}}}

	// moto alone: the copy looks in the caller's own account.
	if _, err := copier.CopyDBSnapshot(ctx, copyIn); errCode(err) != "DBSnapshotNotFound" {
		t.Fatalf("without the script: %v, want moto's DBSnapshotNotFound", err)
	}
	script := awsproxy.SharedSnapshotScript{Region: cfg.Region, CopyPolls: 2}.Install(p)
	defer script.Remove()

	step := func(what, wantCode string) {
		t.Helper()
		if _, err := copier.CopyDBSnapshot(ctx, copyIn); errCode(err) != wantCode {
			t.Fatalf("%s: %v, want %s", what, err, wantCode)
		}
	}
	// Poll the owner's snapshot until it is available (3 polls).
	for range 4 {
		if _, err := owner.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)}); err != nil {
			t.Fatal(err)
		}
	}
	step("not shared", "DBSnapshotNotFound")
	if _, err := owner.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String(snap),
		AttributeName: aws.String("restore"), ValuesToAdd: []string{otherAccount}}); err != nil {
		t.Fatal(err)
	}
	step("shared, its key not granted", "KMSKeyNotAccessibleFault")
	keys := kms.NewFromConfig(cfg)
	grant := func(ops ...kmstypes.GrantOperation) {
		if _, err := keys.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(ownerKey), GranteePrincipal: aws.String("arn:aws:iam::" + otherAccount + ":role/copier"), Operations: ops}); err != nil {
			t.Fatal(err)
		}
	}
	grant("Decrypt", "DescribeKey")
	step("granted too little", "KMSKeyNotAccessibleFault")
	grant("Decrypt", "DescribeKey", "CreateGrant")
	for _, key := range []*string{nil, aws.String("arn:aws:kms:us-west-2:" + otherAccount + ":alias/none"), aws.String(ownerKey)} {
		in := *copyIn
		in.KmsKeyId = key
		if _, err := copier.CopyDBSnapshot(ctx, &in); errCode(err) != "KMSKeyNotAccessibleFault" {
			t.Fatalf("KmsKeyId %v (none, unknown, the owner's): %v", aws.ToString(key), err)
		}
	}

	out, err := copier.CopyDBSnapshot(ctx, copyIn)
	if err != nil {
		t.Fatal(err)
	}
	c := out.DBSnapshot
	if aws.ToString(c.Status) != "creating" || aws.ToString(c.DBSnapshotArn) != "arn:aws:rds:us-west-2:"+otherAccount+":snapshot:"+snap ||
		aws.ToString(c.KmsKeyId) != otherKey || aws.ToString(c.SourceDBSnapshotIdentifier) != source || aws.ToString(c.DBInstanceIdentifier) != db ||
		aws.ToString(c.Engine) != "postgres" || !aws.ToBool(c.Encrypted) {
		t.Errorf("copy %+v", c)
	}
	for i, want := range []string{"creating", "creating", "available"} {
		d, err := copier.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)})
		if err != nil {
			t.Fatal(err)
		}
		s := d.DBSnapshots[0]
		if aws.ToString(s.Status) != want || len(s.TagList) != 1 || aws.ToString(s.TagList[0].Key) != "stepship:copy-of" {
			t.Errorf("poll %d of the copy: %s, tags %v; want %s with the call's tags", i+1, aws.ToString(s.Status), s.TagList, want)
		}
	}
	// The owner's snapshot of the same identifier is the owner's: available,
	// whatever the copy's polls.
	if d, err := owner.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)}); err != nil || aws.ToString(d.DBSnapshots[0].Status) != "available" {
		t.Errorf("the owner's snapshot: %v", err)
	}
	// The stand-in instance is gone, with its automated backup; the owner
	// has nothing new.
	if d, err := copier.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{}); err != nil || len(d.DBInstances) != 0 {
		t.Errorf("instances in the copying account: %+v, %v", d, err)
	}
	all, err := copier.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range all.DBSnapshots {
		ids = append(ids, aws.ToString(s.DBSnapshotIdentifier))
	}
	if !slices.Contains(ids, snap) || slices.ContainsFunc(ids, func(id string) bool { return id != snap && id[:4] == "rds:" }) {
		t.Errorf("snapshots in the copying account: %v", ids)
	}
	step("copied again", "DBSnapshotAlreadyExists")
	if len(p.Errors()) > 0 {
		t.Errorf("proxy errors: %v", p.Errors())
	}
}

// A copy by ARN from the caller's own account is moto's, unchanged.
func TestSharedSnapshotScriptLeavesOwnCopies(t *testing.T) {
	p, client, _, snap := withSnapshot(t)
	defer awsproxy.SharedSnapshotScript{}.Install(p).Remove()
	d, err := client.DescribeDBSnapshots(t.Context(), &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.CopyDBSnapshot(t.Context(), &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: d.DBSnapshots[0].DBSnapshotArn, TargetDBSnapshotIdentifier: aws.String(snap + "-copy")})
	if err != nil || aws.ToString(out.DBSnapshot.DBSnapshotIdentifier) != snap+"-copy" {
		t.Errorf("own copy %+v, %v", out, err)
	}
}
