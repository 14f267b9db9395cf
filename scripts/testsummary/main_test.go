package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"b_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"fail","Package":"p","Elapsed":1.5}`,
		`{"Action":"build-output","ImportPath":"q [q.test]","Output":"q.go:1: undefined: x\n"}`,
		`{"Action":"build-fail","ImportPath":"q [q.test]"}`,
		`{"Action":"fail","Package":"q","FailedBuild":"q [q.test]"}`,
		`not json`,
	}, "\n")
	var out strings.Builder
	c, pkgFailed := summarize(strings.NewReader(in), &out)
	if c != (counts{passed: 1, failed: 1, skipped: 1}) || pkgFailed != 2 {
		t.Errorf("counts %+v, %d packages failed; want 1/1/1 and 2", c, pkgFailed)
	}
	for _, want := range []string{"--- FAIL: p TestB", "b_test.go:3: boom", "BUILD FAILED q [q.test]", "undefined: x", "not json", "p TestC"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "--- PASS: TestA") {
		t.Errorf("report shows a passing test's output:\n%s", out.String())
	}
}
