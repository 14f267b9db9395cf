package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/lib/pq"

	"github.com/stepship/stepship/shared/dbcred"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
	"github.com/stepship/stepship/test/harness"
)

const (
	commit    = "0123456789abcdef0123456789abcdef01234567"
	secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-AbCdEf"
	bucket    = "stepship-artifacts"
	prefix    = "web/migrations/" + commit + "/"
)

func input() payload.Invocation[payload.MigrateInput] {
	return payload.Invocation[payload.MigrateInput]{ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:deploy:x", Input: payload.MigrateInput{
		Service: "web", Environment: "production", Commit: commit, DatabaseSecretARN: secretARN,
		Migrations: "s3://" + bucket + "/" + prefix,
	}}
}

// fakeS3 serves objects from a map of key → body, the way S3 answers a
// listing with a delimiter (only keys directly under the prefix); getErr
// fails every GetObject, bodyErr every read of a body, and grown, by key,
// serves a body other than the one listed.
type fakeS3 struct {
	objects map[string]string
	listErr error
	getErr  error
	bodyErr error
	grown   map[string]string
}

func (f *fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := &s3.ListObjectsV2Output{}
	keys := make([]string, 0, len(f.objects))
	for k := range f.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, aws.ToString(in.Prefix))
		if ok && !strings.Contains(rest, "/") {
			out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(f.objects[k])))})
		}
	}
	return out, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	body, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	if g, ok := f.grown[aws.ToString(in.Key)]; ok {
		body = g
	}
	var r io.Reader = strings.NewReader(body)
	if f.bodyErr != nil {
		r = io.MultiReader(r, iotest.ErrReader(f.bodyErr))
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(r)}, nil
}

// migrations puts files (name → SQL) under the test prefix.
func migrations(files map[string]string) *fakeS3 {
	f := &fakeS3{objects: map[string]string{}}
	for name, sql := range files {
		f.objects[prefix+name] = sql
	}
	return f
}

// fakeCreds hands out credentials in turn: the first until Forget, then the next.
type fakeCreds struct {
	mu      sync.Mutex
	creds   []dbcred.Credentials
	err     error
	forgets int
}

func (f *fakeCreds) Get(context.Context, string) (dbcred.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return dbcred.Credentials{}, f.err
	}
	return f.creds[min(f.forgets, len(f.creds)-1)], nil
}

func (f *fakeCreds) Forget(string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgets++
}

// logBuffer is a JSON log shared by goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newMigrator(t *testing.T, s3c s3API, creds credentialSource, w io.Writer, opts ...Option) *Migrator {
	t.Helper()
	if w == nil {
		w = io.Discard
	}
	m, err := NewMigrator(s3c, creds, slog.New(slog.NewJSONHandler(w, nil)), append([]Option{WithSSLMode(pq.SSLModeDisable)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Input and source problems are named before the database is touched (the
// credentials are never read).
func TestHandleRefusesBeforeTheDatabase(t *testing.T) {
	tests := []struct {
		name    string
		in      func(*payload.MigrateInput)
		s3      *fakeS3
		maxB    int64
		wantErr any
		wantMsg string
	}{
		{name: "invalid input", in: func(m *payload.MigrateInput) { m.Migrations = "s3://" + bucket + "/other/" }, s3: migrations(nil),
			wantErr: new(*taskerr.InvalidMigrateRequest), wantMsg: "migrations must end with the commit"},
		{name: "empty prefix", s3: migrations(nil), wantErr: new(*taskerr.MigrationsNotFound), wantMsg: "holds no .sql file directly under it"},
		{name: "only files in subfolders", s3: migrations(map[string]string{"old/001_a.sql": "SELECT 1;"}), wantErr: new(*taskerr.MigrationsNotFound)},
		{name: "no versioned file", s3: migrations(map[string]string{"schema.sql": "SELECT 1;"}), wantErr: new(*taskerr.MigrationsNotFound), wantMsg: "no .sql file there has a version number"},
		{name: "too large", s3: migrations(map[string]string{"001_a.sql": strings.Repeat("-", 64)}), maxB: 63, wantErr: new(*taskerr.MigrationsTooLarge), wantMsg: "larger than 63 bytes"},
		{name: "no bucket", s3: &fakeS3{listErr: &s3types.NoSuchBucket{}}, wantErr: new(*taskerr.MigrationsNotFound), wantMsg: "the bucket does not exist"},
		{name: "S3 throttled", s3: &fakeS3{listErr: errors.New("SlowDown: please reduce your request rate")}, wantErr: new(*taskerr.S3CallFailed), wantMsg: "failed to list s3://"},
		{name: "S3 throttled, as an API error", s3: &fakeS3{listErr: &smithy.GenericAPIError{Code: "SlowDown", Message: "reduce your request rate"}},
			wantErr: new(*taskerr.S3CallFailed), wantMsg: "failed to list s3://" + bucket + "/" + prefix + ": api error SlowDown"},
		{name: "no bucket, as an API error", s3: &fakeS3{listErr: &smithy.GenericAPIError{Code: "NoSuchBucket", Message: "gone"}},
			wantErr: new(*taskerr.MigrationsNotFound), wantMsg: "the bucket does not exist"},
		{name: "an object cannot be read", s3: withS3(migrations(map[string]string{"001_a.sql": "SELECT 1;"}), func(f *fakeS3) { f.getErr = errors.New("InternalError") }),
			wantErr: new(*taskerr.S3CallFailed), wantMsg: "failed to get s3://" + bucket + "/" + prefix + "001_a.sql: InternalError; the database was not touched"},
		{name: "the bucket went away", s3: withS3(migrations(map[string]string{"001_a.sql": "SELECT 1;"}), func(f *fakeS3) { f.getErr = &s3types.NoSuchBucket{} }),
			wantErr: new(*taskerr.MigrationsNotFound), wantMsg: "the bucket does not exist"},
		{name: "a body breaks off", s3: withS3(migrations(map[string]string{"001_a.sql": "SELECT 1;"}), func(f *fakeS3) { f.bodyErr = errors.New("connection reset") }),
			wantErr: new(*taskerr.S3CallFailed), wantMsg: "failed to read s3://" + bucket + "/" + prefix + "001_a.sql: connection reset"},
		{name: "an object grew past the limit", s3: withS3(migrations(map[string]string{"001_a.sql": "SELECT 1;", "002_b.sql": "SELECT 2;"}),
			func(f *fakeS3) { f.grown = map[string]string{prefix + "002_b.sql": "SELECT 22;"} }), maxB: 18,
			wantErr: new(*taskerr.MigrationsTooLarge), wantMsg: "larger than 18 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := &fakeCreds{err: errors.New("credentials must not be read")}
			m := newMigrator(t, tt.s3, creds, nil, WithMaxBytes(tt.maxB))
			inv := input()
			if tt.in != nil {
				tt.in(&inv.Input)
			}
			_, err := m.Handle(context.Background(), inv)
			assertErrorType(t, err, tt.wantErr)
			if !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

// withS3 changes f and returns it.
func withS3(f *fakeS3, change func(*fakeS3)) *fakeS3 {
	change(f)
	return f
}

// The migrator needs its S3 client, credential source and logger.
func TestNewMigratorNeedsItsParts(t *testing.T) {
	s3c, creds, log := migrations(nil), &fakeCreds{}, newLogger(io.Discard)
	for name, newMigrator := range map[string]func() (*Migrator, error){
		"no S3 client":   func() (*Migrator, error) { return NewMigrator(nil, creds, log) },
		"no credentials": func() (*Migrator, error) { return NewMigrator(s3c, nil, log) },
		"no logger":      func() (*Migrator, error) { return NewMigrator(s3c, creds, nil) },
	} {
		if m, err := newMigrator(); m != nil || err == nil || !strings.Contains(err.Error(), "S3 client, credential source and logger are required") {
			t.Errorf("%s: %v, %v", name, m, err)
		}
	}
}

// assertErrorType checks that err is exactly the named type target points
// to (not wrapped: aws-lambda-go names the Step Functions Error after it).
func assertErrorType(t *testing.T, err error, target any) {
	t.Helper()
	want := fmt.Sprintf("%T", target)[1:] // *T from **T
	if got := fmt.Sprintf("%T", err); got != want {
		t.Fatalf("error %v is a %s, want %s", err, got, want)
	}
}

func TestFirstLineAndAnnotations(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "one line", in: "ALTER TABLE t ADD c int;", want: "ALTER TABLE t ADD c int;"},
		{name: "comments first", in: "-- why\n\nINSERT INTO t\nVALUES (1);", want: "INSERT INTO t …"},
		{name: "long", in: strings.Repeat("x", 200), want: strings.Repeat("x", maxStatementLen) + " …"},
		{name: "just short enough", in: strings.Repeat("x", maxStatementLen), want: strings.Repeat("x", maxStatementLen)},
		{name: "just too long", in: strings.Repeat("x", maxStatementLen+1), want: strings.Repeat("x", maxStatementLen) + " …"},
		{name: "cut inside a character", in: "x" + strings.Repeat("é", 100), want: "x" + strings.Repeat("é", 59) + " …"},
		{name: "only comments", in: "-- first\n-- second", want: "-- first …"},
		{name: "the last line", in: "-- why\nDROP TABLE t;", want: "DROP TABLE t;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstLine(tt.in); got != tt.want {
				t.Errorf("firstLine = %q, want %q", got, tt.want)
			}
		})
	}
	for name, c := range map[string]struct {
		content string
		envsub  int
		noTx    bool
	}{
		"plain":           {"-- +goose Up\nSELECT 1;\n", 0, false},
		"no transaction":  {"-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;\n", 0, true},
		"envsub any case": {"-- +goose Up\n--   +goose envsub on\nSELECT '${AWS_SECRET_ACCESS_KEY}';\n", 2, false},
		"envsub off only": {"-- +goose Up\n-- +goose ENVSUB OFF\n", 0, false},
		"envsub twice":    {"-- +goose Up\n-- +goose ENVSUB ON\nSELECT 1;\n-- +goose ENVSUB ON\n", 2, false},
		"both":            {"-- +goose NO TRANSACTION\n-- +goose Up\n-- +goose ENVSUB ON\n-- +goose no transaction\n", 3, true},
		"not comments":    {"-- +goose Up\nSELECT '-- +goose ENVSUB ON';\nSELECT '+goose NO TRANSACTION'; -- x\n", 0, false},
		"other comments":  {"-- +goose Up\n-- ENVSUB ON\n-- NO TRANSACTION\n", 0, false},
	} {
		t.Run(name, func(t *testing.T) {
			envsub, noTx := annotations(c.content)
			if envsub != c.envsub || noTx != c.noTx {
				t.Errorf("annotations = %d, %v; want %d, %v", envsub, noTx, c.envsub, c.noTx)
			}
		})
	}
}

// --- against a real PostgreSQL ---

// testDB is a database of its own in the test's cluster.
type testDB struct {
	pg    *harness.Postgres
	name  string
	creds dbcred.Credentials
}

func newTestDB(t *testing.T, pg *harness.Postgres) testDB {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "-", "_").Replace(t.Name()))
	if _, err := pg.CreateDatabase(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	return testDB{pg: pg, name: name, creds: dbcred.Credentials{Username: pg.User, Password: "unused-with-trust", Host: pg.Host, Port: uint16(pg.Port), DBName: name}}
}

func (d testDB) query(t *testing.T, sql string) string {
	t.Helper()
	out, err := d.pg.ExecIn(t.Context(), d.name, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// appliedVersions lists goose's applied versions (0 is goose's own).
func (d testDB) appliedVersions(t *testing.T) string {
	return d.query(t, "SELECT string_agg(version_id::text, ',' ORDER BY version_id) FROM goose_db_version WHERE is_applied")
}

var (
	createUsers = "-- +goose Up\nCREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);\n\n-- +goose Down\nDROP TABLE users;\n"
	addEmail    = "-- +goose Up\nALTER TABLE users ADD COLUMN email text;\n"
	addIndex    = "-- +goose Up\nCREATE INDEX users_email ON users (email);\n"
	// badMiddle creates a table, then fails on its third line.
	badMiddle = "-- +goose Up\nCREATE TABLE audit (id bigint);\n-- a comment before the bad statement\nALTER TABLE users\n  ADD COLUMN name text;\n"
)

func TestAgainstPostgres(t *testing.T) {
	pg := harness.StartPostgres(t)

	t.Run("from version 0, then again: a no-op", func(t *testing.T) {
		db := newTestDB(t, pg)
		var log logBuffer
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "00002_email.sql": addEmail, "00003_index.sql": addIndex, "README.md": "ignored"}),
			&fakeCreds{creds: []dbcred.Credentials{db.creds}}, &log)
		got, err := m.Handle(t.Context(), input())
		if err != nil {
			t.Fatal(err)
		}
		if got.VersionBefore != 0 || got.VersionAfter != 3 || !slices.Equal(got.Applied, []string{"00001_users.sql", "00002_email.sql", "00003_index.sql"}) {
			t.Fatalf("first run = %+v", got)
		}
		if v := db.appliedVersions(t); v != "0,1,2,3" {
			t.Fatalf("applied versions %s", v)
		}
		again, err := m.Handle(t.Context(), input())
		if err != nil {
			t.Fatal(err)
		}
		if again.VersionBefore != 3 || again.VersionAfter != 3 || again.Applied == nil || len(again.Applied) != 0 {
			t.Fatalf("second run = %+v, want a no-op at version 3", again)
		}
		// What each run did, in the log operators read.
		var said []string
		for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
			var l struct {
				Msg      string
				From, To *int64
				Version  *int64
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatal(err)
			}
			if l.Msg == "migrated database" || l.Msg == "database already up to date" {
				said = append(said, fmt.Sprintf("%s %v %v %v", l.Msg, fmtPtr(l.From), fmtPtr(l.To), fmtPtr(l.Version)))
			}
		}
		if want := []string{"migrated database 0 3 -", "database already up to date - - 3"}; !slices.Equal(said, want) {
			t.Errorf("logged %q, want %q", said, want)
		}
	})

	t.Run("a refused row is reported with the database's detail", func(t *testing.T) {
		db := newTestDB(t, pg)
		dup := "-- +goose Up\nINSERT INTO users VALUES (1, 'a');\nINSERT INTO users VALUES (1, 'b');\n"
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "00002_dup.sql": dup}), &fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil)
		_, err := m.Handle(t.Context(), input())
		want := &taskerr.MigrationFailed{File: "00002_dup.sql", Line: 3, Statement: "INSERT INTO users VALUES (1, 'b');",
			Cause: `duplicate key value violates unique constraint "users_pkey" (SQLSTATE 23505): Key (id)=(1) already exists.`, Version: 1}
		if failed, ok := err.(*taskerr.MigrationFailed); !ok || *failed != *want {
			t.Fatalf("error %#v\nwant  %#v", err, want)
		}
	})

	t.Run("two files of one version: goose refuses them", func(t *testing.T) {
		db := newTestDB(t, pg)
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "1_email.sql": addEmail}), &fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil)
		_, err := m.Handle(t.Context(), input())
		failed, ok := err.(*taskerr.MigrationFailed)
		if !ok || !strings.HasPrefix(failed.Cause, "goose refused the migrations: ") || !strings.Contains(failed.Cause, "00001_users.sql") || failed.Version != -1 || failed.File != "" {
			t.Fatalf("error %#v", err)
		}
		if v := db.query(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'"); v != "0" {
			t.Errorf("goose touched the database")
		}
	})

	t.Run("a new commit applies only what is new", func(t *testing.T) {
		db := newTestDB(t, pg)
		creds := &fakeCreds{creds: []dbcred.Credentials{db.creds}}
		files := map[string]string{"00001_users.sql": createUsers}
		if _, err := newMigrator(t, migrations(files), creds, nil).Handle(t.Context(), input()); err != nil {
			t.Fatal(err)
		}
		files["00002_email.sql"] = addEmail
		got, err := newMigrator(t, migrations(files), creds, nil).Handle(t.Context(), input())
		if err != nil || got.VersionBefore != 1 || got.VersionAfter != 2 || !slices.Equal(got.Applied, []string{"00002_email.sql"}) {
			t.Fatalf("second commit = %+v, %v", got, err)
		}
	})

	t.Run("a failing migration in the middle", func(t *testing.T) {
		db := newTestDB(t, pg)
		var log logBuffer
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "00002_bad.sql": badMiddle, "00003_index.sql": addIndex}),
			&fakeCreds{creds: []dbcred.Credentials{db.creds}}, &log)
		_, err := m.Handle(t.Context(), input())
		var failed *taskerr.MigrationFailed
		if !errors.As(err, &failed) {
			t.Fatalf("error %v (%T), want *taskerr.MigrationFailed", err, err)
		}
		assertErrorType(t, err, &failed)
		want := taskerr.MigrationFailed{File: "00002_bad.sql", Line: 4, Statement: "ALTER TABLE users …",
			Cause: `column "name" of relation "users" already exists (SQLSTATE 42701)`, Version: 1}
		if *failed != want {
			t.Fatalf("error = %#v\nwant   %#v", *failed, want)
		}
		for _, s := range []string{"migration 00002_bad.sql failed at line 4", "still at version 1", "rolled back"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("message %q does not say %q", err, s)
			}
		}
		// 00001 committed; 00002 rolled back as a whole (its first statement too); 00003 never ran.
		if v := db.appliedVersions(t); v != "0,1" {
			t.Errorf("applied versions %s, want 0,1", v)
		}
		if n := db.query(t, "SELECT count(*) FROM pg_tables WHERE tablename IN ('audit')"); n != "0" {
			t.Errorf("the failed migration's first statement was not rolled back")
		}
		if !strings.Contains(log.String(), `"msg":"migration failed"`) {
			t.Errorf("log does not report the failure: %s", log.String())
		}
	})

	t.Run("two runs at once: one applies, the other waits and finds nothing to do", func(t *testing.T) {
		db := newTestDB(t, pg)
		slow := "-- +goose Up\nCREATE TABLE runs (n int);\nINSERT INTO runs VALUES (1);\nSELECT pg_sleep(1.5);\n"
		files := map[string]string{"00001_users.sql": createUsers, "00002_slow.sql": slow}
		results := make([]payload.MigrateResult, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			// Each run has its own migrator, hence its own connections.
			m := newMigrator(t, migrations(files), &fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil)
			wg.Go(func() { results[i], errs[i] = m.Handle(t.Context(), input()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		first, second := results[0], results[1]
		if len(first.Applied) == 0 {
			first, second = second, first
		}
		if !slices.Equal(first.Applied, []string{"00001_users.sql", "00002_slow.sql"}) || first.VersionBefore != 0 || first.VersionAfter != 2 {
			t.Errorf("the run that applied: %+v", first)
		}
		if len(second.Applied) != 0 || second.VersionBefore != 2 || second.VersionAfter != 2 || second.LockWaitMS < 1000 {
			t.Errorf("the run that waited: %+v, want nothing applied at version 2 after waiting for the lock", second)
		}
		if n := db.query(t, "SELECT count(*) FROM runs"); n != "1" {
			t.Errorf("the slow migration ran %s times", n)
		}
	})

	t.Run("NO TRANSACTION runs outside a transaction", func(t *testing.T) {
		db := newTestDB(t, pg)
		// CREATE INDEX CONCURRENTLY fails inside a transaction block.
		concurrently := "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY users_name ON users (name);\n"
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "00002_concurrently.sql": concurrently}),
			&fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil)
		if got, err := m.Handle(t.Context(), input()); err != nil || got.VersionAfter != 2 {
			t.Fatalf("Handle = %+v, %v", got, err)
		}
	})

	t.Run("a failing NO TRANSACTION migration leaves its earlier statements applied", func(t *testing.T) {
		db := newTestDB(t, pg)
		partial := "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE TABLE audit (id bigint);\nALTER TABLE users ADD COLUMN name text;\n"
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "00002_partial.sql": partial}),
			&fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil)
		_, err := m.Handle(t.Context(), input())
		var failed *taskerr.MigrationFailed
		if !errors.As(err, &failed) || !failed.Partial || failed.Version != 1 || failed.File != "00002_partial.sql" || failed.Line != 4 {
			t.Fatalf("error %#v", err)
		}
		if !strings.Contains(err.Error(), "stayed applied: repair by hand") {
			t.Errorf("message %q does not tell the operator", err)
		}
		if n := db.query(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'audit'"); n != "1" {
			t.Errorf("goose documents that a NO TRANSACTION migration is not rolled back; audit exists: %s", n)
		}
		if v := db.appliedVersions(t); v != "0,1" {
			t.Errorf("applied versions %s, want 0,1 (the failed file is not recorded)", v)
		}
	})

	t.Run("environment substitution is refused", func(t *testing.T) {
		db := newTestDB(t, pg)
		leak := "-- +goose Up\n-- +goose ENVSUB ON\nCREATE TABLE leak AS SELECT '${AWS_SECRET_ACCESS_KEY}' AS k;\n"
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "00002_leak.sql": leak}),
			&fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil)
		_, err := m.Handle(t.Context(), input())
		var failed *taskerr.MigrationFailed
		if !errors.As(err, &failed) || failed.File != "00002_leak.sql" || failed.Line != 2 || failed.Version != 0 {
			t.Fatalf("error %#v", err)
		}
		if v := db.appliedVersions(t); v != "0" {
			t.Errorf("applied versions %s, want none", v)
		}
	})

	t.Run("the lock held too long", func(t *testing.T) {
		db := newTestDB(t, pg)
		m := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers}), &fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil,
			WithLockTimeout(time.Second))
		holder := newMigrator(t, migrations(map[string]string{"00001_users.sql": createUsers, "00002_sleep.sql": "-- +goose Up\nSELECT pg_sleep(4);\n"}),
			&fakeCreds{creds: []dbcred.Credentials{db.creds}}, nil)
		done := make(chan error, 1)
		go func() { _, err := holder.Handle(t.Context(), input()); done <- err }()
		time.Sleep(500 * time.Millisecond)
		_, err := m.Handle(t.Context(), input())
		assertErrorType(t, err, new(*taskerr.DatabaseUnreachable))
		if !strings.Contains(err.Error(), "held the migration lock for more than 1s") {
			t.Errorf("message %q", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the run holding the lock: %v", err)
		}
	})

	t.Run("credentials", func(t *testing.T) {
		db := newTestDB(t, pg)
		const right, wrong = "Right-horse-battery-9", "Wrong-staple-Password-7"
		db.query(t, "CREATE ROLE migrator LOGIN PASSWORD '"+right+"'; GRANT ALL ON DATABASE "+db.name+" TO migrator; ALTER DATABASE "+db.name+" OWNER TO migrator")
		requirePasswordFor(t, pg, "migrator")
		withPassword := func(p string) dbcred.Credentials {
			c := db.creds
			c.Username, c.Password = "migrator", p
			return c
		}
		files := map[string]string{"00001_users.sql": createUsers}

		t.Run("wrong password: named, and the password is nowhere", func(t *testing.T) {
			var log logBuffer
			creds := &fakeCreds{creds: []dbcred.Credentials{withPassword(wrong)}}
			_, err := newMigrator(t, migrations(files), creds, &log).Handle(t.Context(), input())
			assertErrorType(t, err, new(*taskerr.DatabaseUnreachable))
			if !strings.Contains(err.Error(), "password authentication failed") || creds.forgets != 1 {
				t.Errorf("error %q after %d re-reads of the secret, want an authentication failure after 1", err, creds.forgets)
			}
			for where, s := range map[string]string{"error": err.Error(), "log": log.String()} {
				if strings.Contains(s, wrong) {
					t.Errorf("the %s contains the password: %s", where, s)
				}
			}
		})
		t.Run("rotated: the secret is read again and the run succeeds", func(t *testing.T) {
			creds := &fakeCreds{creds: []dbcred.Credentials{withPassword(wrong), withPassword(right)}}
			got, err := newMigrator(t, migrations(files), creds, nil).Handle(t.Context(), input())
			if err != nil || got.VersionAfter != 1 || creds.forgets != 1 {
				t.Fatalf("Handle = %+v, %v (re-read %d times)", got, err, creds.forgets)
			}
		})
		t.Run("no server", func(t *testing.T) {
			c := withPassword(wrong)
			c.Port = 1
			_, err := newMigrator(t, migrations(files), &fakeCreds{creds: []dbcred.Credentials{c}}, nil).Handle(t.Context(), input())
			assertErrorType(t, err, new(*taskerr.DatabaseUnreachable))
			if strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "failed to connect to database") {
				t.Errorf("error %q", err)
			}
		})
		t.Run("no secret", func(t *testing.T) {
			_, err := newMigrator(t, migrations(files), &fakeCreds{err: errors.New("secret x does not exist")}, nil).Handle(t.Context(), input())
			assertErrorType(t, err, new(*taskerr.DatabaseUnreachable))
		})
	})
}

// requirePasswordFor makes the cluster ask role for a password over TCP
// (the harness's cluster trusts everyone) and reloads its configuration.
func requirePasswordFor(t *testing.T, pg *harness.Postgres, role string) {
	t.Helper()
	hba := filepath.Join(pg.DataDir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("host all %s 127.0.0.1/32 scram-sha-256\n", role)
	if err := os.WriteFile(hba, append([]byte(line), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Exec(t.Context(), "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the postmaster rereads the file on SIGHUP
}

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func itoa(n int) string { return fmt.Sprint(n) }

// fmtPtr is *p, or "-" for nil.
func fmtPtr(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}
