package localsvc

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// ModulePath is the Go module whose root RepoRoot looks for.
const ModulePath = "github.com/stepship/stepship"

// RepoRoot returns the repository root: the nearest parent folder of the
// working directory whose go.mod declares ModulePath.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

// toolPaths are the tool names known to ToolPath, and where `make tools`
// (scripts/tools.sh) puts them, relative to the repository root; "" for the
// PostgreSQL server binaries, which come from the OS packages (see pgBinDir).
func toolPaths() map[string]string {
	return map[string]string{
		"moto_server":    ".venv/bin/moto_server",
		"cfn-lint":       ".venv/bin/cfn-lint",
		"python":         ".venv/bin/python",
		"aws-lambda-rie": ".tools/bin/aws-lambda-rie",
		"node":           "node_modules/.bin/node",
		"asl-validator":  "node_modules/.bin/asl-validator",
		"cdk":            "node_modules/.bin/cdk",
		"local-sfn":      "node_modules/.bin/local-sfn",
		"initdb":         "",
		"pg_ctl":         "",
		"postgres":       "",
		"pg_isready":     "",
		"psql":           "",
	}
}

// ToolPath returns the absolute path of a tool installed by `make tools`
// (see toolPaths for the names), or an error saying what is missing.
func ToolPath(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return toolPathIn(root, name)
}

func toolPathIn(root, name string) (string, error) {
	paths := toolPaths()
	rel, known := paths[name]
	if !known {
		names := slices.Sorted(maps.Keys(paths))
		return "", fmt.Errorf("unknown tool %q (known: %s)", name, strings.Join(names, ", "))
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
	p := filepath.Join(root, rel)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s not found at %s: run `make tools` (scripts/tools.sh) first", name, p)
	}
	return p, nil
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

// BuildFunctions builds every function for the local runtime emulator
// (scripts/build.sh local → dist/local/NAME/bootstrap, linux on the host's
// architecture, the same flags as the release build) and returns the
// dist/local folder.
func BuildFunctions(ctx context.Context) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build.sh"), "local")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("failed to build the functions (scripts/build.sh local): %w\n%s", err, out)
	}
	return filepath.Join(root, "dist", "local"), nil
}

// BuildFlags are the go build flags of every function (scripts/build.sh's
// flags, with CGO_ENABLED=0): BuildLikeFunctions builds with them, and
// harness's TestHelloIsBuiltLikeTheFunctions checks that the binaries agree.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid="}

// BuildLikeFunctions builds the main package pkg (an import path or a
// ./path from the repository root) as dist/baseline/NAME/bootstrap in the
// repository exactly as BuildFunctions builds a function (linux on the
// host's architecture, BuildFlags, no cgo), with tags added to BuildFlags'
// lambda.norpc, and returns its path: a baseline, such as a hello-world
// function, to measure the functions against. Like build.sh, it replaces the
// file atomically (an emulator may still run the old one).
func BuildLikeFunctions(ctx context.Context, pkg, name string, tags ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "dist", "baseline", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	flags := slices.Clone(BuildFlags)
	if i := slices.Index(flags, "-tags"); i >= 0 && len(tags) > 0 {
		flags[i+1] = strings.Join(append([]string{flags[i+1]}, tags...), ",")
	}
	args := append(append([]string{"build"}, flags...), "-o", filepath.Join(tmp, "bootstrap"), pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("failed to build %s like the functions: %w\n%s", pkg, err, b)
	}
	out := filepath.Join(dir, "bootstrap")
	if err := os.Rename(filepath.Join(tmp, "bootstrap"), out); err != nil {
		return "", err
	}
	return out, nil
}

// SDKServices lists the AWS SDK service clients (the last element of
// github.com/aws/aws-sdk-go-v2/service/NAME, internal packages aside) the
// function functions/NAME links, as go list -deps sees its build, sorted.
func SDKServices(ctx context.Context, function string) ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-tags", "lambda.norpc", "-deps", "-f", "{{.ImportPath}}", "./functions/"+function)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps ./functions/%s: %w", function, err)
	}
	const prefix = "github.com/aws/aws-sdk-go-v2/service/"
	var services []string
	for _, path := range strings.Fields(string(out)) {
		if name, ok := strings.CutPrefix(path, prefix); ok && !strings.Contains(name, "/") {
			services = append(services, name)
		}
	}
	slices.Sort(services)
	return services, nil
}

// FunctionNames lists the functions scripts/build.sh builds: the folders
// functions/NAME of the repository at root with a (non-test) Go file that
// says `package main`, sorted.
func FunctionNames(root string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "*.go"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range dirs {
		name := filepath.Base(filepath.Dir(f))
		if strings.HasSuffix(f, "_test.go") || slices.Contains(names, name) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if packageMain.Match(b) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no function main packages under %s", filepath.Join(root, "functions"))
	}
	sort.Strings(names)
	return names, nil
}

// packageMain is build.sh's test for a main package (grep -E, any line).
var packageMain = regexp.MustCompile(`(?m)^package[[:space:]]+main([[:space:]]|$)`)

// Bootstrap returns the path of NAME/bootstrap in dist, the folder that
// BuildFunctions returned, or an error when it is missing.
func Bootstrap(dist, name string) (string, error) {
	p := filepath.Join(dist, name, "bootstrap")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no bootstrap for function %q at %s (is functions/%s a main package?)", name, p, name)
	}
	return p, nil
}
