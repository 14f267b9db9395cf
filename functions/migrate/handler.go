package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/stepship/stepship/shared/dbcred"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// credentialSource reads a database's credentials from its secret
// (dbcred.Cache), and forgets them when the database refused them.
type credentialSource interface {
	Get(ctx context.Context, secretARN string) (dbcred.Credentials, error)
	Forget(secretARN string)
}

var _ credentialSource = (*dbcred.Cache)(nil)

const (
	// DefaultLockTimeout is how long a run waits for another migration of
	// the same database to finish.
	DefaultLockTimeout = 5 * time.Minute
	// DefaultSSLMode encrypts the connection (RDS for PostgreSQL 15 and
	// later refuses plain connections by default).
	DefaultSSLMode = pq.SSLModeRequire
	// connectTimeout bounds one connection attempt.
	connectTimeout = 10 * time.Second
	// applicationName is how the function's sessions show in pg_stat_activity.
	applicationName = "stepship-migrate"
	// lockPollSeconds is how often a waiting run tries the advisory lock again.
	lockPollSeconds = 1
)

// Migrator applies the SQL migrations a build shipped for a commit to the
// database whose credentials its input names, with goose, under goose's
// PostgreSQL advisory lock.
type Migrator struct {
	s3          s3API
	creds       credentialSource
	log         *slog.Logger
	sslMode     pq.SSLMode
	lockTimeout time.Duration
	maxBytes    int64
}

// Option configures a Migrator.
type Option func(*Migrator)

// WithSSLMode sets the connections' TLS mode (default DefaultSSLMode).
func WithSSLMode(m pq.SSLMode) Option { return func(g *Migrator) { g.sslMode = m } }

// WithLockTimeout sets how long a run waits for the advisory lock (default
// DefaultLockTimeout; at least a second).
func WithLockTimeout(d time.Duration) Option {
	return func(g *Migrator) { g.lockTimeout = max(d, time.Second) }
}

// WithMaxBytes bounds the migrations' total size (default DefaultMaxBytes).
func WithMaxBytes(n int64) Option {
	return func(g *Migrator) {
		if n > 0 {
			g.maxBytes = n
		}
	}
}

// NewMigrator returns a Migrator reading migrations with the S3 client and
// credentials from creds.
func NewMigrator(client s3API, creds credentialSource, log *slog.Logger, opts ...Option) (*Migrator, error) {
	if client == nil || creds == nil || log == nil {
		return nil, errors.New("migrate: S3 client, credential source and logger are required")
	}
	m := &Migrator{s3: client, creds: creds, log: log, sslMode: DefaultSSLMode, lockTimeout: DefaultLockTimeout, maxBytes: DefaultMaxBytes}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Handle applies the migrations at the input's location that the database
// has not applied yet, each in its own transaction (unless the file says
// "-- +goose NO TRANSACTION"), under a session advisory lock so that two
// runs against one database never both apply. Already applied → nothing
// applied, same version. Errors are the named types of shared/taskerr; the
// first failing migration stops the run with the database at the last good
// version.
func (m *Migrator) Handle(ctx context.Context, inv payload.Invocation[payload.MigrateInput]) (payload.MigrateResult, error) {
	start := time.Now()
	in := inv.Input
	log := logging.ForExecution(m.log, inv.ExecutionID).With(slog.String("service", in.Service), slog.String("environment", in.Environment), slog.String("commit", in.Commit))
	if err := in.Validate(); err != nil {
		return payload.MigrateResult{}, &taskerr.InvalidMigrateRequest{Reason: err.Error() + "; nothing was changed"}
	}
	loc, _ := payload.ParseS3Location(in.Migrations) // Validate checked it
	files, err := loadMigrations(ctx, m.s3, loc, m.maxBytes)
	if err != nil {
		return payload.MigrateResult{}, err
	}
	if err := versioned(files, loc, log); err != nil {
		return payload.MigrateResult{}, err
	}
	log.Info("read migrations", slog.String("location", loc.String()), slog.Int("files", len(files)))

	db, rec, err := m.open(ctx, in.DatabaseSecretARN, log)
	if err != nil {
		return payload.MigrateResult{}, err
	}
	defer db.Close()
	result, err := m.apply(ctx, db, rec, files, log)
	if err != nil {
		log.Error("migration failed", slog.String("error", err.Error()))
		return payload.MigrateResult{}, err
	}
	result.DurationMS = time.Since(start).Milliseconds()
	if len(result.Applied) == 0 {
		log.Info("database already up to date", slog.Int64("version", result.VersionAfter), slog.Int64("lockWaitMs", result.LockWaitMS))
	} else {
		log.Info("migrated database", slog.Int64("from", result.VersionBefore), slog.Int64("to", result.VersionAfter),
			slog.Any("applied", result.Applied), slog.Int64("lockWaitMs", result.LockWaitMS))
	}
	return result, nil
}

// versioned checks that files holds at least one migration goose will run
// (NNN_name.sql) and logs the .sql files it would ignore.
func versioned(files fstest.MapFS, loc payload.S3Location, log *slog.Logger) error {
	found := false
	for name := range files {
		if _, err := goose.NumericComponent(name); err != nil {
			log.Warn("ignoring a file without a version number (NNN_name.sql)", slog.String("file", name))
			continue
		}
		found = true
	}
	if !found {
		reason := "the prefix holds no .sql file directly under it"
		if len(files) > 0 {
			reason = "no .sql file there has a version number (NNN_name.sql)"
		}
		return &taskerr.MigrationsNotFound{Location: loc.String(), Reason: reason}
	}
	return nil
}

// open connects to the database with the secret's credentials. When the
// database refuses them, the secret is read again once (it may have been
// rotated since it was cached). Errors are *taskerr.DatabaseUnreachable and
// never contain the password.
func (m *Migrator) open(ctx context.Context, secretARN string, log *slog.Logger) (*sql.DB, *execRecorder, error) {
	for retried := false; ; retried = true {
		creds, err := m.creds.Get(ctx, secretARN)
		if err != nil {
			return nil, nil, &taskerr.DatabaseUnreachable{Reason: "failed to read the database credentials: " + err.Error() + "; nothing was applied"}
		}
		connector, err := pq.NewConnectorConfig(creds.PQConfig(m.sslMode, connectTimeout, applicationName))
		if err != nil {
			return nil, nil, &taskerr.DatabaseUnreachable{Reason: fmt.Sprintf("failed to configure the connection to %s: %v", target(creds), err)}
		}
		rec := &execRecorder{}
		db := sql.OpenDB(recordingConnector{Connector: connector, rec: rec})
		// goose holds one connection for the lock and its migrations and
		// may open one more to read versions.
		db.SetMaxOpenConns(3)
		err = db.PingContext(ctx)
		if err == nil {
			return db, rec, nil
		}
		db.Close()
		if !retried && refusedCredentials(err) {
			log.Warn("the database refused the cached credentials; reading the secret again", slog.String("secret", secretARN))
			m.creds.Forget(secretARN)
			continue
		}
		return nil, nil, &taskerr.DatabaseUnreachable{Reason: fmt.Sprintf("failed to connect to %s: %v; nothing was applied", target(creds), err)}
	}
}

// target names a database for messages, without its password.
func target(c dbcred.Credentials) string {
	return fmt.Sprintf("database %s on %s:%d as %s", c.DBName, c.Host, c.Port, c.Username)
}

// refusedCredentials: the server refused the user or password (SQLSTATE
// class 28, invalid authorization).
func refusedCredentials(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && strings.HasPrefix(string(pqErr.Code), "28")
}

// waitingLocker is goose's PostgreSQL session locker, measuring how long it
// waited and remembering whether it gave up. One serves one run: goose's
// locker counts its retries across calls, so the run waits at most the lock
// timeout in total.
type waitingLocker struct {
	lock.SessionLocker
	waited time.Duration
	err    error
}

func (l *waitingLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	start := time.Now()
	err := l.SessionLocker.SessionLock(ctx, conn)
	l.waited += time.Since(start)
	if err != nil {
		l.err = err
	}
	return err
}

// apply runs goose's Up and reports what it did.
func (m *Migrator) apply(ctx context.Context, db *sql.DB, rec *execRecorder, files fstest.MapFS, log *slog.Logger) (payload.MigrateResult, error) {
	inner, err := lock.NewPostgresSessionLocker(
		lock.WithLockTimeout(lockPollSeconds, uint64(max(m.lockTimeout/time.Second, 1))),
		lock.WithUnlockTimeout(lockPollSeconds, 30))
	if err != nil {
		return payload.MigrateResult{}, &taskerr.DatabaseUnreachable{Reason: "failed to create the migration lock: " + err.Error()}
	}
	locker := &waitingLocker{SessionLocker: inner}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return payload.MigrateResult{}, &taskerr.MigrationFailed{Cause: "goose refused the migrations: " + err.Error(), Version: -1}
	}
	if name, line := refusedAnnotation(files); name != "" {
		v, err := m.version(ctx, p, locker)
		if err != nil {
			return payload.MigrateResult{}, err
		}
		return payload.MigrateResult{}, &taskerr.MigrationFailed{File: name, Line: line, Statement: "-- +goose ENVSUB ON",
			Cause: "environment substitution is refused: it would hand the function's environment (its AWS credentials) to SQL", Version: v}
	}

	results, upErr := p.Up(ctx)
	if upErr != nil {
		if locker.err != nil {
			return payload.MigrateResult{}, &taskerr.DatabaseUnreachable{Reason: fmt.Sprintf(
				"another migration of this database held the migration lock for more than %s (%v); nothing was applied", m.lockTimeout, locker.err)}
		}
		v, err := m.version(ctx, p, locker)
		if err != nil {
			return payload.MigrateResult{}, err
		}
		return payload.MigrateResult{}, failure(upErr, rec, files, v)
	}
	after, err := m.version(ctx, p, locker)
	if err != nil {
		return payload.MigrateResult{}, err
	}
	result := payload.MigrateResult{VersionBefore: after, VersionAfter: after, Applied: []string{}, LockWaitMS: locker.waited.Milliseconds()}
	for _, r := range results {
		name := path.Base(r.Source.Path)
		result.Applied = append(result.Applied, name)
		log.Info("applied migration", slog.String("file", name), slog.Int64("version", r.Source.Version),
			slog.Int64("durationMs", r.Duration.Milliseconds()), slog.Bool("empty", r.Empty))
	}
	if len(results) > 0 {
		before, err := versionBelow(ctx, db, results[0].Source.Version)
		if err != nil {
			return payload.MigrateResult{}, &taskerr.DatabaseUnreachable{Reason: fmt.Sprintf(
				"migrated to version %d (applied %s), then failed to read the version before: %v", after, strings.Join(result.Applied, ", "), err)}
		}
		result.VersionBefore = before
	}
	return result, nil
}

// version reads the database's migration version under the lock.
func (m *Migrator) version(ctx context.Context, p *goose.Provider, locker *waitingLocker) (int64, error) {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		if locker.err != nil {
			return 0, &taskerr.DatabaseUnreachable{Reason: fmt.Sprintf("another migration of this database held the migration lock for more than %s", m.lockTimeout)}
		}
		return 0, &taskerr.DatabaseUnreachable{Reason: fmt.Sprintf("failed to read the database's migration version: %v", err)}
	}
	return v, nil
}

// versionBelow returns the highest applied version below v: the version the
// database was at when this run, which applied v first, took the lock.
func versionBelow(ctx context.Context, db *sql.DB, v int64) (int64, error) {
	store, err := database.NewStore(goose.DialectPostgres, goose.DefaultTablename)
	if err != nil {
		return 0, err
	}
	rows, err := store.ListMigrations(ctx, db)
	if err != nil {
		return 0, err
	}
	var below int64
	for _, r := range rows {
		if r.IsApplied && r.Version < v {
			below = max(below, r.Version)
		}
	}
	return below, nil
}

// failure describes a failed goose Up as a *taskerr.MigrationFailed.
func failure(err error, rec *execRecorder, files fstest.MapFS, version int64) error {
	f := &taskerr.MigrationFailed{Cause: err.Error(), Version: version}
	var partial *goose.PartialError
	if !errors.As(err, &partial) {
		return f
	}
	f.File = path.Base(partial.Failed.Source.Path)
	f.Cause = dbError(partial.Err)
	var content string
	if file, ok := files[f.File]; ok {
		content = string(file.Data)
	}
	_, f.Partial = annotations(content)
	if stmt := rec.lastFailed(); stmt != "" {
		f.Statement = firstLine(stmt)
		if before, _, found := strings.Cut(content, stmt); found {
			f.Line = strings.Count(before, "\n") + 1
		}
	}
	return f
}

// dbError is the database's error without the driver's prefix, with its
// SQLSTATE and detail.
func dbError(err error) string {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return err.Error()
	}
	msg := fmt.Sprintf("%s (SQLSTATE %s)", pqErr.Message, pqErr.Code)
	if pqErr.Detail != "" {
		msg += ": " + pqErr.Detail
	}
	return msg
}

// maxStatementLen bounds the statement quoted in an error.
const maxStatementLen = 120

// firstLine is a statement's first line that is not blank or a comment,
// shortened, with "…" when anything was left out.
func firstLine(stmt string) string {
	lines := strings.Split(strings.TrimSpace(stmt), "\n")
	// The first line when every line is blank or a comment.
	i := max(0, slices.IndexFunc(lines, func(l string) bool {
		l = strings.TrimSpace(l)
		return l != "" && !strings.HasPrefix(l, "--")
	}))
	line := strings.TrimSpace(lines[i])
	cut := len(lines) > i+1
	if len(line) > maxStatementLen {
		line = strings.ToValidUTF8(line[:maxStatementLen], "")
		cut = true
	}
	if cut {
		line += " …"
	}
	return line
}

// annotations reports the goose annotations of a migration file that
// change how it runs, as goose reads them (a line "-- +goose NAME", any
// case): ENVSUB ON (refused) and NO TRANSACTION. envsubLine is the 1-based
// line of ENVSUB ON, 0 when there is none.
func annotations(content string) (envsubLine int, noTransaction bool) {
	for i, line := range strings.Split(content, "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "--") || !strings.Contains(t, "+goose") {
			continue
		}
		cmd := strings.TrimSpace(strings.Replace(strings.ReplaceAll(t, "--", ""), "+goose", "", 1))
		if strings.EqualFold(cmd, "ENVSUB ON") && envsubLine == 0 {
			envsubLine = i + 1
		} else if strings.EqualFold(cmd, "NO TRANSACTION") {
			noTransaction = true
		}
	}
	return envsubLine, noTransaction
}

// refusedAnnotation returns the first file (in name order) that turns on
// environment substitution, and the line where it does.
func refusedAnnotation(files fstest.MapFS) (string, int) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if line, _ := annotations(string(files[name].Data)); line > 0 {
			return name, line
		}
	}
	return "", 0
}
