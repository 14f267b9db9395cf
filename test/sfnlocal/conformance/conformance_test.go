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

var update = flag.Bool("update", false, "rewrite testdata/cases/*/expected.json from our runner (known differences are left alone)")

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
// AWS's documented behaviour.
type knownDifference struct {
	Case      string `json:"case"`
	Reference string `json:"reference"` // what aws-local-stepfunctions does
	AWS       string `json:"aws"`       // what AWS documents (expected.json)
	Doc       string `json:"doc"`       // where AWS documents it
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
	entries, err := os.ReadDir(casesDir)
	if err != nil {
		t.Fatalf("reading the cases: %v", err)
	}
	var cases []tcase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := tcase{Name: e.Name(), Dir: filepath.Join(casesDir, e.Name())}
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
		t.Fatalf("no cases in %s", casesDir)
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
	refOnce.Do(func() { refResults, refErr = runReference() })
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

func runReference() (map[string]result, error) {
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
	cmd := exec.CommandContext(ctx, node, referenceScript, casesDir, out)
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
	var res map[string]result
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
	sm, err := asl.Parse(c.Definition)
	if err != nil {
		cause := err.Error()
		return result{Status: "INVALID", Cause: &cause}, nil
	}
	r := asl.NewRunner(
		asl.WithInvoker(newFakeLambda(c.Tasks)),
		asl.WithClock(asl.NewScaledClock(clockScale)),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exe, err := r.Run(ctx, sm, c.Input, executionInfo(c.Name))
	if err != nil {
		return result{}, err
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
	return res, nil
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

// ---------------------------------------------------------------- tests

// TestConformance compares our runner with aws-local-stepfunctions on every
// case, and with AWS's documented behaviour where the two tools differ.
func TestConformance(t *testing.T) {
	cases := loadCases(t)
	known := loadKnownDifferences(t)
	ref := referenceResults(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			refRes, ok := ref[c.Name]
			if !ok {
				t.Fatalf("the reference produced no result for %s", c.Name)
			}
			if refRes.Status == "HARNESS_ERROR" {
				t.Fatalf("run.mjs could not run the case: %s", str(refRes.Cause))
			}
			got := ours(t, c)
			if kd, isKnown := known[c.Name]; isKnown {
				want, ok := readExpected(t, c)
				if !ok {
					t.Fatalf("known difference %s has no expected.json", c.Name)
				}
				if d := diff(got, want, true); len(d) > 0 {
					t.Errorf("our runner departs from AWS's documented behaviour (%s: %s):\n  %s\n  ours:     %s\n  expected: %s",
						kd.Doc, kd.AWS, strings.Join(d, "\n  "), got, want)
				}
				if len(diff(refRes, want, true)) == 0 {
					t.Errorf("aws-local-stepfunctions now agrees with expected.json; remove %s from %s", c.Name, knownDiffsFile)
				}
				return
			}
			if d := diff(got, refRes, userError(refRes)); len(d) > 0 {
				t.Errorf("our runner and aws-local-stepfunctions differ:\n  %s\n  ours:      %s\n  reference: %s",
					strings.Join(d, "\n  "), got, refRes)
			}
		})
	}
}

// TestExpected checks every case against its expected.json (our runner always;
// the reference too, except for known differences). With -update it rewrites
// expected.json from our runner instead.
func TestExpected(t *testing.T) {
	cases := loadCases(t)
	known := loadKnownDifferences(t)
	var ref map[string]result
	if !*update {
		ref = referenceResults(t)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got := ours(t, c)
			_, isKnown := known[c.Name]
			if *update && !isKnown {
				writeExpected(t, c, got)
				return
			}
			want, ok := readExpected(t, c)
			if !ok {
				t.Fatalf("no expected.json (run with -update to write it from our runner)")
			}
			if d := diff(got, want, true); len(d) > 0 {
				t.Errorf("our runner departs from expected.json:\n  %s\n  ours:     %s\n  expected: %s", strings.Join(d, "\n  "), got, want)
			}
			if ref == nil || isKnown {
				return
			}
			if d := diff(ref[c.Name], want, true); len(d) > 0 {
				t.Errorf("aws-local-stepfunctions departs from expected.json (if that is the reference's bug, add the case to %s):\n  %s",
					knownDiffsFile, strings.Join(d, "\n  "))
			}
		})
	}
}

// writeExpected stores our result as the case's expected.json. A cause is kept
// only when it is the case's own (from a Fail state or the fake Lambda).
func writeExpected(t *testing.T, c tcase, r result) {
	t.Helper()
	out := struct {
		Status string          `json:"status"`
		Output json.RawMessage `json:"output,omitempty"`
		Error  *string         `json:"error,omitempty"`
		Cause  *string         `json:"cause,omitempty"`
	}{Status: r.Status}
	switch r.Status {
	case "SUCCEEDED":
		out.Output = orNull(r.Output)
	case "INVALID":
	default:
		e := str(r.Error)
		out.Error = &e
		if userError(r) {
			cause := str(r.Cause)
			out.Cause = &cause
		}
	}
	b, err := marshalIndent(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "expected.json"), b, 0o644); err != nil {
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

// TestCorpusShape checks the corpus itself: every known difference names a
// case and says why, and state names are unique within a case (run.mjs keys
// its overrides by state name).
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
		if kd.Reference == "" || kd.AWS == "" || !strings.HasPrefix(kd.Doc, "https://") {
			t.Errorf("%s: %s needs reference, aws and doc (an AWS documentation address)", knownDiffsFile, n)
		}
		if _, ok := readExpected(t, c); !ok {
			t.Errorf("known difference %s has no expected.json", n)
		}
	}
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
// how to install it (TestConformance then fails rather than skips).
func TestFindNodeFailsWithoutNode(t *testing.T) {
	t.Setenv("STEPSHIP_NODE", "")
	t.Setenv("PATH", t.TempDir())
	_, err := findNode(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "npm ci") {
		t.Fatalf("findNode with no node anywhere: %v; want an error telling to run npm ci", err)
	}
}
