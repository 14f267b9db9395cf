package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestArchiveIsReproducible(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(f, bytes.Repeat([]byte("binary\x00"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	if err := archive(&first, []string{f}); err != nil {
		t.Fatal(err)
	}
	// Another mtime and mode on disk must not change a byte.
	if err := os.Chtimes(f, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o700); err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := archive(&second, []string{f}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatal("two archives of the same content differ")
	}

	zr, err := zip.NewReader(bytes.NewReader(first.Bytes()), int64(first.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 {
		t.Fatalf("%d entries, want 1", len(zr.File))
	}
	e := zr.File[0]
	if e.Name != "bootstrap" || e.Mode().Perm() != 0o755 || !e.Modified.Equal(epoch) {
		t.Errorf("entry %s mode %v modified %v; want bootstrap 0755 %v", e.Name, e.Mode(), e.Modified, epoch)
	}
	rc, err := e.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	want, _ := os.ReadFile(f)
	if !bytes.Equal(got, want) {
		t.Error("the entry's content differs from the file")
	}
}

func TestWriteZipRejectsDuplicatesAndEmpty(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a", "bootstrap")
	b := filepath.Join(dir, "b", "bootstrap")
	for _, p := range []string{a, b} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o755)
	}
	if err := writeZip(filepath.Join(dir, "out.zip"), []string{a, b}); err == nil {
		t.Error("two entries named bootstrap were accepted")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if err := writeZip(filepath.Join(dir, "out.zip"), []string{empty}); err == nil {
		t.Error("an empty file was accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "out.zip")); err == nil {
		t.Error("a failed run left out.zip behind")
	}
}
