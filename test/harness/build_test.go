package harness

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// buildInto runs scripts/build.sh MODE with DIST=dist and extra environment.
func buildInto(t *testing.T, dist, mode string, env ...string) {
	t.Helper()
	root := MustRepoRoot(t)
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "build.sh"), mode)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "DIST="+dist), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh %s (DIST=%s): %v\n%s", mode, dist, err, out)
	}
}

// files maps each regular file under dir (relative path) to its bytes.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBuildIsReproducible builds every function twice and compares every
// byte of the bootstraps and zips. The second release (arm64) build starts
// from an empty build cache, so nothing is reused; in -short mode it uses
// the shared cache (faster, weaker).
func TestBuildIsReproducible(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	buildInto(t, a, "all")
	if testing.Short() {
		buildInto(t, b, "lambda")
	} else {
		buildInto(t, b, "lambda", "GOCACHE="+t.TempDir())
	}
	buildInto(t, b, "local")
	fa, fb := files(t, a), files(t, b)
	if len(fa) == 0 {
		t.Fatal("the build wrote no files")
	}
	for name, want := range fa {
		got, ok := fb[name]
		switch {
		case !ok:
			t.Errorf("%s missing from the second build", name)
		case !bytes.Equal(got, want):
			t.Errorf("%s differs between two builds (%d and %d bytes)", name, len(want), len(got))
		}
	}
	for name := range fb {
		if _, ok := fa[name]; !ok {
			t.Errorf("%s only in the second build", name)
		}
	}
	var zips, locals int
	for name := range fa {
		switch {
		case strings.HasPrefix(name, "local"+string(filepath.Separator)):
			locals++
		case strings.HasSuffix(name, ".zip"):
			zips++
		}
	}
	if zips == 0 || locals == 0 {
		t.Errorf("expected NAME/NAME.zip and local/NAME/bootstrap files, got %d zips and %d local bootstraps", zips, locals)
	}
	// FunctionNames (what BenchmarkColdStart measures) finds what the
	// build built.
	var built []string
	for name := range fa {
		if dir, ok := strings.CutPrefix(filepath.Dir(name), "local"+string(filepath.Separator)); ok && filepath.Base(name) == "bootstrap" {
			built = append(built, dir)
		}
	}
	slices.Sort(built)
	if names := FunctionNames(t); !slices.Equal(names, built) {
		t.Errorf("FunctionNames = %v, the build built %v", names, built)
	}
	zipsAreWhatLambdaRuns(t, fa)
}

// zipsAreWhatLambdaRuns checks that each NAME/NAME.zip holds exactly what the
// function needs in Lambda: its bootstrap (executable, the same bytes as
// NAME/bootstrap) and the catalog every function reads at start.
func zipsAreWhatLambdaRuns(t *testing.T, dist map[string][]byte) {
	t.Helper()
	catalog, err := os.ReadFile(filepath.Join(MustRepoRoot(t), "catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range dist {
		if !strings.HasSuffix(name, ".zip") {
			continue
		}
		z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[string][]byte{"bootstrap": dist[filepath.Join(filepath.Dir(name), "bootstrap")], "catalog.yaml": catalog}
		if len(z.File) != len(want) {
			t.Errorf("%s holds %d files, want bootstrap and catalog.yaml", name, len(z.File))
		}
		for _, f := range z.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatalf("%s: %s: %v", name, f.Name, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, want[f.Name]) {
				t.Errorf("%s: %s is not the expected file (%v)", name, f.Name, err)
			}
			if f.Name == "bootstrap" && f.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s: bootstrap is not executable (%v)", name, f.Mode())
			}
		}
	}
}

// TestHelloIsBuiltLikeTheFunctions checks that the cold-start baseline
// (HelloBootstrap) is built as the build builds each function: the same
// build settings (tags, trimpath, cgo, target) and the same ELF sections (no
// symbol table, DWARF or build ID: -ldflags "-s -w -buildid=", which Go does
// not record with -trimpath).
func TestHelloIsBuiltLikeTheFunctions(t *testing.T) {
	hello := HelloBootstrap(t)
	want, wantSections := buildOf(t, hello)
	if !slices.Contains(want, "-tags=lambda.norpc") || !slices.Contains(want, "CGO_ENABLED=0") || !slices.Contains(want, "-trimpath=true") {
		t.Errorf("hello's build settings %v lack -tags=lambda.norpc, CGO_ENABLED=0 or -trimpath=true", want)
	}
	for _, s := range wantSections {
		if s == ".symtab" || strings.HasPrefix(s, ".debug") || strings.HasPrefix(s, ".zdebug") || s == ".note.go.buildid" {
			t.Errorf("hello has section %s: not stripped", s)
		}
	}
	for _, name := range FunctionNames(t) {
		got, sections := buildOf(t, Bootstrap(t, name))
		if !slices.Equal(got, want) {
			t.Errorf("%s was built with %v, hello with %v", name, got, want)
		}
		if !slices.Equal(sections, wantSections) {
			t.Errorf("%s has the ELF sections %v, hello %v", name, sections, wantSections)
		}
	}
}

// buildOf returns a Go binary's build settings ("key=value") and its ELF
// section names, sorted.
func buildOf(t *testing.T, path string) (settings, sections []string) {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Settings {
		settings = append(settings, s.Key+"="+s.Value)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Name != "" {
			sections = append(sections, s.Name)
		}
	}
	slices.Sort(settings)
	slices.Sort(sections)
	return settings, sections
}

// TestFloorLinksWhatTheFunctionLinks checks each function's cold-start floor
// (FloorBootstrap): built like hello-world but for its sdk_ tags, and
// linking exactly the AWS SDK service modules the function's bootstrap
// links, at the same versions.
func TestFloorLinksWhatTheFunctionLinks(t *testing.T) {
	hello, _ := buildOf(t, HelloBootstrap(t))
	for _, name := range FunctionNames(t) {
		floor, services := FloorBootstrap(t, name)
		settings, _ := buildOf(t, floor)
		tags := "-tags=lambda.norpc"
		for _, s := range services {
			tags += ",sdk_" + s
		}
		if want := slices.Sorted(slices.Values(slices.Concat(slices.DeleteFunc(slices.Clone(hello), func(s string) bool { return s == "-tags=lambda.norpc" }), []string{tags}))); !slices.Equal(settings, want) {
			t.Errorf("%s's floor was built with %v, want %v", name, settings, want)
		}
		if got, want := serviceModules(t, floor), serviceModules(t, Bootstrap(t, name)); !slices.Equal(got, want) {
			t.Errorf("%s's floor links the service modules %v, the function %v", name, got, want)
		}
		// Nothing of stepship's but the AWS configuration every function
		// builds: the floor must not start the catalog (its package init,
		// yaml.v3's) and then count it as the SDK's.
		tags = strings.TrimPrefix(tags, "-tags=")
		list := exec.Command("go", "list", "-tags", tags, "-deps", FloorPackage)
		list.Dir = MustRepoRoot(t)
		out, err := list.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", FloorPackage, err)
		}
		for _, pkg := range strings.Fields(string(out)) {
			ours := strings.HasPrefix(pkg, "github.com/stepship/stepship/")
			allowed := slices.Contains([]string{"shared/awsenv", "shared/config", "test/harness/sdkfloor"}, strings.TrimPrefix(pkg, "github.com/stepship/stepship/"))
			if (ours && !allowed) || strings.HasPrefix(pkg, "gopkg.in/yaml") {
				t.Errorf("%s's floor links %s", name, pkg)
			}
		}
	}
}

// serviceModules lists the AWS SDK service modules a Go binary links, with
// their versions ("ecs@v1.105.1"), sorted.
func serviceModules(t *testing.T, path string) []string {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range info.Deps {
		if name, ok := strings.CutPrefix(m.Path, "github.com/aws/aws-sdk-go-v2/service/"); ok && !strings.Contains(name, "/") {
			out = append(out, name+"@"+m.Version)
		}
	}
	slices.Sort(out)
	return out
}
