package catalog

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Database is an environment's database: an RDS DB instance or an Aurora
// cluster (exactly one of them), and the Secrets Manager secret holding its
// credentials.
type Database struct {
	// Instance is an RDS DB instance identifier.
	Instance string `yaml:"instance,omitempty" json:"instance,omitempty"`
	// Cluster is an Aurora DB cluster identifier.
	Cluster string `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// Secret is the ARN of the Secrets Manager secret with the database's
	// credentials (JSON with username and password, as RDS writes it). The
	// drill's verify step reads it; its value never reaches a log or an
	// execution's state.
	Secret string `yaml:"secret" json:"secret"`
	// Network is where the database can be reached from: the subnets and
	// security groups functions/migrate runs in (optional; without it the
	// function runs outside any VPC, which reaches only a database open to
	// it over the internet). Every database with SQL migrations names the
	// same one, or none do: stepship deploys one migrate function.
	Network *Network `yaml:"network,omitempty" json:"network,omitempty"`
}

// Network is a Lambda function's VPC placement: private subnets of the
// database's VPC, and security groups the database admits.
type Network struct {
	Subnets        []string `yaml:"subnets" json:"subnets"`
	SecurityGroups []string `yaml:"securityGroups" json:"securityGroups"`
}

// Bounds of a Network (Lambda's: at most 16 subnets and 5 security groups).
const (
	MaxNetworkSubnets        = 16
	MaxNetworkSecurityGroups = 5
)

// Equal reports whether n and o name the same subnets and security groups,
// in any order.
func (n *Network) Equal(o *Network) bool {
	if n == nil || o == nil {
		return n == o
	}
	return sameSet(n.Subnets, o.Subnets) && sameSet(n.SecurityGroups, o.SecurityGroups)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[string]bool, len(a))
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}

func (n *Network) validate(at string) error {
	for _, f := range []struct {
		field string
		ids   []string
		max   int
		valid func(string) bool
		what  string
	}{
		{"subnets", n.Subnets, MaxNetworkSubnets, subnetRE.MatchString, "a subnet id (subnet-…)"},
		{"securityGroups", n.SecurityGroups, MaxNetworkSecurityGroups, securityGroupRE.MatchString, "a security group id (sg-…)"},
	} {
		if len(f.ids) == 0 || len(f.ids) > f.max {
			return &Error{Path: at + "." + f.field, Problem: fmt.Sprintf("give 1 to %d", f.max)}
		}
		seen := map[string]bool{}
		for i, id := range f.ids {
			if !f.valid(id) {
				return &Error{Path: fmt.Sprintf("%s.%s[%d]", at, f.field, i), Problem: "must be " + f.what}
			}
			if seen[id] {
				return &Error{Path: fmt.Sprintf("%s.%s[%d]", at, f.field, i), Problem: "duplicate"}
			}
			seen[id] = true
		}
	}
	return nil
}

// MigrationNetwork is the network of the databases with SQL migrations
// (nil when none names one): what functions/migrate runs in. A catalog
// whose SQL-migrated databases name different networks, or some one and
// some none, is refused by Parse: one function cannot be in two.
func (c *Catalog) MigrationNetwork() *Network {
	n, _, _ := c.migrationNetwork()
	return n
}

// migrationNetwork returns the network of the first environment with SQL
// migrations and the path of the first that disagrees with it ("" when all
// agree).
func (c *Catalog) migrationNetwork() (n *Network, first, conflict string) {
	found := false
	for i := range c.Services {
		s := &c.Services[i]
		for j := range s.Environments {
			e := &s.Environments[j]
			if e.Migrations == nil || e.Migrations.Mode != MigrationsSQL || e.Database == nil {
				continue
			}
			at := fmt.Sprintf("services[%s].environments[%s].database.network", labelOf(s.Name, i), labelOf(e.Name, j))
			if !found {
				n, first, found = e.Database.Network, at, true
				continue
			}
			if !n.Equal(e.Database.Network) {
				return n, first, at
			}
		}
	}
	return n, first, ""
}

// Identifier is the instance's or the cluster's identifier.
func (d Database) Identifier() string {
	if d.Cluster != "" {
		return d.Cluster
	}
	return d.Instance
}

// Aurora reports whether the database is an Aurora cluster.
func (d Database) Aurora() bool { return d.Cluster != "" }

// Backup schedules manual snapshots of an environment's database, their
// copies to the disaster-recovery region, and their pruning.
type Backup struct {
	// Schedule is an EventBridge Scheduler cron expression,
	// "cron(minutes hours day-of-month month day-of-week year)".
	Schedule string `yaml:"schedule" json:"schedule"`
	// Retention says which of stepship's snapshots pruning keeps, in each
	// region.
	Retention Retention `yaml:"retention" json:"retention"`
	// DRRegion is the region the snapshots are copied to.
	DRRegion string `yaml:"drRegion" json:"drRegion"`
	// DRKMSKey is the ARN of the KMS key in DRRegion the copies are
	// encrypted with.
	DRKMSKey string `yaml:"drKmsKey" json:"drKmsKey"`
	// BackupAccount, when set, is a separate AWS account that also receives
	// a copy of each DR copy, so that one compromised account cannot delete
	// every copy (optional).
	BackupAccount *BackupAccount `yaml:"backupAccount,omitempty" json:"backupAccount,omitempty"`
	// BeforeDeploy takes a snapshot before every deploy of the environment,
	// before its migrations: the deploy state machine runs the backup
	// machine snapshot-only and waits until the snapshot is available
	// (optional, default false). Its identifier is in the deploy's ledger
	// entry.
	BeforeDeploy bool `yaml:"beforeDeploy,omitempty" json:"beforeDeploy,omitempty"`
	// BeforeDeployRetention says which pre-deploy snapshots pruning keeps
	// (optional with BeforeDeploy, default DefaultBeforeDeployRetention;
	// count at most MaxBeforeDeployCount, days at most MaxBeforeDeployDays).
	// They are pruned apart from the scheduled ones, after each pre-deploy
	// snapshot and by each scheduled backup: Retention neither keeps them
	// nor counts them, so that frequent deploys neither fill RDS's
	// manual-snapshot quota nor push scheduled snapshots out of the count.
	BeforeDeployRetention *Retention `yaml:"beforeDeployRetention,omitempty" json:"beforeDeployRetention,omitempty"`
}

// The retention of pre-deploy snapshots (Backup.BeforeDeployRetention): by
// default the newest 3 and every one younger than a day; the caps leave
// most of RDS's default quota of 100 manual snapshots per region to the
// scheduled ones.
var DefaultBeforeDeployRetention = Retention{Count: 3, Days: 1}

const (
	MaxBeforeDeployCount = 20
	MaxBeforeDeployDays  = 14
)

// PreDeployRetention is the retention of the environment's pre-deploy
// snapshots, or nil when it takes none.
func (b *Backup) PreDeployRetention() *Retention {
	if b == nil || !b.BeforeDeploy {
		return nil
	}
	if b.BeforeDeployRetention == nil {
		r := DefaultBeforeDeployRetention
		return &r
	}
	r := *b.BeforeDeployRetention
	return &r
}

// BackupAccount is the offsite copy of the 3-2-1 rule: an AWS account of its
// own, where stepship's home account may copy snapshots in, and nothing
// more. Each DR copy is shared with it (its key granted to Role) and copied
// there, in DRRegion, re-encrypted with KMSKey; the share and the grant are
// removed afterwards. stepship's backup-account stack, deployed in Account,
// creates Role (trusting only the home account's snapshot function, denied
// every delete) and applies Retention there (docs/backups.md).
type BackupAccount struct {
	// Account is the AWS account id (12 digits); not the home account.
	Account string `yaml:"account" json:"account"`
	// Role is the ARN of the IAM role in Account the snapshot function
	// assumes to make the copy: arn:aws:iam::ACCOUNT:role/NAME.
	Role string `yaml:"role" json:"role"`
	// KMSKey is the key in Account and DRRegion the copies there are
	// encrypted with: a key ARN, or an alias ARN
	// (arn:aws:kms:REGION:ACCOUNT:alias/NAME), which the backup-account
	// stack creates.
	KMSKey string `yaml:"kmsKey" json:"kmsKey"`
	// Retention says which of stepship's copies the backup account keeps;
	// the backup account applies it itself (the home account deletes
	// nothing there).
	Retention Retention `yaml:"retention" json:"retention"`
}

// Retention keeps, of stepship's own snapshots of a database in one region,
// the newest Count available ones and every one younger than Days days; a
// snapshot is deleted only when both rules let it go.
type Retention struct {
	Count int `yaml:"count" json:"count"`
	Days  int `yaml:"days" json:"days"`
}

// Drill schedules disaster-recovery drills: the newest copy in the DR region
// is restored into an isolated network, checked, measured and deleted.
type Drill struct {
	// Schedule is an EventBridge Scheduler cron expression.
	Schedule string `yaml:"schedule" json:"schedule"`
	// SubnetGroup is the DB subnet group, in the DR region, the drill restores
	// into: private subnets with no route to the internet. stepship's DR
	// stack creates it, under this name, over its isolated subnets.
	// "default" is refused.
	SubnetGroup string `yaml:"subnetGroup" json:"subnetGroup"`
	// SecurityGroup is the drill-only VPC security group (sg-…) of the
	// restored database, in the DR region (optional: the drill security
	// group of stepship's DR stack, which admits only the dr-verify
	// function, when empty).
	SecurityGroup string `yaml:"securityGroup,omitempty" json:"securityGroup,omitempty"`
	// InstanceClass is the DB instance class of the restored database
	// (required for an Aurora cluster, whose restore creates no instance;
	// an instance restore keeps the snapshot's class when it is empty).
	InstanceClass string `yaml:"instanceClass,omitempty" json:"instanceClass,omitempty"`
	// Tables must each have at least one row in the restored database
	// ("table" or "schema.table").
	Tables []string `yaml:"tables,omitempty" json:"tables,omitempty"`
	// Assertions are SQL queries whose result must be what they expect.
	Assertions []Assertion `yaml:"assertions,omitempty" json:"assertions,omitempty"`
	// TimeoutMinutes bounds the wait for the restored database to become
	// available (default DefaultDrillTimeoutMinutes).
	TimeoutMinutes int `yaml:"timeoutMinutes,omitempty" json:"timeoutMinutes"`
}

// Assertion is one SQL check of a drill: Query, run in a read-only
// transaction, must return one row whose first column, as text, is Expect.
type Assertion struct {
	Name   string `yaml:"name" json:"name"`
	Query  string `yaml:"query" json:"query"`
	Expect string `yaml:"expect" json:"expect"`
}

// Bounds of a drill's TimeoutMinutes.
const (
	DefaultDrillTimeoutMinutes = 60
	MinDrillTimeoutMinutes     = 10
	MaxDrillTimeoutMinutes     = 1440
	// MaxAssertionQueryLen bounds an assertion's query, in bytes.
	MaxAssertionQueryLen = 4096
)

var (
	// RDS identifiers: a letter, then letters, digits and single hyphens,
	// not ending in a hyphen (validRDSIdentifier bounds the length). RDS
	// stores them in lower case, so the catalog writes them that way.
	rdsIdentifierRE = regexp.MustCompile(`^[a-z]([a-z0-9]|-[a-z0-9])*$`)
	secretARNRE     = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
	regionRE        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	kmsKeyARNRE     = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):([0-9]{12}):key/[A-Za-z0-9-]+$`)
	// kmsKeyOrAliasARNRE: a key ARN, or an alias ARN (alias names: at most
	// 256 characters, checked apart).
	kmsKeyOrAliasARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):([0-9]{12}):(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)$`)
	accountRE          = regexp.MustCompile(`^[0-9]{12}$`)
	// iamRoleARNRE: a role ARN with an optional path; the name (the last
	// part) at most 64 characters (validRoleARN).
	iamRoleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]+$`)
	// subnetGroupRE: at most 255 characters (validSubnetGroup).
	subnetGroupRE   = regexp.MustCompile(`^[a-z0-9._ -]+$`)
	securityGroupRE = regexp.MustCompile(`^sg-[0-9a-f]{8}([0-9a-f]{9})?$`)
	subnetRE        = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	instanceClassRE = regexp.MustCompile(`^db\.[a-z0-9-]+\.[a-z0-9-]+$`)
	// tableRE: each part at most 63 characters (validTable).
	tableRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)
)

// The length limits of the patterns above, checked apart (see nameRE in
// catalog.go for why).

// validRDSIdentifier: rdsIdentifierRE, at most 63 characters, hyphens
// included (RDS's limit).
func validRDSIdentifier(s string) bool {
	return len(s) <= 63 && rdsIdentifierRE.MatchString(s)
}

// validSubnetGroup: 1-255 lower-case letters, digits, '.', '_', ' ' or '-'.
func validSubnetGroup(s string) bool { return len(s) <= 255 && subnetGroupRE.MatchString(s) }

// validRoleARN: iamRoleARNRE with a role name of at most 64 characters
// (IAM's limit); it returns the role's account.
func validRoleARN(s string) (account string, ok bool) {
	m := iamRoleARNRE.FindStringSubmatch(s)
	if m == nil || len(s)-strings.LastIndexByte(s, '/')-1 > 64 {
		return "", false
	}
	return m[1], true
}

// validTable: a table name, maybe schema-qualified, each part at most 63
// characters.
func validTable(s string) bool {
	schema, table, _ := strings.Cut(s, ".")
	return len(schema) <= 63 && len(table) <= 63 && tableRE.MatchString(s)
}

// validateData checks the environment's database, backup and drill, and
// fills the drill's default timeout.
func (e *Environment) validateData(at string) error {
	if d := e.Database; d != nil {
		if err := d.validate(at + ".database"); err != nil {
			return err
		}
	}
	if b := e.Backup; b != nil {
		if e.Database == nil {
			return &Error{Path: at + ".backup", Problem: "requires database (what to back up)"}
		}
		if err := b.validate(at + ".backup"); err != nil {
			return err
		}
	}
	if d := e.Drill; d != nil {
		if e.Backup == nil {
			return &Error{Path: at + ".drill", Problem: "requires backup (a drill restores the backup's copies in its drRegion)"}
		}
		if err := d.validate(at+".drill", e.Database.Aurora()); err != nil {
			return err
		}
	}
	return nil
}

func (d *Database) validate(at string) error {
	if d.Instance == "" && d.Cluster == "" {
		return &Error{Path: at, Problem: "one of instance (an RDS DB instance) or cluster (an Aurora cluster) is required"}
	} else if d.Instance != "" && d.Cluster != "" {
		return &Error{Path: at, Problem: "give instance or cluster, not both"}
	}
	field := "instance"
	if d.Aurora() {
		field = "cluster"
	}
	if !validRDSIdentifier(d.Identifier()) {
		return &Error{Path: at + "." + field, Problem: "must be an RDS identifier: a lower-case letter, then lower-case letters, digits and single hyphens, at most 63 characters, not ending in a hyphen"}
	}
	if d.Secret == "" {
		return &Error{Path: at + ".secret", Problem: "required (the Secrets Manager ARN of the database's credentials)"}
	} else if !secretARNRE.MatchString(d.Secret) {
		return &Error{Path: at + ".secret", Problem: "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"}
	}
	if d.Network != nil {
		return d.Network.validate(at + ".network")
	}
	return nil
}

func (b *Backup) validate(at string) error {
	if err := validSchedule(b.Schedule); err != nil {
		return &Error{Path: at + ".schedule", Problem: err.Error()}
	}
	if err := b.Retention.validate(at + ".retention"); err != nil {
		return err
	}
	if r := b.BeforeDeployRetention; r != nil {
		at := at + ".beforeDeployRetention"
		if !b.BeforeDeploy {
			return &Error{Path: at, Problem: "is only for pre-deploy snapshots: set beforeDeploy: true, or remove it"}
		}
		if r.Count < 1 || r.Count > MaxBeforeDeployCount {
			return &Error{Path: at + ".count", Problem: fmt.Sprintf("must be between 1 and %d (the newest available pre-deploy snapshots always kept; default %d)", MaxBeforeDeployCount, DefaultBeforeDeployRetention.Count)}
		}
		if r.Days < 1 || r.Days > MaxBeforeDeployDays {
			return &Error{Path: at + ".days", Problem: fmt.Sprintf("must be between 1 and %d (pre-deploy snapshots younger than this are always kept; default %d)", MaxBeforeDeployDays, DefaultBeforeDeployRetention.Days)}
		}
	}
	if b.DRRegion == "" {
		return &Error{Path: at + ".drRegion", Problem: "required (the region the snapshots are copied to)"}
	} else if !regionRE.MatchString(b.DRRegion) {
		return &Error{Path: at + ".drRegion", Problem: fmt.Sprintf("must be an AWS region such as us-west-2, not %q", b.DRRegion)}
	}
	m := kmsKeyARNRE.FindStringSubmatch(b.DRKMSKey)
	if m == nil || m[1] != b.DRRegion {
		return &Error{Path: at + ".drKmsKey", Problem: "must be a KMS key ARN in " + b.DRRegion + " (arn:aws:kms:" + b.DRRegion + ":ACCOUNT:key/ID): the copies are re-encrypted with a key of the DR region"}
	}
	if a := b.BackupAccount; a != nil {
		return a.validate(at+".backupAccount", b.DRRegion, m[2])
	}
	return nil
}

func (r Retention) validate(at string) error {
	if r.Count < 1 {
		return &Error{Path: at + ".count", Problem: "must be at least 1 (the newest available snapshots always kept)"}
	}
	if r.Days < 1 || r.Days > 3650 {
		return &Error{Path: at + ".days", Problem: "must be between 1 and 3650 (snapshots younger than this are always kept)"}
	}
	return nil
}

// validate checks a backup account whose copies are made in region, from
// DR copies encrypted with a key of the home account home.
func (a *BackupAccount) validate(at, region, home string) error {
	if a.Account == "" {
		return &Error{Path: at + ".account", Problem: "required (the AWS account id the offsite copies go to)"}
	}
	if !accountRE.MatchString(a.Account) {
		return &Error{Path: at + ".account", Problem: "must be an AWS account id (12 digits)"}
	}
	if a.Account == home {
		return &Error{Path: at + ".account", Problem: "must be another account than the one the backups are taken in (" + home + ", drKmsKey's): a copy in the same account shares its blast radius"}
	}
	if a.Role == "" {
		return &Error{Path: at + ".role", Problem: "required (the role in " + a.Account + " the snapshot function assumes to copy)"}
	} else if acct, ok := validRoleARN(a.Role); !ok || acct != a.Account {
		return &Error{Path: at + ".role", Problem: "must be an IAM role ARN in " + a.Account + " (arn:aws:iam::" + a.Account + ":role/NAME)"}
	}
	k := kmsKeyOrAliasARNRE.FindStringSubmatch(a.KMSKey)
	if a.KMSKey == "" {
		return &Error{Path: at + ".kmsKey", Problem: "required (the key in " + a.Account + " the copies there are encrypted with)"}
	}
	if k == nil || k[1] != region || k[2] != a.Account || len(k[3]) > 256 {
		return &Error{Path: at + ".kmsKey", Problem: "must be a KMS key or alias ARN in " + a.Account + " and " + region +
			" (arn:aws:kms:" + region + ":" + a.Account + ":key/ID or …:alias/NAME): RDS copies a shared encrypted snapshot only within its region"}
	}
	if strings.HasPrefix(k[3], "alias/aws/") {
		return &Error{Path: at + ".kmsKey", Problem: "must be a customer managed key, not an AWS managed one (" + k[3] + ")"}
	}
	return a.Retention.validate(at + ".retention")
}

func (d *Drill) validate(at string, aurora bool) error {
	if err := validSchedule(d.Schedule); err != nil {
		return &Error{Path: at + ".schedule", Problem: err.Error()}
	}
	if d.SubnetGroup == "" {
		return &Error{Path: at + ".subnetGroup", Problem: "required (an isolated DB subnet group in the DR region)"}
	} else if d.SubnetGroup == "default" {
		return &Error{Path: at + ".subnetGroup", Problem: "must not be the default subnet group: a drill restores into isolated subnets of its own"}
	} else if !validSubnetGroup(d.SubnetGroup) {
		return &Error{Path: at + ".subnetGroup", Problem: "must be a DB subnet group name (lower-case letters, digits, '.', '_', ' ' or '-')"}
	}
	if d.SecurityGroup != "" && !securityGroupRE.MatchString(d.SecurityGroup) {
		return &Error{Path: at + ".securityGroup", Problem: "must be a security group id (sg- and 8 or 17 hex digits)"}
	}
	if d.InstanceClass == "" && aurora {
		return &Error{Path: at + ".instanceClass", Problem: "required for an Aurora cluster (its restore creates no instance), e.g. db.r6g.large"}
	} else if d.InstanceClass != "" && !instanceClassRE.MatchString(d.InstanceClass) {
		return &Error{Path: at + ".instanceClass", Problem: "must be a DB instance class such as db.t4g.medium"}
	}
	for i, t := range d.Tables {
		if !validTable(t) {
			return &Error{Path: fmt.Sprintf("%s.tables[%d]", at, i), Problem: "must be a lower-case table name, optionally schema-qualified (orders, billing.invoices)"}
		}
	}
	seen := map[string]bool{}
	for i, a := range d.Assertions {
		aat := fmt.Sprintf("%s.assertions[%s]", at, labelOf(a.Name, i))
		if a.Name == "" {
			return &Error{Path: aat + ".name", Problem: "required"}
		} else if !validName(a.Name) {
			return &Error{Path: aat + ".name", Problem: "must be 1-40 lower-case letters, digits or '-', starting and ending with a letter or digit"}
		} else if seen[a.Name] {
			return &Error{Path: aat + ".name", Problem: "duplicate assertion name"}
		}
		seen[a.Name] = true
		q := strings.TrimSpace(a.Query)
		if q == "" {
			return &Error{Path: aat + ".query", Problem: "required"}
		} else if len(a.Query) > MaxAssertionQueryLen {
			return &Error{Path: aat + ".query", Problem: fmt.Sprintf("longer than %d bytes", MaxAssertionQueryLen)}
		} else if strings.Contains(strings.TrimSuffix(q, ";"), ";") {
			return &Error{Path: aat + ".query", Problem: "must be one statement (it runs in a read-only transaction)"}
		}
		if a.Expect == "" {
			return &Error{Path: aat + ".expect", Problem: "required (the first column of the one row the query returns, as text)"}
		}
	}
	if d.TimeoutMinutes == 0 {
		d.TimeoutMinutes = DefaultDrillTimeoutMinutes
	} else if d.TimeoutMinutes < MinDrillTimeoutMinutes || d.TimeoutMinutes > MaxDrillTimeoutMinutes {
		return &Error{Path: at + ".timeoutMinutes", Problem: fmt.Sprintf("must be between %d and %d", MinDrillTimeoutMinutes, MaxDrillTimeoutMinutes)}
	}
	return nil
}

// cronFieldRE: the characters each field of an EventBridge Scheduler cron
// expression may hold (minutes, hours, day-of-month, month, day-of-week,
// year).
var cronFieldRE = [6]*regexp.Regexp{
	regexp.MustCompile(`^[0-9,*/-]+$`),
	regexp.MustCompile(`^[0-9,*/-]+$`),
	regexp.MustCompile(`^([0-9,*/?-]+|L|LW|[0-9]{1,2}W)$`),
	regexp.MustCompile(`^([0-9,*/-]+|[A-Za-z]{3}([,-][A-Za-z]{3})*)$`),
	regexp.MustCompile(`^([0-9,*/?-]+|[1-7]L|[1-7]#[1-5]|L|[A-Za-z]{3}([,-][A-Za-z]{3})*)$`),
	regexp.MustCompile(`^[0-9,*/-]+$`),
}

// cronRanges bounds the plain numbers of each field.
var cronRanges = [6][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {1, 7}, {1970, 2199}}

// validSchedule checks an EventBridge Scheduler cron expression: six fields,
// exactly one of day-of-month and day-of-week is "?".
func validSchedule(s string) error {
	const form = "must be an EventBridge Scheduler cron expression, cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 3 * * ? *)"
	if s == "" {
		return fmt.Errorf("required; %s", form[len("must be "):])
	}
	body, ok := strings.CutPrefix(s, "cron(")
	if body, ok = strings.CutSuffix(body, ")"); !ok {
		return fmt.Errorf("%s, not %q", form, s)
	}
	fields := strings.Fields(body)
	if len(fields) != 6 {
		return fmt.Errorf("%s: %d fields, not 6", form, len(fields))
	}
	names := [6]string{"minutes", "hours", "day-of-month", "month", "day-of-week", "year"}
	for i, f := range fields {
		if !cronFieldRE[i].MatchString(f) {
			return fmt.Errorf("%s: field %s is %q", form, names[i], f)
		}
		for _, part := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
			if n, err := strconv.Atoi(part); err == nil && i != 5 && (n < cronRanges[i][0] || n > cronRanges[i][1]) && !(strings.Contains(f, "/") && strings.HasSuffix(f, "/"+part)) {
				return fmt.Errorf("%s: %s %d is out of range %d-%d", form, names[i], n, cronRanges[i][0], cronRanges[i][1])
			}
		}
	}
	if (fields[2] == "?") == (fields[4] == "?") {
		return fmt.Errorf("%s: exactly one of day-of-month and day-of-week must be ?", form)
	}
	return nil
}
