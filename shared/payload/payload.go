// Package payload holds the typed documents passed between stepship's states: the
// input of each state machine and the output of each function. Field names are the
// JSON the state machines' paths refer to; change them together with statemachines/.
package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/git"
)

// DeployRequest is the input of the deploy state machine, one per service a push
// deploys. The webhook function starts an execution with it; an engineer can start
// one from the console with the same shape (see events/deploy-input.json).
//
// It names what to deploy, never where: the cluster, the ECS service, the
// container, the image repository and the CodeBuild project come from the
// catalog (see catalog.Target), so an input cannot point stepship at anything
// the catalog does not list.
type DeployRequest struct {
	// Service is the catalog's name of the service.
	Service string `json:"service"`
	// Environment is the catalog environment deployed to (e.g. "production").
	Environment string `json:"environment"`
	// Commit is the full commit id deployed: 40 (or, for SHA-256
	// repositories, 64) lower-case hex digits. The image deployed is the
	// catalog's image tagged with it, by its digest.
	Commit string `json:"commit"`
	// Reason says why, for the record (optional; a console deploy should give one).
	Reason string `json:"reason,omitempty"`
	// RequestedBy names who asked (optional).
	RequestedBy string `json:"requestedBy,omitempty"`
	// Source describes the push behind a webhook deploy; absent for a console one.
	Source *Source `json:"source,omitempty"`
	// AllowOlder asks, from the console only and with a Reason, to deploy a
	// commit older than the last one recorded for the service and
	// environment: an explicit rollback request, recorded as such. Without
	// it, an older commit is refused (docs/deploy.md, "Order").
	AllowOlder bool `json:"allowOlder,omitempty"`
}

// Source is the signed git push behind a deploy. Every field comes from the
// signed body: a delivery id, which hosts do not sign, is not part of it.
type Source struct {
	Provider   git.Provider `json:"provider"`
	Repository string       `json:"repository"`
	Ref        string       `json:"ref"`
	Pusher     string       `json:"pusher,omitempty"`
	// PushedAt is the push time the host signed, when it signs one.
	PushedAt *time.Time `json:"pushedAt,omitempty"`
}

// TargetFields are the names an input must not carry: each is a target, and
// targets come from the catalog. They are named in the error so that an old
// console input fails with a message that says what changed.
var TargetFields = []string{"cluster", "ecsService", "container", "image", "build", "target", "imageDigest", "taskDefinition", "role", "database",
	"instance", "snapshot", "subnetGroup", "securityGroup", "kmsKey", "drRegion", "region"}

// maxTextLen bounds the free-text fields.
const maxTextLen = 512

// The patterns of this package spell no long counted repetition: package
// regexp compiles x{m,n} into n copies of x at package init, on every
// function's cold start. Lengths are checked apart, accepting exactly what
// the counted pattern did (the classes are ASCII, so a byte is a character;
// TestValidatorsMatchCountedPatterns compares them).
var (
	// nameRE: at most 40 characters (validName).
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
)

// validName: a catalog name, 1-40 lower-case letters, digits or '-',
// starting and ending with a letter or digit.
func validName(s string) bool { return len(s) <= 40 && nameRE.MatchString(s) }

// requestKind names a state machine's input in errors, with the sample that
// shows its shape.
type requestKind struct{ name, sample string }

var (
	deployKind = requestKind{"deploy", "events/deploy-input.json"}
	backupKind = requestKind{"backup", "events/backup-now.json"}
	drillKind  = requestKind{"dr-drill", "events/dr-drill.json"}
)

// InvalidRequestError lists everything wrong with an input.
type InvalidRequestError struct {
	// Kind is the state machine whose input it is: deploy, backup, dr-drill.
	Kind string
	// Sample is the events/ file that shows a valid input.
	Sample   string
	Problems []string
}

func (e *InvalidRequestError) Error() string {
	return "invalid " + e.Kind + " request: " + strings.Join(e.Problems, "; ") + " (see " + e.Sample + "; targets come from the catalog)"
}

// invalid is nil without problems, else an *InvalidRequestError listing them.
func (k requestKind) invalid(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &InvalidRequestError{Kind: k.name, Sample: k.sample, Problems: problems}
}

// validator is a request that names its own problems.
type validator interface{ Validate() error }

// decodeStrict decodes a state machine input strictly: an unknown field, a
// target field, a wrong type or a malformed value is an *InvalidRequestError
// naming every problem, without echoing a value. Keys must match the JSON
// names of T's fields byte for byte (encoding/json alone would also take
// "Service" or "ſervice" for "service"), appear once, and not be null: the
// state machine reads fields by their exact names, so what is checked here
// must be the only thing there is.
func decodeStrict[T validator](raw []byte, kind requestKind) (T, error) {
	var zero T
	problems, err := strictObject(raw, "", reflect.TypeFor[T]())
	if err != nil {
		return zero, kind.invalid([]string{err.Error()})
	}
	if len(problems) > 0 {
		return zero, kind.invalid(problems)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r T
	if err := dec.Decode(&r); err != nil {
		return zero, kind.invalid([]string{decodeProblem(err)})
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return zero, kind.invalid([]string{"trailing data after the JSON object"})
	}
	return r, r.Validate()
}

// strictObject checks the keys of the JSON object raw (at path, "" for the
// top) against the struct type t: each must be the JSON name of one of its
// fields exactly, once, with a non-null value; a target field is named as
// such; a field that is itself a struct (source) is checked the same way.
// The error is for input that is not a JSON object at all.
func strictObject(raw []byte, path string, t reflect.Type) ([]string, error) {
	allowed := jsonFields(t)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%s is not a JSON object", or(path, "the input"))
	}
	keys, err := objectKeys(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid JSON", or(path, "the input"))
	}
	slices.Sort(keys) // problems in a stable order; duplicates side by side
	var problems []string
	seen := map[string]bool{}
	for _, k := range keys {
		name := path + k
		switch {
		case seen[k]:
			problems = append(problems, fmt.Sprintf("field %q appears more than once", name))
		case slices.ContainsFunc(TargetFields, func(f string) bool { return strings.EqualFold(f, k) }):
			problems = append(problems, fmt.Sprintf("field %q is not allowed: the catalog names every target", name))
		case !hasKey(allowed, k):
			problems = append(problems, fmt.Sprintf("unknown field %q", name))
		case string(bytes.TrimSpace(fields[k])) == "null":
			problems = append(problems, fmt.Sprintf("field %q must not be null", name))
		case allowed[k] != nil:
			sub, err := strictObject(fields[k], name+".", allowed[k])
			if err != nil {
				problems = append(problems, err.Error())
			}
			problems = append(problems, sub...)
		}
		seen[k] = true
	}
	return problems, nil
}

// objectKeys lists the keys of a JSON object in order, duplicates included
// (encoding/json keeps only the last of a repeated key).
func objectKeys(raw []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return strings.TrimSuffix(s, ".")
}

// jsonFields maps the JSON names of a struct type's fields to the struct type
// of the field when it is one (or a pointer to one), else nil.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			out[name] = ft
		} else {
			out[name] = nil
		}
	}
	return out
}

func hasKey(m map[string]reflect.Type, k string) bool {
	_, ok := m[k]
	return ok
}

// DecodeDeployRequest decodes a deploy state machine input strictly: an
// unknown field, a target field, a wrong type or a malformed value is an
// *InvalidRequestError naming every problem.
func DecodeDeployRequest(raw []byte) (DeployRequest, error) {
	return decodeStrict[DeployRequest](raw, deployKind)
}

// decodeProblem turns a JSON decoding error into a message that names the
// field without echoing the input.
func decodeProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + msg
	}
	return "the input is not valid JSON"
}

// Validate reports every missing or malformed field of a deploy request, naming
// each one, so that a console input with a typo fails before anything changes.
func (r DeployRequest) Validate() error {
	problems := targetProblems(r.Service, r.Environment)
	if r.Commit == "" {
		problems = append(problems, "commit is required")
	} else if !git.ValidCommit(r.Commit) || git.IsZeroCommit(r.Commit) {
		problems = append(problems, "commit must be a full commit id (40 lower-case hex digits)")
	}
	problems = append(problems, textProblems(r.Reason, r.RequestedBy)...)
	if r.AllowOlder && (r.Source != nil || strings.TrimSpace(r.Reason) == "") {
		problems = append(problems, "allowOlder is a console rollback request: it needs a reason and no source")
	}
	if s := r.Source; s != nil {
		if !s.Provider.Valid() {
			problems = append(problems, "source.provider must be github, gitlab or bitbucket")
		}
		if _, branch := git.Branch(s.Ref); !branch {
			if _, tag := git.Tag(s.Ref); !tag {
				problems = append(problems, "source.ref must be refs/heads/NAME or refs/tags/NAME")
			}
		}
		if s.Repository == "" || len(s.Repository) > maxTextLen || len(s.Pusher) > maxTextLen {
			problems = append(problems, "source.repository is required and source fields are at most 512 bytes")
		}
	}
	return deployKind.invalid(problems)
}

// targetProblems checks the service and environment every request names.
func targetProblems(service, environment string) []string {
	var problems []string
	switch {
	case service == "":
		problems = append(problems, "service is required")
	case !validName(service):
		problems = append(problems, "service must be a catalog service name ([a-z0-9-], 1-40 characters)")
	}
	switch {
	case environment == "":
		problems = append(problems, "environment is required")
	case !validName(environment):
		problems = append(problems, "environment must be a catalog environment name ([a-z0-9-], 1-40 characters)")
	}
	return problems
}

// textProblems bounds the free-text fields every request has.
func textProblems(reason, requestedBy string) []string {
	var problems []string
	for _, f := range []struct{ name, v string }{{"reason", reason}, {"requestedBy", requestedBy}} {
		if len(f.v) > maxTextLen {
			problems = append(problems, fmt.Sprintf("%s is longer than %d bytes", f.name, maxTextLen))
		}
	}
	return problems
}

// DeployInput is what the deploy state machine sends the deploy function: the
// request (service, environment, commit) and the digest the image check found.
// The function resolves the target from its own copy of the catalog.
type DeployInput struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Commit      string `json:"commit"`
	// ImageDigest is the digest ("sha256:…") of the catalog's image tagged
	// with the commit, as ECR reported it.
	ImageDigest string `json:"imageDigest"`
}

// digestRE: 64 hex digits (validDigest).
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]+$`)

// validDigest: sha256: and 64 lower-case hex digits.
func validDigest(s string) bool { return len(s) == len("sha256:")+64 && digestRE.MatchString(s) }

// Validate names every problem of a deploy function input.
func (d DeployInput) Validate() error {
	var problems []string
	if err := (DeployRequest{Service: d.Service, Environment: d.Environment, Commit: d.Commit}).Validate(); err != nil {
		problems = append(problems, err.(*InvalidRequestError).Problems...)
	}
	if !validDigest(d.ImageDigest) {
		problems = append(problems, "imageDigest must be sha256: and 64 hex digits")
	}
	return deployKind.invalid(problems)
}

// DeployResult is the deploy function's output: the release's revision and
// the one the service ran before it.
type DeployResult struct {
	Cluster                string `json:"cluster"`
	ECSService             string `json:"ecsService"`
	PreviousTaskDefinition string `json:"previousTaskDefinition"`
	TaskDefinition         string `json:"taskDefinition"`
	Image                  string `json:"image"`
	// LaunchType and NetworkConfiguration are how the service's tasks run:
	// a migration task (catalog migrations mode task) runs the same way.
	// NetworkConfiguration has ECS's own (PascalCase) shape, which the
	// state machine passes to ecs:runTask as it is.
	LaunchType string `json:"launchType"`
	// LogStreamPrefix is the container's awslogs stream prefix: a task's
	// log stream is PREFIX/CONTAINER/TASK_ID ("" without awslogs).
	LogStreamPrefix      string                `json:"logStreamPrefix"`
	NetworkConfiguration *NetworkConfiguration `json:"networkConfiguration,omitempty"`
}

// NetworkConfiguration is an ECS service's awsvpc network configuration in
// the shape of the RunTask API's member of that name.
type NetworkConfiguration struct {
	AwsvpcConfiguration AwsvpcConfiguration `json:"AwsvpcConfiguration"`
}

// AwsvpcConfiguration is the RunTask API's member of that name.
type AwsvpcConfiguration struct {
	Subnets        []string `json:"Subnets"`
	SecurityGroups []string `json:"SecurityGroups,omitempty"`
	AssignPublicIp string   `json:"AssignPublicIp,omitempty"`
}

// Invocation is what a state machine sends a stepship function: the execution id
// (so every log line can carry it) and the function's own input. In ASL:
//
//	"Parameters": {"executionId.$": "$$.Execution.Id", "input.$": "$"}
type Invocation[T any] struct {
	ExecutionID string `json:"executionId"`
	Input       T      `json:"input"`
}
