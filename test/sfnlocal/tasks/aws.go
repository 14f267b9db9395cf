package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/uuid"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// AWS runs Step Functions' service integrations through the AWS SDK. All clients are
// built from one aws.Config, so AWS_ENDPOINT_URL (config.LoadDefaultConfig reads it)
// points every call at a local emulator. Supported resources
// (arn:aws:states:::SERVICE:ACTION[.sync|.waitForTaskToken]):
//
//	dynamodb:putItem, dynamodb:updateItem, dynamodb:deleteItem, dynamodb:getItem
//	ecs:runTask, ecs:runTask.sync, ecs:runTask.waitForTaskToken
//	codebuild:startBuild, codebuild:startBuild.sync
//	sns:publish, sns:publish.waitForTaskToken
//	sqs:sendMessage, sqs:sendMessage.waitForTaskToken
//	lambda:invoke, lambda:invoke.waitForTaskToken (through the Lambda API)
//	states:startExecution, states:startExecution.sync, states:startExecution.sync:2
//	  (a child execution in the service itself: SelfEndpoint)
//	aws-sdk:SERVICE:action[.waitForTaskToken] for cloudwatch, codebuild, dynamodb,
//	  ecr, ecs, lambda, rds, secretsmanager, sfn, sns, sqs (any action of the SDK
//	  client, in the region of the execution's state machine)
//
// For ".waitForTaskToken" the call is made and the runner waits for the token.
type AWS struct {
	// PollInterval is the wait between .sync polls (default 5 s, divided by the
	// clock's scale when Clock is a scaled clock the caller configured accordingly).
	PollInterval time.Duration
	// SelfEndpoint, when set, returns the URL of the local Step Functions
	// service these integrations run in: aws-sdk:sfn:… calls go there, as
	// on AWS an execution's sfn calls reach Step Functions itself (an
	// execution asking about another one must find it). It is asked on the
	// first such call, so it may return a URL known only once serving.
	SelfEndpoint func() string

	cfg       aws.Config
	once      sync.Once
	dynamodb  *dynamodb.Client
	ecs       *ecs.Client
	codebuild *codebuild.Client
	sns       *sns.Client
	sqs       *sqs.Client
	lambda    *Lambda

	sdkOnce sync.Once
	sdk     map[string]sdkService
}

// NewAWS returns service integrations calling AWS with cfg.
func NewAWS(cfg aws.Config) *AWS { return &AWS{cfg: cfg} }

func (a *AWS) clients() {
	a.once.Do(func() {
		a.dynamodb = dynamodb.NewFromConfig(a.cfg)
		a.ecs = ecs.NewFromConfig(a.cfg, func(o *ecs.Options) {
			o.APIOptions = append(o.APIOptions, rawAPI(nil, nil, ecsNumbersAsStrings))
		})
		a.codebuild = codebuild.NewFromConfig(a.cfg, func(o *codebuild.Options) {
			o.APIOptions = append(o.APIOptions, rawAPI(nil, nil, epochTimestamps))
		})
		a.sns = sns.NewFromConfig(a.cfg)
		a.sqs = sqs.NewFromConfig(a.cfg)
		a.lambda = NewLambda()
		a.lambda.Client = lambdasvc.NewFromConfig(a.cfg)
	})
}

// LambdaClient returns the Lambda API client built from the config (for Lambda.Client).
func (a *AWS) LambdaClient() *lambdasvc.Client {
	a.clients()
	return a.lambda.Client
}

func (a *AWS) poll() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return 5 * time.Second
}

// InvokeTask implements asl.TaskInvoker.
func (a *AWS) InvokeTask(ctx context.Context, task asl.Task) (json.RawMessage, error) {
	a.clients()
	rest, ok := strings.CutPrefix(task.Resource, "arn:aws:states:::")
	if !ok {
		return nil, unsupported(task)
	}
	action, variant, _ := strings.Cut(rest, ".")
	input := task.Input
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if service, op, ok := splitSDK(action); ok {
		if variant != "" && variant != "waitForTaskToken" {
			return nil, unsupported(task)
		}
		return a.awsSDK(ctx, task, service, op, input)
	}
	if action == "states:startExecution" {
		if variant != "" && variant != "sync" && variant != "sync:2" {
			return nil, unsupported(task)
		}
		return a.startExecution(ctx, task, input, variant)
	}
	if variant != "" && variant != "sync" && variant != "waitForTaskToken" {
		return nil, unsupported(task)
	}
	switch action {
	case "dynamodb:putItem", "dynamodb:updateItem", "dynamodb:deleteItem", "dynamodb:getItem":
		if variant != "" {
			return nil, unsupported(task)
		}
		return a.dynamo(ctx, strings.TrimPrefix(action, "dynamodb:"), input)
	case "ecs:runTask":
		return a.runTask(ctx, input, variant == "sync", task)
	case "codebuild:startBuild":
		if variant == "waitForTaskToken" {
			return nil, unsupported(task)
		}
		return a.startBuild(ctx, input, variant == "sync")
	case "sns:publish":
		if variant == "sync" {
			return nil, unsupported(task)
		}
		return a.publish(ctx, input)
	case "sqs:sendMessage":
		if variant == "sync" {
			return nil, unsupported(task)
		}
		return a.sendMessage(ctx, input)
	case "lambda:invoke":
		if variant == "sync" {
			return nil, unsupported(task)
		}
		return a.lambda.InvokeTask(ctx, task)
	}
	return nil, unsupported(task)
}

func unsupported(task asl.Task) error {
	return &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("state %q: the local Step Functions service does not support resource %q", task.StateName, task.Resource)}
}

func badParameters(service string, err error) error {
	return &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("the Parameters do not fit the %s API: %v", service, err)}
}

// serviceFailure names an SDK error as Step Functions does: "SERVICE.ErrorCode", with
// the message and the call's details as cause.
func serviceFailure(service string, err error) error {
	return serviceFailureNamed(service, "", err)
}

// serviceFailureNamed is serviceFailure with the error's name after the
// service given (the API error's code when empty).
func serviceFailureNamed(service, name string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if name == "" {
			name = ae.ErrorCode()
		}
		status, reqID := 0, ""
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
			if re.Response != nil {
				reqID = re.Response.Header.Get("X-Amzn-Requestid")
			}
		}
		return &asl.TaskFailure{
			Name:  service + "." + name,
			Cause: fmt.Sprintf("%s (Service: %s; Status Code: %d; Error Code: %s; Request ID: %s; Proxy: null)", ae.ErrorMessage(), service, status, ae.ErrorCode(), reqID),
		}
	}
	return fmt.Errorf("call %s: %w", service, err)
}

// rawAPI returns API options that send body as the operation's request payload
// (bypassing the SDK's input structs and their validation, for APIs whose JSON shape
// is the ASL Parameters' shape) and keep the raw response body in *raw. rewrite, when
// set, edits the response body before the SDK deserializes it.
func rawAPI(body []byte, raw *[]byte, rewrite func([]byte) []byte) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		if body != nil {
			_, _ = st.Initialize.Remove("OperationInputValidation")
			if err := st.Serialize.Add(middleware.SerializeMiddlewareFunc("StepshipRawBody", func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
				req, ok := in.Request.(*smithyhttp.Request)
				if !ok {
					return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected request type %T", in.Request)
				}
				r, err := req.SetStream(bytes.NewReader(body))
				if err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				r.ContentLength = int64(len(body))
				in.Request = r
				return next.HandleSerialize(ctx, in)
			}), middleware.After); err != nil {
				return err
			}
		}
		return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("StepshipRawResponse", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if err != nil {
				return out, md, err
			}
			resp, ok := out.RawResponse.(*smithyhttp.Response)
			if !ok || resp.Body == nil {
				return out, md, err
			}
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil {
				return out, md, rerr
			}
			if rewrite != nil && resp.StatusCode/100 == 2 {
				b = rewrite(b)
				resp.Header.Del("Content-Length")
				resp.ContentLength = int64(len(b))
			}
			if raw != nil {
				*raw = b
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return out, md, nil
		}), middleware.After)
	}
}

// withMetadata adds the SdkHttpMetadata/SdkResponseMetadata members Step Functions puts
// in an integration's output to the JSON object body.
func withMetadata(body []byte, reqID string) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("the service answered with something that is not a JSON object: %w", err)
		}
	}
	if reqID == "" {
		reqID = uuid.NewString()
	}
	md, _ := json.Marshal(httpMetadata(reqID, len(body), map[string]string{"Content-Type": "application/x-amz-json-1.0"}))
	m["SdkHttpMetadata"] = md
	m["SdkResponseMetadata"], _ = json.Marshal(map[string]string{"RequestId": reqID})
	return json.Marshal(m)
}

func requestIDOf(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// dynamo calls a DynamoDB item API with the Parameters as the request body: they are
// already the API's JSON shape (PascalCase, AttributeValue maps), which the SDK's
// union types cannot unmarshal.
func (a *AWS) dynamo(ctx context.Context, op string, input json.RawMessage) (json.RawMessage, error) {
	var raw []byte
	opt := func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, rawAPI(input, &raw, nil)) }
	var md middleware.Metadata
	var err error
	switch op {
	case "putItem":
		var out *dynamodb.PutItemOutput
		if out, err = a.dynamodb.PutItem(ctx, &dynamodb.PutItemInput{}, opt); err == nil {
			md = out.ResultMetadata
		}
	case "updateItem":
		var out *dynamodb.UpdateItemOutput
		if out, err = a.dynamodb.UpdateItem(ctx, &dynamodb.UpdateItemInput{}, opt); err == nil {
			md = out.ResultMetadata
		}
	case "deleteItem":
		var out *dynamodb.DeleteItemOutput
		if out, err = a.dynamodb.DeleteItem(ctx, &dynamodb.DeleteItemInput{}, opt); err == nil {
			md = out.ResultMetadata
		}
	case "getItem":
		var out *dynamodb.GetItemOutput
		if out, err = a.dynamodb.GetItem(ctx, &dynamodb.GetItemInput{}, opt); err == nil {
			md = out.ResultMetadata
		}
	}
	if err != nil {
		return nil, serviceFailure("DynamoDB", err)
	}
	return withMetadata(raw, requestIDOf(md))
}

// strictUnmarshal decodes ASL Parameters into an SDK input struct (field names match
// the API's PascalCase member names).
func strictUnmarshal(input json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(input))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (a *AWS) runTask(ctx context.Context, input json.RawMessage, sync bool, task asl.Task) (json.RawMessage, error) {
	var in ecs.RunTaskInput
	if err := strictUnmarshal(input, &in); err != nil {
		return nil, badParameters("ECS RunTask", err)
	}
	out, err := a.ecs.RunTask(ctx, &in)
	if err != nil {
		return nil, serviceFailure("ECS", err)
	}
	if len(out.Tasks) == 0 {
		cause, _ := json.Marshal(map[string]any{"Failures": Shape(out.Failures)})
		return nil, &asl.TaskFailure{Name: "ECS.AmazonECSException", Cause: string(cause)}
	}
	if !sync {
		b, _ := json.Marshal(map[string]any{"Tasks": Shape(out.Tasks), "Failures": Shape(out.Failures)})
		return withMetadata(b, requestIDOf(out.ResultMetadata))
	}
	arns := make([]string, 0, len(out.Tasks))
	for _, t := range out.Tasks {
		arns = append(arns, aws.ToString(t.TaskArn))
	}
	maxWait := task.Timeout
	if maxWait <= 0 {
		maxWait = 365 * 24 * time.Hour
	}
	w := ecs.NewTasksStoppedWaiter(a.ecs, func(o *ecs.TasksStoppedWaiterOptions) {
		o.MinDelay = a.poll()
		o.MaxDelay = a.poll()
	})
	desc, err := w.WaitForOutput(ctx, &ecs.DescribeTasksInput{Cluster: in.Cluster, Tasks: arns}, maxWait)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, serviceFailure("ECS", err)
	}
	if len(desc.Tasks) == 0 {
		return nil, &asl.TaskFailure{Name: errname.TaskFailed, Cause: "ECS DescribeTasks returned no task for " + strings.Join(arns, ", ")}
	}
	t := desc.Tasks[0]
	b, err := json.Marshal(Shape(t))
	if err != nil {
		return nil, err
	}
	if failed(t) {
		return nil, &asl.TaskFailure{Name: errname.TaskFailed, Cause: string(b)}
	}
	return b, nil
}

// failed reports whether a stopped ECS task failed: a container exited non-zero, or an
// essential container never ran (no exit code) while the task did not stop normally.
func failed(t ecstypes.Task) bool {
	for _, c := range t.Containers {
		if c.ExitCode != nil && *c.ExitCode != 0 {
			return true
		}
	}
	switch t.StopCode {
	case ecstypes.TaskStopCodeTaskFailedToStart:
		return true
	}
	return false
}

// ecsNumbersAsStrings turns numeric cpu/memory/memoryReservation members of ECS
// task descriptions into the strings the API defines (moto sends numbers, which the
// SDK rejects); the integer members of containerOverrides are left alone.
func ecsNumbersAsStrings(body []byte) []byte {
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return body
	}
	changed := false
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch k {
				case "containerOverrides", "containerDefinitions":
					continue
				case "cpu", "memory", "memoryReservation":
					if n, ok := e.(json.Number); ok {
						x[k] = n.String()
						changed = true
						continue
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if !changed {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// isoTime matches the ISO timestamps moto puts where the CodeBuild API has epoch numbers.
var isoTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$`)

// epochTimestamps rewrites ISO timestamp strings in a JSON document into epoch
// seconds, the awsJson protocols' timestamp format (moto's CodeBuild sends ISO
// strings the SDK cannot parse: moto issue 7947).
func epochTimestamps(body []byte) []byte {
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return body
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case string:
			if isoTime.MatchString(x) {
				for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z07:00"} {
					if t, err := time.Parse(layout, x); err == nil {
						return json.Number(fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000))
					}
				}
			}
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		return body
	}
	return out
}

func (a *AWS) startBuild(ctx context.Context, input json.RawMessage, sync bool) (json.RawMessage, error) {
	var in codebuild.StartBuildInput
	if err := strictUnmarshal(input, &in); err != nil {
		return nil, badParameters("CodeBuild StartBuild", err)
	}
	out, err := a.codebuild.StartBuild(ctx, &in)
	if err != nil {
		return nil, serviceFailure("CodeBuild", err)
	}
	if out.Build == nil {
		return nil, &asl.TaskFailure{Name: errname.TaskFailed, Cause: "CodeBuild StartBuild returned no build"}
	}
	if !sync {
		b, _ := json.Marshal(map[string]any{"Build": Shape(out.Build)})
		return withMetadata(b, requestIDOf(out.ResultMetadata))
	}
	id := aws.ToString(out.Build.Id)
	build := out.Build
	// CodeBuild has no SDK waiter; poll BatchGetBuilds as Step Functions does, until
	// the build ends or ctx does (the runner enforces the state's TimeoutSeconds).
	for build.BuildStatus == cbtypes.StatusTypeInProgress || build.BuildStatus == "" {
		t := time.NewTimer(a.poll())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		got, err := a.codebuild.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: []string{id}})
		if err != nil {
			return nil, serviceFailure("CodeBuild", err)
		}
		if len(got.Builds) == 0 {
			return nil, &asl.TaskFailure{Name: errname.TaskFailed, Cause: "CodeBuild build " + id + " not found"}
		}
		build = &got.Builds[0]
	}
	b, err := json.Marshal(map[string]any{"Build": Shape(build)})
	if err != nil {
		return nil, err
	}
	if build.BuildStatus != cbtypes.StatusTypeSucceeded {
		return nil, &asl.TaskFailure{Name: errname.TaskFailed, Cause: string(b)}
	}
	return b, nil
}

// messageText accepts a message given as a string or as any JSON value (Step
// Functions serializes a non-string Message/MessageBody).
func messageText(raw json.RawMessage) (*string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return &s, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	t := b.String()
	return &t, nil
}

// withMessage decodes Parameters into the SDK input in (strictly), except for the
// message member, which may be any JSON value (see messageText) and is returned.
func withMessage(input json.RawMessage, member, api string, in any) (*string, error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(input, &p); err != nil {
		return nil, badParameters(api, err)
	}
	msg, err := messageText(p[member])
	if err != nil {
		return nil, badParameters(api, err)
	}
	delete(p, member)
	rest, err := json.Marshal(p)
	if err != nil {
		return nil, badParameters(api, err)
	}
	if err := strictUnmarshal(rest, in); err != nil {
		return nil, badParameters(api, err)
	}
	return msg, nil
}

func (a *AWS) publish(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var in sns.PublishInput
	msg, err := withMessage(input, "Message", "SNS Publish", &in)
	if err != nil {
		return nil, err
	}
	in.Message = msg
	out, err := a.sns.Publish(ctx, &in)
	if err != nil {
		return nil, serviceFailure("SNS", err)
	}
	m := map[string]any{"MessageId": aws.ToString(out.MessageId)}
	if out.SequenceNumber != nil {
		m["SequenceNumber"] = *out.SequenceNumber
	}
	b, _ := json.Marshal(m)
	return withMetadata(b, requestIDOf(out.ResultMetadata))
}

func (a *AWS) sendMessage(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var in sqs.SendMessageInput
	body, err := withMessage(input, "MessageBody", "SQS SendMessage", &in)
	if err != nil {
		return nil, err
	}
	in.MessageBody = body
	out, err := a.sqs.SendMessage(ctx, &in)
	if err != nil {
		return nil, serviceFailure("SQS", err)
	}
	m := map[string]any{"MessageId": aws.ToString(out.MessageId), "MD5OfMessageBody": aws.ToString(out.MD5OfMessageBody)}
	if out.MD5OfMessageAttributes != nil {
		m["MD5OfMessageAttributes"] = *out.MD5OfMessageAttributes
	}
	if out.SequenceNumber != nil {
		m["SequenceNumber"] = *out.SequenceNumber
	}
	b, _ := json.Marshal(m)
	return withMetadata(b, requestIDOf(out.ResultMetadata))
}
