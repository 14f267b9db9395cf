package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// sdkService is one service reachable as arn:aws:states:::aws-sdk:SERVICE:action.
type sdkService struct {
	client any
	// errorPrefix is the service name Step Functions puts before an error code
	// ("Ecr.ImageNotFoundException").
	errorPrefix string
	// raw: the Parameters are the API's JSON body as they are and the response body
	// is the output (DynamoDB, whose AttributeValue unions the SDK types cannot
	// unmarshal from JSON).
	raw bool
}

func (a *AWS) sdkServices() map[string]sdkService {
	a.sdkOnce.Do(func() {
		a.sdk = map[string]sdkService{
			"codebuild":      {client: a.codebuild, errorPrefix: "CodeBuild"},
			"dynamodb":       {client: a.dynamodb, errorPrefix: "DynamoDb", raw: true},
			"ecr":            {client: ecr.NewFromConfig(a.cfg), errorPrefix: "Ecr"},
			"ecs":            {client: a.ecs, errorPrefix: "Ecs"},
			"lambda":         {client: a.lambda.Client, errorPrefix: "Lambda"},
			"secretsmanager": {client: secretsmanager.NewFromConfig(a.cfg), errorPrefix: "SecretsManager"},
			"sfn":            {client: sfn.NewFromConfig(a.cfg), errorPrefix: "Sfn"},
			"sns":            {client: a.sns, errorPrefix: "Sns"},
			"sqs":            {client: a.sqs, errorPrefix: "Sqs"},
		}
	})
	return a.sdk
}

// awsSDK runs an AWS SDK service integration (arn:aws:states:::aws-sdk:SERVICE:action):
// the SDK client's method named by the action, its input decoded from the
// Parameters (PascalCase member names, as the ASL has them), its output in
// Step Functions' PascalCase shape. Errors are "Service.ErrorCode" ("Ecr.ImageNotFoundException").
func (a *AWS) awsSDK(ctx context.Context, task asl.Task, service, action string, input json.RawMessage) (json.RawMessage, error) {
	svc, ok := a.sdkServices()[service]
	if !ok {
		return nil, unsupported(task)
	}
	if action == "" {
		return nil, unsupported(task)
	}
	opName := string(unicode.ToUpper(rune(action[0]))) + action[1:]
	m := reflect.ValueOf(svc.client).MethodByName(opName)
	if !m.IsValid() {
		return nil, &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("state %q: the %s API has no action %q", task.StateName, service, action)}
	}
	mt := m.Type()
	if mt.NumIn() != 3 || !mt.IsVariadic() || mt.In(1).Kind() != reflect.Pointer || mt.NumOut() != 2 {
		return nil, unsupported(task)
	}
	in := reflect.New(mt.In(1).Elem())
	var raw []byte
	var body []byte
	if svc.raw {
		body = input
	} else if err := strictUnmarshal(input, in.Interface()); err != nil {
		return nil, badParameters(service+" "+opName, err)
	}
	optFnType := mt.In(2).Elem() // func(*Options)
	extra := rawAPI(body, &raw, nil)
	optFn := reflect.MakeFunc(optFnType, func(args []reflect.Value) []reflect.Value {
		f := args[0].Elem().FieldByName("APIOptions")
		if f.IsValid() && f.CanSet() {
			f.Set(reflect.Append(f, reflect.ValueOf(extra)))
		}
		return nil
	})
	outs := m.Call([]reflect.Value{reflect.ValueOf(ctx), in, optFn})
	if err, _ := outs[1].Interface().(error); err != nil {
		return nil, serviceFailure(svc.errorPrefix, err)
	}
	if svc.raw {
		if len(bytes.TrimSpace(raw)) == 0 {
			return json.RawMessage("{}"), nil
		}
		return raw, nil
	}
	return json.Marshal(Shape(outs[0].Interface()))
}

func splitSDK(rest string) (service, action string, ok bool) {
	rest, ok = strings.CutPrefix(rest, "aws-sdk:")
	if !ok {
		return "", "", false
	}
	service, action, _ = strings.Cut(rest, ":")
	return service, action, true
}
