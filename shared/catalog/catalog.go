// Package catalog loads and validates stepship's service catalog: the one YAML
// file that says which repository and which branches or tags deploy which
// services to which environments.
//
// The file is decoded strictly: an unknown field is an error, so a typo (or a
// field of a later version) never silently does nothing. Every mistake is
// reported with the path of the entry and the field, for example
//
//	catalog: services[web].environments[production].cluster: required
//
// The format is documented in docs/catalog.md.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stepship/stepship/shared/git"
)

// Version is the catalog format version this package reads.
const Version = 1

// BuildMode says how the image of a pushed commit comes to exist.
type BuildMode string

// Build modes.
const (
	// BuildCodeBuild builds the pushed commit with a CodeBuild project before
	// deploying it.
	BuildCodeBuild BuildMode = "codebuild"
	// BuildPrebuilt deploys an image built elsewhere; the pipeline checks that
	// the tag exists before deploying.
	BuildPrebuilt BuildMode = "prebuilt"
)

// Catalog is a loaded and validated service catalog. Its zero value matches
// nothing.
type Catalog struct {
	Version  int       `yaml:"version"`
	Services []Service `yaml:"services"`
}

// Service is one deployable service, built from one repository.
type Service struct {
	// Name identifies the service in executions and logs: lower-case letters,
	// digits and '-', at most 40 characters.
	Name       string     `yaml:"name"`
	Repository Repository `yaml:"repository"`
	// Image is the image repository, without tag or digest; the deployed image
	// is Image + ":" + the commit SHA.
	Image        string        `yaml:"image"`
	Build        Build         `yaml:"build"`
	Environments []Environment `yaml:"environments"`
}

// Repository identifies a repository independently of the host's address:
// the provider and the repository's full name.
type Repository struct {
	// Provider is one of github, gitlab, bitbucket.
	Provider git.Provider `yaml:"provider" json:"provider"`
	// Name is the full name as the host writes it: "owner/repo" on GitHub and
	// Bitbucket Cloud ("workspace/repo"), "group/subgroup/project" on GitLab,
	// "PROJECTKEY/repo-slug" on Bitbucket Data Center. Compared
	// case-insensitively.
	Name string `yaml:"name" json:"name"`
}

// Build says how the image of a pushed commit comes to exist.
type Build struct {
	// Mode is codebuild or prebuilt.
	Mode BuildMode `yaml:"mode" json:"mode"`
	// Project is the CodeBuild project (codebuild mode only, required there).
	Project string `yaml:"project,omitempty" json:"project,omitempty"`
}

// Environment is one place a service is deployed to, and the refs that
// deploy it.
type Environment struct {
	// Name identifies the environment: same alphabet as Service.Name.
	Name string `yaml:"name"`
	// Branches and Tags are patterns (path.Match syntax) matched against the
	// branch or tag name without its refs/heads/ or refs/tags/ prefix. At least
	// one of them must be given.
	Branches []string `yaml:"branches,omitempty"`
	Tags     []string `yaml:"tags,omitempty"`
	// Cluster, Service and Container locate what is deployed on ECS.
	Cluster   string `yaml:"cluster"`
	Service   string `yaml:"service"`
	Container string `yaml:"container"`
	// Roles are the IAM roles (ARNs; a trailing '*' makes one a prefix) the
	// service's task definition may name as its task and execution roles.
	// The deploy function may pass exactly these to ECS, and refuses a task
	// definition whose roles are not among them (RoleNotAllowed).
	Roles []string `yaml:"roles,omitempty"`
	// Database is the environment's database (optional): what backup
	// snapshots and the drill restores.
	Database *Database `yaml:"database,omitempty"`
	// Backup schedules snapshots of Database and their copies to another
	// region (optional; requires database).
	Backup *Backup `yaml:"backup,omitempty"`
	// Drill schedules restores of the newest DR copy that prove it works
	// (optional; requires backup).
	Drill *Drill `yaml:"drill,omitempty"`
	// Migrations says how a release's database migrations run (optional:
	// none when absent).
	Migrations *Migrations `yaml:"migrations,omitempty"`
	// Verify says how a release is proven healthy (rollout timeout, health
	// check, bake and alarms); defaults apply when absent.
	Verify *Verify `yaml:"verify,omitempty"`
}

// Target is one deploy: a service in one environment, with everything the
// pipeline needs to know about it, resolved from the catalog and never from
// an execution's input. The JSON names are what the state machines' paths
// refer to ($.target.build.mode, $.target.image.repository, …).
type Target struct {
	Service     string      `json:"service"`
	Environment string      `json:"environment"`
	Repository  Repository  `json:"repository"`
	Image       Image       `json:"image"`
	Build       Build       `json:"build"`
	Cluster     string      `json:"cluster"`
	ECSService  string      `json:"ecsService"`
	Container   string      `json:"container"`
	Roles       []string    `json:"roles,omitempty"`
	Database    *Database   `json:"database,omitempty"`
	Backup      *Backup     `json:"backup,omitempty"`
	Drill       *Drill      `json:"drill,omitempty"`
	Migrations  *Migrations `json:"migrations,omitempty"`
	Verify      *Verify     `json:"verify"`
}

// Image is an ECR image repository, parsed from the catalog's image URI.
type Image struct {
	// URI is the repository URI without tag or digest, as the catalog gives it.
	URI string `json:"uri"`
	// RegistryID is the AWS account that owns the registry.
	RegistryID string `json:"registryId"`
	// Region is the registry's region.
	Region string `json:"region"`
	// Repository is the repository name inside the registry ("team/web").
	Repository string `json:"repository"`
}

// At returns the reference of the image with the given digest
// ("sha256:…"): the only form stepship deploys, since a tag can move.
func (i Image) At(digest string) string { return i.URI + "@" + digest }

// ecrHostRE matches an ECR registry host: ACCOUNT.dkr.ecr.REGION.amazonaws.com
// (or .amazonaws.com.cn), optionally with -fips.
var ecrHostRE = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// ParseImage parses an ECR repository URI without tag or digest.
func ParseImage(uri string) (Image, error) {
	host, name, ok := strings.Cut(uri, "/")
	m := ecrHostRE.FindStringSubmatch(host)
	if !ok || m == nil || name == "" {
		return Image{}, errors.New("must be an ECR repository URI without tag, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/web (other registries are not supported: stepship checks and deploys images by their ECR digest)")
	}
	if !repoNameRE.MatchString(name) {
		return Image{}, fmt.Errorf("repository name %q must be lower-case path components (letters, digits, '.', '_', '-')", name)
	}
	return Image{URI: uri, RegistryID: m[1], Region: m[3], Repository: name}, nil
}

// NotFoundError says that a deploy names a service or environment the
// catalog does not have.
type NotFoundError struct {
	Service, Environment string
}

func (e *NotFoundError) Error() string {
	if e.Environment == "" {
		return fmt.Sprintf("service %q is not in the catalog", e.Service)
	}
	return fmt.Sprintf("service %q has no environment %q in the catalog", e.Service, e.Environment)
}

// Resolve returns the target of a service in an environment, or a
// *NotFoundError.
func (c *Catalog) Resolve(service, environment string) (Target, error) {
	if c != nil {
		for i := range c.Services {
			s := &c.Services[i]
			if s.Name != service {
				continue
			}
			for j := range s.Environments {
				if e := &s.Environments[j]; e.Name == environment {
					return s.target(e), nil
				}
			}
			return Target{}, &NotFoundError{Service: service, Environment: environment}
		}
	}
	return Target{}, &NotFoundError{Service: service}
}

// Targets returns every service and environment of the catalog, in order.
func (c *Catalog) Targets() []Target {
	if c == nil {
		return nil
	}
	var out []Target
	for i := range c.Services {
		s := &c.Services[i]
		for j := range s.Environments {
			out = append(out, s.target(&s.Environments[j]))
		}
	}
	return out
}

// target assumes a validated catalog: the image parses.
func (s *Service) target(e *Environment) Target {
	img, _ := ParseImage(s.Image)
	return Target{
		Service:     s.Name,
		Environment: e.Name,
		Repository:  s.Repository,
		Image:       img,
		Build:       s.Build,
		Cluster:     e.Cluster,
		ECSService:  e.Service,
		Container:   e.Container,
		Roles:       e.Roles,
		Database:    e.Database,
		Backup:      e.Backup,
		Drill:       e.Drill,
		Migrations:  e.Migrations,
		Verify:      e.Verify,
	}
}

// rolePrefixNamesARole reports whether a role ARN, when it is a prefix (ends
// in '*'), names at least the first minRolePrefix characters of a role name
// after its path: "role/web-*" does, "role/service-role/*" and "role/a*" do not.
func rolePrefixNamesARole(arn string) bool {
	prefix, isPrefix := strings.CutSuffix(arn, "*")
	if !isPrefix {
		return !strings.HasSuffix(arn, "/")
	}
	return len(prefix[strings.LastIndex(prefix, "/")+1:]) >= minRolePrefix
}

// minRolePrefix is the shortest role-name prefix a catalog may grant.
const minRolePrefix = 3

// RoleAllowed reports whether the role ARN is one of roles, or starts with
// one that ends in '*'.
func RoleAllowed(roles []string, arn string) bool {
	for _, r := range roles {
		if prefix, ok := strings.CutSuffix(r, "*"); ok && strings.HasPrefix(arn, prefix) || r == arn {
			return true
		}
	}
	return false
}

// Error is a catalog mistake: where it is and what is wrong.
type Error struct {
	// Path names the entry and field, e.g. "services[web].build.project".
	Path string
	// Problem says what is wrong, e.g. "required".
	Problem string
	// Line is the line in the file when known, else 0.
	Line int
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("catalog: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// Load reads and validates the catalog file at name.
func Load(name string) (*Catalog, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("catalog: failed to read %s: %w", name, err)
	}
	return Parse(data)
}

// Parse decodes and validates a catalog document. Errors are *Error values
// naming the entry and the field, or wrap the YAML decoder's error.
func Parse(data []byte) (*Catalog, error) {
	// The YAML is parsed once, into nodes, and decoded from them: parsing is
	// most of a function's catalog read at start (BenchmarkLoad).
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return nil, &Error{Problem: "empty document"}
	} else if err != nil {
		return nil, fmt.Errorf("catalog: failed to parse YAML: %w", err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{Problem: "empty document"}
	}
	// Unknown fields are refused here, by path (Node.Decode has no
	// KnownFields): checkFields sees every key, since the catalog's types
	// are structs, pointers and slices only (TestCatalogTypesAreCheckable)
	// and a key must be a plain string.
	if err := checkFields(root.Content[0], reflect.TypeFor[Catalog](), "", map[checked]int{}); err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{Problem: "more than one YAML document"}
	}
	var c Catalog
	if err := root.Decode(&c); err != nil {
		return nil, fmt.Errorf("catalog: failed to decode: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// checked is a node checked against a type: an alias makes one node appear
// in many places, and each is checked once.
type checked struct {
	n *yaml.Node
	t reflect.Type
}

// checkFields walks a YAML node alongside the Go type it decodes into and
// reports the first mapping key that is not a plain string (an alias, a
// tagged or complex key: what it decodes to is not what it reads as) or has
// no field, with its path. It ends, even on self-referencing aliases (each
// step descends the Go type, which does not nest itself), and in time
// linear in the document however its aliases nest: seen counts the times
// each node and type was reached, and each is walked the first time only.
func checkFields(n *yaml.Node, t reflect.Type, at string, seen map[checked]int) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if seen[checked{n, t}]++; seen[checked{n, t}] > 1 {
		return nil
	}
	if n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct {
		for kv := range slices.Chunk(n.Content, 2) { // key, value
			key := kv[0]
			if key.Kind != yaml.ScalarNode || (key.ShortTag() != "!!str" && key.ShortTag() != "!!merge") {
				return &Error{Path: at, Problem: "a key must be a plain string, not " + describeKey(key), Line: key.Line}
			}
			f, ok := fieldByTag(t, key.Value)
			if !ok {
				return &Error{Path: at, Problem: fmt.Sprintf("unknown field %q", key.Value), Line: key.Line}
			}
			if err := checkFields(kv[1], f.Type, join(at, key.Value), seen); err != nil {
				return err
			}
		}
	} else if n.Kind == yaml.ScalarNode && n.Tag != "!!null" && t.Kind() == reflect.Struct {
		// e.g. backupAccount: "210987654321", its form before it had fields
		var fields []string
		for i := range t.NumField() {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
				fields = append(fields, name)
			}
		}
		return &Error{Path: at, Problem: "must be a mapping with the fields " + strings.Join(fields, ", ") + ", not " + strconv.Quote(n.Value), Line: n.Line}
	} else if n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice {
		for i, el := range n.Content {
			if err := checkFields(el, t.Elem(), fmt.Sprintf("%s[%s]", at, label(el, i)), seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// describeKey names a mapping key that is not a plain string.
func describeKey(k *yaml.Node) string {
	switch k.Kind {
	case yaml.AliasNode:
		return "an alias (*" + k.Value + ")"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q tagged %s", k.Value, k.ShortTag())
	}
	return "a list or a mapping"
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// label names a list element by its "name" field when it has one.
func label(el *yaml.Node, i int) string {
	for el.Kind == yaml.AliasNode && el.Alias != nil {
		el = el.Alias
	}
	if el.Kind == yaml.MappingNode {
		for kv := range slices.Chunk(el.Content, 2) { // key, value
			if kv[0].Value == "name" && kv[1].Kind == yaml.ScalarNode && kv[1].Value != "" {
				return kv[1].Value
			}
		}
	}
	return fmt.Sprint(i)
}

func join(at, field string) string {
	if at == "" {
		return field
	}
	return at + "." + field
}

// The patterns below spell no long counted repetition (x{1,255}): package
// regexp compiles x{m,n} into n copies of x, and compiling those at package
// init was most of every function's start beyond a hello-world one (README,
// Performance). Where a name has a length limit, the valid… function checks
// it beside a pattern with * or +, accepting exactly what the counted
// pattern did (the classes are ASCII, so a byte is a character;
// TestValidatorsMatchCountedPatterns compares them).
var (
	// nameRE: at most 40 characters (validName).
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	// ECS names: letters, digits, '-' and '_', up to 255 characters; cluster
	// and service may also be given as ARNs (validECSName).
	ecsNameRE = regexp.MustCompile(`^([A-Za-z0-9_-]+|arn:[A-Za-z0-9:/_.-]+)$`)
	// An ECR repository name: lower-case path components.
	repoNameRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	roleARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]*\*?$`)
	// codeBuildRE: at most 255 characters (validCodeBuildProject).
	codeBuildRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]+$`)
	repoSegmentsRE = regexp.MustCompile(`^[^/\s]+(/[^/\s]+)+$`)
)

// maxNameLen bounds service, environment and assertion names.
const maxNameLen = 40

// validName: 1-40 lower-case letters, digits or '-', starting and ending
// with a letter or digit.
func validName(s string) bool { return len(s) <= maxNameLen && nameRE.MatchString(s) }

// validECSName: 1-255 letters, digits, '-' or '_', or an ARN (of any length).
func validECSName(s string) bool {
	// A name matching the ARN branch has a ':', which the other lacks.
	return ecsNameRE.MatchString(s) && (len(s) <= 255 || strings.HasPrefix(s, "arn:"))
}

// validCodeBuildProject: 2-255 letters, digits, '-' or '_', starting with a
// letter or digit.
func validCodeBuildProject(s string) bool { return len(s) <= 255 && codeBuildRE.MatchString(s) }

func (c *Catalog) validate() error {
	if c.Version != Version {
		return &Error{Path: "version", Problem: fmt.Sprintf("must be %d", Version)}
	}
	if len(c.Services) == 0 {
		return &Error{Path: "services", Problem: "at least one service is required"}
	}
	seen := make(map[string]bool, len(c.Services))
	for i := range c.Services {
		s := &c.Services[i]
		at := fmt.Sprintf("services[%s]", labelOf(s.Name, i))
		if err := s.validate(at); err != nil {
			return err
		}
		if seen[s.Name] {
			return &Error{Path: at + ".name", Problem: "duplicate service name"}
		}
		seen[s.Name] = true
	}
	if n, first, conflict := c.migrationNetwork(); conflict != "" {
		problem := "must be the same as " + first
		if n == nil {
			problem = "is given, but " + first + " is not"
		}
		return &Error{Path: conflict, Problem: problem + ": stepship runs one migrate function, in one network, for every database with SQL migrations (give all of them the same network, or none)"}
	}
	return nil
}

func labelOf(name string, i int) string {
	if name == "" {
		return fmt.Sprint(i)
	}
	return name
}

func (s *Service) validate(at string) error {
	if s.Name == "" {
		return &Error{Path: at + ".name", Problem: "required"}
	}
	if !validName(s.Name) {
		return &Error{Path: at + ".name", Problem: "must be 1-40 lower-case letters, digits or '-', starting and ending with a letter or digit"}
	}
	if s.Repository.Provider == "" {
		return &Error{Path: at + ".repository.provider", Problem: "required"}
	}
	if !s.Repository.Provider.Valid() {
		return &Error{Path: at + ".repository.provider", Problem: fmt.Sprintf("must be one of github, gitlab, bitbucket, not %q", s.Repository.Provider)}
	}
	if s.Repository.Name == "" {
		return &Error{Path: at + ".repository.name", Problem: "required"}
	}
	if !repoSegmentsRE.MatchString(s.Repository.Name) || strings.HasSuffix(s.Repository.Name, ".git") || strings.Contains(s.Repository.Name, "://") {
		return &Error{Path: at + ".repository.name", Problem: "must be the full name, e.g. owner/repo, without host or .git"}
	}
	if s.Image == "" {
		return &Error{Path: at + ".image", Problem: "required"}
	}
	if strings.Contains(s.Image, "@") {
		return &Error{Path: at + ".image", Problem: "must be an image repository without digest (the commit SHA is the tag)"}
	}
	if _, err := ParseImage(s.Image); err != nil {
		return &Error{Path: at + ".image", Problem: err.Error()}
	}
	switch s.Build.Mode {
	case "":
		return &Error{Path: at + ".build.mode", Problem: "required (codebuild or prebuilt)"}
	case BuildCodeBuild:
		if s.Build.Project == "" {
			return &Error{Path: at + ".build.project", Problem: "required when build.mode is codebuild"}
		}
		if !validCodeBuildProject(s.Build.Project) {
			return &Error{Path: at + ".build.project", Problem: "must be a CodeBuild project name (2-255 letters, digits, '-' or '_')"}
		}
	case BuildPrebuilt:
		if s.Build.Project != "" {
			return &Error{Path: at + ".build.project", Problem: "not allowed when build.mode is prebuilt"}
		}
	default:
		return &Error{Path: at + ".build.mode", Problem: fmt.Sprintf("must be codebuild or prebuilt, not %q", s.Build.Mode)}
	}
	if len(s.Environments) == 0 {
		return &Error{Path: at + ".environments", Problem: "at least one environment is required"}
	}
	seen := make(map[string]bool, len(s.Environments))
	for i := range s.Environments {
		e := &s.Environments[i]
		eat := fmt.Sprintf("%s.environments[%s]", at, labelOf(e.Name, i))
		if err := e.validate(eat); err != nil {
			return err
		}
		if err := e.checkBudget(eat, s.Build.Mode); err != nil {
			return err
		}
		if seen[e.Name] {
			return &Error{Path: eat + ".name", Problem: "duplicate environment name"}
		}
		seen[e.Name] = true
	}
	return nil
}

func (e *Environment) validate(at string) error {
	if e.Name == "" {
		return &Error{Path: at + ".name", Problem: "required"}
	}
	if !validName(e.Name) {
		return &Error{Path: at + ".name", Problem: "must be 1-40 lower-case letters, digits or '-', starting and ending with a letter or digit"}
	}
	if len(e.Branches) == 0 && len(e.Tags) == 0 {
		return &Error{Path: at + ".branches", Problem: "at least one branch or tag pattern is required"}
	}
	for _, f := range []struct {
		name string
		pats []string
	}{{"branches", e.Branches}, {"tags", e.Tags}} {
		for i, p := range f.pats {
			if err := validPattern(p); err != nil {
				return &Error{Path: fmt.Sprintf("%s.%s[%d]", at, f.name, i), Problem: err.Error()}
			}
		}
	}
	for _, f := range []struct{ name, value string }{{"cluster", e.Cluster}, {"service", e.Service}, {"container", e.Container}} {
		if f.value == "" {
			return &Error{Path: at + "." + f.name, Problem: "required"}
		}
	}
	if !validECSName(e.Cluster) {
		return &Error{Path: at + ".cluster", Problem: "must be an ECS cluster name or ARN"}
	}
	if !validECSName(e.Service) {
		return &Error{Path: at + ".service", Problem: "must be an ECS service name or ARN"}
	}
	if !validECSName(e.Container) || strings.HasPrefix(e.Container, "arn:") {
		return &Error{Path: at + ".container", Problem: "must be a container name (letters, digits, '-', '_')"}
	}
	for i, r := range e.Roles {
		if !roleARNRE.MatchString(r) || !rolePrefixNamesARole(r) {
			return &Error{Path: fmt.Sprintf("%s.roles[%d]", at, i), Problem: "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), or a prefix of one ending in '*' that names at least the first 3 characters of a role name (the '*' also matches across '/')"}
		}

	}
	if err := e.validateData(at); err != nil {
		return err
	}
	return e.validateRelease(at)
}

func validPattern(p string) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	if strings.HasPrefix(p, "refs/") {
		return errors.New("give the branch or tag name without refs/heads/ or refs/tags/")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("invalid pattern %q: %v", p, err)
	}
	return nil
}

// HasRepository reports whether any service is built from the repository.
func (c *Catalog) HasRepository(provider git.Provider, repository string) bool {
	if c == nil {
		return false
	}
	for i := range c.Services {
		if c.Services[i].Repository.is(provider, repository) {
			return true
		}
	}
	return false
}

func (r Repository) is(provider git.Provider, name string) bool {
	return r.Provider == provider && strings.EqualFold(r.Name, name)
}

// Match returns the deploys a push of ref (a full ref: refs/heads/NAME or
// refs/tags/NAME) to the repository causes, in catalog order. Branch refs are
// matched against environments' branch patterns, tag refs against tag
// patterns; any other ref matches nothing.
func (c *Catalog) Match(provider git.Provider, repository, ref string) []Target {
	if c == nil {
		return nil
	}
	var pats func(*Environment) []string
	name, branch := git.Branch(ref)
	tag, isTag := git.Tag(ref)
	switch {
	case branch:
		pats = func(e *Environment) []string { return e.Branches }
	case isTag:
		name, pats = tag, func(e *Environment) []string { return e.Tags }
	default:
		return nil
	}
	var out []Target
	for i := range c.Services {
		s := &c.Services[i]
		if !s.Repository.is(provider, repository) {
			continue
		}
		for j := range s.Environments {
			e := &s.Environments[j]
			if matchAny(pats(e), name) {
				out = append(out, s.target(e))
			}
		}
	}
	return out
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
