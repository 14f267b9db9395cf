package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/uuid"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// Result is the outcome of one Lambda invocation, as the Lambda Invoke API reports it.
type Result struct {
	// Payload is the function's response, or its error object when FunctionError is set.
	Payload []byte
	// FunctionError is "Unhandled" (or "Handled") when the function failed.
	FunctionError string
	// ExecutedVersion is the version that ran ("$LATEST" when unknown).
	ExecutedVersion string
	// RequestID identifies the invocation.
	RequestID string
}

// Function is the code of one Lambda function. An error means the invocation could
// not be made (the function's own failures are Result.FunctionError).
type Function interface {
	Invoke(ctx context.Context, payload []byte) (Result, error)
}

// Handler runs a Go Lambda handler in-process: anything aws-lambda-go's
// lambda.NewHandler accepts. A returned error is reported exactly as aws-lambda-go
// reports it ({"errorMessage","errorType"} with the error's Go type name, pointer
// stripped), so in-process and emulator runs name errors identically.
type Handler struct {
	// FunctionARN is put in the handler's lambdacontext (optional).
	FunctionARN string
	h           lambda.Handler
}

// InProcess returns a Function running handler in this process.
func InProcess(handler any) *Handler { return &Handler{h: lambda.NewHandler(handler)} }

// ErrorType is the Step Functions error name aws-lambda-go gives a returned error (or
// panic value): its Go type's name, pointer stripped.
func ErrorType(err any) string {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return ive.Type
	}
	t := reflect.TypeOf(err)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

func errorPayload(v any, msg string) []byte {
	if ive, ok := v.(messages.InvokeResponse_Error); ok {
		b, _ := json.Marshal(ive)
		return b
	}
	b, _ := json.Marshal(messages.InvokeResponse_Error{Message: msg, Type: ErrorType(v)})
	return b
}

// Invoke implements Function.
func (h *Handler) Invoke(ctx context.Context, payload []byte) (res Result, err error) {
	res = Result{ExecutedVersion: "$LATEST", RequestID: uuid.NewString()}
	if _, ok := ctx.Deadline(); !ok {
		// The Lambda runtime always gives handlers a deadline (the function timeout).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
	}
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: res.RequestID, InvokedFunctionArn: h.FunctionARN})
	defer func() {
		if v := recover(); v != nil {
			res.Payload = errorPayload(v, fmt.Sprintf("%v", v))
			res.FunctionError = "Unhandled"
			err = nil
		}
	}()
	out, ierr := h.h.Invoke(ctx, payload)
	if ierr != nil {
		res.Payload = errorPayload(ierr, ierr.Error())
		res.FunctionError = "Unhandled"
		return res, nil
	}
	res.Payload = out
	return res, nil
}

// FunctionFunc adapts a function to Function (for fakes in tests).
type FunctionFunc func(ctx context.Context, payload []byte) (Result, error)

// Invoke calls f.
func (f FunctionFunc) Invoke(ctx context.Context, payload []byte) (Result, error) {
	return f(ctx, payload)
}

// Lambda runs Lambda tasks: resources that are function ARNs
// (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER], output = the function's
// response) and the optimized integration arn:aws:states:::lambda:invoke[.waitForTaskToken]
// (Parameters FunctionName, Payload, Qualifier; output {ExecutedVersion, Payload,
// SdkHttpMetadata, SdkResponseMetadata, StatusCode}). Functions are looked up by name
// among the bound ones; unbound functions go to Client (the Lambda API) when set.
type Lambda struct {
	// Client invokes functions that have no binding (nil: they fail with
	// Lambda.ResourceNotFoundException).
	Client *lambdasvc.Client

	mu        sync.RWMutex
	functions map[string]Function
}

// NewLambda returns a Lambda invoker with no functions bound.
func NewLambda() *Lambda { return &Lambda{functions: map[string]Function{}} }

// Bind makes name (a function name, not an ARN) run f.
func (l *Lambda) Bind(name string, f Function) *Lambda {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.functions[name] = f
	return l
}

// FunctionName extracts the function name and qualifier from a name, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN, each optionally ending in :QUALIFIER.
func FunctionName(s string) (name, qualifier string) {
	p := strings.Split(s, ":")
	for i, v := range p {
		if v == "function" && i+1 < len(p) {
			name = p[i+1]
			if i+2 < len(p) {
				qualifier = p[i+2]
			}
			return name, qualifier
		}
	}
	if len(p) == 2 {
		return p[0], p[1]
	}
	return s, ""
}

func (l *Lambda) invoke(ctx context.Context, function, qualifier string, payload []byte) (Result, error) {
	name, q := FunctionName(function)
	if qualifier == "" {
		qualifier = q
	}
	l.mu.RLock()
	f, ok := l.functions[name]
	l.mu.RUnlock()
	if ok {
		res, err := f.Invoke(ctx, payload)
		if err != nil && ctx.Err() != nil {
			return res, context.Cause(ctx)
		}
		if err != nil {
			return res, &asl.TaskFailure{Name: "Lambda.ServiceException", Cause: err.Error()}
		}
		if res.ExecutedVersion == "" {
			res.ExecutedVersion = "$LATEST"
		}
		return res, nil
	}
	if l.Client == nil {
		return Result{}, &asl.TaskFailure{Name: "Lambda.ResourceNotFoundException", Cause: fmt.Sprintf("Function not found: %s (the local Step Functions service has no binding for it)", function)}
	}
	in := &lambdasvc.InvokeInput{FunctionName: aws.String(function), Payload: payload, InvocationType: lambdatypes.InvocationTypeRequestResponse}
	if qualifier != "" && q == "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := l.Client.Invoke(ctx, in)
	if err != nil {
		return Result{}, serviceFailure("Lambda", err)
	}
	return Result{Payload: out.Payload, FunctionError: aws.ToString(out.FunctionError), ExecutedVersion: aws.ToString(out.ExecutedVersion)}, nil
}

// failure turns a function error into the task error Step Functions reports: the
// errorType as Error, the error object as Cause.
func failure(res Result) error {
	name := "Lambda.Unknown"
	if fe := decodeFunctionError(res.Payload); fe != nil {
		name = fe.Type
	}
	cause := res.Payload
	var b bytes.Buffer
	if json.Compact(&b, res.Payload) == nil {
		cause = b.Bytes()
	}
	return &asl.TaskFailure{Name: name, Cause: string(cause)}
}

// asJSON returns p if it is JSON, else p as a JSON string.
func asJSON(p []byte) json.RawMessage {
	if len(bytes.TrimSpace(p)) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(p) {
		return json.RawMessage(p)
	}
	b, _ := json.Marshal(string(p))
	return b
}

// InvokeTask implements asl.TaskInvoker.
func (l *Lambda) InvokeTask(ctx context.Context, task asl.Task) (json.RawMessage, error) {
	if strings.HasPrefix(task.Resource, "arn:aws:lambda:") {
		payload := task.Input
		if len(payload) == 0 {
			payload = json.RawMessage("{}")
		}
		res, err := l.invoke(ctx, task.Resource, "", payload)
		if err != nil {
			return nil, err
		}
		if res.FunctionError != "" {
			return nil, failure(res)
		}
		return asJSON(res.Payload), nil
	}
	action := strings.TrimPrefix(task.Resource, "arn:aws:states:::")
	switch action {
	case "lambda:invoke", "lambda:invoke.waitForTaskToken":
	default:
		return nil, &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("unsupported Lambda resource %q", task.Resource)}
	}
	var p struct {
		FunctionName   string
		Payload        json.RawMessage
		Qualifier      string
		InvocationType string
	}
	if err := json.Unmarshal(task.Input, &p); err != nil || p.FunctionName == "" {
		return nil, &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("state %q: lambda:invoke needs Parameters with a FunctionName (got %s)", task.StateName, truncate(string(task.Input), 256))}
	}
	payload := []byte(p.Payload)
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	switch p.InvocationType {
	case "", "RequestResponse":
	case "Event":
		// Asynchronous: queued, no payload back (202), as Lambda does.
		go func() { _, _ = l.invoke(context.WithoutCancel(ctx), p.FunctionName, p.Qualifier, payload) }()
		return json.Marshal(map[string]any{"Payload": "", "SdkHttpMetadata": httpMetadata(uuid.NewString(), 0, nil), "SdkResponseMetadata": map[string]string{"RequestId": uuid.NewString()}, "StatusCode": 202})
	case "DryRun":
		return json.Marshal(map[string]any{"Payload": "", "SdkHttpMetadata": httpMetadata(uuid.NewString(), 0, nil), "SdkResponseMetadata": map[string]string{"RequestId": uuid.NewString()}, "StatusCode": 204})
	default:
		return nil, &asl.TaskFailure{Name: "Lambda.InvalidParameterValueException", Cause: fmt.Sprintf("InvocationType %q is not RequestResponse, Event or DryRun", p.InvocationType)}
	}
	res, err := l.invoke(ctx, p.FunctionName, p.Qualifier, payload)
	if err != nil {
		return nil, err
	}
	if res.FunctionError != "" {
		return nil, failure(res)
	}
	reqID := res.RequestID
	if reqID == "" {
		reqID = uuid.NewString()
	}
	out := map[string]any{
		"ExecutedVersion": res.ExecutedVersion,
		"Payload":         asJSON(res.Payload),
		"SdkHttpMetadata": httpMetadata(reqID, len(res.Payload), map[string]string{"X-Amz-Executed-Version": res.ExecutedVersion, "Content-Type": "application/json"}),
		"SdkResponseMetadata": map[string]string{
			"RequestId": reqID,
		},
		"StatusCode": 200,
	}
	return json.Marshal(out)
}

// httpMetadata is the SdkHttpMetadata block Step Functions adds to integration outputs.
func httpMetadata(reqID string, length int, extra map[string]string) map[string]any {
	h := map[string]string{
		"Connection":       "keep-alive",
		"Content-Length":   fmt.Sprint(length),
		"Date":             time.Now().UTC().Format(http.TimeFormat),
		"x-amzn-RequestId": reqID,
	}
	for k, v := range extra {
		h[k] = v
	}
	all := map[string][]string{}
	for k, v := range h {
		all[k] = []string{v}
	}
	return map[string]any{"AllHttpHeaders": all, "HttpHeaders": h, "HttpStatusCode": 200}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
