package catalog

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepship/stepship/test/golden"
)

// withData: one environment with a database, backups and drills.
const withData = `
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: prebuilt}
    environments:
      - name: production
        branches: [main]
        cluster: stepship-demo
        service: web
        container: web
        database:
          instance: web-prod
          secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:web-prod-db-AbCdEf
        backup:
          schedule: cron(0 3 * * ? *)
          retention: {count: 7, days: 14}
          drRegion: us-west-2
          drKmsKey: arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
          backupAccount:
            account: "210987654321"
            role: arn:aws:iam::210987654321:role/stepship-backup-copier
            kmsKey: arn:aws:kms:us-west-2:210987654321:alias/stepship-backup-copies
            retention: {count: 14, days: 35}
        drill:
          schedule: cron(0 5 ? * SUN *)
          subnetGroup: stepship-drill-isolated
          securityGroup: sg-0123456789abcdef0
          tables: [users, billing.invoices]
          assertions:
            - name: has-admin
              query: select count(*) from users where role = 'admin'
              expect: 1
            - {name: no-orphans, query: "select count(*) from billing.invoices where user_id is null;", expect: "0"}
          timeoutMinutes: 90
      - name: staging
        branches: [develop]
        cluster: stepship-staging
        service: web
        container: web
`

const envAt = "catalog: services[web].environments[production]"

// backupAccountYAML is withData's backup account.
const backupAccountYAML = `          backupAccount:
            account: "210987654321"
            role: arn:aws:iam::210987654321:role/stepship-backup-copier
            kmsKey: arn:aws:kms:us-west-2:210987654321:alias/stepship-backup-copies
            retention: {count: 14, days: 35}
`

func TestDataParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string
		want      string
		wantExact bool
	}{
		{"pre-deploy retention without beforeDeploy", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeployRetention: {count: 5, days: 2}\n",
			envAt + ".backup.beforeDeployRetention: is only for pre-deploy snapshots: set beforeDeploy: true, or remove it", true},
		{"too many pre-deploy snapshots kept", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n          beforeDeployRetention: {count: 21, days: 1}\n",
			envAt + ".backup.beforeDeployRetention.count: must be between 1 and 20 (the newest available pre-deploy snapshots always kept; default 3)", true},
		{"no pre-deploy snapshot kept", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n          beforeDeployRetention: {count: 0, days: 1}\n",
			envAt + ".backup.beforeDeployRetention.count: must be between 1 and 20", false},
		{"pre-deploy snapshots kept too long", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n          beforeDeployRetention: {count: 3, days: 15}\n",
			envAt + ".backup.beforeDeployRetention.days: must be between 1 and 14 (pre-deploy snapshots younger than this are always kept; default 1)", true},
		{"pre-deploy retention without days", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n          beforeDeployRetention: {count: 3}\n",
			envAt + ".backup.beforeDeployRetention.days: must be between 1 and 14", false},
		{"both instance and cluster", "instance: web-prod", "instance: web-prod\n          cluster: web-aurora",
			envAt + ".database: give instance or cluster, not both", true},
		{"neither instance nor cluster", "          instance: web-prod\n", "",
			envAt + ".database: one of instance (an RDS DB instance) or cluster (an Aurora cluster) is required", true},
		{"identifier in upper case", "instance: web-prod", "instance: Web-Prod", envAt + ".database.instance: must be an RDS identifier", false},
		{"double hyphen", "instance: web-prod", "instance: web--prod", envAt + ".database.instance: must be an RDS identifier", false},
		{"trailing hyphen", "instance: web-prod", "instance: web-", envAt + ".database.instance: must be an RDS identifier", false},
		{"identifier too long", "instance: web-prod", "instance: w" + strings.Repeat("x", 63), envAt + ".database.instance: must be an RDS identifier", false},
		{"cluster named as such", "instance: web-prod", "cluster: 1web", envAt + ".database.cluster: must be an RDS identifier", false},
		{"missing secret", "          secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:web-prod-db-AbCdEf\n", "",
			envAt + ".database.secret: required", false},
		{"secret that is not an ARN", "secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:web-prod-db-AbCdEf", "secret: web-prod-db",
			envAt + ".database.secret: must be a Secrets Manager secret ARN", false},
		{"unknown database field", "instance: web-prod", "instance: web-prod\n          engine: postgres",
			envAt + `.database: unknown field "engine"`, false},
		{"backup without database", "        database:\n          instance: web-prod\n          secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:web-prod-db-AbCdEf\n", "",
			envAt + ".backup: requires database (what to back up)", true},
		{"drill without backup", "        backup:\n          schedule: cron(0 3 * * ? *)\n          retention: {count: 7, days: 14}\n          drRegion: us-west-2\n          drKmsKey: arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n" + backupAccountYAML, "",
			envAt + ".drill: requires backup", false},
		{"rate expression", "schedule: cron(0 3 * * ? *)", "schedule: rate(1 day)", envAt + ".backup.schedule: must be an EventBridge Scheduler cron expression", false},
		{"five-field cron", "schedule: cron(0 3 * * ? *)", "schedule: cron(0 3 * * ?)", envAt + ".backup.schedule: must be an EventBridge Scheduler cron expression, cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 3 * * ? *): 5 fields, not 6", true},
		{"no question mark", "schedule: cron(0 3 * * ? *)", "schedule: cron(0 3 * * * *)", "exactly one of day-of-month and day-of-week must be ?", false},
		{"two question marks", "schedule: cron(0 3 * * ? *)", "schedule: cron(0 3 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?", false},
		{"hour out of range", "schedule: cron(0 3 * * ? *)", "schedule: cron(0 24 * * ? *)", envAt + ".backup.schedule: must be an EventBridge Scheduler cron expression, cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 3 * * ? *): hours 24 is out of range 0-23", true},
		{"bad characters", "schedule: cron(0 3 * * ? *)", "schedule: cron(0 3;rm * * ? *)", "field hours is", false},
		{"missing schedule", "          schedule: cron(0 3 * * ? *)\n", "", envAt + ".backup.schedule: required; an EventBridge Scheduler cron expression", false},
		{"zero count", "{count: 7, days: 14}", "{count: 0, days: 14}", envAt + ".backup.retention.count: must be at least 1", false},
		{"zero days", "{count: 7, days: 14}", "{count: 7}", envAt + ".backup.retention.days: must be between 1 and 3650", false},
		{"unknown retention field", "{count: 7, days: 14}", "{count: 7, days: 14, weeks: 2}", envAt + `.backup.retention: unknown field "weeks"`, false},
		{"missing DR region", "          drRegion: us-west-2\n", "", envAt + ".backup.drRegion: required", false},
		{"DR region that is not a region", "drRegion: us-west-2", "drRegion: oregon", envAt + `.backup.drRegion: must be an AWS region such as us-west-2, not "oregon"`, true},
		{"key in the home region", "drKmsKey: arn:aws:kms:us-west-2:", "drKmsKey: arn:aws:kms:us-east-1:",
			envAt + ".backup.drKmsKey: must be a KMS key ARN in us-west-2 (arn:aws:kms:us-west-2:ACCOUNT:key/ID): the copies are re-encrypted with a key of the DR region", true},
		{"key alias", "drKmsKey: arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "drKmsKey: arn:aws:kms:us-west-2:123456789012:alias/dr",
			envAt + ".backup.drKmsKey: must be a KMS key ARN in us-west-2", false},
		{"key id alone", "drKmsKey: arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "drKmsKey: 1234abcd-12ab-34cd-56ef-1234567890ab",
			envAt + ".backup.drKmsKey: must be a KMS key ARN in us-west-2", false},
		{"backup account as a bare account id (its first form)", backupAccountYAML, "          backupAccount: \"210987654321\"\n",
			envAt + `.backup.backupAccount: must be a mapping with the fields account, role, kmsKey, retention, not "210987654321" (line 22)`, true},
		{"unknown backup account field", "retention: {count: 14, days: 35}", "retention: {count: 14, days: 35}\n            externalId: x",
			envAt + `.backup.backupAccount: unknown field "externalId"`, false},
		{"no account", "            account: \"210987654321\"\n", "", envAt + ".backup.backupAccount.account: required (the AWS account id the offsite copies go to)", true},
		{"short account", `account: "210987654321"`, `account: "2109"`, envAt + ".backup.backupAccount.account: must be an AWS account id (12 digits)", true},
		{"the home account", `account: "210987654321"`, `account: "123456789012"`,
			envAt + ".backup.backupAccount.account: must be another account than the one the backups are taken in (123456789012, drKmsKey's): a copy in the same account shares its blast radius", true},
		{"no role", "            role: arn:aws:iam::210987654321:role/stepship-backup-copier\n", "", envAt + ".backup.backupAccount.role: required", false},
		{"role in another account", "role: arn:aws:iam::210987654321:", "role: arn:aws:iam::123456789012:",
			envAt + ".backup.backupAccount.role: must be an IAM role ARN in 210987654321 (arn:aws:iam::210987654321:role/NAME)", true},
		{"role name alone", "role: arn:aws:iam::210987654321:role/stepship-backup-copier", "role: stepship-backup-copier", envAt + ".backup.backupAccount.role: must be an IAM role ARN", false},
		{"role prefix", "role/stepship-backup-copier", "role/stepship-*", envAt + ".backup.backupAccount.role: must be an IAM role ARN", false},
		{"role name too long", "role/stepship-backup-copier", "role/" + strings.Repeat("r", 65), envAt + ".backup.backupAccount.role: must be an IAM role ARN", false},
		{"no key", "            kmsKey: arn:aws:kms:us-west-2:210987654321:alias/stepship-backup-copies\n", "", envAt + ".backup.backupAccount.kmsKey: required", false},
		{"key of the home account", "kmsKey: arn:aws:kms:us-west-2:210987654321:", "kmsKey: arn:aws:kms:us-west-2:123456789012:",
			envAt + ".backup.backupAccount.kmsKey: must be a KMS key or alias ARN in 210987654321 and us-west-2 (arn:aws:kms:us-west-2:210987654321:key/ID or …:alias/NAME): RDS copies a shared encrypted snapshot only within its region", true},
		{"key in the home region", "kmsKey: arn:aws:kms:us-west-2:210987654321:", "kmsKey: arn:aws:kms:us-east-1:210987654321:",
			envAt + ".backup.backupAccount.kmsKey: must be a KMS key or alias ARN in 210987654321 and us-west-2", false},
		{"AWS managed key", "alias/stepship-backup-copies", "alias/aws/rds", envAt + ".backup.backupAccount.kmsKey: must be a customer managed key, not an AWS managed one (alias/aws/rds)", true},
		{"alias too long", "alias/stepship-backup-copies", "alias/" + strings.Repeat("a", 251), envAt + ".backup.backupAccount.kmsKey: must be a KMS key or alias ARN", false},
		{"no backup account retention", "            retention: {count: 14, days: 35}\n", "", envAt + ".backup.backupAccount.retention.count: must be at least 1", false},
		{"backup account retention too long", "{count: 14, days: 35}", "{count: 14, days: 4000}", envAt + ".backup.backupAccount.retention.days: must be between 1 and 3650", false},
		{"default subnet group", "subnetGroup: stepship-drill-isolated", "subnetGroup: default", envAt + ".drill.subnetGroup: must not be the default subnet group", false},
		{"missing subnet group", "          subnetGroup: stepship-drill-isolated\n", "", envAt + ".drill.subnetGroup: required", false},
		{"security group name", "securityGroup: sg-0123456789abcdef0", "securityGroup: drill", envAt + ".drill.securityGroup: must be a security group id", false},
		{"aurora without instance class", "instance: web-prod", "cluster: web-aurora", envAt + ".drill.instanceClass: required for an Aurora cluster", false},
		{"bad instance class", "subnetGroup: stepship-drill-isolated", "subnetGroup: stepship-drill-isolated\n          instanceClass: large", envAt + ".drill.instanceClass: must be a DB instance class", false},
		{"quoted table", "tables: [users, billing.invoices]", `tables: [users, "Users"]`, envAt + ".drill.tables[1]: must be a lower-case table name", false},
		{"table with SQL", "tables: [users, billing.invoices]", `tables: ["users; drop table users"]`, envAt + ".drill.tables[0]: must be a lower-case table name", false},
		{"two statements", "query: select count(*) from users where role = 'admin'", "query: select 1; delete from users", envAt + ".drill.assertions[has-admin].query: must be one statement", false},
		{"empty query", "query: select count(*) from users where role = 'admin'", `query: " "`, envAt + ".drill.assertions[has-admin].query: required", true},
		{"long query", "query: select count(*) from users where role = 'admin'", "query: select " + strings.Repeat("1", MaxAssertionQueryLen), envAt + ".drill.assertions[has-admin].query: longer than 4096 bytes", true},
		{"no expect", "              expect: 1\n", "", envAt + ".drill.assertions[has-admin].expect: required", false},
		{"duplicate assertion", "name: no-orphans", "name: has-admin", envAt + ".drill.assertions[has-admin].name: duplicate assertion name", true},
		{"unnamed assertion", "name: no-orphans", `name: ""`, envAt + ".drill.assertions[1].name: required", true},
		{"unknown assertion field", "expect: \"0\"}", "expect: \"0\", timeout: 5}", envAt + `.drill.assertions[no-orphans]: unknown field "timeout"`, false},
		{"timeout too short", "timeoutMinutes: 90", "timeoutMinutes: 5", envAt + ".drill.timeoutMinutes: must be between 10 and 1440", true},
		{"timeout too long", "timeoutMinutes: 90", "timeoutMinutes: 2000", envAt + ".drill.timeoutMinutes: must be between 10 and 1440", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(withData, tt.old, tt.new, 1)
			if doc == withData {
				t.Fatalf("the edit %q changed nothing", tt.old)
			}
			_, err := Parse([]byte(doc))
			switch {
			case err == nil:
				t.Fatalf("Parse succeeded, want %q", tt.want)
			case tt.wantExact && err.Error() != tt.want:
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			case !tt.wantExact && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDataValid(t *testing.T) {
	tests := []struct{ name, old, new string }{
		{"as given", "", ""},
		{"aurora with an instance class", "", ""},
		{"multi-region key", "key/1234abcd-12ab-34cd-56ef-1234567890ab", "key/mrk-1234abcd12ab34cd56ef1234567890ab"},
		{"no backup account", backupAccountYAML, ""},
		{"a backup account key ARN", "alias/stepship-backup-copies", "key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"},
		{"a role with a path", "role/stepship-backup-copier", "role/stepship/backup-copier"},
		{"a role name of 64 characters (IAM's limit)", "role/stepship-backup-copier", "role/" + strings.Repeat("r", 64)},
		{"an alias of 256 characters (KMS's limit)", "alias/stepship-backup-copies", "alias/" + strings.Repeat("a", 250)},
		{"a snapshot before every deploy", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n"},
		{"the most pre-deploy snapshots kept", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n          beforeDeployRetention: {count: 20, days: 14}\n"},
		{"the fewest pre-deploy snapshots kept", "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n          beforeDeployRetention: {count: 1, days: 1}\n"},
		{"no tables or assertions", "          tables: [users, billing.invoices]\n", ""},
		{"no security group (the DR stack's)", "          securityGroup: sg-0123456789abcdef0\n", ""},
		{"gov cloud", "arn:aws:secretsmanager:us-east-1", "arn:aws-us-gov:secretsmanager:us-gov-west-1"},
		{"cron lists, ranges, steps and names", "cron(0 5 ? * SUN *)", "cron(0/15 1-3,22 ? JAN-MAR MON-FRI 2026-2030)"},
		{"last day of month", "cron(0 5 ? * SUN *)", "cron(30 23 L * ? *)"},
		{"nth weekday", "cron(0 5 ? * SUN *)", "cron(0 5 ? * 2#1 *)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := withData
			if tt.name == "aurora with an instance class" {
				doc = strings.Replace(doc, "instance: web-prod", "cluster: web-aurora", 1)
				doc = strings.Replace(doc, "subnetGroup: stepship-drill-isolated", "subnetGroup: stepship-drill-isolated\n          instanceClass: db.r6g.large", 1)
			} else {
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			c, err := Parse([]byte(doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if _, err := c.Resolve("web", "production"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The resolved target carries the database, backup and drill the state
// machines read ($.target.database.instance, $.target.backup.drRegion, …),
// with the drill's default timeout filled in; an environment without them
// has none.
func TestDataTargetJSONGolden(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(withData, "          timeoutMinutes: 90\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.Resolve("web", "production")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Drill.TimeoutMinutes != DefaultDrillTimeoutMinutes {
		t.Errorf("drill timeout %d, want the default %d", tg.Drill.TimeoutMinutes, DefaultDrillTimeoutMinutes)
	}
	if tg.Database.Identifier() != "web-prod" || tg.Database.Aurora() {
		t.Errorf("database %+v", tg.Database)
	}
	staging, _ := c.Resolve("web", "staging")
	if staging.Database != nil || staging.Backup != nil || staging.Drill != nil {
		t.Errorf("staging has data settings: %+v", staging)
	}
	got, err := json.MarshalIndent(tg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "data-target.golden.json"), append(got, '\n'), *update)
}

func TestDatabaseIdentifier(t *testing.T) {
	if d := (Database{Cluster: "c1"}); d.Identifier() != "c1" || !d.Aurora() {
		t.Errorf("cluster: %q %v", d.Identifier(), d.Aurora())
	}
	if d := (Database{Instance: "i1"}); d.Identifier() != "i1" || d.Aurora() {
		t.Errorf("instance: %q %v", d.Identifier(), d.Aurora())
	}
}

// backup.beforeDeploy reaches the target the deploy machine reads
// ($.target.backup.beforeDeploy), and is off unless the catalog says so.
func TestBackupBeforeDeploy(t *testing.T) {
	for _, on := range []bool{false, true} {
		doc := withData
		if on {
			doc = strings.Replace(doc, "          retention: {count: 7, days: 14}\n", "          retention: {count: 7, days: 14}\n          beforeDeploy: true\n", 1)
		}
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		tg, err := c.Resolve("web", "production")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(tg.Backup)
		if tg.Backup.BeforeDeploy != on || strings.Contains(string(raw), `"beforeDeploy":true`) != on {
			t.Errorf("beforeDeploy %v: target backup %s", on, raw)
		}
	}
}

// PreDeployRetention: none without beforeDeploy, the default when it is not
// given, else the catalog's (a copy either way).
func TestPreDeployRetention(t *testing.T) {
	tests := []struct {
		backup *Backup
		want   *Retention
	}{
		{nil, nil},
		{&Backup{}, nil},
		{&Backup{BeforeDeployRetention: &Retention{Count: 5, Days: 2}}, nil},
		{&Backup{BeforeDeploy: true}, &Retention{Count: 3, Days: 1}},
		{&Backup{BeforeDeploy: true, BeforeDeployRetention: &Retention{Count: 5, Days: 2}}, &Retention{Count: 5, Days: 2}},
	}
	for _, tt := range tests {
		got := tt.backup.PreDeployRetention()
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%+v.PreDeployRetention() = %+v, want %+v", tt.backup, got, tt.want)
		}
		if got != nil {
			got.Count = 99
		}
	}
	if DefaultBeforeDeployRetention.Count != 3 {
		t.Error("PreDeployRetention handed out the default itself")
	}
}

// netCatalog is two environments with SQL migrations, their databases'
// networks given by the caller (YAML flow mappings, "" for none).
func netCatalog(prod, staging string) string {
	env := func(name, instance, network string) string {
		s := "      - name: " + name + "\n        branches: [" + name + "]\n        cluster: c\n        service: web\n        container: web\n" +
			"        database:\n          instance: " + instance + "\n          secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf\n"
		if network != "" {
			s += "          network: " + network + "\n"
		}
		return s + "        migrations: {mode: sql, location: \"s3://web-migrations/web/\"}\n"
	}
	return "version: 1\nservices:\n  - name: web\n    repository: {provider: github, name: acme/web}\n" +
		"    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web\n    build: {mode: prebuilt}\n    environments:\n" +
		env("production", "web-prod", prod) + env("staging", "web-staging", staging)
}

// A database's network is where functions/migrate runs: checked ids, and
// one network for every database with SQL migrations.
func TestDatabaseNetwork(t *testing.T) {
	const (
		net     = "{subnets: [subnet-0123456789abcdef0, subnet-89abcdef], securityGroups: [sg-0123456789abcdef0]}"
		swapped = "{subnets: [subnet-89abcdef, subnet-0123456789abcdef0], securityGroups: [sg-0123456789abcdef0]}"
		prodAt  = "catalog: services[web].environments[production].database.network"
		stageAt = "catalog: services[web].environments[staging].database.network"
	)
	ids := func(prefix string, n int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("%s%08x", prefix, i))
		}
		return strings.Join(s, ", ")
	}
	limits := "{subnets: [" + ids("subnet-", MaxNetworkSubnets) + "], securityGroups: [" + ids("sg-", MaxNetworkSecurityGroups) + "]}"
	tests := []struct {
		name, prod, staging string
		want                string // error; "" valid
	}{
		{"none", "", "", ""},
		{"the same network, in any order", net, swapped, ""},
		{"only one names it", net, "", stageAt + ": must be the same as services[web].environments[production].database.network: stepship runs one migrate function"},
		{"only the second names it", "", net, stageAt + ": is given, but services[web].environments[production].database.network is not: stepship runs one migrate function"},
		{"another security group", net, strings.Replace(net, "sg-0123456789abcdef0", "sg-0123456789abcdef1", 1), stageAt + ": must be the same as"},
		{"a subnet that is not one", "{subnets: [subnet-xyz], securityGroups: [sg-0123456789abcdef0]}", "", prodAt + ".subnets[0]: must be a subnet id (subnet-…)"},
		{"a security group that is not one", "{subnets: [subnet-89abcdef], securityGroups: [subnet-89abcdef]}", "", prodAt + ".securityGroups[0]: must be a security group id (sg-…)"},
		{"no subnets", "{subnets: [], securityGroups: [sg-0123456789abcdef0]}", "", prodAt + ".subnets: give 1 to 16"},
		{"no security groups", "{subnets: [subnet-89abcdef]}", "", prodAt + ".securityGroups: give 1 to 5"},
		{"six security groups", "{subnets: [subnet-89abcdef], securityGroups: [sg-00000001, sg-00000002, sg-00000003, sg-00000004, sg-00000005, sg-00000006]}", "", prodAt + ".securityGroups: give 1 to 5"},
		{"a subnet twice", "{subnets: [subnet-89abcdef, subnet-89abcdef], securityGroups: [sg-0123456789abcdef0]}", "", prodAt + ".subnets[1]: duplicate"},
		{"an unknown field", "{subnets: [subnet-89abcdef], securityGroups: [sg-0123456789abcdef0], vpc: vpc-1}", "", "vpc"},
		{"16 subnets and 5 security groups, Lambda's limits", limits, limits, ""},
		{"17 subnets", strings.Replace(limits, "subnets: [", "subnets: [subnet-ffffffff, ", 1), "", prodAt + ".subnets: give 1 to 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(netCatalog(tt.prod, tt.staging)))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.MigrationNetwork()
			if (tt.prod == "") != (got == nil) || (got != nil && (len(got.Subnets) != strings.Count(tt.prod, "subnet-") ||
				len(got.SecurityGroups) != strings.Count(tt.prod, "sg-") || !strings.Contains(tt.prod, got.SecurityGroups[0]))) {
				t.Errorf("migration network %+v", got)
			}
		})
	}
	// A database without SQL migrations may be anywhere.
	c, err := Parse([]byte(strings.Replace(netCatalog(net, ""), "        migrations: {mode: sql, location: \"s3://web-migrations/web/\"}\n", "", 2)))
	if err != nil || c.MigrationNetwork() != nil {
		t.Errorf("no SQL migrations: %v, network %+v", err, c.MigrationNetwork())
	}
}

func TestNetworkEqual(t *testing.T) {
	a := &Network{Subnets: []string{"s1", "s2"}, SecurityGroups: []string{"g"}}
	for _, tt := range []struct {
		b    *Network
		want bool
	}{
		{&Network{Subnets: []string{"s2", "s1"}, SecurityGroups: []string{"g"}}, true},
		{&Network{Subnets: []string{"s1"}, SecurityGroups: []string{"g"}}, false},
		{&Network{Subnets: []string{"s1", "s3"}, SecurityGroups: []string{"g"}}, false},
		{&Network{Subnets: []string{"s1", "s2"}, SecurityGroups: []string{"h"}}, false},
		{nil, false},
	} {
		if got := a.Equal(tt.b); got != tt.want {
			t.Errorf("%+v equal %+v: %v", a, tt.b, got)
		}
	}
	if !(*Network)(nil).Equal(nil) {
		t.Error("nil equal nil: false")
	}
}
