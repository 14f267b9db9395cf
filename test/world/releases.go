package world

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stepship/stepship/shared/payload"
)

// ReleaseSpec names what SeedReleases creates for the deploy pipeline beyond
// Seed's service: the lock and ledger table, the bucket the build writes SQL
// migrations to, and the alarm the bake watches (catalog.yaml's
// web/production migrations and verify).
type ReleaseSpec struct {
	Table            string // DynamoDB table (PK, SK), TTL on expiresAt
	MigrationsBucket string // S3 bucket of catalog.yaml's migrations.location
	MigrationsPrefix string // its prefix, ending in '/'
	Alarm            string // CloudWatch alarm of catalog.yaml's verify.alarms
}

// DemoReleases is the release spec of `make demo` and the deploy integration
// tests; it matches catalog.yaml.
func DemoReleases() ReleaseSpec {
	return ReleaseSpec{Table: "stepship-demo", MigrationsBucket: "stepship-demo-migrations", MigrationsPrefix: "web/", Alarm: "web-5xx"}
}

// SeedReleases creates the spec's table, bucket and alarm (in state OK).
func SeedReleases(ctx context.Context, cfg aws.Config, r ReleaseSpec) error {
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(r.Table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("PK"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("SK"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("PK"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("SK"), KeyType: ddbtypes.KeyTypeRange},
		},
	}); err != nil {
		return fmt.Errorf("failed to create table %s: %w", r.Table, err)
	}
	if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(r.Table),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(true)}}); err != nil {
		return fmt.Errorf("failed to turn TTL on for %s: %w", r.Table, err)
	}
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(r.MigrationsBucket)}); err != nil {
		return fmt.Errorf("failed to create bucket %s: %w", r.MigrationsBucket, err)
	}
	if _, err := cloudwatch.NewFromConfig(cfg).PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(r.Alarm), AlarmDescription: aws.String("web answers 5xx (demo)"),
		Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(10),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold,
	}); err != nil {
		return fmt.Errorf("failed to create alarm %s: %w", r.Alarm, err)
	}
	return nil
}

// PushMigrations writes SQL migrations (file name → SQL) where the build for
// commit writes them: MigrationsBucket/MigrationsPrefix/COMMIT/ (the
// emulator's CodeBuild runs no buildspec).
func PushMigrations(ctx context.Context, cfg aws.Config, r ReleaseSpec, commit string, files map[string]string) error {
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for name, sql := range files {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.MigrationsBucket),
			Key: aws.String(r.MigrationsPrefix + commit + "/" + name), Body: strings.NewReader(sql)}); err != nil {
			return fmt.Errorf("failed to put migration %s of %s: %w", name, commit, err)
		}
	}
	return nil
}

// SeedDatabase creates the backup spec's PostgreSQL instance (in the
// emulator) and its credentials' secret, whose host and port are a real
// PostgreSQL's (where migrations run and drills connect).
func SeedDatabase(ctx context.Context, cfg aws.Config, b BackupSpec, host string, port int) (dbARN, secretARN string, err error) {
	creds, _ := json.Marshal(map[string]any{"username": b.DBUser, "password": b.DBPassword, "engine": "postgres", "host": host, "port": port,
		"dbname": b.DBName, "dbInstanceIdentifier": b.Database})
	sec, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(b.SecretName), SecretString: aws.String(string(creds)), Description: aws.String("credentials of " + b.Database + " (demo)"),
		// moto's way to choose the ARN's suffix (the tag stays on the secret).
		Tags: []smtypes.Tag{{Key: aws.String("_custom_id_"), Value: aws.String(b.SecretSuffix)}},
	})
	if err != nil {
		return "", "", fmt.Errorf("failed to create secret %s: %w", b.SecretName, err)
	}
	db, err := rds.NewFromConfig(cfg).CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(b.Database), Engine: aws.String("postgres"), EngineVersion: aws.String("16.4"),
		DBInstanceClass: aws.String("db.t4g.micro"), AllocatedStorage: aws.Int32(20), DBName: aws.String(b.DBName),
		MasterUsername: aws.String(b.DBUser), MasterUserPassword: aws.String(b.DBPassword),
		Tags: []rdstypes.Tag{{Key: aws.String("service"), Value: aws.String("web")}},
	})
	if err != nil {
		return "", "", fmt.Errorf("failed to create database %s: %w", b.Database, err)
	}
	return aws.ToString(db.DBInstance.DBInstanceArn), aws.ToString(sec.ARN), nil
}

// LedgerEntry is one deploy as the ledger records it (the deploy machine's
// Record states write it).
type LedgerEntry struct {
	Commit, Outcome, Reason, Execution, Trigger, Author string
	ImageDigest, RevisionBefore, RevisionAfter          string
	MigrationBefore, MigrationAfter                     string
	Snapshot                                            string
	PushedAt, Start, End                                string
	RollbackRequest                                     bool
}

// Ledger reads a target's ledger entries, oldest first.
func Ledger(ctx context.Context, cfg aws.Config, r ReleaseSpec, service, environment string) ([]LedgerEntry, error) {
	p := dynamodb.NewQueryPaginator(dynamodb.NewFromConfig(cfg), &dynamodb.QueryInput{
		TableName:              aws.String(r.Table),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :release)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk":      &ddbtypes.AttributeValueMemberS{Value: payload.LockKey(service, environment)},
			":release": &ddbtypes.AttributeValueMemberS{Value: "release#"},
		},
		ConsistentRead: aws.Bool(true),
	})
	var out []LedgerEntry
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("failed to read the ledger of %s/%s: %w", service, environment, err)
		}
		for _, it := range page.Items {
			s := func(k string) string {
				if v, ok := it[k].(*ddbtypes.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			rb, _ := it["rollbackRequest"].(*ddbtypes.AttributeValueMemberBOOL)
			out = append(out, LedgerEntry{Commit: s("commit"), Outcome: s("outcome"), Reason: s("reason"), Execution: s("execution"),
				Trigger: s("trigger"), Author: s("author"), ImageDigest: s("imageDigest"), RevisionBefore: s("revisionBefore"),
				RevisionAfter: s("revisionAfter"), MigrationBefore: s("migrationBefore"), MigrationAfter: s("migrationAfter"),
				Snapshot: s("snapshot"), PushedAt: s("pushedAt"), Start: s("start"), End: s("end"), RollbackRequest: rb != nil && rb.Value})
		}
	}
	return out, nil
}

// Lock is the lock item of a target: who holds it and who waits.
type Lock struct{ Owner, OwnerCommit, Waiter, WaiterCommit, LeaseUntil string }

// ReadLock reads a target's lock item (the zero Lock when there is none).
func ReadLock(ctx context.Context, cfg aws.Config, r ReleaseSpec, service, environment string) (Lock, error) {
	out, err := dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: payload.LockKey(service, environment)}, "SK": &ddbtypes.AttributeValueMemberS{Value: "lock"}}})
	if err != nil {
		return Lock{}, fmt.Errorf("failed to read the lock of %s/%s: %w", service, environment, err)
	}
	s := func(k string) string {
		if v, ok := out.Item[k].(*ddbtypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	return Lock{Owner: s("owner"), OwnerCommit: s("ownerCommit"), Waiter: s("waiter"), WaiterCommit: s("waiterCommit"), LeaseUntil: s("leaseUntil")}, nil
}
