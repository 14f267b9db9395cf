package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/git"
	"github.com/stepship/stepship/test/golden"
	"gopkg.in/yaml.v3"
)

const valid = `
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    build: {mode: codebuild, project: web-build}
    environments:
      - name: production
        branches: [main]
        tags: ["v*"]
        cluster: stepship-demo
        service: web
        container: web
      - name: staging
        branches: ["release/*", develop]
        cluster: stepship-staging
        service: web
        container: web
  - name: worker
    repository: {provider: gitlab, name: acme/platform/worker}
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/worker
    build: {mode: prebuilt}
    environments:
      - name: production
        tags: ["v[0-9]*.*.*"]
        cluster: stepship-demo
        service: worker
        container: app
`

func TestLoadExampleCatalog(t *testing.T) {
	c, err := Load("../../catalog.yaml")
	if err != nil {
		t.Fatalf("Load(catalog.yaml): %v", err)
	}
	got := c.Match(git.GitHub, "acme/web", "refs/heads/main")
	want := []Target{{
		Service:     "web",
		Environment: "production",
		Repository:  Repository{Provider: git.GitHub, Name: "acme/web"},
		Image: Image{URI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web", RegistryID: "123456789012",
			Region: "us-east-1", Repository: "web"},
		Build:      Build{Mode: BuildCodeBuild, Project: "web-build"},
		Cluster:    "stepship-demo",
		ECSService: "web",
		Container:  "web",
	}}
	// The example also backs web/production up and drills it (docs/backups.md).
	if len(got) == 1 {
		if got[0].Database == nil || got[0].Backup == nil || got[0].Drill == nil || got[0].Database.Identifier() == "" {
			t.Errorf("web/production lost its database, backup or drill: %+v", got[0])
		}
		got[0].Database, got[0].Backup, got[0].Drill = nil, nil, nil
		got[0].Migrations, got[0].Verify = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Match = %+v, want %+v", got, want)
	}
}

func TestMatch(t *testing.T) {
	c, err := Parse([]byte(valid))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct {
		name                string
		provider            git.Provider
		repo, ref           string
		want                []string // service/environment
		wantKnownRepository bool
	}{
		{"branch main", "github", "acme/web", "refs/heads/main", []string{"web/production"}, true},
		{"repository name is case-insensitive", "github", "Acme/Web", "refs/heads/main", []string{"web/production"}, true},
		{"glob over a slash-separated branch", "github", "acme/web", "refs/heads/release/1.2", []string{"web/staging"}, true},
		{"star does not cross a slash", "github", "acme/web", "refs/heads/release/1.2/hotfix", nil, true},
		{"second branch", "github", "acme/web", "refs/heads/develop", []string{"web/staging"}, true},
		{"tag pattern", "github", "acme/web", "refs/tags/v1.2.3", []string{"web/production"}, true},
		{"branch pattern never matches a tag", "github", "acme/web", "refs/tags/main", nil, true},
		{"tag pattern never matches a branch", "github", "acme/web", "refs/heads/v1.2.3", nil, true},
		{"unmatched branch", "github", "acme/web", "refs/heads/feature/x", nil, true},
		{"same name on another provider", "gitlab", "acme/web", "refs/heads/main", nil, false},
		{"unknown repository", "github", "acme/other", "refs/heads/main", nil, false},
		{"nested gitlab group, tag with class", "gitlab", "acme/platform/worker", "refs/tags/v2.0.1", []string{"worker/production"}, true},
		{"class rejects", "gitlab", "acme/platform/worker", "refs/tags/vX.0.1", nil, true},
		{"other ref namespace", "github", "acme/web", "refs/pull/1/head", nil, true},
		{"bare branch prefix", "github", "acme/web", "refs/heads/", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tg := range c.Match(tt.provider, tt.repo, tt.ref) {
				got = append(got, tg.Service+"/"+tg.Environment)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Match(%s, %s, %s) = %v, want %v", tt.provider, tt.repo, tt.ref, got, tt.want)
			}
			if k := c.HasRepository(tt.provider, tt.repo); k != tt.wantKnownRepository {
				t.Errorf("HasRepository = %v, want %v", k, tt.wantKnownRepository)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"missing cluster", func(s string) string {
			return strings.Replace(s, "        cluster: stepship-demo\n        service: web\n", "        service: web\n", 1)
		}, "catalog: services[web].environments[production].cluster: required"},
		{"unknown field names its entry", func(s string) string {
			return strings.Replace(s, "        container: web\n      - name: staging", "        container: web\n        healthCheck: /healthz\n      - name: staging", 1)
		}, `catalog: services[web].environments[production]: unknown field "healthCheck" (line 15)`},
		{"unknown top-level field", func(s string) string { return s + "backups: {}\n" }, `catalog: unknown field "backups"`},
		{"unknown build field", func(s string) string {
			return strings.Replace(s, "{mode: prebuilt}", "{mode: prebuilt, buildspec: x}", 1)
		}, `catalog: services[worker].build: unknown field "buildspec"`},
		{"service without repository provider", func(s string) string {
			return strings.Replace(s, "{provider: github, name: acme/web}", "{name: acme/web}", 1)
		}, "catalog: services[web].repository.provider: required"},
		{"service without repository name", func(s string) string {
			return strings.Replace(s, "{provider: github, name: acme/web}", "{provider: github}", 1)
		}, "catalog: services[web].repository.name: required"},
		{"service without image", func(s string) string {
			return strings.Replace(s, "    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web\n", "", 1)
		}, "catalog: services[web].image: required"},
		{"service without build mode", func(s string) string { return strings.Replace(s, "{mode: prebuilt}", "{}", 1) }, "catalog: services[worker].build.mode: required (codebuild or prebuilt)"},
		{"codebuild project not a project name", func(s string) string { return strings.Replace(s, "project: web-build", "project: web/build", 1) }, "catalog: services[web].build.project: must be a CodeBuild project name"},
		{"service without environments", func(s string) string {
			return s[:strings.Index(s, "    environments:\n      - name: production\n        tags")] + "    environments: []\n"
		}, "catalog: services[worker].environments: at least one environment is required"},
		{"unnamed environment is named by index", func(s string) string { return strings.Replace(s, "      - name: staging\n", "      - name: \"\"\n", 1) }, "catalog: services[web].environments[1].name: required"},
		{"bad environment name", func(s string) string {
			return strings.Replace(s, "      - name: staging\n", "      - name: Staging\n", 1)
		}, "catalog: services[web].environments[Staging].name: must be 1-40 lower-case"},
		{"bad cluster", func(s string) string {
			return strings.Replace(s, "cluster: stepship-staging", "cluster: \"stepship staging\"", 1)
		}, "catalog: services[web].environments[staging].cluster: must be an ECS cluster name or ARN"},
		{"bad ECS service", func(s string) string { return strings.Replace(s, "service: worker", "service: \"worker!\"", 1) }, "catalog: services[worker].environments[production].service: must be an ECS service name or ARN"},
		{"empty pattern", func(s string) string { return strings.Replace(s, "branches: [main]", `branches: [""]`, 1) }, "catalog: services[web].environments[production].branches[0]: empty pattern"},
		// An alias is checked where it is used, and its element named by
		// the aliased mapping's name: a service's mapping reused as an
		// environment has fields an environment does not.
		{"unknown field behind an alias", func(s string) string {
			s = strings.Replace(s, "  - name: web\n", "  - &web\n    name: web\n", 1)
			return strings.Replace(s, "      - name: production\n        tags:", "      - *web\n      - name: production\n        tags:", 1)
		}, `catalog: services[worker].environments[web]: unknown field "repository" (line 6)`},
		// A key is what it reads as: an alias or a tagged key decodes to
		// something else, which the decoder would drop unseen.
		{"an alias as a key", func(s string) string {
			s = strings.Replace(s, "branches: [main]", "branches: [main, &tags verify]", 1)
			return strings.Replace(s, "        container: web\n      - name: staging", "        container: web\n        *tags : {junk: 1}\n      - name: staging", 1)
		}, `catalog: services[web].environments[production]: a key must be a plain string, not an alias (*tags) (line 15)`},
		{"a binary key", func(s string) string {
			return strings.Replace(s, "        container: web\n      - name: staging", "        container: web\n        !!binary dGFncw==: {anything: 1}\n      - name: staging", 1)
		}, `catalog: services[web].environments[production]: a key must be a plain string, not "dGFncw==" tagged !!binary (line 15)`},
		{"a merge key", func(s string) string {
			return strings.Replace(s, "        container: web\n      - name: staging", "        container: web\n        <<: {cluster: x}\n      - name: staging", 1)
		}, `catalog: services[web].environments[production]: unknown field "<<" (line 15)`},
		{"an unknown field, then a second document", func(s string) string { return s + "bogus: 1\n---\nversion: 1\n" }, `catalog: unknown field "bogus"`},
		{"a second document", func(s string) string { return s + "---\nversion: 1\n" }, `catalog: more than one YAML document`},
		{"wrong version", func(s string) string { return strings.Replace(s, "version: 1", "version: 2", 1) }, "catalog: version: must be 1"},
		{"no services", func(string) string { return "version: 1\nservices: []\n" }, "catalog: services: at least one service is required"},
		{"bad provider", func(s string) string { return strings.Replace(s, "provider: github", "provider: gitea", 1) }, `catalog: services[web].repository.provider: must be one of github, gitlab, bitbucket, not "gitea"`},
		{"repository with host", func(s string) string {
			return strings.Replace(s, "name: acme/web}", "name: https://example.com/acme/web.git}", 1)
		}, "catalog: services[web].repository.name: must be the full name"},
		{"repository without owner", func(s string) string { return strings.Replace(s, "name: acme/web}", "name: web}", 1) }, "catalog: services[web].repository.name: must be the full name"},
		{"image with tag", func(s string) string {
			return strings.Replace(s, "amazonaws.com/web\n", "amazonaws.com/web:latest\n", 1)
		}, "catalog: services[web].image: repository name \"web:latest\" must be lower-case path components"},
		{"image outside ECR", func(s string) string {
			return strings.Replace(s, "123456789012.dkr.ecr.us-east-1.amazonaws.com/web\n", "ghcr.io/acme/web\n", 1)
		}, "catalog: services[web].image: must be an ECR repository URI without tag"},
		{"image with digest", func(s string) string {
			return strings.Replace(s, "amazonaws.com/web\n", "amazonaws.com/web@sha256:abc\n", 1)
		}, "catalog: services[web].image: must be an image repository without digest"},
		{"codebuild without project", func(s string) string {
			return strings.Replace(s, "{mode: codebuild, project: web-build}", "{mode: codebuild}", 1)
		}, "catalog: services[web].build.project: required when build.mode is codebuild"},
		{"prebuilt with project", func(s string) string {
			return strings.Replace(s, "{mode: prebuilt}", "{mode: prebuilt, project: x1}", 1)
		}, "catalog: services[worker].build.project: not allowed when build.mode is prebuilt"},
		{"bad build mode", func(s string) string { return strings.Replace(s, "{mode: prebuilt}", "{mode: docker}", 1) }, `catalog: services[worker].build.mode: must be codebuild or prebuilt, not "docker"`},
		{"bad pattern", func(s string) string {
			return strings.Replace(s, `["release/*", develop]`, `["release/[", develop]`, 1)
		}, "catalog: services[web].environments[staging].branches[0]: invalid pattern"},
		{"full ref as pattern", func(s string) string { return strings.Replace(s, "branches: [main]", "branches: [refs/heads/main]", 1) }, "catalog: services[web].environments[production].branches[0]: give the branch or tag name without refs/heads/"},
		{"no patterns", func(s string) string {
			return strings.Replace(s, "        tags: [\"v[0-9]*.*.*\"]\n", "", 1)
		}, "catalog: services[worker].environments[production].branches: at least one branch or tag pattern is required"},
		{"duplicate service", func(s string) string { return strings.Replace(s, "name: worker", "name: web", 1) }, "catalog: services[web].name: duplicate service name"},
		{"duplicate environment", func(s string) string { return strings.Replace(s, "name: staging", "name: production", 1) }, "catalog: services[web].environments[production].name: duplicate environment name"},
		{"bad service name", func(s string) string { return strings.Replace(s, "name: web\n", "name: Web_1\n", 1) }, "catalog: services[Web_1].name: must be 1-40 lower-case"},
		{"unnamed service is named by index", func(s string) string { return strings.Replace(s, "  - name: web\n", "  - name: \"\"\n", 1) }, "catalog: services[0].name: required"},
		{"bad container", func(s string) string { return strings.Replace(s, "container: app", "container: \"a b\"", 1) }, "catalog: services[worker].environments[production].container: must be a container name"},
		{"wrong type", func(s string) string { return strings.Replace(s, "branches: [main]", "branches: main", 1) }, "catalog: failed to decode: yaml: unmarshal errors"},
		{"two documents", func(s string) string { return s + "---\nversion: 1\n" }, "catalog: more than one YAML document"},
		{"empty", func(string) string { return "" }, "catalog: empty document"},
		{"not yaml", func(string) string { return "services: [" }, "catalog: failed to parse YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.edit(valid)))
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(valid, "        container: app\n", "", 1)))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *catalog.Error", err)
	}
	if ce.Path != "services[worker].environments[production].container" || ce.Problem != "required" {
		t.Errorf("got %+v", ce)
	}
}

func TestNilCatalogMatchesNothing(t *testing.T) {
	var c *Catalog
	if got := c.Match("github", "acme/web", "refs/heads/main"); got != nil {
		t.Errorf("Match on nil = %v", got)
	}
	if c.HasRepository("github", "acme/web") {
		t.Error("HasRepository on nil = true")
	}
}

func TestImageAt(t *testing.T) {
	img, err := ParseImage("123456789012.dkr.ecr.us-east-1.amazonaws.com/web")
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if got, want := img.At(digest), "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@"+digest; got != want {
		t.Errorf("At = %q, want %q", got, want)
	}
}

// FuzzParse: any input either loads into a catalog whose every environment
// has a pattern and an ECS location, or fails with an error; never a panic.
// And nothing Parse accepts has a field the decoder would drop: yaml.v3's
// own strict decoder (KnownFields) decodes it too, so checkFields misses no
// unknown field (an alias or a tagged key once slipped past it).
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("version: 1\nservices:\n  - name: a\n    environments: [{}]\n"))
	f.Add([]byte("a: &x [*x]"))
	f.Add([]byte(strings.Replace(strings.Replace(valid, "branches: [main]", "branches: [main, &tags verify]", 1),
		"        container: web\n      - name: staging", "        container: web\n        *tags : {junk: 1}\n      - name: staging", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var strict Catalog
		if err := dec.Decode(&strict); err != nil {
			t.Fatalf("accepted what the strict decoder refuses: %v", err)
		}
		for _, s := range c.Services {
			for _, e := range s.Environments {
				if e.Cluster == "" || e.Service == "" || e.Container == "" || len(e.Branches)+len(e.Tags) == 0 {
					t.Fatalf("accepted an incomplete environment: %+v", e)
				}
			}
		}
	})
}

func TestParseImage(t *testing.T) {
	tests := []struct {
		name, uri string
		want      Image
		wantErr   string
	}{
		{name: "commercial", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web",
			want: Image{URI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web", RegistryID: "123456789012", Region: "us-east-1", Repository: "web"}},
		{name: "namespaced repository", uri: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web-api",
			want: Image{URI: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web-api", RegistryID: "123456789012", Region: "eu-west-1", Repository: "team/web-api"}},
		{name: "china", uri: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/web",
			want: Image{URI: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/web", RegistryID: "123456789012", Region: "cn-north-1", Repository: "web"}},
		{name: "fips", uri: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/web",
			want: Image{URI: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/web", RegistryID: "123456789012", Region: "us-gov-west-1", Repository: "web"}},
		{name: "another registry", uri: "ghcr.io/acme/web", wantErr: "must be an ECR repository URI"},
		{name: "docker hub", uri: "acme/web", wantErr: "must be an ECR repository URI"},
		{name: "no repository", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/", wantErr: "must be an ECR repository URI"},
		{name: "host only", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com", wantErr: "must be an ECR repository URI"},
		{name: "short account", uri: "12345.dkr.ecr.us-east-1.amazonaws.com/web", wantErr: "must be an ECR repository URI"},
		{name: "lookalike host", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/web", wantErr: "must be an ECR repository URI"},
		{name: "tag", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest", wantErr: `repository name "web:latest"`},
		{name: "upper case", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/Web", wantErr: `repository name "Web"`},
		{name: "empty path component", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/team//web", wantErr: "repository name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseImage(tt.uri)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseImage(%q) = %+v, %v; want an error containing %q", tt.uri, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseImage(%q) = %+v, %v; want %+v", tt.uri, got, err, tt.want)
			}
		})
	}
}

func TestRolesValidation(t *testing.T) {
	withRoles := func(roles string) string {
		return strings.Replace(valid, "        container: app\n", "        container: app\n        roles: "+roles+"\n", 1)
	}
	const at = "catalog: services[worker].environments[production].roles"
	tests := []struct {
		name, roles, wantErr string
	}{
		{"exact role", `["arn:aws:iam::123456789012:role/worker-task"]`, ""},
		{"path and prefix", `["arn:aws:iam::123456789012:role/stepship/worker-*"]`, ""},
		{"gov cloud partition", `["arn:aws-us-gov:iam::123456789012:role/worker"]`, ""},
		{"every role", `["*"]`, at + "[0]: must be an IAM role ARN"},
		{"every role of an account", `["arn:aws:iam::123456789012:role/*"]`, at + "[0]: must be an IAM role ARN"},
		{"a user", `["arn:aws:iam::123456789012:user/alice"]`, at + "[0]: must be an IAM role ARN"},
		{"star inside", `["arn:aws:iam::123456789012:role/*-task"]`, at + "[0]: must be an IAM role ARN"},
		{"second entry named", `["arn:aws:iam::123456789012:role/a", "worker-task"]`, at + "[1]: must be an IAM role ARN"},
		{"account prefix", `["arn:aws:iam::12345*"]`, at + "[0]: must be an IAM role ARN"},
		{"every role under a path", `["arn:aws:iam::123456789012:role/service-role/*"]`, at + "[0]: must be an IAM role ARN"},
		{"a one-letter prefix", `["arn:aws:iam::123456789012:role/a*"]`, at + "[0]: must be an IAM role ARN"},
		{"a two-letter prefix", `["arn:aws:iam::123456789012:role/ab*"]`, at + "[0]: must be an IAM role ARN"},
		{"a three-letter prefix", `["arn:aws:iam::123456789012:role/abc*"]`, ""},
		{"an empty path step", `["arn:aws:iam::123456789012:role//*"]`, at + "[0]: must be an IAM role ARN"},
		{"a path without a name", `["arn:aws:iam::123456789012:role/stepship/"]`, at + "[0]: must be an IAM role ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(withRoles(tt.roles)))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
			}
		})
	}
}

func TestRoleAllowed(t *testing.T) {
	roles := []string{"arn:aws:iam::123456789012:role/web-task", "arn:aws:iam::123456789012:role/stepship/web-*"}
	tests := []struct {
		name, arn string
		want      bool
	}{
		{"exact", "arn:aws:iam::123456789012:role/web-task", true},
		{"under a prefix", "arn:aws:iam::123456789012:role/stepship/web-execution", true},
		{"the prefix itself", "arn:aws:iam::123456789012:role/stepship/web-", true},
		{"exact is not a prefix", "arn:aws:iam::123456789012:role/web-task-admin", false},
		{"another account", "arn:aws:iam::210987654321:role/web-task", false},
		{"outside the prefix", "arn:aws:iam::123456789012:role/stepship/api-task", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RoleAllowed(roles, tt.arn); got != tt.want {
				t.Errorf("RoleAllowed(%q) = %v, want %v", tt.arn, got, tt.want)
			}
		})
	}
	if RoleAllowed(nil, "arn:aws:iam::123456789012:role/web-task") {
		t.Error("no roles listed allowed a role")
	}
}

func TestResolve(t *testing.T) {
	c, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, service, env string
		wantCluster        string
		wantErr            *NotFoundError
		wantText           string
	}{
		{name: "web production", service: "web", env: "production", wantCluster: "stepship-demo"},
		{name: "web staging", service: "web", env: "staging", wantCluster: "stepship-staging"},
		{name: "worker", service: "worker", env: "production", wantCluster: "stepship-demo"},
		{name: "unknown service", service: "api", env: "production", wantErr: &NotFoundError{Service: "api"}, wantText: `service "api" is not in the catalog`},
		{name: "unknown environment", service: "worker", env: "staging", wantErr: &NotFoundError{Service: "worker", Environment: "staging"}, wantText: `service "worker" has no environment "staging" in the catalog`},
		{name: "names are exact", service: "Web", env: "production", wantErr: &NotFoundError{Service: "Web"}, wantText: `service "Web" is not in the catalog`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Resolve(tt.service, tt.env)
			if tt.wantErr != nil {
				var nf *NotFoundError
				if !errors.As(err, &nf) || *nf != *tt.wantErr || err.Error() != tt.wantText {
					t.Fatalf("Resolve = %v, want %#v (%q)", err, tt.wantErr, tt.wantText)
				}
				return
			}
			if err != nil || got.Service != tt.service || got.Environment != tt.env || got.Cluster != tt.wantCluster {
				t.Errorf("Resolve = %+v, %v", got, err)
			}
		})
	}
	var nilCat *Catalog
	if _, err := nilCat.Resolve("web", "production"); err == nil {
		t.Error("a nil catalog resolved a target")
	}
}

func TestTargetsAgreeWithResolve(t *testing.T) {
	c, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range c.Targets() {
		got = append(got, tg.Service+"/"+tg.Environment)
		r, err := c.Resolve(tg.Service, tg.Environment)
		if err != nil || !reflect.DeepEqual(r, tg) {
			t.Errorf("Resolve(%s, %s) = %+v, %v; Targets has %+v", tg.Service, tg.Environment, r, err, tg)
		}
	}
	if want := []string{"web/production", "web/staging", "worker/production"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Targets = %v, want %v", got, want)
	}
	if (*Catalog)(nil).Targets() != nil {
		t.Error("a nil catalog has targets")
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

// The target's JSON is what the state machines' paths read ($.target.image.uri,
// $.target.build.mode, …): golden, so a renamed field shows up here.
func TestTargetJSONGolden(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(valid, "        container: app\n",
		"        container: app\n        roles: [\"arn:aws:iam::123456789012:role/worker-*\"]\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(c.Targets(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "targets.golden.json"), append(got, '\n'), *update)
}

// TestCatalogTypesAreCheckable holds the catalog's types to what checkFields
// walks, since Parse refuses unknown fields through it alone: structs whose
// fields all have a yaml name, pointers, slices and scalars; no map,
// interface, embedded or inline field, and no type of its own YAML decoding.
func TestCatalogTypesAreCheckable(t *testing.T) {
	unmarshaler := reflect.TypeFor[interface{ UnmarshalYAML(*yaml.Node) error }]()
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, at string)
	walk = func(typ reflect.Type, at string) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if typ.Implements(unmarshaler) || reflect.PointerTo(typ).Implements(unmarshaler) {
			t.Errorf("%s (%s) decodes itself: checkFields cannot see its fields", at, typ)
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice:
			walk(typ.Elem(), at+"[]")
		case reflect.Struct:
			for f := range typ.Fields() {
				name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				switch {
				case f.Anonymous || strings.Contains(opts, "inline"):
					t.Errorf("%s.%s is embedded or inline", at, f.Name)
				case name == "-" || !f.IsExported():
				case name == "":
					t.Errorf("%s.%s has no yaml name", at, f.Name)
				default:
					walk(f.Type, at+"."+name)
				}
			}
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		default:
			t.Errorf("%s is a %s, which checkFields does not walk", at, typ.Kind())
		}
	}
	walk(reflect.TypeFor[Catalog](), "catalog")
}

// BenchmarkLoad reads the example catalog (catalog.yaml) as every function
// does at start:
//
//	go test -run '^$' -bench Load -benchmem ./shared/catalog/
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load("../../catalog.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

// A catalog whose aliases nest (300 services, each an alias of one whose
// 300 environments alias one with 300 aliased branches) is refused by the
// decoder, and checkFields walks each of its nodes once per type, not once
// per path: before, the walk took 14 s for these 8 KB, minutes for a
// little more, past Lambda's 10 s init. The walk is counted on a smaller
// one first (30 of each: 27,000 paths, walked in no time even path by path).
func TestNestedAliasesAreWalkedOnce(t *testing.T) {
	nested := func(k int) string {
		var b strings.Builder
		b.WriteString("version: 1\nservices:\n  - &svc\n    name: web\n    repository: {provider: github, name: acme/web}\n" +
			"    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web\n    build: {mode: prebuilt}\n    environments:\n" +
			"      - &env\n        name: production\n        cluster: c\n        service: s\n        container: c\n        branches: [&br main")
		b.WriteString(strings.Repeat(", *br", k) + "]\n" + strings.Repeat("      - *env\n", k) + strings.Repeat("  - *svc\n", k))
		return b.String()
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(nested(30)), &root); err != nil {
		t.Fatal(err)
	}
	var nodes func(n *yaml.Node) int // without following aliases
	nodes = func(n *yaml.Node) int {
		c := 1
		for _, k := range n.Content {
			c += nodes(k)
		}
		return c
	}
	seen := map[checked]int{}
	if err := checkFields(root.Content[0], reflect.TypeFor[Catalog](), "", seen); err != nil {
		t.Fatal(err)
	}
	calls := 0
	for at, c := range seen {
		if c < 1 {
			t.Fatalf("seen[%v] = %d: a node reached is counted at least once", at, c)
		}
		calls += c
	}
	if n := nodes(&root); calls > n {
		t.Fatalf("checkFields was called %d times, the document has %d nodes", calls, n)
	}
	if _, err := Parse([]byte(nested(300))); err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("Parse: %v, want the decoder's excessive aliasing", err)
	}
}
