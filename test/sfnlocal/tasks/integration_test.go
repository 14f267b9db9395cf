package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/internal/motofixture"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

func call(t *testing.T, a *tasks.AWS, resource, params string) (json.RawMessage, error) {
	t.Helper()
	return a.InvokeTask(context.Background(), asl.Task{Resource: resource, StateName: "S", Input: json.RawMessage(params)})
}

// TestIntegrationsAgainstMoto runs every SDK integration against the local AWS emulator.
func TestIntegrationsAgainstMoto(t *testing.T) {
	cfg := harness.StartMoto(t).Config(context.Background())
	a := tasks.NewAWS(cfg)
	a.PollInterval = 10 * time.Millisecond
	ctx := context.Background()

	// DynamoDB: a conditional lock.
	ddb := dynamodb.NewFromConfig(cfg)
	if _, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("locks"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	lock := `{"TableName":"locks","Item":{"pk":{"S":"lock#api"},"owner":{"S":"e1"}},"ConditionExpression":"attribute_not_exists(pk)"}`
	if _, err := call(t, a, "arn:aws:states:::dynamodb:putItem", lock); err != nil {
		t.Fatal(err)
	}
	_, err := call(t, a, "arn:aws:states:::dynamodb:putItem", lock)
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "DynamoDB.ConditionalCheckFailedException" {
		t.Fatalf("second lock: %v", err)
	}
	out, err := call(t, a, "arn:aws:states:::dynamodb:getItem", `{"TableName":"locks","Key":{"pk":{"S":"lock#api"}}}`)
	if err != nil || !strings.Contains(string(out), `"owner":{"S":"e1"}`) {
		t.Fatalf("getItem %s %v", out, err)
	}
	out, err = call(t, a, "arn:aws:states:::dynamodb:updateItem", `{"TableName":"locks","Key":{"pk":{"S":"lock#api"}},"UpdateExpression":"SET #o = :o","ExpressionAttributeNames":{"#o":"owner"},"ExpressionAttributeValues":{":o":{"S":"e2"}},"ReturnValues":"ALL_NEW"}`)
	if err != nil || !strings.Contains(string(out), `"owner":{"S":"e2"}`) {
		t.Fatalf("updateItem %s %v", out, err)
	}
	if out, err = call(t, a, "arn:aws:states:::dynamodb:deleteItem", `{"TableName":"locks","Key":{"pk":{"S":"lock#api"}}}`); err != nil {
		t.Fatalf("deleteItem %s %v", out, err)
	}

	// ECS: runTask.sync until STOPPED.
	ecsc := ecs.NewFromConfig(cfg)
	if _, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("migrate"), NetworkMode: ecstypes.NetworkModeBridge,
		Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("migrate"), Image: aws.String("migrate:1"), Essential: aws.Bool(true), Cpu: 256, Memory: aws.Int32(512)}},
	}); err != nil {
		t.Fatal(err)
	}
	out, err = call(t, a, "arn:aws:states:::ecs:runTask.sync", `{"Cluster":"c","TaskDefinition":"migrate","LaunchType":"FARGATE","Overrides":{"ContainerOverrides":[{"Name":"migrate","Command":["up"]}]}}`)
	if err != nil {
		t.Fatalf("runTask.sync: %v", err)
	}
	var task struct{ LastStatus, TaskArn string }
	if err := json.Unmarshal(out, &task); err != nil || task.LastStatus != "STOPPED" || task.TaskArn == "" {
		t.Fatalf("runTask.sync output %s", out)
	}

	// CodeBuild: startBuild.sync, despite moto's ISO timestamps.
	if err := motofixture.CodeBuildProject(ctx, cfg, "app"); err != nil {
		t.Fatal(err)
	}
	out, err = call(t, a, "arn:aws:states:::codebuild:startBuild.sync", `{"ProjectName":"app","SourceVersion":"abc123"}`)
	if err != nil {
		t.Fatalf("startBuild.sync: %v", err)
	}
	if !strings.Contains(string(out), `"BuildStatus":"SUCCEEDED"`) {
		t.Fatalf("startBuild.sync output %s", out)
	}

	// SNS and SQS.
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("approvals")})
	if err != nil {
		t.Fatal(err)
	}
	if out, err = call(t, a, "arn:aws:states:::sns:publish.waitForTaskToken", `{"TopicArn":"`+aws.ToString(topic.TopicArn)+`","Message":{"token":"t"}}`); err != nil || !strings.Contains(string(out), `"MessageId"`) {
		t.Fatalf("publish %s %v", out, err)
	}
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("callbacks")})
	if err != nil {
		t.Fatal(err)
	}
	if out, err = call(t, a, "arn:aws:states:::sqs:sendMessage.waitForTaskToken", `{"QueueUrl":"`+aws.ToString(q.QueueUrl)+`","MessageBody":{"token":"t"}}`); err != nil || !strings.Contains(string(out), `"MD5OfMessageBody"`) {
		t.Fatalf("sendMessage %s %v", out, err)
	}

	// aws-sdk:ecr:describeImages, as the deploy state machine checks a prebuilt image.
	ecrc := ecr.NewFromConfig(cfg)
	if _, err := ecrc.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001"},"layers":[]}`
	if _, err := ecrc.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageTag: aws.String("abc123"), ImageManifest: aws.String(manifest),
		ImageManifestMediaType: aws.String("application/vnd.docker.distribution.manifest.v2+json")}); err != nil {
		t.Fatal(err)
	}
	out, err = call(t, a, "arn:aws:states:::aws-sdk:ecr:describeImages", `{"RepositoryName":"app","ImageIds":[{"ImageTag":"abc123"}]}`)
	if err != nil || !strings.Contains(string(out), `"ImageDigest":"sha256:`) {
		t.Fatalf("describeImages %s %v", out, err)
	}
	_, err = call(t, a, "arn:aws:states:::aws-sdk:ecr:describeImages", `{"RepositoryName":"app","ImageIds":[{"ImageTag":"nope"}]}`)
	if !errors.As(err, &tf) || tf.Name != "Ecr.ImageNotFoundException" {
		t.Fatalf("missing image: %v", err)
	}
}
