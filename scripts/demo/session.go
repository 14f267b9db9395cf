package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
)

// session gives the demo the lifecycle the harness expects of a test: cleanups
// that run at the end (even after a failure), a temporary folder, environment
// variables restored afterwards, and a fatal error that stops the run. The
// harness and test/localenv take a testing.TB so that the demo starts exactly
// what the integration tests start.
type session struct {
	// testing.TB is embedded only to complete the interface's method set (it has
	// an unexported method); every method the harness calls is defined below, and
	// the embedded value is nil.
	testing.TB
	log      io.Writer
	cleanups []func()
	tmp      []string
	failed   bool
}

// errFailNow is what FailNow panics with; run recovers it.
type errFailNow struct{}

func newSession(log io.Writer) *session { return &session{log: log} }

// run calls f, then every cleanup in reverse order, and reports whether f and
// the cleanups succeeded.
func (s *session) run(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, stop := r.(errFailNow); !stop {
				s.failed = true
				fmt.Fprintf(s.log, "demo: unexpected panic: %v\n", r)
			}
		}
		s.close()
		ok = !s.failed
	}()
	f()
	return !s.failed
}

func (s *session) close() {
	for len(s.cleanups) > 0 {
		f := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, stop := r.(errFailNow); !stop {
						fmt.Fprintf(s.log, "demo: cleanup panicked: %v\n", r)
					}
					s.failed = true
				}
			}()
			f()
		}()
	}
	for _, d := range slices.Backward(s.tmp) {
		os.RemoveAll(d)
	}
	s.tmp = nil
}

func (s *session) Name() string                 { return "demo" }
func (s *session) Helper()                      {}
func (s *session) Cleanup(f func())             { s.cleanups = append(s.cleanups, f) }
func (s *session) Log(args ...any)              { fmt.Fprintln(s.log, args...) }
func (s *session) Logf(format string, a ...any) { fmt.Fprintf(s.log, format+"\n", a...) }
func (s *session) Fail()                        { s.failed = true }
func (s *session) Failed() bool                 { return s.failed }
func (s *session) FailNow()                     { s.failed = true; panic(errFailNow{}) }
func (s *session) Error(args ...any)            { s.Log(args...); s.Fail() }
func (s *session) Errorf(f string, a ...any)    { s.Logf(f, a...); s.Fail() }
func (s *session) Fatal(args ...any)            { s.Log(args...); s.FailNow() }
func (s *session) Fatalf(f string, a ...any)    { s.Logf(f, a...); s.FailNow() }
func (s *session) Skip(args ...any)             { s.Fatal(append([]any{"demo: cannot skip:"}, args...)...) }
func (s *session) Skipf(f string, a ...any)     { s.Fatalf("demo: cannot skip: "+f, a...) }
func (s *session) SkipNow()                     { s.Fatal("demo: cannot skip") }
func (s *session) Skipped() bool                { return false }

// TempDir returns a new folder, removed when the session ends.
func (s *session) TempDir() string {
	d, err := os.MkdirTemp("", "stepship-demo-")
	if err != nil {
		s.Fatalf("demo: failed to create a temporary folder: %v", err)
	}
	s.tmp = append(s.tmp, d)
	return d
}

// Setenv sets an environment variable until the session ends.
func (s *session) Setenv(key, value string) {
	prev, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		s.Fatalf("demo: failed to set %s: %v", key, err)
	}
	s.Cleanup(func() {
		if had {
			os.Setenv(key, prev)
		} else {
			os.Unsetenv(key)
		}
	})
}
