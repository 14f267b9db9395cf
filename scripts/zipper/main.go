// Command zipper writes a byte-reproducible zip archive of Lambda deployment
// files: entries in the order given, stored under their base names, with a
// fixed timestamp (1980-01-01 00:00:00 UTC, the earliest a zip can hold) and
// fixed Unix permissions (0755, so a "bootstrap" stays executable), and no
// other metadata from the file system.
//
//	go run ./scripts/zipper -o dist/deploy/deploy.zip dist/deploy/bootstrap
package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// epoch is the fixed modification time of every entry.
var epoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("o", "", "output zip file (required)")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: zipper -o OUT.zip FILE...")
		os.Exit(2)
	}
	if err := writeZip(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "zipper:", err)
		os.Exit(1)
	}
}

// writeZip writes the archive to a temporary file beside out and renames it
// into place, so a reader never sees a half-written zip.
func writeZip(out string, files []string) error {
	var buf bytes.Buffer
	if err := archive(&buf, files); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".zipper-*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("setting permissions of %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("moving the archive to %s: %w", out, err)
	}
	return nil
}

// archive writes a zip holding files, each under its base name.
func archive(w io.Writer, files []string) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		if seen[name] {
			return fmt.Errorf("two files named %q", name)
		}
		seen[name] = true
		if err := add(zw, f, name); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finishing the archive: %w", err)
	}
	return nil
}

func add(zw *zip.Writer, path, name string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) == 0 {
		return errors.New("empty file " + path)
	}
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch}
	h.SetMode(0o755)
	fw, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("adding %s: %w", name, err)
	}
	if _, err := fw.Write(data); err != nil {
		return fmt.Errorf("compressing %s: %w", name, err)
	}
	return nil
}
