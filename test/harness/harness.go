package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stepship/stepship/test/localsvc"
)

// The services, as localsvc starts them.
type (
	Moto     = localsvc.Moto
	Postgres = localsvc.Postgres
	Lambda   = localsvc.Lambda
	// FunctionError is a failed invocation of a Lambda.
	FunctionError = localsvc.FunctionError
)

// service is what closeAtEnd needs of a started service.
type service interface {
	Close() error
	LogReport() string
}

// closeAtEnd closes s when t ends and prints its log when t failed. Its log
// is in t's temporary folder, so it outlives Close.
func closeAtEnd(t testing.TB, s service) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("failed to stop a local service: %v", err)
		}
		if t.Failed() {
			t.Log(s.LogReport())
		}
	})
}

// StartMoto starts a moto server of its own for this test (a few seconds);
// see localsvc.StartMoto. Tests of one package can share one server instead:
// see SharedMoto and MotoMain.
func StartMoto(t testing.TB, opts ...localsvc.Option) *Moto {
	t.Helper()
	m, err := localsvc.StartMoto(t.Context(), append([]localsvc.Option{localsvc.WithLogDir(t.TempDir())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, m)
	return m
}

// StartPostgres starts a throwaway PostgreSQL cluster for this test; see
// localsvc.StartPostgres.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := localsvc.StartPostgres(t.Context(), localsvc.WithLogDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, p)
	return p
}

// StartLambda runs bootstrapPath under the Lambda runtime emulator for this
// test; see localsvc.StartLambda.
func StartLambda(t testing.TB, bootstrapPath string, env map[string]string) *Lambda {
	t.Helper()
	l, err := localsvc.StartLambda(t.Context(), bootstrapPath, env, localsvc.WithLogDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, l)
	return l
}

// perBinary is what the tests of one test binary share: the functions built
// once, and the moto server of SharedMoto.
var perBinary struct {
	build struct {
		once sync.Once
		dist string
		err  error
	}
	// baselines built by BuildLikeFunctions, by name, once each.
	baselines struct {
		mu    sync.Mutex
		built map[string]string
	}
	moto struct {
		mu     sync.Mutex
		server *Moto
		err    error
		logDir string
	}
}

// SharedMoto returns the test binary's one shared moto server, starting it on
// first use. State is shared by every test of the package: use unique names,
// or call Reset in tests that don't run in parallel. When the test fails,
// the part of moto's log written during it is printed. Use MotoMain in
// TestMain to stop the server at the end (without it, the kernel kills it
// when the test binary exits).
func SharedMoto(t testing.TB) *Moto {
	t.Helper()
	shared := &perBinary.moto
	shared.mu.Lock()
	if shared.server == nil && shared.err == nil {
		shared.logDir, shared.err = os.MkdirTemp("", "stepship-moto-")
		if shared.err == nil {
			// Not t.Context(): the server outlives the test that starts it.
			shared.server, shared.err = localsvc.StartMoto(context.Background(), localsvc.WithLogDir(shared.logDir))
		}
	}
	m, err := shared.server, shared.err
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("starting the shared moto server: %v", err)
	}
	if err := m.Err(); err != nil {
		t.Fatalf("the shared moto server has died (%v); log:\n%s", err, m.LogsSince(0))
	}
	offset := m.LogSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- shared moto log during this test ---\n%s\n--- end of moto log ---", m.LogsSince(offset))
		}
	})
	return m
}

// MotoMain runs the tests of a package that uses SharedMoto and then stops
// the shared server and removes its log (printing the log's end first when
// a test failed). Use it as:
//
//	func TestMain(m *testing.M) { os.Exit(harness.MotoMain(m)) }
func MotoMain(m *testing.M) int {
	code := m.Run()
	StopSharedMoto(code != 0)
	return code
}

// StopSharedMoto stops the shared moto server, if one was started, and
// removes its log, printing the log's end to stderr first when printLog is
// set. For a TestMain that does more than MotoMain.
func StopSharedMoto(printLog bool) {
	shared := &perBinary.moto
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.server != nil {
		if err := shared.server.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "failed to stop the shared moto server: %v\n", err)
		}
		if printLog {
			fmt.Fprintf(os.Stderr, "--- end of the shared moto log ---\n%s\n", lastLines(shared.server.Logs(), 60))
		}
	}
	if shared.logDir != "" {
		os.RemoveAll(shared.logDir)
	}
	shared.server, shared.err, shared.logDir = nil, nil, ""
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := bytes.Split([]byte(strings.TrimRight(s, "\n")), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// MustRepoRoot is localsvc.RepoRoot for tests: it fails t when the root is
// not found.
func MustRepoRoot(t testing.TB) string {
	t.Helper()
	root, err := localsvc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// RequireTool returns the path of a tool installed by `make tools`. It FAILS
// the test (never skips) when the tool is missing: CI must not pass by
// silently testing less.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := localsvc.ToolPath(name)
	if err != nil {
		t.Fatalf("required tool missing: %v", err)
	}
	return p
}

// BuildFunctions builds every function for the local runtime emulator once
// per test binary (see localsvc.BuildFunctions) and returns the dist/local
// folder. It fails t when the build fails.
func BuildFunctions(t testing.TB) string {
	t.Helper()
	b := &perBinary.build
	// Not t.Context(): the build serves the tests that come after this one.
	b.once.Do(func() { b.dist, b.err = localsvc.BuildFunctions(context.Background()) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dist
}

// Bootstrap returns the path of dist/local/NAME/bootstrap, building the
// functions first (once per test binary). It fails t when functions/NAME has
// no main package.
func Bootstrap(t testing.TB, name string) string {
	t.Helper()
	p, err := localsvc.Bootstrap(BuildFunctions(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// HelloPackage is the hello-world function HelloBootstrap builds.
const HelloPackage = "./test/harness/hellolambda"

// FloorPackage is the SDK floor FloorBootstrap builds (test/harness/sdkfloor).
const FloorPackage = "./test/harness/sdkfloor"

// HelloBootstrap returns the path of a hello-world aws-lambda-go function
// (HelloPackage) built exactly like the functions (localsvc.BuildLikeFunctions),
// once per test binary, as dist/baseline/hellolambda/bootstrap: the baseline
// of the cold-start benchmark.
func HelloBootstrap(t testing.TB) string {
	t.Helper()
	return baseline(t, HelloPackage, "hellolambda")
}

// FloorBootstrap returns the path of the function's cold-start floor
// (FloorPackage built like the functions with the tag sdk_SERVICE of each
// AWS service the function links, localsvc.SDKServices), once per test
// binary, as dist/baseline/floor-FUNCTION/bootstrap, and those services. It
// fails t when a service the function links has no sdk_SERVICE.go in
// FloorPackage, since that floor would not link what the function links.
func FloorBootstrap(t testing.TB, function string) (string, []string) {
	t.Helper()
	services, err := localsvc.SDKServices(context.Background(), function)
	if err != nil {
		t.Fatal(err)
	}
	tags := make([]string, 0, len(services))
	for _, s := range services {
		if _, err := os.Stat(filepath.Join(MustRepoRoot(t), FloorPackage, "sdk_"+s+".go")); err != nil {
			t.Fatalf("functions/%s links the AWS SDK's %s client, which %s has no file for: add sdk_%s.go there (%v)", function, s, FloorPackage, s, err)
		}
		tags = append(tags, "sdk_"+s)
	}
	return baseline(t, FloorPackage, "floor-"+function, tags...), services
}

// baseline builds pkg like the functions as dist/baseline/NAME/bootstrap,
// once per test binary and name.
func baseline(t testing.TB, pkg, name string, tags ...string) string {
	t.Helper()
	b := &perBinary.baselines
	b.mu.Lock()
	defer b.mu.Unlock()
	if path, ok := b.built[name]; ok {
		return path
	}
	// Not t.Context(): the build serves the tests that come after this one.
	path, err := localsvc.BuildLikeFunctions(context.Background(), pkg, name, tags...)
	if err != nil {
		t.Fatal(err)
	}
	if b.built == nil {
		b.built = map[string]string{}
	}
	b.built[name] = path
	return path
}

// FunctionNames lists the functions the build builds (localsvc.FunctionNames:
// every functions/NAME main package), failing t when there are none.
func FunctionNames(t testing.TB) []string {
	t.Helper()
	names, err := localsvc.FunctionNames(MustRepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return names
}
