package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/catalog/catalogtest"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
	"github.com/stepship/stepship/test/harness"
)

const secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:web-db-AbCdEf"

// replicaARN is the secret's replica in the DR region, where the verifier
// reads it.
const replicaARN = "arn:aws:secretsmanager:us-west-2:123456789012:secret:web-db-AbCdEf"

// testCatalog: a drill with two tables and two assertions.
var testCatalog = drillCatalog("users, billing.invoices",
	`{name: one-admin, query: "select count(*) from users where role = 'admin'", expect: "1"}`,
	`{name: newest-invoice, query: "select max(number) from billing.invoices;", expect: "INV-2"}`)

// drillCatalog is a catalog whose web/production drills check the tables (a
// YAML list's inside) and the assertions (YAML flow mappings).
func drillCatalog(tables string, assertions ...string) string {
	fields := []string{
		`database: {instance: web-prod, secret: "` + secretARN + `"}`,
		`backup: {schedule: "cron(0 3 * * ? *)", retention: {count: 2, days: 7}, drRegion: us-west-2, drKmsKey: "arn:aws:kms:us-west-2:123456789012:key/k"}`,
		`drill:`,
		`  schedule: cron(0 5 ? * SUN *)`,
		`  subnetGroup: drill`,
		`  securityGroup: sg-0123456789abcdef0`,
		`  tables: [` + tables + `]`,
		`  assertions:`,
	}
	for _, a := range assertions {
		fields = append(fields, "    - "+a)
	}
	return catalogtest.Web(catalogtest.Environment("production", fields...))
}

// fakeSecrets answers GetSecretValue for one secret.
type fakeSecrets struct{ value string }

func (f fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.SecretId) != replicaARN {
		return nil, &smNotFound{}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

// fakeSecretsAt holds one secret, at arn only.
type fakeSecretsAt struct{ arn string }

func (f fakeSecretsAt) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.SecretId) != f.arn {
		return nil, &smNotFound{}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(`{"username":"u","password":"p"}`)}, nil
}

type smNotFound struct{}

func (smNotFound) Error() string {
	return "ResourceNotFoundException: Secrets Manager can't find the specified secret."
}

var now = time.Date(2026, 11, 30, 5, 20, 0, 0, time.UTC)

func newVerifier(t *testing.T, secret string, cat string) *Verifier {
	t.Helper()
	c, err := catalog.Parse([]byte(cat))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(c, "us-west-2", fakeSecrets{value: secret}, slog.New(slog.NewJSONHandler(io.Discard, nil)), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The restored database, played by a real PostgreSQL: a goose version
// table, the catalog's tables, and a drill user with a password.
func TestVerifyAgainstPostgres(t *testing.T) {
	pg := harness.StartPostgres(t)
	ctx := t.Context()
	if _, err := pg.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	setup := `
CREATE ROLE drill LOGIN PASSWORD 's3cret-pw';
CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (20261101, true), (20261115, true), (20261120, true), (20261120, false);
CREATE TABLE users (id int, role text);
INSERT INTO users VALUES (1, 'admin'), (2, 'member');
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (number text);
GRANT USAGE ON SCHEMA billing TO drill;
GRANT SELECT ON ALL TABLES IN SCHEMA public, billing TO drill;`
	if _, err := pg.ExecIn(ctx, "app", setup); err != nil {
		t.Fatal(err)
	}
	secret := `{"username":"drill","password":"s3cret-pw","dbname":"app","engine":"postgres"}`
	v := newVerifier(t, secret, testCatalog)
	started := now.Add(-17 * time.Minute)
	run := func(expected *int64) Report {
		t.Helper()
		rep, err := v.Handle(ctx, payload.Invocation[Task]{ExecutionID: "x", Input: Task{
			Service: "web", Environment: "production", Restored: backup.Restored{Instance: "drill-web-prod-202611300500"},
			Endpoint: Endpoint{Address: pg.Host, Port: int32(pg.Port)}, ExpectedSchemaVersion: expected, RestoreStartedAt: &started,
		}})
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		return rep
	}

	// billing.invoices is empty, and the newest invoice is not there: two
	// checks fail, the rest pass, every check is reported.
	want := int64(20261115) // 20261120 was migrated down again
	rep := run(&want)
	got := map[string]Check{}
	for _, c := range rep.Checks {
		got[c.Name] = c
	}
	expect := []Check{
		{Name: "goose_db_version", Kind: CheckSchema, Passed: true, Detail: "version 20261115, as expected"},
		{Name: "users", Kind: CheckTable, Passed: true, Detail: "has rows"},
		{Name: "billing.invoices", Kind: CheckTable, Passed: false, Detail: "has no rows"},
		{Name: "one-admin", Kind: CheckAssertion, Passed: true, Detail: `got "1"`},
		{Name: "newest-invoice", Kind: CheckAssertion, Passed: false, Detail: `got "NULL", want "INV-2"`},
	}
	if !reflect.DeepEqual(rep.Checks, expect) {
		t.Errorf("checks\n%+v\nwant\n%+v", rep.Checks, expect)
	}
	if rep.Passed || rep.SchemaVersion == nil || *rep.SchemaVersion != 20261115 || rep.RTOSeconds == nil || *rep.RTOSeconds != 17*60 {
		t.Errorf("report %+v", rep)
	}

	// With the data in place every check passes.
	if _, err := pg.ExecIn(ctx, "app", `INSERT INTO billing.invoices VALUES ('INV-1'), ('INV-2')`); err != nil {
		t.Fatal(err)
	}
	if rep := run(&want); !rep.Passed {
		t.Errorf("report %+v", rep)
	}
	// Without an expected version the one found is reported, not compared.
	if rep := run(nil); !rep.Passed || !strings.Contains(rep.Checks[0].Detail, "not compared") {
		t.Errorf("no expected version: %+v", rep.Checks[0])
	}
	other := int64(20261120)
	if rep := run(&other); rep.Passed || rep.Checks[0].Detail != "version 20261115, want 20261120" {
		t.Errorf("another version: %+v", rep.Checks[0])
	}
	raw, _ := json.Marshal(rep)
	if strings.Contains(string(raw), "s3cret") {
		t.Errorf("the report carries the password: %s", raw)
	}

	// Assertions cannot write: each runs in a read-only transaction.
	writing := strings.Replace(testCatalog, `query: "select max(number) from billing.invoices;"`, `query: "delete from users returning 1"`, 1)
	if rep := run2(t, newVerifier(t, secret, writing), pg, &want); rep.Passed || !strings.Contains(rep.Checks[4].Detail, "read-only transaction") {
		t.Errorf("a writing assertion: %+v", rep.Checks[4])
	}
	if out, _ := pg.ExecIn(ctx, "app", "select count(*) from users"); out != "2" {
		t.Errorf("users has %s rows after a writing assertion", out)
	}

	// Nothing listening: DatabaseUnreachable, without the password in it.
	_, err := v.Handle(ctx, payload.Invocation[Task]{Input: Task{Service: "web", Environment: "production",
		Restored: backup.Restored{Instance: "drill-web-prod-202611300500"}, Endpoint: Endpoint{Address: pg.Host, Port: 1}}})
	if _, ok := err.(*taskerr.DatabaseUnreachable); !ok || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("nothing listening: %T %v", err, err)
	}
}

func run2(t *testing.T, v *Verifier, pg *harness.Postgres, want *int64) Report {
	t.Helper()
	rep, err := v.Handle(t.Context(), payload.Invocation[Task]{Input: Task{Service: "web", Environment: "production",
		Restored: backup.Restored{Instance: "drill-web-prod-202611300500"}, Endpoint: Endpoint{Address: pg.Host, Port: int32(pg.Port)}, ExpectedSchemaVersion: want}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyRefusals(t *testing.T) {
	v := newVerifier(t, `not json`, testCatalog)
	ep := Endpoint{Address: "127.0.0.1", Port: 1}
	r := backup.Restored{Instance: "drill-web-prod-202611300500"}
	tests := []struct {
		name          string
		task          Task
		errName, text string
	}{
		{"unknown environment", Task{Service: "web", Environment: "staging", Restored: r, Endpoint: ep}, "UnknownTarget", `no environment "staging"`},
		{"no endpoint", Task{Service: "web", Environment: "production", Restored: r}, "InvalidDrillRequest", "endpoint"},
		{"a secret that is not RDS's JSON", Task{Service: "web", Environment: "production", Restored: r, Endpoint: ep}, "DatabaseUnreachable", "its value was not used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Handle(context.Background(), payload.Invocation[Task]{Input: tt.task})
			if err == nil || reflect.TypeOf(err).Elem().Name() != tt.errName || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %T %v, want %s saying %q", err, err, tt.errName, tt.text)
			}
			if strings.Contains(err.Error(), "not json") {
				t.Errorf("the error echoes the secret: %v", err)
			}
		})
	}
	// The secret not replicated to the DR region: read there only, and the
	// error says what to do.
	c, _ := catalog.Parse([]byte(testCatalog))
	nv, _ := NewVerifier(c, "us-west-2", fakeSecretsAt{arn: secretARN}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	_, err := nv.Handle(context.Background(), payload.Invocation[Task]{Input: Task{Service: "web", Environment: "production", Restored: r, Endpoint: ep}})
	if _, ok := err.(*taskerr.DatabaseUnreachable); !ok || !strings.Contains(err.Error(), replicaARN) || !strings.Contains(err.Error(), "replicate the secret there") {
		t.Errorf("no replica: %v", err)
	}
}

func TestConnConfig(t *testing.T) {
	cfg, err := connConfig(Endpoint{Address: "drill.abc.us-west-2.rds.amazonaws.com", Port: 5432}, credentials{Username: "u", Password: "p@ss:/word"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "drill.abc.us-west-2.rds.amazonaws.com" || cfg.Port != 5432 || cfg.Database != "postgres" || cfg.User != "u" || cfg.Password != "p@ss:/word" ||
		cfg.RuntimeParams["statement_timeout"] != "30000" || cfg.ConnectTimeout != 10*time.Second {
		t.Errorf("config %+v", cfg)
	}
	var _ *pgconn.Config = cfg
}

// Each check fails on its own, with a detail that says why: what a database
// lacks (the goose table, any applied migration, a table) and what an
// assertion got (no row, several, a long value, cut).
func TestChecksAgainstPostgres(t *testing.T) {
	pg := harness.StartPostgres(t)
	ctx := t.Context()
	if _, err := pg.Exec(ctx, `CREATE ROLE drill LOGIN PASSWORD 's3cret-pw'`); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("y", 300)
	for i, tc := range []struct {
		name       string
		setup      string // SQL, as the owner
		tables     string
		assertions []string
		want       []Check // after the schema check
		schema     Check
		version    *int64
	}{
		{name: "an empty database", tables: "users",
			schema: Check{Name: gooseTable, Kind: CheckSchema, Detail: `failed to read the migration version: ERROR: relation "goose_db_version" does not exist (SQLSTATE 42P01)`},
			want:   []Check{{Name: "users", Kind: CheckTable, Detail: `failed to read the table: ERROR: relation "users" does not exist (SQLSTATE 42P01)`}}},
		{name: "every migration down again",
			setup:  `INSERT INTO goose_db_version (version_id, is_applied) VALUES (20261101, true), (20261101, false)`,
			schema: Check{Name: gooseTable, Kind: CheckSchema, Detail: "no migration is applied"}},
		{name: "no row, several rows, a long value",
			setup: `INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (7, true); CREATE TABLE users (role text); INSERT INTO users VALUES ('admin'), ('admin')`,
			assertions: []string{
				`{name: no-row, query: "select role from users where false", expect: "admin"}`,
				`{name: two-rows, query: "select role from users", expect: "admin"}`,
				`{name: long, query: "select repeat('y', 300)", expect: "x"}`,
				`{name: long-and-right, query: "select repeat('y', 300)", expect: "` + long + `"}`,
				`{name: just-short-enough, query: "select repeat('y', 184)", expect: "x"}`,
				`{name: just-too-long, query: "select repeat('y', 185)", expect: "x"}`,
				`{name: no-column, query: "select", expect: "1"}`,
			},
			schema:  Check{Name: gooseTable, Kind: CheckSchema, Passed: true, Detail: "version 7 (no expected version given: not compared)"},
			version: aws.Int64(7),
			want: []Check{
				{Name: "no-row", Kind: CheckAssertion, Detail: "the query failed: not exactly one row: 0 rows"},
				{Name: "two-rows", Kind: CheckAssertion, Detail: "the query failed: not exactly one row: 2 rows"},
				{Name: "long", Kind: CheckAssertion, Detail: `got "` + long[:maxDetail-len(`got "`)] + "…"},
				{Name: "long-and-right", Kind: CheckAssertion, Passed: true, Detail: `got "` + long + `"`},
				{Name: "just-short-enough", Kind: CheckAssertion, Detail: `got "` + long[:184] + `", want "x"`}, // 200 bytes
				{Name: "just-too-long", Kind: CheckAssertion, Detail: `got "` + long[:185] + `", want "x` + "…"},
				{Name: "no-column", Kind: CheckAssertion, Detail: `got "NULL", want "1"`},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fmt.Sprintf("app%d", i)
			if _, err := pg.CreateDatabase(ctx, db); err != nil {
				t.Fatal(err)
			}
			if tc.setup != "" {
				setup := `CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL); ` + tc.setup
				if _, err := pg.ExecIn(ctx, db, setup+`; GRANT SELECT ON ALL TABLES IN SCHEMA public TO drill`); err != nil {
					t.Fatal(err)
				}
			}
			v := newVerifier(t, `{"username":"drill","password":"s3cret-pw","dbname":"`+db+`"}`, drillCatalog(tc.tables, tc.assertions...))
			rep, err := v.Handle(ctx, payload.Invocation[Task]{Input: Task{Service: "web", Environment: "production",
				Restored: backup.Restored{Instance: "drill-web-prod-202611300500"}, Endpoint: Endpoint{Address: pg.Host, Port: int32(pg.Port)},
				RestoreStartedAt: &time.Time{}}})
			if err != nil {
				t.Fatal(err)
			}
			want := append([]Check{tc.schema}, tc.want...)
			if !reflect.DeepEqual(rep.Checks, want) {
				t.Errorf("checks\n%+v\nwant\n%+v", rep.Checks, want)
			}
			if !reflect.DeepEqual(rep.SchemaVersion, tc.version) || rep.Passed || rep.RTOSeconds != nil || !rep.VerifiedAt.Equal(now) {
				t.Errorf("report %+v, want version %v, not passed, no RTO without a restore start", rep, tc.version)
			}
		})
	}
}

// cut keeps details short without splitting a character.
func TestCutKeepsCharactersWhole(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{strings.Repeat("a", maxDetail), strings.Repeat("a", maxDetail)},
		{strings.Repeat("a", maxDetail+1), strings.Repeat("a", maxDetail) + "…"},
		// "é" is 2 bytes: the 200th byte would be its first half.
		{strings.Repeat("a", maxDetail-1) + "é", strings.Repeat("a", maxDetail-1) + "…"},
		{strings.Repeat("a", maxDetail-2) + "€", strings.Repeat("a", maxDetail-2) + "…"},
		{strings.Repeat("é", maxDetail), strings.Repeat("é", maxDetail/2) + "…"},
	} {
		got := cut(tt.in)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("cut(%d bytes) = %q (valid UTF-8: %v), want %q", len(tt.in), got, utf8.ValidString(got), tt.want)
		}
	}
}

// Input that is not UTF-8 to begin with is still cut near maxDetail, never
// to nothing.
func TestCutOfInvalidUTF8(t *testing.T) {
	got := cut(strings.Repeat("\x80", maxDetail+10))
	if n := len(got) - len("…"); n < maxDetail-utf8.UTFMax || n > maxDetail {
		t.Errorf("cut kept %d bytes, want about %d", n, maxDetail)
	}
}
