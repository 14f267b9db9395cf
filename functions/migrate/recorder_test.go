package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"slices"
	"testing"
)

// plainConn is a driver connection with none of the optional interfaces.
type plainConn struct{ calls []string }

func (c *plainConn) Prepare(query string) (driver.Stmt, error) {
	c.calls = append(c.calls, "Prepare "+query)
	return nil, nil
}
func (c *plainConn) Close() error { return nil }
func (c *plainConn) Begin() (driver.Tx, error) {
	c.calls = append(c.calls, "Begin")
	return nil, nil
}

// fullConn has every optional interface; its answers are errFull, and
// ExecContext fails with execErr.
type fullConn struct {
	plainConn
	execErr error
}

var errFull = errors.New("answered by the driver")

func (c *fullConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return nil, c.execErr
}
func (c *fullConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, errFull
}
func (c *fullConn) PrepareContext(context.Context, string) (driver.Stmt, error) { return nil, errFull }
func (c *fullConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errFull
}
func (c *fullConn) ResetSession(context.Context) error       { return errFull }
func (c *fullConn) IsValid() bool                            { return false }
func (c *fullConn) CheckNamedValue(*driver.NamedValue) error { return errFull }

// A statement the database refuses is recorded; one that succeeds, or that
// the driver skips (database/sql then prepares it), is not.
func TestRecordingConnRecordsRefusedStatements(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		execErr error
		want    string
	}{
		{"refused", errors.New(`ERROR: syntax error`), "ALTER TABLE users"},
		{"skipped", driver.ErrSkip, ""},
		{"skipped, wrapped", errors.Join(driver.ErrSkip), ""},
		{"applied", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &execRecorder{}
			c := &recordingConn{Conn: &fullConn{execErr: tc.execErr}, rec: rec}
			if _, err := c.ExecContext(ctx, "ALTER TABLE users", nil); err != tc.execErr {
				t.Errorf("ExecContext = %v, want the driver's %v", err, tc.execErr)
			}
			if got := rec.lastFailed(); got != tc.want {
				t.Errorf("recorded %q, want %q", got, tc.want)
			}
		})
	}
}

// With a driver that has every optional interface, each call is the
// driver's; without them, each answers as database/sql expects of such a
// driver.
func TestRecordingConnPassesThrough(t *testing.T) {
	ctx := context.Background()
	full := &recordingConn{Conn: &fullConn{execErr: errFull}, rec: &execRecorder{}}
	if _, err := full.QueryContext(ctx, "SELECT 1", nil); err != errFull {
		t.Errorf("QueryContext: %v", err)
	}
	if _, err := full.PrepareContext(ctx, "SELECT 1"); err != errFull {
		t.Errorf("PrepareContext: %v", err)
	}
	if _, err := full.BeginTx(ctx, driver.TxOptions{}); err != errFull {
		t.Errorf("BeginTx: %v", err)
	}
	if err := full.ResetSession(ctx); err != errFull {
		t.Errorf("ResetSession: %v", err)
	}
	if full.IsValid() {
		t.Error("IsValid: not the driver's answer")
	}
	if err := full.CheckNamedValue(&driver.NamedValue{}); err != errFull {
		t.Errorf("CheckNamedValue: %v", err)
	}
	if calls := full.Conn.(*fullConn).calls; len(calls) != 0 {
		t.Errorf("fell back to %v", calls)
	}

	conn := &plainConn{}
	rec := &execRecorder{}
	plain := &recordingConn{Conn: conn, rec: rec}
	if _, err := plain.ExecContext(ctx, "SELECT 1", nil); err != driver.ErrSkip || rec.lastFailed() != "" {
		t.Errorf("ExecContext: %v, recorded %q", err, rec.lastFailed())
	}
	if _, err := plain.QueryContext(ctx, "SELECT 1", nil); err != driver.ErrSkip {
		t.Errorf("QueryContext: %v", err)
	}
	if _, err := plain.PrepareContext(ctx, "SELECT 2"); err != nil {
		t.Errorf("PrepareContext: %v", err)
	}
	if _, err := plain.BeginTx(ctx, driver.TxOptions{}); err != nil {
		t.Errorf("BeginTx: %v", err)
	}
	for _, opts := range []driver.TxOptions{{ReadOnly: true}, {Isolation: driver.IsolationLevel(1)}} {
		if _, err := plain.BeginTx(ctx, opts); err == nil {
			t.Errorf("BeginTx(%+v) began a transaction without the options", opts)
		}
	}
	if err := plain.ResetSession(ctx); err != nil {
		t.Errorf("ResetSession: %v", err)
	}
	if !plain.IsValid() {
		t.Error("IsValid: false")
	}
	if err := plain.CheckNamedValue(&driver.NamedValue{}); err != driver.ErrSkip {
		t.Errorf("CheckNamedValue: %v", err)
	}
	if want := []string{"Prepare SELECT 2", "Begin"}; !slices.Equal(conn.calls, want) {
		t.Errorf("calls %v, want %v", conn.calls, want)
	}
}
