package world

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// BackupSpec names what SeedBackups creates: the database the catalog's
// web/production entry backs up and drills (catalog.yaml: database, backup,
// drill), in the home region of the config and in the DR region.
type BackupSpec struct {
	Database     string // RDS instance identifier (PostgreSQL) in the home region
	DBName       string // its database
	DBUser       string // its master user
	DBPassword   string
	SecretName   string // Secrets Manager name of its credentials (home region)
	SecretSuffix string // the six letters of the secret's ARN: catalog.yaml names the ARN
	DRRegion     string
	// DRKMSKey, DrillSecurityGroup: the emulator makes up their identifiers;
	// SeedBackups makes it make up these ones (see seedIDs) and fails when
	// it does not. catalog.yaml names the key; the security group plays the
	// DR stack's drill security group, which the local stack passes to the
	// restore function (config.EnvDrillSecurityGroup), as the DR stack does.
	DRKMSKey           string
	DrillSecurityGroup string
	DrillSubnetGroup   string
	// BackupAccount receives the offsite copies: BackupRole is the role
	// the snapshot function assumes there (moto needs no role to exist: an
	// assumed role's credentials act in its account), BackupKMSAlias the
	// alias ARN of the key SeedBackups creates there, in DRRegion, as the
	// backup-account stack would.
	BackupAccount  string
	BackupRole     string
	BackupKMSAlias string
}

// DemoBackups is the backup spec of `make demo` and the backup integration
// tests; it matches catalog.yaml's web/production database, backup and drill.
func DemoBackups() BackupSpec {
	return BackupSpec{
		Database:           "web-prod",
		DBName:             "app",
		DBUser:             "postgres",
		DBPassword:         "demo-password-not-a-secret",
		SecretName:         "stepship/web-prod-db",
		SecretSuffix:       "AbCdEf",
		DRRegion:           "us-west-2",
		DRKMSKey:           "arn:aws:kms:us-west-2:123456789012:key/3bb9a0cb-7d4a-406a-8ba2-401874042654",
		DrillSecurityGroup: "sg-ce0e26ced2819bd55",
		DrillSubnetGroup:   "stepship-drill-isolated",
		BackupAccount:      "210987654321",
		BackupRole:         "arn:aws:iam::210987654321:role/stepship-backup-copier",
		BackupKMSAlias:     "arn:aws:kms:us-west-2:210987654321:alias/stepship-backup-copies",
	}
}

// AsBackupAccount returns cfg acting as the backup account's role: the
// credentials STS gives for it (moto's act in the role's account).
func (b BackupSpec) AsBackupAccount(ctx context.Context, cfg aws.Config) (aws.Config, error) {
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(b.BackupRole), RoleSessionName: aws.String("stepship-world")})
	if err != nil {
		return aws.Config{}, fmt.Errorf("failed to assume %s: %w", b.BackupRole, err)
	}
	c := out.Credentials
	as := cfg.Copy()
	as.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	return as, nil
}

// SecretARN is the ARN the credentials' secret gets in region of account.
func (b BackupSpec) SecretARN(region, account string) string {
	return "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + b.SecretName + "-" + b.SecretSuffix
}

// SeededBackups is what SeedBackups created.
type SeededBackups struct {
	DRKMSKey        string
	SecurityGroupID string
	SubnetGroup     string
	// BackupKMSKey is the ARN of the key the spec's BackupKMSAlias names.
	BackupKMSKey string
}

// The moto seeds that make the emulator's random identifiers the ones
// catalog.yaml names (POST /moto-api/seed, then the one call that makes the
// identifier). Changing them, or a moto release that draws its identifiers
// differently, makes SeedBackups fail and say which identifier to write.
const (
	seedDRKMSKey      = 4211
	seedSecurityGroup = 4212
)

// SeedBackups creates the spec's DR resources (the database and its secret
// are SeedDatabase's, which must have run): the secret's replica in the DR
// region, where the drill reads it (docs/backups.md, "Before the first
// drill"), the KMS key the copies are re-encrypted with, the drill's DB
// subnet group (over the default VPC's subnets) and security group in the DR
// region; and in the backup account, the key (and its alias) the offsite
// copies are encrypted with. It talks to the emulator directly (its seed API
// is moto's own).
func SeedBackups(ctx context.Context, cfg aws.Config, b BackupSpec) (*SeededBackups, error) {
	out := &SeededBackups{SubnetGroup: b.DrillSubnetGroup}
	if _, err := secretsmanager.NewFromConfig(cfg).ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String(b.SecretName), AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String(b.DRRegion)}},
	}); err != nil {
		return nil, fmt.Errorf("failed to replicate secret %s to %s: %w", b.SecretName, b.DRRegion, err)
	}
	dr := cfg.Copy()
	dr.Region = b.DRRegion
	if err := motoSeed(ctx, cfg, seedDRKMSKey); err != nil {
		return nil, err
	}
	key, err := kms.NewFromConfig(dr).CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("stepship DR copies (demo)"), KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create the DR key in %s: %w", b.DRRegion, err)
	}
	out.DRKMSKey = aws.ToString(key.KeyMetadata.Arn)
	if out.DRKMSKey != b.DRKMSKey {
		return nil, fmt.Errorf("the emulator made DR key %s, but the spec (and catalog.yaml) name %s: write the one it made in both", out.DRKMSKey, b.DRKMSKey)
	}

	ec2 := ec2Query{cfg: dr}
	var subnets struct {
		Items []struct {
			ID    string `xml:"subnetId"`
			VPCID string `xml:"vpcId"`
		} `xml:"subnetSet>item"`
	}
	if err := ec2.call(ctx, url.Values{"Action": {"DescribeSubnets"}, "Filter.1.Name": {"default-for-az"}, "Filter.1.Value.1": {"true"}}, &subnets); err != nil {
		return nil, err
	}
	if out.BackupKMSKey, err = seedBackupAccount(ctx, dr, b); err != nil {
		return nil, err
	}
	if len(subnets.Items) < 2 {
		return nil, fmt.Errorf("the emulator has %d default subnets in %s, want 2 or more for the drill's subnet group", len(subnets.Items), b.DRRegion)
	}
	if err := motoSeed(ctx, cfg, seedSecurityGroup); err != nil {
		return nil, err
	}
	var sg struct {
		GroupID string `xml:"groupId"`
	}
	if err := ec2.call(ctx, url.Values{"Action": {"CreateSecurityGroup"}, "GroupName": {"stepship-drill"},
		"GroupDescription": {"drill-only: restored databases, reached by dr-verify only"}, "VpcId": {subnets.Items[0].VPCID}}, &sg); err != nil {
		return nil, err
	}
	out.SecurityGroupID = sg.GroupID
	if sg.GroupID != b.DrillSecurityGroup {
		return nil, fmt.Errorf("the emulator made security group %s, but the spec names %s: write the one it made there", sg.GroupID, b.DrillSecurityGroup)
	}
	var ids []string
	for _, s := range subnets.Items[:2] {
		ids = append(ids, s.ID)
	}
	if _, err := rds.NewFromConfig(dr).CreateDBSubnetGroup(ctx, &rds.CreateDBSubnetGroupInput{
		DBSubnetGroupName: aws.String(b.DrillSubnetGroup), DBSubnetGroupDescription: aws.String("isolated: no route to the internet"), SubnetIds: ids,
	}); err != nil {
		return nil, fmt.Errorf("failed to create DB subnet group %s in %s: %w", b.DrillSubnetGroup, b.DRRegion, err)
	}
	return out, nil
}

// seedBackupAccount creates, as the backup account's role in the DR region
// (dr), the key the offsite copies are encrypted with and the alias the
// catalog names it by; it returns the key's ARN.
func seedBackupAccount(ctx context.Context, dr aws.Config, b BackupSpec) (string, error) {
	as, err := b.AsBackupAccount(ctx, dr)
	if err != nil {
		return "", err
	}
	keys := kms.NewFromConfig(as)
	key, err := keys.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("stepship offsite copies (demo backup account)")})
	if err != nil {
		return "", fmt.Errorf("failed to create the backup account's key in %s: %w", b.DRRegion, err)
	}
	alias := b.BackupKMSAlias[strings.Index(b.BackupKMSAlias, ":alias/")+1:]
	if _, err := keys.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		return "", fmt.Errorf("failed to name the backup account's key %s: %w", alias, err)
	}
	return aws.ToString(key.KeyMetadata.Arn), nil
}

// motoSeed seeds the emulator's random identifiers (moto's /moto-api/seed).
func motoSeed(ctx context.Context, cfg aws.Config, n int) error {
	if cfg.BaseEndpoint == nil {
		return fmt.Errorf("the AWS configuration names no emulator endpoint to seed")
	}
	u := strings.TrimSuffix(*cfg.BaseEndpoint, "/") + fmt.Sprintf("/moto-api/seed?a=%d", n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to seed the emulator's identifiers: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("failed to seed the emulator's identifiers: HTTP %d", resp.StatusCode)
	}
	return nil
}

// ec2Query makes the two EC2 calls the world needs with a signed query
// request, instead of the EC2 SDK client: the largest package of the SDK,
// minutes of compilation for two calls of a test fixture.
type ec2Query struct{ cfg aws.Config }

func (q ec2Query) call(ctx context.Context, params url.Values, out any) error {
	params.Set("Version", "2016-11-15")
	body := params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, aws.ToString(q.cfg.BaseEndpoint)+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := q.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("failed to read the emulator's credentials: %w", err)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", q.cfg.Region, time.Now()); err != nil {
		return fmt.Errorf("failed to sign EC2 %s: %w", params.Get("Action"), err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("EC2 %s in %s: %w", params.Get("Action"), q.cfg.Region, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("EC2 %s in %s: %w", params.Get("Action"), q.cfg.Region, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("EC2 %s in %s: HTTP %d: %s", params.Get("Action"), q.cfg.Region, resp.StatusCode, b)
	}
	if err := xml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("EC2 %s in %s answered %s: %w", params.Get("Action"), q.cfg.Region, b, err)
	}
	return nil
}
