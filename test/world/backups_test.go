package world

import (
	"context"
	"path/filepath"
	"testing"

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
	if tg.Database == nil || tg.Backup == nil || tg.Drill == nil {
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
	} {
		if c.got != c.want {
			t.Errorf("catalog.yaml %s = %q, the world seeds %q", c.field, c.got, c.want)
		}
	}
}
