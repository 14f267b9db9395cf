package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// ModulePath is the Go module whose root the harness looks for.
const ModulePath = "github.com/stepship/stepship"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the repository root: the nearest parent folder of the
// working directory whose go.mod declares ModulePath.
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = fmt.Errorf("finding the repository root: %w", err)
			return
		}
		for {
			b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("no go.mod of module %s above the working directory", ModulePath)
				return
			}
			dir = parent
		}
	})
	return rootDir, rootErr
}

// MustRepoRoot is RepoRoot for tests: it fails t when the root is not found.
func MustRepoRoot(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Tool names known to ToolPath and RequireTool, and where `make tools`
// (scripts/tools.sh) puts them, relative to the repository root.
var toolPaths = map[string]string{
	"moto_server":    ".venv/bin/moto_server",
	"cfn-lint":       ".venv/bin/cfn-lint",
	"python":         ".venv/bin/python",
	"aws-lambda-rie": ".tools/bin/aws-lambda-rie",
	"node":           "node_modules/.bin/node",
	"asl-validator":  "node_modules/.bin/asl-validator",
	"cdk":            "node_modules/.bin/cdk",
	"local-sfn":      "node_modules/.bin/local-sfn",
	// PostgreSQL server binaries come from the OS packages: see pgBinDir.
	"initdb":     "",
	"pg_ctl":     "",
	"postgres":   "",
	"pg_isready": "",
	"psql":       "",
}

// ToolPath returns the absolute path of a tool installed by `make tools`
// (see toolPaths for the names), or an error saying what is missing.
func ToolPath(name string) (string, error) {
	rel, known := toolPaths[name]
	if !known {
		names := make([]string, 0, len(toolPaths))
		for n := range toolPaths {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("harness: unknown tool %q (known: %s)", name, strings.Join(names, ", "))
	}
	if rel == "" {
		dir, err := pgBinDir()
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found beside initdb in %s: run `make tools`", name, dir)
		}
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, rel)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s not found at %s: run `make tools` (scripts/tools.sh) first", name, p)
	}
	return p, nil
}

// RequireTool returns the path of a tool installed by `make tools`. It FAILS
// the test (never skips) when the tool is missing: CI must not pass by
// silently testing less.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := ToolPath(name)
	if err != nil {
		t.Fatalf("required tool missing: %v", err)
	}
	return p
}

// pgBinDir finds the PostgreSQL server binaries: initdb on PATH, else the
// newest /usr/lib/postgresql/<version>/bin (Debian's layout, not on PATH).
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		// Often a symlink (/usr/local/bin/initdb → …/postgresql/15/bin):
		// the other server binaries live beside its target.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionLess(dirs[j], dirs[i]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin: run `make tools` (installs the postgresql OS package)")
}

// versionLess compares /usr/lib/postgresql/<N>/bin paths by N.
func versionLess(a, b string) bool {
	na, nb := pgVersion(a), pgVersion(b)
	if na != nb {
		return na < nb
	}
	return a < b
}

func pgVersion(dir string) int {
	n := 0
	for _, r := range filepath.Base(filepath.Dir(dir)) {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  string
)

// BuildFunctions builds every function for the local runtime emulator
// (scripts/build.sh local → dist/local/NAME/bootstrap, linux on the host's
// architecture, the same flags as the release build) once per test binary,
// and returns the dist/local folder. It fails t when the build fails.
func BuildFunctions(t testing.TB) string {
	t.Helper()
	root := MustRepoRoot(t)
	buildOnce.Do(func() {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "build.sh"), "local")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		buildOut = string(out)
		if err != nil {
			buildErr = fmt.Errorf("scripts/build.sh local: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(root, "dist", "local")
}

// Bootstrap returns the path of dist/local/NAME/bootstrap, building the
// functions first (once per test binary). It fails t when functions/NAME has
// no main package.
func Bootstrap(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(BuildFunctions(t), name, "bootstrap")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no bootstrap for function %q at %s (is functions/%s a main package?); build output:\n%s", name, p, name, buildOut)
	}
	return p
}
