// Command testsummary reads `go test -json` on stdin and prints a readable
// report: one line per package, the full output of every failed test, and a
// closing count. It exits 1 when a test or a package (including a build)
// failed.
//
//	go test -json ./... | go run ./scripts/testsummary -label "go test"
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time        time.Time
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string
	FailedBuild string
}

type counts struct{ passed, failed, skipped int }

func main() {
	label := flag.String("label", "go test", "word printed before the closing count")
	countsFile := flag.String("counts", "", "also write 'PASSED FAILED SKIPPED FAILED_PACKAGES' to this file")
	flag.Parse()
	c, pkgFailed := summarize(os.Stdin, os.Stdout)
	fmt.Printf("%s: %d passed, %d failed, %d skipped\n", *label, c.passed, c.failed, c.skipped)
	if *countsFile != "" {
		_ = os.WriteFile(*countsFile, []byte(fmt.Sprintf("%d %d %d %d\n", c.passed, c.failed, c.skipped, pkgFailed)), 0o644)
	}
	if c.failed > 0 || pkgFailed > 0 {
		if pkgFailed > 0 {
			fmt.Printf("%s: %d package(s) failed\n", *label, pkgFailed)
		}
		os.Exit(1)
	}
}

func summarize(r io.Reader, w io.Writer) (counts, int) {
	var c counts
	pkgFailed := 0
	output := map[string]*strings.Builder{} // "pkg\x00test" → output
	buildOut := map[string]*strings.Builder{}
	var skipped []string
	key := func(e event) string { return e.Package + "\x00" + e.Test }
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(w, string(line)) // not JSON: pass through
			continue
		}
		switch e.Action {
		case "build-output":
			b := buildOut[e.ImportPath]
			if b == nil {
				b = &strings.Builder{}
				buildOut[e.ImportPath] = b
			}
			b.WriteString(e.Output)
		case "build-fail":
			fmt.Fprintf(w, "BUILD FAILED %s\n%s", e.ImportPath, buildOut[e.ImportPath])
		case "output":
			k := key(e)
			b := output[k]
			if b == nil {
				b = &strings.Builder{}
				output[k] = b
			}
			b.WriteString(e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				// package result
				switch e.Action {
				case "pass":
					fmt.Fprintf(w, "ok   %s (%.1fs)\n", e.Package, e.Elapsed)
				case "skip":
					fmt.Fprintf(w, "--   %s (no tests)\n", e.Package)
				case "fail":
					pkgFailed++
					fmt.Fprintf(w, "FAIL %s (%.1fs)\n", e.Package, e.Elapsed)
					if e.FailedBuild != "" {
						fmt.Fprintf(w, "     build of %s failed\n", e.FailedBuild)
					}
					// Output outside any test (a panic, a timeout, TestMain).
					if b := output[key(e)]; b != nil {
						fmt.Fprint(w, indent(b.String()))
					}
				}
				continue
			}
			switch e.Action {
			case "pass":
				c.passed++
			case "skip":
				c.skipped++
				skipped = append(skipped, e.Package+" "+e.Test)
			case "fail":
				c.failed++
				fmt.Fprintf(w, "--- FAIL: %s %s (%.1fs)\n", e.Package, e.Test, e.Elapsed)
				if b := output[key(e)]; b != nil {
					fmt.Fprint(w, indent(b.String()))
				}
			}
			delete(output, key(e))
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(w, "testsummary: reading go test output: %v\n", err)
		pkgFailed++
	}
	if len(skipped) > 0 {
		sort.Strings(skipped)
		fmt.Fprintf(w, "skipped tests:\n    %s\n", strings.Join(skipped, "\n    "))
	}
	return c, pkgFailed
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	if !strings.HasSuffix(b.String(), "\n") && b.Len() > 0 {
		b.WriteString("\n")
	}
	return b.String()
}
