// Package motofixture creates the AWS resources that the tests of the local Step
// Functions service need in the AWS emulator (moto) before a state machine can
// use them.
package motofixture

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
)

// CodeBuildProject creates a CodeBuild project named name, building
// sources/NAME.zip from S3 without artifacts.
func CodeBuildProject(ctx context.Context, cfg aws.Config, name string) error {
	_, err := codebuild.NewFromConfig(cfg).CreateProject(ctx, &codebuild.CreateProjectInput{
		Name:        aws.String(name),
		Source:      &cbtypes.ProjectSource{Type: cbtypes.SourceTypeS3, Location: aws.String("sources/" + name + ".zip")},
		Artifacts:   &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeNoArtifacts},
		Environment: &cbtypes.ProjectEnvironment{Type: cbtypes.EnvironmentTypeLinuxContainer, Image: aws.String("aws/codebuild/standard:7.0"), ComputeType: cbtypes.ComputeTypeBuildGeneral1Small},
		ServiceRole: aws.String("arn:aws:iam::123456789012:role/codebuild"),
	})
	if err != nil {
		return fmt.Errorf("create CodeBuild project %s: %w", name, err)
	}
	return nil
}
