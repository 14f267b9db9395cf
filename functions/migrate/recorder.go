package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
)

// execRecorder remembers the last statement the database refused, so that a
// failed migration can be reported with its statement: goose returns the
// database's error alone. One recorder serves one *sql.DB (one invocation).
type execRecorder struct {
	mu     sync.Mutex
	failed string
}

func (r *execRecorder) record(query string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = query
}

// lastFailed returns the last statement the database refused ("" if none).
func (r *execRecorder) lastFailed() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// recordingConnector wraps a database/sql connector so that every statement
// executed through its connections that fails is recorded.
type recordingConnector struct {
	driver.Connector
	rec *execRecorder
}

func (c recordingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: conn, rec: c.rec}, nil
}

// recordingConn passes every optional database/sql driver interface through
// to the driver's connection (lib/pq implements them all), recording failed
// ExecContext calls. When the driver lacks one, it answers as database/sql
// expects of a driver without it (driver.ErrSkip, or the plain method).
type recordingConn struct {
	driver.Conn
	rec *execRecorder
}

var (
	_ driver.ExecerContext      = (*recordingConn)(nil)
	_ driver.QueryerContext     = (*recordingConn)(nil)
	_ driver.ConnPrepareContext = (*recordingConn)(nil)
	_ driver.ConnBeginTx        = (*recordingConn)(nil)
	_ driver.SessionResetter    = (*recordingConn)(nil)
	_ driver.Validator          = (*recordingConn)(nil)
	_ driver.NamedValueChecker  = (*recordingConn)(nil)
)

func (c *recordingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	res, err := ec.ExecContext(ctx, query, args)
	if err != nil && !errors.Is(err, driver.ErrSkip) {
		c.rec.record(query)
	}
	return res, err
}

func (c *recordingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if qc, ok := c.Conn.(driver.QueryerContext); ok {
		return qc.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *recordingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if pc, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return pc.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

func (c *recordingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if bc, ok := c.Conn.(driver.ConnBeginTx); ok {
		return bc.BeginTx(ctx, opts)
	}
	if opts.ReadOnly || opts.Isolation != 0 {
		return nil, errors.New("the database driver supports no transaction options")
	}
	return c.Conn.Begin() //nolint:staticcheck // the fallback database/sql itself uses
}

func (c *recordingConn) ResetSession(ctx context.Context) error {
	if sr, ok := c.Conn.(driver.SessionResetter); ok {
		return sr.ResetSession(ctx)
	}
	return nil
}

func (c *recordingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *recordingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
