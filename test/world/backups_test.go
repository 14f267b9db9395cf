package world

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/localsvc"
)

// The emulator makes the identifiers the spec (and catalog.yaml) name.
func TestSeedBackups(t *testing.T) {
	cfg := harness.StartMoto(t).Config(context.Background())
	b := DemoBackups()
	_, secret, err := SeedDatabase(context.Background(), cfg, b, "127.0.0.1", 5432)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SeedBackups(context.Background(), cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	if secret != b.SecretARN(cfg.Region, "123456789012") || got.DRKMSKey != b.DRKMSKey || got.SecurityGroupID != b.DrillSecurityGroup {
		t.Errorf("seeded %+v, want the spec's %+v", got, b)
	}
	// The backup account's key is its own, in the DR region, by the alias
	// the catalog names.
	dr := cfg.Copy()
	dr.Region = b.DRRegion
	as, err := b.AsBackupAccount(context.Background(), dr)
	if err != nil {
		t.Fatal(err)
	}
	key, err := kms.NewFromConfig(as).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(b.BackupKMSAlias)})
	if err != nil || aws.ToString(key.KeyMetadata.Arn) != got.BackupKMSKey || !strings.HasPrefix(got.BackupKMSKey, "arn:aws:kms:us-west-2:210987654321:key/") {
		t.Errorf("backup account key %s (%v), seeded %s", aws.ToString(key.KeyMetadata.Arn), err, got.BackupKMSKey)
	}
}

// catalog.yaml's web/production database, backup and drill name what
// SeedBackups creates.
func TestDemoBackupsMatchTheCatalog(t *testing.T) {
	root, err := localsvc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(filepath.Join(root, "catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := cat.Resolve("web", "production")
	if err != nil {
		t.Fatal(err)
	}
	b := DemoBackups()
	if tg.Database == nil || tg.Backup == nil || tg.Drill == nil || tg.Backup.BackupAccount == nil {
		t.Fatalf("web/production has no database, backup or drill: %+v", tg)
	}
	for _, c := range []struct{ field, got, want string }{
		{"database.instance", tg.Database.Instance, b.Database},
		{"database.secret", tg.Database.Secret, b.SecretARN(localsvc.Region, localsvc.AccountID)},
		{"backup.drRegion", tg.Backup.DRRegion, b.DRRegion},
		{"backup.drKmsKey", tg.Backup.DRKMSKey, b.DRKMSKey},
		{"drill.subnetGroup", tg.Drill.SubnetGroup, b.DrillSubnetGroup},
		// none: the DR stack's (the local stack passes b.DrillSecurityGroup)
		{"drill.securityGroup", tg.Drill.SecurityGroup, ""},
		{"backup.backupAccount.account", tg.Backup.BackupAccount.Account, b.BackupAccount},
		{"backup.backupAccount.role", tg.Backup.BackupAccount.Role, b.BackupRole},
		{"backup.backupAccount.kmsKey", tg.Backup.BackupAccount.KMSKey, b.BackupKMSAlias},
	} {
		if c.got != c.want {
			t.Errorf("catalog.yaml %s = %q, the world seeds %q", c.field, c.got, c.want)
		}
	}
}
