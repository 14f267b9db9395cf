package localsvc

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgStartTimeout bounds initdb plus server start.
const pgStartTimeout = 90 * time.Second

// Postgres is a throwaway PostgreSQL cluster: its own data folder, a free
// port on 127.0.0.1, unix sockets in its own folder, trust authentication for
// the superuser "postgres".
type Postgres struct {
	Host      string // 127.0.0.1
	Port      int
	User      string // postgres (superuser, no password)
	Database  string // postgres
	SocketDir string // unix socket folder (for host=SocketDir)
	DataDir   string

	bin string // folder of initdb, postgres, pg_isready, psql
	*proc
}

// StartPostgres creates a cluster with initdb in a temporary folder and runs
// the server on a free port until Close, which stops it (fast shutdown) and
// removes the folder. As root, initdb and the server run as the OS user
// "postgres" (initdb refuses root), falling back to "nobody". ctx bounds the
// start; on failure everything started is stopped and removed again.
func StartPostgres(ctx context.Context, opts ...Option) (_ *Postgres, err error) {
	o := newOptions(opts)
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	cred, who, err := pgCredential()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "stepship-pg-")
	if err != nil {
		return nil, fmt.Errorf("failed to create the PostgreSQL folder: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()
	dataDir := filepath.Join(base, "data")
	sockDir := filepath.Join(base, "sock")
	if err := os.Mkdir(sockDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the PostgreSQL socket folder: %w", err)
	}
	if cred != nil {
		for _, d := range []string{base, sockDir} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("handing %s to %s: %w", d, who, err)
			}
		}
	}
	env := append(baseEnv(), "PGTZ=UTC")
	env = mergeEnv(env, o.env)

	// initdb: a one-shot process, its output kept for the error message.
	initLog := filepath.Join(base, "initdb.log")
	lf, err := os.Create(initLog)
	if err != nil {
		return nil, fmt.Errorf("failed to create the initdb log: %w", err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", dataDir, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	cmd.Dir = base
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	lf.Close()
	if err != nil {
		out, _ := os.ReadFile(initLog)
		return nil, fmt.Errorf("initdb (as %s) in %s: %w\n%s", who, dataDir, err, out)
	}

	// The server runs in the foreground (not daemonized by pg_ctl) so that
	// it dies with this process even when nothing stops it.
	p, port, err := o.start(ctx, "postgres", func(port int) procSpec {
		return procSpec{
			argv: []string{filepath.Join(bin, "postgres"), "-D", dataDir, "-p", strconv.Itoa(port),
				"-k", sockDir, "-c", "listen_addresses=" + Loopback,
				"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
				"-c", "max_connections=50", "-c", "shared_buffers=32MB",
				"-c", "log_min_messages=warning", "-c", "log_statement=none", "-c", "TimeZone=UTC"},
			dir:  base,
			env:  env,
			cred: cred,
		}
	}, pgStartTimeout, func(port int) func(context.Context) error {
		return func(ctx context.Context) error {
			c := exec.CommandContext(ctx, filepath.Join(bin, "pg_isready"), "-q", "-h", Loopback, "-p", strconv.Itoa(port), "-U", "postgres", "-d", "postgres", "-t", "1")
			c.Env = env
			if err := c.Run(); err != nil {
				return fmt.Errorf("pg_isready: %v: %w", err, errNotReady)
			}
			return nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("failed to start PostgreSQL: %w", err)
	}
	p.owned = append(p.owned, base)
	return &Postgres{
		Host: Loopback, Port: port, User: "postgres", Database: "postgres",
		SocketDir: sockDir, DataDir: dataDir, bin: bin, proc: p,
	}, nil
}

// Close stops the server (fast shutdown: SIGINT, then SIGKILL after 20 s) and
// removes its data and the log folder it created. It is safe to call more
// than once.
func (p *Postgres) Close() error { return p.proc.shutdown(syscall.SIGINT, 20*time.Second) }

// pgCredential says which OS user runs initdb and the server: nil (this
// process's user) unless running as root.
func pgCredential() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "the current user", nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, "OS user " + name, nil
	}
	return nil, "", fmt.Errorf("running as root, and neither OS user postgres nor nobody exists to run initdb: run `make tools`")
}

// DSN returns a URL connection string for the "postgres" database, e.g.
// postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable.
func (p *Postgres) DSN() string { return p.DSNFor(p.Database) }

// DSNFor returns the connection string for another database of the cluster.
func (p *Postgres) DSNFor(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(p.User),
		Host:     hostPort(p.Port),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs SQL with psql (ON_ERROR_STOP) against the "postgres" database
// and returns its unaligned, tuples-only output.
func (p *Postgres) Exec(ctx context.Context, sql string) (string, error) {
	return p.ExecIn(ctx, p.Database, sql)
}

// ExecIn is Exec against another database.
func (p *Postgres) ExecIn(ctx context.Context, database, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", Loopback, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", database, "-c", sql)
	cmd.Env = append(baseEnv(), "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q on %s: %w\n%s", sql, database, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// CreateDatabase creates a database and returns its DSN.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	if _, err := p.Exec(ctx, `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
		return "", fmt.Errorf("failed to create database %s: %w", name, err)
	}
	return p.DSNFor(name), nil
}
