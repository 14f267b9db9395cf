package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// The ECS calls the deploy handler makes, one small interface each (the shape of
// the SDK's own XxxAPIClient interfaces), so tests plug in fakes.
type (
	servicesDescriber interface {
		DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	}
	taskDefinitionDescriber interface {
		DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	}
	taskDefinitionRegisterer interface {
		RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	}
	ecsAPI interface {
		servicesDescriber
		taskDefinitionDescriber
		taskDefinitionRegisterer
	}
)

var _ ecsAPI = (*ecs.Client)(nil)

// Deployer prepares a release: it registers the task-definition revision whose
// container runs the new image, which the state machine then migrates with (in
// task mode) and points the service at (ecs:updateService). Its targets come
// from the catalog it was built with, never from its input.
type Deployer struct {
	ecs     ecsAPI
	catalog *catalog.Catalog
	log     *slog.Logger
}

// NewDeployer returns a Deployer over the given ECS client and catalog.
func NewDeployer(client ecsAPI, cat *catalog.Catalog, log *slog.Logger) (*Deployer, error) {
	if client == nil || cat == nil || log == nil {
		return nil, errors.New("deploy: ECS client, catalog and logger are required")
	}
	return &Deployer{ecs: client, catalog: cat, log: log}, nil
}

// Handle registers the revision of the catalog's service in the environment
// whose container runs the catalog's image of a commit, by digest, and
// reports it with the revision the service runs now (what a rollback goes
// back to) and how the service's tasks are launched (what a migration task
// needs). It changes nothing the service runs. It is idempotent: when the
// service already runs a task definition whose container has that image, it
// registers nothing and reports that task definition; when an earlier
// attempt registered the same revision, it reuses it. Errors are the named
// types of shared/taskerr.
func (d *Deployer) Handle(ctx context.Context, inv payload.Invocation[payload.DeployInput]) (payload.DeployResult, error) {
	in := inv.Input
	log := logging.ForExecution(d.log, inv.ExecutionID).With(slog.String("service", in.Service), slog.String("environment", in.Environment))
	if err := in.Validate(); err != nil {
		return payload.DeployResult{}, &taskerr.InvalidDeployRequest{Reason: err.Error()}
	}
	t, err := d.catalog.Resolve(in.Service, in.Environment)
	if err != nil {
		return payload.DeployResult{}, &taskerr.UnknownTarget{Reason: err.Error() + "; nothing was changed"}
	}
	image := t.Image.At(in.ImageDigest)

	svc, err := d.describeService(ctx, t.Cluster, t.ECSService)
	if err != nil {
		return payload.DeployResult{}, err
	}
	current := aws.ToString(svc.TaskDefinition)
	result := payload.DeployResult{Cluster: t.Cluster, ECSService: t.ECSService, PreviousTaskDefinition: current, Image: image,
		LaunchType: launchType(svc), NetworkConfiguration: networkOf(svc)}

	td, tags, err := d.describeTaskDefinition(ctx, current)
	if err != nil {
		return payload.DeployResult{}, err
	}
	idx := containerIndex(td.ContainerDefinitions, t.Container)
	if idx < 0 {
		return payload.DeployResult{}, &taskerr.ContainerNotFound{TaskDefinition: current, Container: t.Container}
	}
	if aws.ToString(td.ContainerDefinitions[idx].Image) == image {
		log.Info("service already runs the requested image", slog.String("taskDefinition", current), slog.String("image", image))
		result.TaskDefinition = current
		return result, nil
	}
	for _, role := range []string{aws.ToString(td.TaskRoleArn), aws.ToString(td.ExecutionRoleArn)} {
		if role != "" && !catalog.RoleAllowed(t.Roles, role) {
			return payload.DeployResult{}, &taskerr.RoleNotAllowed{TaskDefinition: current, Role: role}
		}
	}

	result.LogStreamPrefix = logStreamPrefix(td.ContainerDefinitions[idx])
	reg := registerInputFrom(td, tags)
	reg.ContainerDefinitions[idx].Image = aws.String(image)
	next := d.registered(ctx, reg, current, log)
	if next != "" {
		log.Info("reusing the revision an earlier attempt registered", slog.String("taskDefinition", next), slog.String("image", image))
	} else {
		out, err := d.ecs.RegisterTaskDefinition(ctx, reg)
		if err != nil {
			return payload.DeployResult{}, &taskerr.ECSCallFailed{Reason: fmt.Sprintf("failed to register a new revision of %s: %v", aws.ToString(td.Family), err)}
		}
		next = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
		log.Info("registered task definition", slog.String("taskDefinition", next), slog.String("image", image))
	}
	result.TaskDefinition = next
	return result, nil
}

func (d *Deployer) describeService(ctx context.Context, cluster, service string) (ecstypes.Service, error) {
	out, err := d.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		var notFound *ecstypes.ClusterNotFoundException
		if errors.As(err, &notFound) {
			return ecstypes.Service{}, &taskerr.ServiceNotFound{Cluster: cluster, Service: service}
		}
		return ecstypes.Service{}, &taskerr.ECSCallFailed{Reason: fmt.Sprintf("failed to describe service %s in cluster %s: %v", service, cluster, err)}
	}
	// The catalog may name the service by name or by ARN.
	for _, s := range out.Services {
		if (aws.ToString(s.ServiceName) == service || aws.ToString(s.ServiceArn) == service) && aws.ToString(s.Status) == "ACTIVE" {
			return s, nil
		}
	}
	return ecstypes.Service{}, &taskerr.ServiceNotFound{Cluster: cluster, Service: service}
}

func (d *Deployer) describeTaskDefinition(ctx context.Context, arn string) (*ecstypes.TaskDefinition, []ecstypes.Tag, error) {
	out, err := d.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		return nil, nil, &taskerr.ECSCallFailed{Reason: fmt.Sprintf("failed to describe task definition %s: %v", arn, err)}
	}
	return out.TaskDefinition, out.Tags, nil
}

// registered returns the family's latest revision when it is exactly what in would
// register (an earlier attempt registered it, then failed to update the service),
// so that a retry does not pile up identical revisions; else "". When the family
// cannot be described (for example it has no ACTIVE revision left), it returns ""
// and a new revision is registered as usual.
func (d *Deployer) registered(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, current string, log *slog.Logger) string {
	latest, tags, err := d.describeTaskDefinition(ctx, aws.ToString(in.Family))
	if err != nil {
		log.Warn("could not look for a revision registered by an earlier attempt", slog.String("error", err.Error()))
		return ""
	}
	arn := aws.ToString(latest.TaskDefinitionArn)
	if arn == current || !reflect.DeepEqual(registerInputFrom(latest, tags), in) {
		return ""
	}
	return arn
}

// launchType is how a migration task of the service is launched: the
// service's own launch type, FARGATE when it has none (a capacity provider
// strategy, whose tasks the migration runs on Fargate).
func launchType(svc ecstypes.Service) string {
	if svc.LaunchType != "" {
		return string(svc.LaunchType)
	}
	return string(ecstypes.LaunchTypeFargate)
}

// logStreamPrefix is the awslogs stream prefix of the container ("" when it
// does not log with awslogs): its tasks log to PREFIX/CONTAINER/TASK_ID.
func logStreamPrefix(c ecstypes.ContainerDefinition) string {
	if lc := c.LogConfiguration; lc != nil && lc.LogDriver == ecstypes.LogDriverAwslogs {
		return lc.Options["awslogs-stream-prefix"]
	}
	return ""
}

// networkOf is the service's awsvpc network configuration in RunTask's
// shape (nil for a service without awsvpc networking).
func networkOf(svc ecstypes.Service) *payload.NetworkConfiguration {
	n := svc.NetworkConfiguration
	if n == nil || n.AwsvpcConfiguration == nil {
		return nil
	}
	return &payload.NetworkConfiguration{AwsvpcConfiguration: payload.AwsvpcConfiguration{
		Subnets:        n.AwsvpcConfiguration.Subnets,
		SecurityGroups: n.AwsvpcConfiguration.SecurityGroups,
		AssignPublicIp: string(n.AwsvpcConfiguration.AssignPublicIp),
	}}
}

func containerIndex(defs []ecstypes.ContainerDefinition, name string) int {
	for i, c := range defs {
		if aws.ToString(c.Name) == name {
			return i
		}
	}
	return -1
}

// registerInputFrom copies every registrable field of a described task definition,
// so the new revision differs from the old one only in what the deploy changes. Tags
// keep their order; those under the reserved aws: prefix, which only AWS may set and
// RegisterTaskDefinition refuses, are left out.
func registerInputFrom(td *ecstypes.TaskDefinition, tags []ecstypes.Tag) *ecs.RegisterTaskDefinitionInput {
	containers := make([]ecstypes.ContainerDefinition, len(td.ContainerDefinitions))
	copy(containers, td.ContainerDefinitions)
	return &ecs.RegisterTaskDefinitionInput{
		Family:                        td.Family,
		ContainerDefinitions:          containers,
		Cpu:                           td.Cpu,
		Memory:                        td.Memory,
		EphemeralStorage:              td.EphemeralStorage,
		ExecutionRoleArn:              td.ExecutionRoleArn,
		TaskRoleArn:                   td.TaskRoleArn,
		NetworkMode:                   td.NetworkMode,
		IpcMode:                       td.IpcMode,
		PidMode:                       td.PidMode,
		PlacementConstraints:          td.PlacementConstraints,
		ProxyConfiguration:            td.ProxyConfiguration,
		RequiresCompatibilities:       td.RequiresCompatibilities,
		RuntimePlatform:               td.RuntimePlatform,
		Volumes:                       td.Volumes,
		EnableFaultInjection:          td.EnableFaultInjection,
		InferenceAccelerators:         td.InferenceAccelerators,
		TrustedExecutionConfiguration: td.TrustedExecutionConfiguration,
		Tags:                          userTags(tags),
	}
}

// userTags returns tags without those whose key has the reserved aws: prefix (in any
// case).
func userTags(tags []ecstypes.Tag) []ecstypes.Tag {
	var out []ecstypes.Tag
	for _, t := range tags {
		if !strings.HasPrefix(strings.ToLower(aws.ToString(t.Key)), "aws:") {
			out = append(out, t)
		}
	}
	return out
}
