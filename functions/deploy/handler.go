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

	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
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
	serviceUpdater interface {
		UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	}
	ecsAPI interface {
		servicesDescriber
		taskDefinitionDescriber
		taskDefinitionRegisterer
		serviceUpdater
	}
)

var _ ecsAPI = (*ecs.Client)(nil)

// Errors the deploy state machine can catch by name: aws-lambda-go reports a returned
// error's Go type name as the Step Functions Error.

// InvalidDeployRequest: the input is missing a field or malformed. Nothing changed.
type InvalidDeployRequest struct{ Reason string }

func (e *InvalidDeployRequest) Error() string { return e.Reason }

// ServiceNotFound: the cluster has no active service of that name. Nothing changed.
type ServiceNotFound struct{ Cluster, Service string }

func (e *ServiceNotFound) Error() string {
	return fmt.Sprintf("ECS service %q not found (or not ACTIVE) in cluster %q", e.Service, e.Cluster)
}

// ContainerNotFound: the service's task definition has no container of that name.
// Nothing changed.
type ContainerNotFound struct{ TaskDefinition, Container string }

func (e *ContainerNotFound) Error() string {
	return fmt.Sprintf("task definition %s has no container named %q", e.TaskDefinition, e.Container)
}

// ECSCallFailed: an ECS API call failed; the cause says which and why. Retriable.
type ECSCallFailed struct{ Reason string }

func (e *ECSCallFailed) Error() string { return e.Reason }

// Deployer registers a task-definition revision with the new image and points the
// service at it.
type Deployer struct {
	ecs ecsAPI
	log *slog.Logger
}

// NewDeployer returns a Deployer over the given ECS client.
func NewDeployer(client ecsAPI, log *slog.Logger) *Deployer {
	return &Deployer{ecs: client, log: log}
}

// Handle deploys one service. It is idempotent: when the service already runs a task
// definition whose container has the requested image, it registers nothing and
// reports that task definition; when an earlier attempt registered the revision but
// failed to update the service, it reuses that revision.
func (d *Deployer) Handle(ctx context.Context, inv payload.Invocation[payload.DeployRequest]) (payload.DeployResult, error) {
	req := inv.Input
	log := logging.ForExecution(d.log, inv.ExecutionID).With(slog.String("service", req.Service), slog.String("environment", req.Environment))
	if err := req.Validate(); err != nil {
		return payload.DeployResult{}, &InvalidDeployRequest{Reason: err.Error()}
	}

	svc, err := d.describeService(ctx, req.Cluster, req.ECSService)
	if err != nil {
		return payload.DeployResult{}, err
	}
	current := aws.ToString(svc.TaskDefinition)
	result := payload.DeployResult{Cluster: req.Cluster, ECSService: req.ECSService, PreviousTaskDefinition: current, Image: req.Image}

	td, tags, err := d.describeTaskDefinition(ctx, current)
	if err != nil {
		return payload.DeployResult{}, err
	}
	idx := containerIndex(td.ContainerDefinitions, req.Container)
	if idx < 0 {
		return payload.DeployResult{}, &ContainerNotFound{TaskDefinition: current, Container: req.Container}
	}
	if aws.ToString(td.ContainerDefinitions[idx].Image) == req.Image {
		log.Info("service already runs the requested image", slog.String("taskDefinition", current), slog.String("image", req.Image))
		result.TaskDefinition = current
		return result, nil
	}

	in := registerInputFrom(td, tags)
	in.ContainerDefinitions[idx].Image = aws.String(req.Image)
	next := d.registered(ctx, in, current, log)
	if next != "" {
		log.Info("reusing the revision an earlier attempt registered", slog.String("taskDefinition", next), slog.String("image", req.Image))
	} else {
		reg, err := d.ecs.RegisterTaskDefinition(ctx, in)
		if err != nil {
			return payload.DeployResult{}, &ECSCallFailed{Reason: fmt.Sprintf("failed to register a new revision of %s: %v", aws.ToString(td.Family), err)}
		}
		next = aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
		log.Info("registered task definition", slog.String("taskDefinition", next), slog.String("image", req.Image))
	}

	if _, err := d.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster:        aws.String(req.Cluster),
		Service:        aws.String(req.ECSService),
		TaskDefinition: aws.String(next),
	}); err != nil {
		return payload.DeployResult{}, &ECSCallFailed{Reason: fmt.Sprintf("failed to update service %s to %s: %v", req.ECSService, next, err)}
	}
	log.Info("updated service", slog.String("from", current), slog.String("to", next))
	result.TaskDefinition = next
	return result, nil
}

func (d *Deployer) describeService(ctx context.Context, cluster, service string) (ecstypes.Service, error) {
	out, err := d.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		var notFound *ecstypes.ClusterNotFoundException
		if errors.As(err, &notFound) {
			return ecstypes.Service{}, &ServiceNotFound{Cluster: cluster, Service: service}
		}
		return ecstypes.Service{}, &ECSCallFailed{Reason: fmt.Sprintf("failed to describe service %s in cluster %s: %v", service, cluster, err)}
	}
	for _, s := range out.Services {
		if aws.ToString(s.ServiceName) == service && aws.ToString(s.Status) == "ACTIVE" {
			return s, nil
		}
	}
	return ecstypes.Service{}, &ServiceNotFound{Cluster: cluster, Service: service}
}

func (d *Deployer) describeTaskDefinition(ctx context.Context, arn string) (*ecstypes.TaskDefinition, []ecstypes.Tag, error) {
	out, err := d.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		return nil, nil, &ECSCallFailed{Reason: fmt.Sprintf("failed to describe task definition %s: %v", arn, err)}
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
