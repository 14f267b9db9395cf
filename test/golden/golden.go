// Package golden compares what a test produced with a file under testdata/,
// and rewrites the file when the test runs with -update: the one golden-file
// helper of stepship's tests (product code never imports it).
package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// Check fails the test when got differs from the file at path; with update
// it writes got there first (creating the folder). A missing file is named
// with the flag that creates it.
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", got, path, want)
	}
}
