package aslconformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

var update = flag.Bool("update", false, "rewrite testdata/cases/*/expected.json from aws-local-stepfunctions (never from our runner; known differences are left alone)")

const (
	casesDir        = "testdata/cases"
	knownDiffsFile  = "testdata/known-differences.json"
	referenceScript = "reference/run.mjs"

	// The execution identity both sides use (see run.mjs).
	account = "123456789012"
	region  = "us-east-1"
	smName  = "conformance"
)

// result is what one execution ended with, in the shape run.mjs writes and
// expected.json holds.
type result struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  *string         `json:"error,omitempty"`
	Cause  *string         `json:"cause,omitempty"`
}

func (r result) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// knownDifference documents a case where aws-local-stepfunctions departs from
// AWS's documented behaviour. Its Expected result is written by hand from the
// documentation; such a case has no expected.json.
type knownDifference struct {
	Case      string `json:"case"`
	Reference string `json:"reference"` // what aws-local-stepfunctions does
	AWS       string `json:"aws"`       // what AWS documents
	Doc       string `json:"doc"`       // the AWS documentation page
	Quote     string `json:"quote"`     // the sentence of that page it rests on
	Expected  result `json:"expected"`  // the documented result, by hand
}

// tcase is one directory of testdata/cases.
type tcase struct {
	Name       string
	Dir        string
	Definition []byte
	Input      json.RawMessage
	Tasks      map[string]json.RawMessage
}

func loadCases(t *testing.T) []tcase {
	t.Helper()
	return loadCasesIn(t, casesDir)
}

// loadCasesIn reads every case directory under dir.
func loadCasesIn(t *testing.T, dir string) []tcase {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading the cases: %v", err)
	}
	var cases []tcase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := tcase{Name: e.Name(), Dir: filepath.Join(dir, e.Name())}
		if c.Definition, err = os.ReadFile(filepath.Join(c.Dir, "definition.asl.json")); err != nil {
			t.Fatalf("case %s: %v", c.Name, err)
		}
		if c.Input, err = os.ReadFile(filepath.Join(c.Dir, "input.json")); err != nil {
			t.Fatalf("case %s: %v", c.Name, err)
		}
		if !json.Valid(c.Input) {
			t.Fatalf("case %s: input.json is not valid JSON", c.Name)
		}
		if b, err := os.ReadFile(filepath.Join(c.Dir, "tasks.json")); err == nil {
			if err := json.Unmarshal(b, &c.Tasks); err != nil {
				t.Fatalf("case %s: tasks.json: %v", c.Name, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("case %s: %v", c.Name, err)
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return cases
}

func loadKnownDifferences(t *testing.T) map[string]knownDifference {
	t.Helper()
	b, err := os.ReadFile(knownDiffsFile)
	if err != nil {
		t.Fatalf("reading %s: %v", knownDiffsFile, err)
	}
	var list []knownDifference
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("%s: %v", knownDiffsFile, err)
	}
	m := make(map[string]knownDifference, len(list))
	for _, d := range list {
		if _, dup := m[d.Case]; dup {
			t.Fatalf("%s lists %s twice", knownDiffsFile, d.Case)
		}
		m[d.Case] = d
	}
	return m
}

func readExpected(t *testing.T, c tcase) (result, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "expected.json"))
	if errors.Is(err, os.ErrNotExist) {
		return result{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("case %s: expected.json: %v", c.Name, err)
	}
	return r, true
}

// ---------------------------------------------------------------- the reference side

var (
	refOnce    sync.Once
	refResults map[string]result
	refErr     error
)

// referenceResults runs every case through aws-local-stepfunctions once per
// test binary.
func referenceResults(t *testing.T) map[string]result {
	t.Helper()
	refOnce.Do(func() {
		var raw map[string]json.RawMessage
		if raw, refErr = runReference(casesDir); refErr != nil {
			return
		}
		refResults = make(map[string]result, len(raw))
		for name, b := range raw {
			var r result
			if refErr = json.Unmarshal(b, &r); refErr != nil {
				refErr = fmt.Errorf("the reference's result for %s: %w", name, refErr)
				return
			}
			refResults[name] = r
		}
	})
	if refErr != nil {
		t.Fatalf("running the reference interpreter: %v", refErr)
	}
	return refResults
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// findNode returns a Node 22+ binary: $STEPSHIP_NODE, the module's
// node_modules/.bin/node (npm ci installs it), or node on PATH.
func findNode(root string) (string, error) {
	var candidates []string
	if p := os.Getenv("STEPSHIP_NODE"); p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, filepath.Join(root, "node_modules", ".bin", "node"))
	if p, err := exec.LookPath("node"); err == nil {
		candidates = append(candidates, p)
	}
	var problems []string
	for _, p := range candidates {
		out, err := exec.Command(p, "--version").Output()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
		major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
		if major < 22 {
			problems = append(problems, fmt.Sprintf("%s is Node %s, need 22 or later", p, v))
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("no Node 22 found (run `npm ci` at the repository root; it installs node and aws-local-stepfunctions): %s", strings.Join(problems, "; "))
}

// runReference runs run.mjs over the cases in dir (with --virtual-clock when
// extra says so) and returns its results, one raw JSON object per case.
func runReference(dir string, extra ...string) (map[string]json.RawMessage, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	node, err := findNode(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "aws-local-stepfunctions", "package.json")); err != nil {
		return nil, fmt.Errorf("aws-local-stepfunctions is not installed (run `npm ci` at the repository root): %v", err)
	}
	tmp, err := os.MkdirTemp("", "aslconformance-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "reference.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{referenceScript}, extra...)
	cmd := exec.CommandContext(ctx, node, append(args, dir, out)...)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", node, referenceScript, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("reading %s: %v", out, err)
	}
	return res, nil
}

// ---------------------------------------------------------------- our side

var (
	oursMu    sync.Mutex
	oursCache = map[string]result{}
)

// ours runs a case through our runner (once per test binary).
func ours(t *testing.T, c tcase) result {
	t.Helper()
	oursMu.Lock()
	defer oursMu.Unlock()
	if r, ok := oursCache[c.Name]; ok {
		return r
	}
	r, err := runOurs(c)
	if err != nil {
		t.Fatalf("case %s: our runner: %v", c.Name, err)
	}
	oursCache[c.Name] = r
	return r
}

// clockScale is how much faster than real time our runner runs the cases.
const clockScale = 1000

func runOurs(c tcase) (result, error) {
	res, _, err := runWith(c, newFakeLambda(c.Tasks), asl.NewScaledClock(clockScale))
	return res, err
}

// runWith runs a case through our runner with the given task invoker and
// clock. The execution is nil when the definition is INVALID.
func runWith(c tcase, inv asl.TaskInvoker, clock asl.Clock) (result, *asl.Execution, error) {
	sm, err := asl.Parse(c.Definition)
	if err != nil {
		cause := err.Error()
		return result{Status: "INVALID", Cause: &cause}, nil, nil
	}
	r := asl.NewRunner(asl.WithInvoker(inv), asl.WithClock(clock))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exe, err := r.Run(ctx, sm, c.Input, executionInfo(c.Name))
	if err != nil {
		return result{}, nil, err
	}
	snap := exe.Snapshot()
	res := result{Status: string(snap.Status)}
	switch snap.Status {
	case asl.StatusSucceeded:
		res.Output = snap.Output
		if len(res.Output) == 0 {
			res.Output = json.RawMessage("null")
		}
	default:
		e, cause := snap.Error, snap.Cause
		res.Error, res.Cause = &e, &cause
	}
	return res, exe, nil
}

func executionInfo(name string) asl.ExecutionInfo {
	return asl.ExecutionInfo{
		ARN:              fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", region, account, smName, name),
		Name:             name,
		StateMachineARN:  fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", region, account, smName),
		StateMachineName: smName,
		RoleARN:          fmt.Sprintf("arn:aws:iam::%s:role/conformance", account),
		StartTime:        time.Now().UTC(),
	}
}

// fakeResponse is one canned answer of the fake Lambda (see doc.go).
type fakeResponse struct {
	Output       json.RawMessage `json:"output"`
	Echo         bool            `json:"echo"`
	Error        *string         `json:"error"`
	Cause        string          `json:"cause"`
	DelaySeconds float64         `json:"delaySeconds"`
}

// fakeLambda answers Task states from a case's tasks.json, the same way
// run.mjs does for the reference.
type fakeLambda struct {
	mu    sync.Mutex
	tasks map[string]json.RawMessage
	calls map[string]int
}

func newFakeLambda(tasks map[string]json.RawMessage) *fakeLambda {
	return &fakeLambda{tasks: tasks, calls: map[string]int{}}
}

func (f *fakeLambda) InvokeTask(ctx context.Context, task asl.Task) (json.RawMessage, error) {
	resp, err := f.next(task.Resource)
	if err != nil {
		return nil, err
	}
	if resp.DelaySeconds > 0 {
		d := time.Duration(resp.DelaySeconds * float64(time.Second) / clockScale)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	switch {
	case resp.Error != nil:
		return nil, &asl.TaskFailure{Name: *resp.Error, Cause: resp.Cause}
	case resp.Echo:
		return task.Input, nil
	case len(resp.Output) == 0:
		return json.RawMessage("null"), nil
	default:
		return resp.Output, nil
	}
}

func (f *fakeLambda) next(resource string) (fakeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, ok := f.tasks[resource]
	if !ok {
		return fakeResponse{}, &asl.TaskFailure{Name: "States.TaskFailed", Cause: "conformance: no fake response for resource " + resource}
	}
	var resp fakeResponse
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		var list []fakeResponse
		if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
			return fakeResponse{}, fmt.Errorf("tasks.json: bad response list for %s: %v", resource, err)
		}
		n := f.calls[resource]
		f.calls[resource] = n + 1
		resp = list[min(n, len(list)-1)]
	} else if err := json.Unmarshal(raw, &resp); err != nil {
		return fakeResponse{}, fmt.Errorf("tasks.json: bad response for %s: %v", resource, err)
	}
	return resp, nil
}

// ---------------------------------------------------------------- comparing

// diff lists how got departs from want: status, output (as JSON values) and
// error name; the cause too when compareCause is set and want has one.
func diff(got, want result, compareCause bool) []string {
	var d []string
	if got.Status != want.Status {
		d = append(d, fmt.Sprintf("status %s, want %s", got.Status, want.Status))
	}
	if want.Status == "SUCCEEDED" && got.Status == want.Status && !jsonEqual(got.Output, want.Output) {
		d = append(d, fmt.Sprintf("output %s, want %s", compact(got.Output), compact(want.Output)))
	}
	if want.Status != "SUCCEEDED" && want.Status != "INVALID" {
		if str(got.Error) != str(want.Error) {
			d = append(d, fmt.Sprintf("error %q, want %q", str(got.Error), str(want.Error)))
		}
		if compareCause && want.Cause != nil && str(got.Cause) != str(want.Cause) {
			d = append(d, fmt.Sprintf("cause %q, want %q", str(got.Cause), str(want.Cause)))
		}
	}
	return d
}

// userError reports whether an error name comes from the case itself (a Fail
// state or the fake Lambda) rather than from the interpreter, so that its
// cause is deterministic and must match too.
func userError(r result) bool {
	return r.Error != nil && *r.Error != "" && !strings.HasPrefix(*r.Error, "States.")
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if err := json.Unmarshal(orNull(a), &x); err != nil {
		return false
	}
	if err := json.Unmarshal(orNull(b), &y); err != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func compact(b json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, orNull(b)); err != nil {
		return string(b)
	}
	return buf.String()
}

// ---------------------------------------------------------------- expectations

// expectation reduces a result of the reference to what expected.json holds:
// the status; the output of a success; the error name of a failure, and its
// cause when the case itself chose it (a Fail state or the fake Lambda: the
// interpreter's own wording is not compared). An INVALID definition keeps the
// status only.
func expectation(r result) (result, error) {
	switch r.Status {
	case "SUCCEEDED":
		return result{Status: r.Status, Output: orNull(r.Output)}, nil
	case "INVALID":
		return result{Status: r.Status}, nil
	case "FAILED", "TIMED_OUT":
		e := str(r.Error)
		out := result{Status: r.Status, Error: &e}
		if userError(r) {
			cause := str(r.Cause)
			out.Cause = &cause
		}
		return out, nil
	default:
		return result{}, fmt.Errorf("the reference could not run the case: %s %s", r.Status, str(r.Cause))
	}
}

// sameExpectation reports whether two expectations hold the same fields with
// the same values (outputs compared as JSON values).
func sameExpectation(a, b result) bool {
	return a.Status == b.Status &&
		(len(a.Output) == 0) == (len(b.Output) == 0) && jsonEqual(a.Output, b.Output) &&
		(a.Error == nil) == (b.Error == nil) && str(a.Error) == str(b.Error) &&
		(a.Cause == nil) == (b.Cause == nil) && str(a.Cause) == str(b.Cause)
}

func expectedPath(c tcase) string { return filepath.Join(c.Dir, "expected.json") }

// writeExpected stores an expectation of the reference as the case's
// expected.json.
func writeExpected(t *testing.T, c tcase, r result) {
	t.Helper()
	b, err := marshalIndent(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(expectedPath(c), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func marshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// want is what our runner must produce for a case: the documented result of a
// known difference, otherwise expected.json (which the reference wrote).
func want(t *testing.T, c tcase, known map[string]knownDifference) result {
	t.Helper()
	if kd, ok := known[c.Name]; ok {
		return kd.Expected
	}
	r, ok := readExpected(t, c)
	if !ok {
		t.Fatalf("no expected.json (run `go test ./test/sfnlocal/conformance/ -update` to write it from aws-local-stepfunctions)")
	}
	return r
}

// ---------------------------------------------------------------- tests

// TestReferenceWritesExpected keeps every expected.json equal to what
// aws-local-stepfunctions produces today, and every known difference still a
// difference. With -update it writes expected.json from the reference (and
// removes any from a known difference's directory); our runner is not run.
// It comes first in this file so that, with -update, the tests after it check
// our runner against the files just written.
func TestReferenceWritesExpected(t *testing.T) {
	cases := loadCases(t)
	known := loadKnownDifferences(t)
	ref := referenceResults(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			raw, ok := ref[c.Name]
			if !ok {
				t.Fatalf("the reference produced no result for %s", c.Name)
			}
			got, err := expectation(raw)
			if err != nil {
				t.Fatal(err)
			}
			if kd, isKnown := known[c.Name]; isKnown {
				if *update {
					if err := os.Remove(expectedPath(c)); err != nil && !errors.Is(err, os.ErrNotExist) {
						t.Fatal(err)
					}
				}
				if len(diff(raw, kd.Expected, true)) == 0 {
					t.Errorf("aws-local-stepfunctions now gives the documented result; remove %s from %s and run -update", c.Name, knownDiffsFile)
				}
				return
			}
			if *update {
				writeExpected(t, c, got)
				return
			}
			stored, ok := readExpected(t, c)
			if !ok {
				t.Fatalf("no expected.json (run `go test ./test/sfnlocal/conformance/ -update` to write it from aws-local-stepfunctions)")
			}
			if !sameExpectation(got, stored) {
				t.Errorf("expected.json is not what aws-local-stepfunctions produces (run -update, and review the change):\n  expected.json: %s\n  reference:     %s", stored, got)
			}
		})
	}
}

// TestConformance runs every case through our runner and compares it with
// expected.json (the reference's result) or, for a known difference, with the
// result AWS documents.
func TestConformance(t *testing.T) {
	cases := loadCases(t)
	known := loadKnownDifferences(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			w := want(t, c, known)
			got := ours(t, c)
			if d := diff(got, w, true); len(d) > 0 {
				if kd, isKnown := known[c.Name]; isKnown {
					t.Errorf("our runner departs from AWS's documented behaviour (%s: %q):\n  %s\n  ours:       %s\n  documented: %s",
						kd.Doc, kd.Quote, strings.Join(d, "\n  "), got, w)
					return
				}
				t.Errorf("our runner departs from expected.json (aws-local-stepfunctions' result; if that is the reference's bug, add the case to %s):\n  %s\n  ours:     %s\n  expected: %s",
					knownDiffsFile, strings.Join(d, "\n  "), got, w)
			}
		})
	}
}

// TestCorpusShape checks the corpus itself: every known difference names a
// case, says why, quotes the AWS documentation and has no expected.json; every
// other case has one; state names are unique within a case (run.mjs keys its
// overrides by state name).
func TestCorpusShape(t *testing.T) {
	cases := loadCases(t)
	known := loadKnownDifferences(t)
	byName := map[string]tcase{}
	for _, c := range cases {
		byName[c.Name] = c
	}
	var names []string
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		kd := known[n]
		c, ok := byName[n]
		if !ok {
			t.Errorf("%s lists %s, which is not a case", knownDiffsFile, n)
			continue
		}
		if kd.Reference == "" || kd.AWS == "" || kd.Quote == "" || !strings.HasPrefix(kd.Doc, "https://docs.aws.amazon.com/") {
			t.Errorf("%s: %s needs reference, aws, doc (an AWS documentation address) and quote", knownDiffsFile, n)
		}
		if _, err := expectation(kd.Expected); err != nil || !sameExpectation(kd.Expected, mustExpectation(kd.Expected)) {
			t.Errorf("%s: %s: expected must be a result in expected.json's shape (status; output, or error and the case's own cause)", knownDiffsFile, n)
		}
		if _, err := os.Stat(expectedPath(c)); err == nil {
			t.Errorf("known difference %s has an expected.json: its expectation lives in %s only", n, knownDiffsFile)
		}
	}
	for _, c := range cases {
		if _, isKnown := known[c.Name]; !isKnown {
			if _, err := os.Stat(expectedPath(c)); err != nil {
				t.Errorf("case %s has no expected.json: %v", c.Name, err)
			}
		}
	}
	checkStateNames(t, cases)
}

func mustExpectation(r result) result {
	e, _ := expectation(r)
	return e
}

// checkStateNames checks that state names are unique within each case
// (run.mjs keys its overrides by state name).
func checkStateNames(t *testing.T, cases []tcase) {
	t.Helper()
	for _, c := range cases {
		var def map[string]any
		if err := json.Unmarshal(c.Definition, &def); err != nil {
			t.Errorf("case %s: definition.asl.json: %v", c.Name, err)
			continue
		}
		seen := map[string]bool{}
		var walk func(m map[string]any)
		walk = func(m map[string]any) {
			states, _ := m["States"].(map[string]any)
			for name, s := range states {
				if seen[name] {
					t.Errorf("case %s: state name %q is used twice", c.Name, name)
				}
				seen[name] = true
				st, _ := s.(map[string]any)
				branches, _ := st["Branches"].([]any)
				for _, b := range branches {
					if bm, ok := b.(map[string]any); ok {
						walk(bm)
					}
				}
				for _, k := range []string{"ItemProcessor", "Iterator"} {
					if p, ok := st[k].(map[string]any); ok {
						walk(p)
					}
				}
			}
		}
		walk(def)
	}
}

// TestFindNodeFailsWithoutNode pins that a missing Node is an error that says
// how to install it (the tests that run the reference then fail rather than
// skip).
func TestFindNodeFailsWithoutNode(t *testing.T) {
	t.Setenv("STEPSHIP_NODE", "")
	t.Setenv("PATH", t.TempDir())
	_, err := findNode(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "npm ci") {
		t.Fatalf("findNode with no node anywhere: %v; want an error telling to run npm ci", err)
	}
}
