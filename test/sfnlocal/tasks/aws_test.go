package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// fakeAWS answers the JSON and query APIs the integrations call, recording requests.
type fakeAWS struct {
	mu       sync.Mutex
	requests map[string][]string // target → bodies
	describe int
	exitCode int
	// buildStatus is the status BatchGetBuilds reports (default SUCCEEDED).
	buildStatus string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		form, _ := url.ParseQuery(string(body))
		target = "query." + form.Get("Action")
	}
	f.mu.Lock()
	if f.requests == nil {
		f.requests = map[string][]string{}
	}
	f.requests[target] = append(f.requests[target], string(body))
	f.describe += map[bool]int{true: 1}[strings.HasSuffix(target, ".DescribeTasks")]
	n := f.describe
	buildStatus := f.buildStatus
	f.mu.Unlock()
	if buildStatus == "" {
		buildStatus = "SUCCEEDED"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", "req-1")
	switch target {
	case "DynamoDB_20120810.PutItem":
		if strings.Contains(string(body), `"attribute_not_exists(pk)"`) && strings.Contains(string(body), `"held"`) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	case "DynamoDB_20120810.GetItem":
		_, _ = w.Write([]byte(`{"Item":{"pk":{"S":"lock#api"},"owner":{"S":"e1"},"n":{"N":"3"}}}`))
	case "DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.DeleteItem":
		_, _ = w.Write([]byte(`{"Attributes":{"pk":{"S":"lock#api"}}}`))
	case "AmazonEC2ContainerServiceV20141113.RunTask":
		_, _ = w.Write([]byte(`{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/c/t1","lastStatus":"PROVISIONING","createdAt":1.7e9}],"failures":[]}`))
	case "AmazonEC2ContainerServiceV20141113.DescribeTasks":
		status := []string{"PENDING", "RUNNING", "STOPPED"}[min(n-1, 2)]
		exit := ""
		if status == "STOPPED" {
			exit = `,"exitCode":` + itoa(f.exitCode)
		}
		_, _ = w.Write([]byte(`{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/c/t1","lastStatus":"` + status + `","stoppedAt":1.7e9,"containers":[{"name":"migrate","lastStatus":"` + status + `"` + exit + `}]}],"failures":[]}`))
	case "CodeBuild_20161006.StartBuild":
		_, _ = w.Write([]byte(`{"build":{"id":"p:1","buildStatus":"IN_PROGRESS","startTime":"2026-11-26T11:00:00.123456Z","currentPhase":"QUEUED"}}`))
	case "CodeBuild_20161006.BatchGetBuilds":
		_, _ = w.Write([]byte(`{"builds":[{"id":"p:1","buildStatus":"` + buildStatus + `","buildComplete":true,"startTime":"2026-11-26T11:00:00.123456+00:00","endTime":"2026-11-26 11:05:00","phases":[{"phaseType":"BUILD","startTime":"2026-11-26T11:01:00Z"}]}]}`))
	case "AmazonEC2ContainerRegistry_V20150921.DescribeImages":
		if strings.Contains(string(body), `"missing"`) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ImageNotFoundException","message":"The image with imageId {imageTag:'missing'} does not exist"}`))
			return
		}
		_, _ = w.Write([]byte(`{"imageDetails":[{"imageDigest":"sha256:abc","imageTags":["abc123"],"imagePushedAt":1.7e9,"repositoryName":"app"}]}`))
	case "AmazonSQS.SendMessage":
		_, _ = w.Write([]byte(`{"MessageId":"sqs-1","MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592"}`))
	case "query.Publish":
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<PublishResponse><PublishResult><MessageId>sns-1</MessageId></PublishResult><ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></PublishResponse>`))
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnknownOperationException","message":"` + target + `"}`))
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func (f *fakeAWS) last(target string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests[target]
	if len(r) == 0 {
		return ""
	}
	return r[len(r)-1]
}

func newFakeAWS(t *testing.T) (*fakeAWS, *AWS) {
	f := &fakeAWS{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	}
	a := NewAWS(cfg)
	a.PollInterval = time.Millisecond
	return f, a
}

func TestDynamoDB(t *testing.T) {
	f, a := newFakeAWS(t)
	ctx := context.Background()
	params := `{"TableName":"locks","Item":{"pk":{"S":"lock#api"},"owner":{"S":"e1"}},"ConditionExpression":"attribute_not_exists(pk)"}`
	out, err := a.InvokeTask(ctx, task("arn:aws:states:::dynamodb:putItem", "Lock", params))
	if err != nil {
		t.Fatal(err)
	}
	var sent, wantSent any
	_ = json.Unmarshal([]byte(f.last("DynamoDB_20120810.PutItem")), &sent)
	_ = json.Unmarshal([]byte(params), &wantSent)
	if b1, _ := json.Marshal(sent); string(b1) != mustJSON(wantSent) {
		t.Fatalf("request body %s, want the Parameters %s", f.last("DynamoDB_20120810.PutItem"), params)
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(out, &o); err != nil || o["SdkHttpMetadata"] == nil || !strings.Contains(string(o["SdkResponseMetadata"]), "req-1") {
		t.Fatalf("putItem output %s", out)
	}
	out, err = a.InvokeTask(ctx, task("arn:aws:states:::dynamodb:getItem", "Read", `{"TableName":"locks","Key":{"pk":{"S":"lock#api"}}}`))
	if err != nil || !strings.Contains(string(out), `"Item":{"pk":{"S":"lock#api"},"owner":{"S":"e1"},"n":{"N":"3"}}`) {
		t.Fatalf("getItem output %s %v", out, err)
	}
	for _, op := range []string{"updateItem", "deleteItem"} {
		if out, err := a.InvokeTask(ctx, task("arn:aws:states:::dynamodb:"+op, "X", `{"TableName":"locks","Key":{"pk":{"S":"lock#api"}},"ReturnValues":"ALL_OLD"}`)); err != nil || !strings.Contains(string(out), `"Attributes"`) {
			t.Fatalf("%s: %s %v", op, out, err)
		}
	}
	_, err = a.InvokeTask(ctx, task("arn:aws:states:::dynamodb:putItem", "Lock", `{"TableName":"locks","Item":{"pk":{"S":"held"}},"ConditionExpression":"attribute_not_exists(pk)"}`))
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "DynamoDB.ConditionalCheckFailedException" || !strings.Contains(tf.Cause, "The conditional request failed") {
		t.Fatalf("conditional failure: %v", err)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestECSRunTaskSync(t *testing.T) {
	f, a := newFakeAWS(t)
	ctx := context.Background()
	params := `{"Cluster":"c","TaskDefinition":"migrate:3","LaunchType":"FARGATE","NetworkConfiguration":{"AwsvpcConfiguration":{"Subnets":["s-1"],"SecurityGroups":["sg-1"]}},"Overrides":{"ContainerOverrides":[{"Name":"migrate","Command":["up"],"Environment":[{"Name":"A","Value":"b"}]}]}}`
	out, err := a.InvokeTask(ctx, task("arn:aws:states:::ecs:runTask.sync", "Migrate", params))
	if err != nil {
		t.Fatal(err)
	}
	req := f.last("AmazonEC2ContainerServiceV20141113.RunTask")
	for _, want := range []string{`"cluster":"c"`, `"taskDefinition":"migrate:3"`, `"launchType":"FARGATE"`, `"awsvpcConfiguration":{`, `"environment":[{"name":"A","value":"b"}]`} {
		if !strings.Contains(req, want) {
			t.Errorf("RunTask request %s lacks %s", req, want)
		}
	}
	var o struct {
		LastStatus string
		TaskArn    string
		StoppedAt  int64
		Containers []struct{ ExitCode int }
	}
	if err := json.Unmarshal(out, &o); err != nil || o.LastStatus != "STOPPED" || o.StoppedAt != 1700000000000 || len(o.Containers) != 1 {
		t.Fatalf("runTask.sync output %s", out)
	}
	if f.describe < 3 {
		t.Fatalf("polled %d times", f.describe)
	}
	// A container exiting non-zero fails the task with the description as cause.
	f.describe, f.exitCode = 0, 1
	_, err = a.InvokeTask(ctx, task("arn:aws:states:::ecs:runTask.sync", "Migrate", params))
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "States.TaskFailed" || !strings.Contains(tf.Cause, `"ExitCode":1`) {
		t.Fatalf("exit 1: %v", err)
	}
	// Without .sync: the RunTask response.
	out, err = a.InvokeTask(ctx, task("arn:aws:states:::ecs:runTask", "Migrate", params))
	if err != nil || !strings.Contains(string(out), `"Tasks":[{`) {
		t.Fatalf("runTask: %s %v", out, err)
	}
	// Parameters the API does not know are an error naming the field.
	_, err = a.InvokeTask(ctx, task("arn:aws:states:::ecs:runTask", "Migrate", `{"Clustr":"c"}`))
	if !errors.As(err, &tf) || !strings.Contains(tf.Cause, "Clustr") {
		t.Fatalf("bad parameters: %v", err)
	}
}

func TestCodeBuildSyncToleratesISOTimestamps(t *testing.T) {
	f, a := newFakeAWS(t)
	out, err := a.InvokeTask(context.Background(), task("arn:aws:states:::codebuild:startBuild.sync", "Build", `{"ProjectName":"p","SourceVersion":"abc123","EnvironmentVariablesOverride":[{"Name":"IMAGE_TAG","Value":"abc123","Type":"PLAINTEXT"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if req := f.last("CodeBuild_20161006.StartBuild"); !strings.Contains(req, `"projectName":"p"`) || !strings.Contains(req, `"environmentVariablesOverride":[{`) {
		t.Fatalf("StartBuild request %s", req)
	}
	var o struct {
		Build struct {
			Id          string
			BuildStatus string
			StartTime   int64
			EndTime     int64
			Phases      []struct{ StartTime int64 }
		}
	}
	if err := json.Unmarshal(out, &o); err != nil || o.Build.BuildStatus != "SUCCEEDED" || o.Build.StartTime != at(11, 0, 0)+123 || o.Build.EndTime != at(11, 5, 0) || o.Build.Phases[0].StartTime != at(11, 1, 0) {
		t.Fatalf("startBuild.sync output %s", out)
	}
}

// TestCodeBuildSyncFailedBuild: a build that ends in any status but SUCCEEDED
// fails the task with States.TaskFailed and the build as cause, as Step Functions
// does (moto only ever reports successful builds, so the fake AWS answers here).
func TestCodeBuildSyncFailedBuild(t *testing.T) {
	for _, status := range []string{"FAILED", "FAULT", "STOPPED", "TIMED_OUT"} {
		t.Run(status, func(t *testing.T) {
			f, a := newFakeAWS(t)
			f.buildStatus = status
			out, err := a.InvokeTask(context.Background(), task("arn:aws:states:::codebuild:startBuild.sync", "Build", `{"ProjectName":"p"}`))
			var tf *asl.TaskFailure
			if !errors.As(err, &tf) {
				t.Fatalf("a %s build: output %s, error %v; want a TaskFailure", status, out, err)
			}
			var cause struct {
				Build struct{ Id, BuildStatus string }
			}
			if tf.Name != "States.TaskFailed" || json.Unmarshal([]byte(tf.Cause), &cause) != nil || cause.Build.BuildStatus != status || cause.Build.Id != "p:1" {
				t.Errorf("a %s build: Error %q, Cause %s; want States.TaskFailed with the build", status, tf.Name, tf.Cause)
			}
		})
	}
}

func at(h, m, s int) int64 { return time.Date(2026, 11, 26, h, m, s, 0, time.UTC).UnixMilli() }

func TestSNSAndSQS(t *testing.T) {
	f, a := newFakeAWS(t)
	ctx := context.Background()
	out, err := a.InvokeTask(ctx, task("arn:aws:states:::sns:publish.waitForTaskToken", "Approve", `{"TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":{"token":"tok","service":"api"},"Subject":"approve"}`))
	if err != nil || !strings.Contains(string(out), `"MessageId":"sns-1"`) {
		t.Fatalf("publish: %s %v", out, err)
	}
	form, _ := url.ParseQuery(f.last("query.Publish"))
	if form.Get("Message") != `{"token":"tok","service":"api"}` || form.Get("Subject") != "approve" {
		t.Fatalf("Publish form %v", form)
	}
	out, err = a.InvokeTask(ctx, task("arn:aws:states:::sqs:sendMessage.waitForTaskToken", "Queue", `{"QueueUrl":"http://127.0.0.1/q","MessageBody":"hello","DelaySeconds":1}`))
	if err != nil || !strings.Contains(string(out), `"MessageId":"sqs-1"`) || !strings.Contains(string(out), `"MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592"`) {
		t.Fatalf("sendMessage: %s %v", out, err)
	}
	if req := f.last("AmazonSQS.SendMessage"); !strings.Contains(req, `"MessageBody":"hello"`) || !strings.Contains(req, `"DelaySeconds":1`) {
		t.Fatalf("SendMessage request %s", req)
	}
	_, err = a.InvokeTask(ctx, task("arn:aws:states:::sns:publish.sync", "X", `{}`))
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "States.Runtime" {
		t.Fatalf("unsupported variant: %v", err)
	}
}

func TestAWSSDKIntegration(t *testing.T) {
	f, a := newFakeAWS(t)
	ctx := context.Background()
	out, err := a.InvokeTask(ctx, task("arn:aws:states:::aws-sdk:ecr:describeImages", "CheckImage", `{"RepositoryName":"app","ImageIds":[{"ImageTag":"abc123"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if req := f.last("AmazonEC2ContainerRegistry_V20150921.DescribeImages"); !strings.Contains(req, `"repositoryName":"app"`) || !strings.Contains(req, `"imageIds":[{"imageTag":"abc123"}]`) {
		t.Fatalf("request %s", req)
	}
	var o struct {
		ImageDetails []struct {
			ImageDigest   string
			ImagePushedAt int64
		}
	}
	if err := json.Unmarshal(out, &o); err != nil || len(o.ImageDetails) != 1 || o.ImageDetails[0].ImageDigest != "sha256:abc" || o.ImageDetails[0].ImagePushedAt != 1700000000000 {
		t.Fatalf("output %s", out)
	}
	_, err = a.InvokeTask(ctx, task("arn:aws:states:::aws-sdk:ecr:describeImages", "CheckImage", `{"RepositoryName":"app","ImageIds":[{"ImageTag":"missing"}]}`))
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "Ecr.ImageNotFoundException" || !strings.Contains(tf.Cause, "does not exist") {
		t.Fatalf("missing image: %v", err)
	}
	// DynamoDB through aws-sdk keeps the API's JSON as is.
	out, err = a.InvokeTask(ctx, task("arn:aws:states:::aws-sdk:dynamodb:getItem", "Read", `{"TableName":"locks","Key":{"pk":{"S":"lock#api"}}}`))
	if err != nil || !strings.Contains(string(out), `"owner":{"S":"e1"}`) {
		t.Fatalf("aws-sdk dynamodb: %s %v", out, err)
	}
	for _, bad := range []string{"arn:aws:states:::aws-sdk:ecr:noSuchAction", "arn:aws:states:::aws-sdk:nosuchservice:x", "arn:aws:states:::aws-sdk:ecr:describeImages.sync"} {
		if _, err := a.InvokeTask(ctx, task(bad, "X", `{}`)); !errors.As(err, &tf) || tf.Name != "States.Runtime" {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := a.InvokeTask(ctx, task("arn:aws:states:::aws-sdk:ecr:describeImages", "X", `{"RepositoryNam":"x"}`)); !errors.As(err, &tf) || !strings.Contains(tf.Cause, "RepositoryNam") {
		t.Errorf("typo in Parameters: %v", err)
	}
}
