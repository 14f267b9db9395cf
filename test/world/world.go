// Package world seeds and inspects the emulated AWS account that stepship's
// integration tests and `make demo` run against: an ECS cluster with a service on
// revision 1 of its task definition, the webhook secret in Secrets Manager, and
// the build project. It talks to whatever endpoint the aws.Config points at (the
// local AWS emulator in tests), through the ordinary SDK clients.
package world

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Spec names what Seed creates.
type Spec struct {
	Cluster       string // ECS cluster
	Service       string // ECS service
	Container     string // the container the deploy replaces the image of
	Family        string // task-definition family
	Image         string // image of revision 1
	SecretName    string // Secrets Manager name of the webhook secret
	WebhookSecret string // its value: a keyring (shared/webhook.ParseKeyring)
	GitHubSecret  string // the keyring's github key: what the demo's pushes are signed with
	BuildProject  string // CodeBuild project that builds the image
	ECRRepository string // ECR repository of the image
	Repository    string // git repository (owner/name)
}

// Demo is the spec of `make demo` and of the thin-path integration test; it
// matches catalog.yaml.
func Demo() Spec {
	return Spec{
		Cluster:       "stepship-demo",
		Service:       "web",
		Container:     "web",
		Family:        "web",
		Image:         "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1",
		SecretName:    "stepship/webhook",
		WebhookSecret: `{"github": "It's a Secret to Everybody"}`,
		GitHubSecret:  "It's a Secret to Everybody",
		BuildProject:  "web-build",
		ECRRepository: "web",
		Repository:    "acme/web",
	}
}

// Seeded is what Seed created.
type Seeded struct {
	ClusterARN     string
	ServiceARN     string
	TaskDefinition string // revision 1
	SecretARN      string
}

// Seed creates the spec's resources.
func Seed(ctx context.Context, cfg aws.Config, s Spec) (*Seeded, error) {
	ecsc := ecs.NewFromConfig(cfg)
	cl, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(s.Cluster)})
	if err != nil {
		return nil, fmt.Errorf("failed to create cluster %s: %w", s.Cluster, err)
	}
	td, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(s.Family),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:         aws.String(s.Container),
			Image:        aws.String(s.Image),
			Essential:    aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to register task definition %s: %w", s.Family, err)
	}
	svc, err := ecsc.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster:        cl.Cluster.ClusterArn,
		ServiceName:    aws.String(s.Service),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
		DesiredCount:   aws.Int32(1),
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create service %s: %w", s.Service, err)
	}
	sec, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(s.SecretName),
		SecretString: aws.String(s.WebhookSecret),
		Description:  aws.String("stepship webhook keyring (demo)"),
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create secret %s: %w", s.SecretName, err)
	}
	if err := seedBuild(ctx, cfg, s); err != nil {
		return nil, err
	}
	return &Seeded{
		ClusterARN:     aws.ToString(cl.Cluster.ClusterArn),
		ServiceARN:     aws.ToString(svc.Service.ServiceArn),
		TaskDefinition: aws.ToString(td.TaskDefinition.TaskDefinitionArn),
		SecretARN:      aws.ToString(sec.ARN),
	}, nil
}

// ServiceState is what a service runs now.
type ServiceState struct {
	TaskDefinition string
	Revision       int32
	Images         map[string]string // container → image
}

// Service describes the spec's service and its task definition.
func Service(ctx context.Context, cfg aws.Config, s Spec) (ServiceState, error) {
	ecsc := ecs.NewFromConfig(cfg)
	out, err := ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(s.Cluster), Services: []string{s.Service}})
	if err != nil {
		return ServiceState{}, fmt.Errorf("failed to describe service %s: %w", s.Service, err)
	}
	if len(out.Services) != 1 {
		return ServiceState{}, fmt.Errorf("service %s not found in %s", s.Service, s.Cluster)
	}
	arn := aws.ToString(out.Services[0].TaskDefinition)
	td, err := ecsc.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if err != nil {
		return ServiceState{}, fmt.Errorf("failed to describe task definition %s: %w", arn, err)
	}
	st := ServiceState{TaskDefinition: arn, Revision: td.TaskDefinition.Revision, Images: map[string]string{}}
	for _, c := range td.TaskDefinition.ContainerDefinitions {
		st.Images[aws.ToString(c.Name)] = aws.ToString(c.Image)
	}
	return st, nil
}

func seedBuild(ctx context.Context, cfg aws.Config, s Spec) error {
	if _, err := ecr.NewFromConfig(cfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:     aws.String(s.ECRRepository),
		ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{
			ScanOnPush: true,
		},
	}); err != nil {
		return fmt.Errorf("failed to create ECR repository %s: %w", s.ECRRepository, err)
	}
	if _, err := codebuild.NewFromConfig(cfg).CreateProject(ctx, &codebuild.CreateProjectInput{
		Name:        aws.String(s.BuildProject),
		Description: aws.String("builds and pushes the image tagged with the commit SHA (IMAGE_TAG)"),
		Source: &cbtypes.ProjectSource{
			Type:     cbtypes.SourceTypeGithub,
			Location: aws.String("https://github.com/" + s.Repository + ".git"),
		},
		Artifacts:   &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeNoArtifacts},
		Environment: &cbtypes.ProjectEnvironment{Type: cbtypes.EnvironmentTypeArmContainer, Image: aws.String("aws/codebuild/amazonlinux-aarch64-standard:3.0"), ComputeType: cbtypes.ComputeTypeBuildGeneral1Small, PrivilegedMode: aws.Bool(true)},
		ServiceRole: aws.String("arn:aws:iam::123456789012:role/stepship-demo-build"),
	}); err != nil {
		return fmt.Errorf("failed to create CodeBuild project %s: %w", s.BuildProject, err)
	}
	return nil
}

// PushImage records an image tag in the spec's ECR repository, as a build
// would: the buildspec of a codebuild service (the emulator's CodeBuild runs
// no buildspec) or a build elsewhere for a prebuilt one. Each tag gets its own
// manifest, so its own digest, which it returns.
func PushImage(ctx context.Context, cfg aws.Config, s Spec, tag string) (string, error) {
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[],"annotations":{"org.opencontainers.image.revision":"` + tag + `"}}`
	sum := sha256.Sum256([]byte(manifest))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	_, err := ecr.NewFromConfig(cfg).PutImage(ctx, &ecr.PutImageInput{
		RepositoryName:         aws.String(s.ECRRepository),
		ImageManifest:          aws.String(manifest),
		ImageManifestMediaType: aws.String("application/vnd.docker.distribution.manifest.v2+json"),
		ImageTag:               aws.String(tag),
		ImageDigest:            aws.String(digest),
	})
	if err != nil {
		return "", fmt.Errorf("failed to put image %s:%s: %w", s.ECRRepository, tag, err)
	}
	return digest, nil
}
