// Package localenvtest starts the local stack (test/localenv) for a test. It
// is the only piece of the local stack that imports testing, kept apart so
// that commands such as scripts/demo, which use localenv.Start, do not.
package localenvtest

import (
	"testing"

	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/localenv"
)

// StartT starts the local stack for t with localenv.Start, the functions
// built once per test binary; it fails t when the stack does not come up,
// closes it when t ends, and prints every service's log when t failed.
func StartT(t testing.TB, opts ...localenv.Option) *localenv.Env {
	t.Helper()
	base := []localenv.Option{
		localenv.WithFunctions(harness.BuildFunctions(t)),
		localenv.WithLogDir(t.TempDir()),
	}
	e, err := localenv.Start(t.Context(), append(base, opts...)...)
	if err != nil {
		t.Fatalf("failed to start the local stack: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("failed to stop the local stack: %v", err)
		}
		if t.Failed() {
			t.Log(e.LogReport())
		}
	})
	return e
}

// Fixture reads events/NAME, failing t when it cannot.
func Fixture(t testing.TB, e *localenv.Env, name string) []byte {
	t.Helper()
	b, err := e.Fixture(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
