package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stepship/stepship/shared/awsenv"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
	"github.com/stepship/stepship/test/harness"
)

// The S3 part with the real SDK client against the emulator: only the .sql
// objects directly under the prefix, the size bound, a missing bucket.
func TestLoadMigrationsFromS3(t *testing.T) {
	m := harness.StartMoto(t)
	ctx := t.Context()
	client := s3.NewFromConfig(m.Config(ctx), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{
		prefix + "00001_users.sql":         createUsers,
		prefix + "00002_email.sql":         addEmail,
		prefix + "notes.txt":               "not SQL",
		prefix + "old/00003_old.sql":       "-- a subfolder: not read",
		"web/migrations/other/00009.sql":   "-- another commit",
		prefix[:len(prefix)-1] + "x/a.sql": "-- a sibling prefix",
	} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	loc := payload.S3Location{Bucket: bucket, Prefix: prefix}

	tests := []struct {
		name    string
		loc     payload.S3Location
		max     int64
		want    []string
		wantErr any
	}{
		{name: "the commit's folder", loc: loc, max: DefaultMaxBytes, want: []string{"00001_users.sql", "00002_email.sql"}},
		{name: "exactly the limit", loc: loc, max: int64(len(createUsers) + len(addEmail)), want: []string{"00001_users.sql", "00002_email.sql"}},
		{name: "one byte over", loc: loc, max: int64(len(createUsers) + len(addEmail) - 1), wantErr: new(*taskerr.MigrationsTooLarge)},
		{name: "an empty folder", loc: payload.S3Location{Bucket: bucket, Prefix: "web/migrations/none/"}, max: DefaultMaxBytes, want: []string{}},
		{name: "no bucket", loc: payload.S3Location{Bucket: "no-such-bucket", Prefix: prefix}, max: DefaultMaxBytes, wantErr: new(*taskerr.MigrationsNotFound)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := loadMigrations(ctx, client, tt.loc, tt.max)
			if tt.wantErr != nil {
				assertErrorType(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for name := range files {
				names = append(names, name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) && len(names)+len(tt.want) > 0 {
				t.Fatalf("files %v, want %v", names, tt.want)
			}
			for name, want := range map[string]string{"00001_users.sql": createUsers, "00002_email.sql": addEmail} {
				if f, ok := files[name]; ok && string(f.Data) != want {
					t.Errorf("%s: content %q, want %q", name, f.Data, want)
				}
			}
		})
	}
}

// The whole function as setup builds it (clients from the environment,
// credentials from Secrets Manager, migrations from S3), against the
// emulator and a real PostgreSQL.
func TestHandleWithMotoAndPostgres(t *testing.T) {
	ctx := t.Context()
	env, secretARN := emulated(t, map[string]string{prefix + "00001_users.sql": createUsers, prefix + "00002_email.sql": addEmail})
	var log logBuffer
	getenv := func(k string) string { return env[k] }
	awsCfg, err := awsenv.Config(getenv)
	if err != nil {
		t.Fatal(err)
	}
	h, err := setup(function.Env{AWS: awsCfg, Log: newLogger(&log), Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	handle := h.(func(context.Context, payload.Invocation[payload.MigrateInput]) (payload.MigrateResult, error))
	inv := input()
	inv.Input.DatabaseSecretARN = secretARN
	got, err := handle(ctx, inv)
	if err != nil || got.VersionAfter != 2 || len(got.Applied) != 2 {
		t.Fatalf("Handle = %+v, %v", got, err)
	}
	if strings.Contains(log.String(), "trusted-anyway") || !strings.Contains(log.String(), `"executionId":"`+inv.ExecutionID) {
		t.Errorf("log: %s", log.String())
	}
	inv.Input.DatabaseSecretARN = strings.Replace(inv.Input.DatabaseSecretARN, "web/db", "web/nope", 1)
	_, err = handle(ctx, inv)
	var unavailable *taskerr.DatabaseUnreachable
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing secret: %v", err)
	}
}

// emulated starts the AWS emulator and a PostgreSQL with a database of the
// test's own, puts objects (key → body) into the test bucket and the
// database's credentials into a secret, and returns the function's
// environment for them and the secret's ARN.
func emulated(t *testing.T, objects map[string]string) (map[string]string, string) {
	t.Helper()
	m := harness.StartMoto(t)
	pg := harness.StartPostgres(t)
	ctx := t.Context()
	db := newTestDB(t, pg)
	cfg := m.Config(ctx)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for key, body := range objects {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	secret := `{"engine":"postgres","host":"` + pg.Host + `","port":` + itoa(pg.Port) + `,"username":"postgres","password":"trusted-anyway","dbname":"` + db.name + `"}`
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("web/db"), SecretString: aws.String(secret)})
	if err != nil {
		t.Fatal(err)
	}
	env := m.Env()
	env[config.EnvDatabaseSSLMode] = "disable"
	return env, aws.ToString(out.ARN)
}
