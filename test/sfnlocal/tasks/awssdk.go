package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// sdkService is one service reachable as arn:aws:states:::aws-sdk:SERVICE:action.
type sdkService struct {
	client any
	// errorPrefix is the service name Step Functions puts before an error code
	// ("Ecr.ImageNotFoundException").
	errorPrefix string
	// modeledNames: errors are named after the modeled error shape, as the
	// Java SDK names its exception classes (see modeledErrorName), not after
	// the wire code. The query-protocol services (RDS, CloudWatch, SNS) need it:
	// their codes ("DBSnapshotNotFound") differ from their shapes
	// ("DBSnapshotNotFoundFault" → Rds.DbSnapshotNotFoundException).
	modeledNames bool
	// raw: the Parameters are the API's JSON body as they are and the response body
	// is the output (DynamoDB, whose AttributeValue unions the SDK types cannot
	// unmarshal from JSON).
	raw bool
}

func (a *AWS) sdkServices() map[string]sdkService {
	a.sdkOnce.Do(func() {
		a.sdk = map[string]sdkService{
			"cloudwatch":     {client: cloudwatch.NewFromConfig(a.cfg), errorPrefix: "CloudWatch", modeledNames: true},
			"codebuild":      {client: a.codebuild, errorPrefix: "CodeBuild"},
			"dynamodb":       {client: a.dynamodb, errorPrefix: "DynamoDb", raw: true},
			"ecr":            {client: ecr.NewFromConfig(a.cfg), errorPrefix: "Ecr"},
			"ecs":            {client: a.ecs, errorPrefix: "Ecs"},
			"lambda":         {client: a.lambda.Client, errorPrefix: "Lambda"},
			"rds":            {client: rds.NewFromConfig(a.cfg), errorPrefix: "Rds", modeledNames: true},
			"secretsmanager": {client: secretsmanager.NewFromConfig(a.cfg), errorPrefix: "SecretsManager"},
			"sfn": {client: sfn.NewFromConfig(a.cfg, func(o *sfn.Options) {
				if a.SelfEndpoint == nil {
					return
				}
				if u := a.SelfEndpoint(); u != "" {
					o.BaseEndpoint = &u
				}
			}), errorPrefix: "Sfn"},
			"sns": {client: a.sns, errorPrefix: "Sns", modeledNames: true},
			"sqs": {client: a.sqs, errorPrefix: "Sqs"},
		}
	})
	return a.sdk
}

// awsSDK runs an AWS SDK service integration (arn:aws:states:::aws-sdk:SERVICE:action):
// the SDK client's method named by the action, its input decoded from the
// Parameters (PascalCase member names, as the ASL has them), its output in
// Step Functions' PascalCase shape. Errors are "Service.ErrorCode" ("Ecr.ImageNotFoundException").
// The call is made in the region of the execution's state machine, as Step
// Functions makes it, whatever the region of the SDK configuration.
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
	region := machineRegion(task)
	optFn := reflect.MakeFunc(optFnType, func(args []reflect.Value) []reflect.Value {
		opts := args[0].Elem()
		if f := opts.FieldByName("APIOptions"); f.IsValid() && f.CanSet() {
			f.Set(reflect.Append(f, reflect.ValueOf(extra)))
		}
		if f := opts.FieldByName("Region"); region != "" && f.IsValid() && f.CanSet() && f.Kind() == reflect.String {
			f.SetString(region)
		}
		return nil
	})
	outs := m.Call([]reflect.Value{reflect.ValueOf(ctx), in, optFn})
	if err, _ := outs[1].Interface().(error); err != nil {
		if svc.modeledNames {
			return nil, serviceFailureNamed(svc.errorPrefix, modeledErrorName(svc.errorPrefix, err), err)
		}
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

// machineRegion is the region of the task's state machine (empty when its
// ARN names none): an SDK integration calls the service in that region.
func machineRegion(task asl.Task) string {
	a, err := arn.Parse(task.Execution.StateMachineARN)
	if err != nil {
		return ""
	}
	return a.Region
}

// modeledErrorName names an SDK error as Step Functions names the errors of
// an AWS SDK integration: the service's modeled error shape in PascalCase
// with the suffix "Exception" (the documented rule: "ServiceName.ErrorName",
// both PascalCase, always with the Exception suffix), which is the class name
// the Java SDK generates — "DBSnapshotNotFoundFault" →
// "DbSnapshotNotFoundException", "KMSKeyNotAccessibleFault" →
// "KmsKeyNotAccessibleException". An error the service does not model
// (RDS's "Throttling", an HTTP 500 "InternalFailure") is the Java SDK's base
// exception of the service: "RdsException", "CloudWatchException". The
// acronym casing and the unmodeled case follow the Java SDK v2 and are not
// spelled out by the Step Functions documentation.
func modeledErrorName(prefix string, err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	t := reflect.TypeOf(ae)
	if _, generic := ae.(*smithy.GenericAPIError); generic || t.Kind() != reflect.Pointer {
		return prefix + "Exception"
	}
	name := t.Elem().Name()
	for _, suffix := range []string{"Fault", "Exception"} {
		name = strings.TrimSuffix(name, suffix)
	}
	return pascalWords(name) + "Exception"
}

// pascalWords lowers the letters after the first of each upper-case run
// that forms a word: "DBSnapshot" → "DbSnapshot", "KMSKey" → "KmsKey".
func pascalWords(s string) string {
	r := []rune(s)
	out := make([]rune, len(r))
	for i, c := range r {
		out[i] = c
		if i == 0 || !unicode.IsUpper(c) || !unicode.IsUpper(r[i-1]) {
			continue
		}
		// An upper-case letter after another stays upper when it starts the
		// next word (followed by a lower-case letter): the "S" of "DBSnapshot".
		if i+1 < len(r) && unicode.IsLower(r[i+1]) {
			continue
		}
		out[i] = unicode.ToLower(c)
	}
	return string(out)
}

func splitSDK(rest string) (service, action string, ok bool) {
	rest, ok = strings.CutPrefix(rest, "aws-sdk:")
	if !ok {
		return "", "", false
	}
	service, action, _ = strings.Cut(rest, ":")
	return service, action, true
}
