package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// fakeECS is an in-memory ECS with one cluster, services and task-definition families.
type fakeECS struct {
	services    map[string]string // service name → task definition ARN
	taskDefs    map[string]*ecstypes.TaskDefinition
	extraTags   []ecstypes.Tag // returned besides team=web
	familyErr   error          // DescribeTaskDefinition of a family (no revision) fails with it
	registerErr error
	registered  []*ecs.RegisterTaskDefinitionInput
	network     *ecstypes.NetworkConfiguration // of every service
	launchType  ecstypes.LaunchType
}

func (f *fakeECS) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if aws.ToString(in.Cluster) != "demo" {
		return nil, &ecstypes.ClusterNotFoundException{Message: aws.String("Cluster not found.")}
	}
	out := &ecs.DescribeServicesOutput{}
	for _, ref := range in.Services {
		name := serviceName(ref)
		if td, ok := f.services[name]; ok {
			out.Services = append(out.Services, ecstypes.Service{ServiceName: aws.String(name), ServiceArn: aws.String(serviceARN + name),
				Status: aws.String("ACTIVE"), TaskDefinition: aws.String(td), NetworkConfiguration: f.network, LaunchType: f.launchType})
		}
	}
	return out, nil
}

// serviceARN prefixes a service name in cluster demo; ECS accepts either.
const serviceARN = "arn:aws:ecs:us-east-1:123456789012:service/demo/"

func serviceName(ref string) string { return strings.TrimPrefix(ref, serviceARN) }

func (f *fakeECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	name := aws.ToString(in.TaskDefinition)
	if !strings.Contains(name, ":") { // a family: its latest revision
		if f.familyErr != nil {
			return nil, f.familyErr
		}
		name = f.latest(name)
	}
	td, ok := f.taskDefs[name]
	if !ok {
		return nil, errors.New("ClientException: Unable to describe task definition.")
	}
	tags := append([]ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}}, f.extraTags...)
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: td, Tags: tags}, nil
}

func (f *fakeECS) RegisterTaskDefinition(_ context.Context, in *ecs.RegisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error) {
	if f.registerErr != nil {
		return nil, f.registerErr
	}
	f.registered = append(f.registered, in)
	arn := "arn:aws:ecs:us-east-1:123456789012:task-definition/" + aws.ToString(in.Family) + ":" + string(rune('1'+len(f.registered)))
	td := &ecstypes.TaskDefinition{
		TaskDefinitionArn: aws.String(arn), Family: in.Family, ContainerDefinitions: in.ContainerDefinitions,
		Cpu: in.Cpu, Memory: in.Memory, EphemeralStorage: in.EphemeralStorage, ExecutionRoleArn: in.ExecutionRoleArn,
		TaskRoleArn: in.TaskRoleArn, NetworkMode: in.NetworkMode, IpcMode: in.IpcMode, PidMode: in.PidMode,
		PlacementConstraints: in.PlacementConstraints, ProxyConfiguration: in.ProxyConfiguration,
		RequiresCompatibilities: in.RequiresCompatibilities, RuntimePlatform: in.RuntimePlatform, Volumes: in.Volumes,
		EnableFaultInjection: in.EnableFaultInjection, InferenceAccelerators: in.InferenceAccelerators,
		TrustedExecutionConfiguration: in.TrustedExecutionConfiguration,
	}
	f.taskDefs[arn] = td
	return &ecs.RegisterTaskDefinitionOutput{TaskDefinition: td}, nil
}

// latest returns the ARN of the family's latest revision.
func (f *fakeECS) latest(family string) string {
	if n := len(f.registered); n > 0 {
		return "arn:aws:ecs:us-east-1:123456789012:task-definition/" + family + ":" + string(rune('1'+n))
	}
	return "arn:aws:ecs:us-east-1:123456789012:task-definition/" + family + ":1"
}

const (
	rev1      = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
	rev2      = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
	commit    = "3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4"
	digest    = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	imageURI  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"
	oldImage  = imageURI + "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	taskRole  = "arn:aws:iam::123456789012:role/web-task"
	execRole  = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
	rolesLine = `roles: ["arn:aws:iam::123456789012:role/web-task", "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"]`
)

// testCatalog: service web in several environments, each pointing at what
// the fake ECS has (or lacks).
const testCatalog = `
version: 1
services:
  - name: web
    repository: {provider: github, name: acme/web}
    image: ` + imageURI + `
    build: {mode: prebuilt}
    environments:
      - {name: production, branches: [main], cluster: demo, service: web, container: web, ` + rolesLine + `}
      - {name: by-arn, branches: [main], cluster: demo, service: "` + serviceARN + `web", container: web, ` + rolesLine + `}
      - {name: prefix-roles, branches: [main], cluster: demo, service: web, container: web, roles: ["arn:aws:iam::123456789012:role/web-*", "arn:aws:iam::123456789012:role/ecs*"]}
      - {name: no-roles, branches: [main], cluster: demo, service: web, container: web}
      - {name: task-role-only, branches: [main], cluster: demo, service: web, container: web, roles: ["arn:aws:iam::123456789012:role/web-task"]}
      - {name: lost-cluster, branches: [main], cluster: nope, service: web, container: web, ` + rolesLine + `}
      - {name: lost-service, branches: [main], cluster: demo, service: api, container: web, ` + rolesLine + `}
      - {name: lost-container, branches: [main], cluster: demo, service: web, container: worker, ` + rolesLine + `}
`

func newFake() *fakeECS {
	return &fakeECS{
		services: map[string]string{"web": rev1},
		taskDefs: map[string]*ecstypes.TaskDefinition{rev1: {
			TaskDefinitionArn: aws.String(rev1),
			Family:            aws.String("web"),
			Cpu:               aws.String("256"),
			Memory:            aws.String("512"),
			TaskRoleArn:       aws.String(taskRole),
			ExecutionRoleArn:  aws.String(execRole),
			ContainerDefinitions: []ecstypes.ContainerDefinition{
				{Name: aws.String("web"), Image: aws.String(oldImage), Essential: aws.Bool(true)},
				{Name: aws.String("sidecar"), Image: aws.String("public.ecr.aws/nginx/nginx:1.27")},
			},
		}},
	}
}

func newDeployer(t *testing.T, f *fakeECS) *Deployer {
	t.Helper()
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDeployer(f, cat, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func request(mutate func(*payload.DeployInput)) payload.Invocation[payload.DeployInput] {
	in := payload.DeployInput{Service: "web", Environment: "production", Commit: commit, ImageDigest: digest}
	if mutate != nil {
		mutate(&in)
	}
	return payload.Invocation[payload.DeployInput]{ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:deploy:x", Input: in}
}

func env(name string) func(*payload.DeployInput) {
	return func(in *payload.DeployInput) { in.Environment = name }
}

func TestDeployerHandle(t *testing.T) {
	withImage := func(image string) func() *fakeECS {
		return func() *fakeECS {
			f := newFake()
			f.taskDefs[rev1].ContainerDefinitions[0].Image = aws.String(image)
			return f
		}
	}
	tests := []struct {
		name          string
		fake          func() *fakeECS
		req           payload.Invocation[payload.DeployInput]
		wantErrType   string // the Go type name: the Step Functions error
		wantErrText   string
		wantRegisters int
		wantTaskDef   string
	}{
		{name: "registers a revision with the image by digest", fake: newFake, req: request(nil), wantRegisters: 1, wantTaskDef: rev2},
		{name: "service given as an ARN", fake: newFake, req: request(env("by-arn")), wantRegisters: 1, wantTaskDef: rev2},
		{name: "roles allowed by prefix", fake: newFake, req: request(env("prefix-roles")), wantRegisters: 1, wantTaskDef: rev2},
		{name: "already on the image: registers nothing", fake: withImage(imageURI + "@" + digest), req: request(nil), wantTaskDef: rev1},
		{name: "same digest of another repository is not the image", fake: withImage("123456789012.dkr.ecr.us-east-1.amazonaws.com/other@" + digest), req: request(nil), wantRegisters: 1, wantTaskDef: rev2},
		{name: "no roles listed", fake: newFake, req: request(env("no-roles")), wantErrType: "RoleNotAllowed", wantErrText: "uses role " + taskRole},
		{name: "execution role not listed", fake: newFake, req: request(env("task-role-only")), wantErrType: "RoleNotAllowed", wantErrText: "uses role " + execRole},
		{name: "no roles listed, none used", fake: func() *fakeECS {
			f := newFake()
			f.taskDefs[rev1].TaskRoleArn, f.taskDefs[rev1].ExecutionRoleArn = nil, nil
			return f
		}, req: request(env("no-roles")), wantRegisters: 1, wantTaskDef: rev2},
		{name: "invalid digest", fake: newFake, req: request(func(in *payload.DeployInput) { in.ImageDigest = "latest" }), wantErrType: "InvalidDeployRequest", wantErrText: "imageDigest must be sha256: and 64 hex digits"},
		{name: "invalid commit", fake: newFake, req: request(func(in *payload.DeployInput) { in.Commit = "main" }), wantErrType: "InvalidDeployRequest", wantErrText: "commit must be a full commit id"},
		{name: "missing fields are named", fake: newFake, req: request(func(in *payload.DeployInput) { *in = payload.DeployInput{} }), wantErrType: "InvalidDeployRequest", wantErrText: "service is required; environment is required; commit is required; imageDigest must be"},
		{name: "unknown service", fake: newFake, req: request(func(in *payload.DeployInput) { in.Service = "api" }), wantErrType: "UnknownTarget", wantErrText: `service "api" is not in the catalog`},
		{name: "unknown environment", fake: newFake, req: request(env("staging")), wantErrType: "UnknownTarget", wantErrText: `service "web" has no environment "staging"`},
		{name: "unknown cluster", fake: newFake, req: request(env("lost-cluster")), wantErrType: "ServiceNotFound", wantErrText: `cluster "nope"`},
		{name: "unknown ECS service", fake: newFake, req: request(env("lost-service")), wantErrType: "ServiceNotFound", wantErrText: `service "api"`},
		{name: "unknown container", fake: newFake, req: request(env("lost-container")), wantErrType: "ContainerNotFound", wantErrText: `"worker"`},
		{name: "register fails", fake: func() *fakeECS { f := newFake(); f.registerErr = errors.New("throttled"); return f }, req: request(nil), wantErrType: "ECSCallFailed", wantErrText: "failed to register a new revision of web: throttled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake()
			d := newDeployer(t, f)
			before := aws.ToString(f.taskDefs[rev1].ContainerDefinitions[0].Image)
			got, err := d.Handle(context.Background(), tt.req)
			if len(f.registered) != tt.wantRegisters {
				t.Errorf("registered %d revisions, want %d", len(f.registered), tt.wantRegisters)
			}
			if tt.wantErrType != "" {
				if err == nil {
					t.Fatalf("got no error, want %s", tt.wantErrType)
				}
				typ := reflect.TypeOf(err)
				if typ.Kind() != reflect.Pointer || typ.Elem().Name() != tt.wantErrType || typ.Elem().PkgPath() != reflect.TypeFor[taskerr.ECSCallFailed]().PkgPath() {
					t.Fatalf("error type %T, want *taskerr.%s (the state machine catches by type name)", err, tt.wantErrType)
				}
				if !strings.Contains(err.Error(), tt.wantErrText) {
					t.Errorf("error %q does not contain %q", err, tt.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.TaskDefinition != tt.wantTaskDef || got.PreviousTaskDefinition != rev1 || got.Image != imageURI+"@"+digest {
				t.Errorf("result %+v, want task definition %s from %s", got, tt.wantTaskDef, rev1)
			}
			if f.services["web"] != rev1 {
				t.Errorf("service runs %s: registering a release must not change what it runs", f.services["web"])
			}
			if tt.wantRegisters == 1 {
				in := f.registered[0]
				if img := aws.ToString(in.ContainerDefinitions[0].Image); img != imageURI+"@"+digest {
					t.Errorf("new image %s, want %s", img, imageURI+"@"+digest)
				}
				if aws.ToString(in.ContainerDefinitions[1].Image) != "public.ecr.aws/nginx/nginx:1.27" || aws.ToString(in.Cpu) != "256" || len(in.Tags) != 1 {
					t.Errorf("other fields not carried over: %+v", in)
				}
				if aws.ToString(f.taskDefs[rev1].ContainerDefinitions[0].Image) != before {
					t.Errorf("the old revision was modified in place")
				}
			}
		})
	}
}

// registerInputFrom must carry over every field RegisterTaskDefinition accepts that
// DescribeTaskDefinition returns: a field the SDK adds later and this copy misses
// would silently vanish from the next revision.
func TestRegisterInputFromCopiesEveryRegistrableField(t *testing.T) {
	tdType := reflect.TypeFor[ecstypes.TaskDefinition]()
	td := reflect.New(tdType)
	for i := range tdType.NumField() {
		f := td.Elem().Field(i)
		if !f.CanSet() {
			continue
		}
		fillNonZero(f)
	}
	tags := []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}}
	in := reflect.ValueOf(registerInputFrom(td.Interface().(*ecstypes.TaskDefinition), tags)).Elem()
	for i := range in.NumField() {
		name := in.Type().Field(i).Name
		if !in.Field(i).CanInterface() {
			continue
		}
		src := td.Elem().FieldByName(name)
		if name != "Tags" && !src.IsValid() {
			continue // not part of a described task definition
		}
		if in.Field(i).IsZero() {
			t.Errorf("RegisterTaskDefinitionInput.%s is not copied from the described task definition", name)
		}
	}
}

// fillNonZero sets v to a non-zero value of its type.
func fillNonZero(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillNonZero(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fillNonZero(v.Field(i))
			}
		}
	}
}

// A second run for the same image (a retry, or a redelivered input) reuses the
// revision the first registered instead of registering an identical one; a
// different image registers a new one.
func TestDeployerReusesItsRevision(t *testing.T) {
	f := newFake()
	d := newDeployer(t, f)
	first, err := d.Handle(context.Background(), request(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Handle(context.Background(), request(nil))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(f.registered) != 1 || got.TaskDefinition != rev2 || first.TaskDefinition != rev2 || got.PreviousTaskDefinition != rev1 {
		t.Errorf("registered %d revisions, results %s then %+v; want 1, %s", len(f.registered), first.TaskDefinition, got, rev2)
	}
	got, err = d.Handle(context.Background(), request(func(in *payload.DeployInput) {
		in.ImageDigest = "sha256:" + strings.Repeat("4b", 32)
	}))
	if err != nil || len(f.registered) != 2 || got.TaskDefinition == rev2 {
		t.Errorf("new image: err %v, %d revisions, result %s", err, len(f.registered), got.TaskDefinition)
	}
}

// The result says how the service's tasks run, in RunTask's shape, for a
// migration task of the release.
func TestDeployerReportsHowTheServiceRuns(t *testing.T) {
	for _, tt := range []struct {
		name    string
		network *ecstypes.NetworkConfiguration
		launch  ecstypes.LaunchType
		want    string
	}{
		{"fargate in a VPC", &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-1", "subnet-2"}, SecurityGroups: []string{"sg-1"}, AssignPublicIp: ecstypes.AssignPublicIpDisabled}},
			ecstypes.LaunchTypeFargate,
			`{"launchType":"FARGATE","networkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-1","subnet-2"],"SecurityGroups":["sg-1"],"AssignPublicIp":"DISABLED"}}}`},
		{"EC2 bridge networking", nil, ecstypes.LaunchTypeEc2, `{"launchType":"EC2"}`},
		{"capacity providers", &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}, "",
			`{"launchType":"FARGATE","networkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-1"]}}}`},
		{"no awsvpc configuration", &ecstypes.NetworkConfiguration{}, ecstypes.LaunchTypeExternal, `{"launchType":"EXTERNAL"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.network, f.launchType = tt.network, tt.launch
			got, err := newDeployer(t, f).Handle(context.Background(), request(nil))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(struct {
				L string                        `json:"launchType"`
				N *payload.NetworkConfiguration `json:"networkConfiguration,omitempty"`
			}{got.LaunchType, got.NetworkConfiguration})
			if string(b) != tt.want {
				t.Errorf("got %s\nwant %s", b, tt.want)
			}
		})
	}
}

// Tags under the reserved aws: prefix (set by AWS services) cannot be given to
// RegisterTaskDefinition, which would refuse the whole call.
func TestDeployerDropsReservedTags(t *testing.T) {
	f := newFake()
	f.extraTags = []ecstypes.Tag{{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("web")}, {Key: aws.String("AWS:x"), Value: aws.String("y")}}
	d := newDeployer(t, f)
	if _, err := d.Handle(context.Background(), request(nil)); err != nil {
		t.Fatal(err)
	}
	if len(f.registered) != 1 {
		t.Fatalf("registered %d revisions, want 1", len(f.registered))
	}
	var keys []string
	for _, tag := range f.registered[0].Tags {
		keys = append(keys, aws.ToString(tag.Key))
	}
	if fmt.Sprint(keys) != "[team]" {
		t.Errorf("tags given to RegisterTaskDefinition: %v, want [team]", keys)
	}
}

// When the family's latest revision cannot be described, the deploy registers a new
// revision as it would anyway.
func TestDeployerRegistersWhenTheFamilyCannotBeDescribed(t *testing.T) {
	f := newFake()
	f.familyErr = errors.New("ClientException: Unable to describe task definition.")
	d := newDeployer(t, f)
	got, err := d.Handle(context.Background(), request(nil))
	if err != nil || len(f.registered) != 1 || got.TaskDefinition != rev2 {
		t.Errorf("err %v, %d revisions registered, result %s", err, len(f.registered), got.TaskDefinition)
	}
}

func TestNewDeployerChecksItsArguments(t *testing.T) {
	cat, _ := catalog.Parse([]byte(testCatalog))
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for name, args := range map[string]struct {
		ecs ecsAPI
		cat *catalog.Catalog
		log *slog.Logger
	}{
		"no client":  {nil, cat, log},
		"no catalog": {newFake(), nil, log},
		"no logger":  {newFake(), cat, nil},
	} {
		if _, err := NewDeployer(args.ecs, args.cat, args.log); err == nil {
			t.Errorf("%s: NewDeployer succeeded", name)
		}
	}
}
