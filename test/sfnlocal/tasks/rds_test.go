package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/awsproxy/awsproxytest"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

// The rds and cloudwatch SDK integrations against the emulator: the call is
// made in the region of the execution's state machine, outputs have the API's
// PascalCase members, and errors are named after the modeled error shape as
// Step Functions names them (Rds.DbSnapshotNotFoundException), an unmodeled
// one (RDS's Throttling) after the service's base exception (Rds.RdsException).
func TestRDSAndCloudWatchIntegrations(t *testing.T) {
	moto := harness.StartMoto(t)
	p := awsproxytest.Start(t, moto.Endpoint)
	cfg := p.Config(moto.Config(context.Background()))
	cfg.Retryer = awsproxy.Retryer(1, 0)
	a := tasks.NewAWS(cfg) // us-east-1
	ctx := context.Background()
	inRegion := func(region, resource, params string) (json.RawMessage, error) {
		return a.InvokeTask(ctx, asl.Task{Resource: resource, StateName: "S", Input: json.RawMessage(params),
			Execution: asl.ExecutionInfo{StateMachineARN: "arn:aws:states:" + region + ":123456789012:stateMachine:m"}})
	}
	west := cfg.Copy()
	west.Region = "us-west-2"
	if _, err := rds.NewFromConfig(west).CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("db1"), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t4g.micro"),
		MasterUsername: aws.String("app"), MasterUserPassword: aws.String("secret-secret"), AllocatedStorage: aws.Int32(20),
	}); err != nil {
		t.Fatal(err)
	}

	// The instance exists in us-west-2 only: a machine there finds it.
	out, err := inRegion("us-west-2", "arn:aws:states:::aws-sdk:rds:createDBSnapshot",
		`{"DBInstanceIdentifier":"db1","DBSnapshotIdentifier":"s1","Tags":[{"Key":"k","Value":"v"}]}`)
	if err != nil || !strings.Contains(string(out), `"DBSnapshotIdentifier":"s1"`) {
		t.Fatalf("createDBSnapshot in us-west-2: %s %v", out, err)
	}
	out, err = inRegion("us-west-2", "arn:aws:states:::aws-sdk:rds:describeDBInstances", `{"DBInstanceIdentifier":"db1"}`)
	var got struct {
		DBInstances []struct {
			DBInstanceStatus string
			Endpoint         struct {
				Address string
				Port    int
			}
		}
	}
	if err != nil || json.Unmarshal(out, &got) != nil || len(got.DBInstances) != 1 || got.DBInstances[0].DBInstanceStatus != "available" || got.DBInstances[0].Endpoint.Port == 0 {
		t.Fatalf("describeDBInstances: %s %v", out, err)
	}

	var tf *asl.TaskFailure
	for _, c := range []struct {
		name, region, resource, params, want string
		rule                                 *awsproxy.Rule
	}{
		{name: "not in the home region", region: "us-east-1", resource: "arn:aws:states:::aws-sdk:rds:describeDBSnapshots",
			params: `{"DBSnapshotIdentifier":"s1"}`, want: "Rds.DbSnapshotNotFoundException"},
		{name: "already exists", region: "us-west-2", resource: "arn:aws:states:::aws-sdk:rds:createDBSnapshot",
			params: `{"DBInstanceIdentifier":"db1","DBSnapshotIdentifier":"s1"}`, want: "Rds.DbSnapshotAlreadyExistsException"},
		{name: "invalid state", region: "us-west-2", resource: "arn:aws:states:::aws-sdk:rds:deleteDBInstance",
			params: `{"DBInstanceIdentifier":"db1","SkipFinalSnapshot":true}`, want: "Rds.InvalidDbInstanceStateException",
			rule: &awsproxy.Rule{Service: "rds", Action: "DeleteDBInstance", Effect: awsproxy.Error("InvalidDBInstanceState", "Instance db1 is already being deleted.", 400)}},
		{name: "throttled", region: "us-west-2", resource: "arn:aws:states:::aws-sdk:rds:describeDBSnapshots",
			params: `{"DBSnapshotIdentifier":"s1"}`, want: "Rds.RdsException",
			rule: &awsproxy.Rule{Service: "rds", Action: "DescribeDBSnapshots", Effect: awsproxy.Throttle()}},
		{name: "cloudwatch 5xx", region: "us-west-2", resource: "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
			params: `{"Namespace":"N","MetricData":[{"MetricName":"M","Value":1}]}`, want: "CloudWatch.InternalServiceException",
			rule: &awsproxy.Rule{Service: "monitoring", Action: "PutMetricData", Effect: awsproxy.Error("InternalServiceError", "boom", 500)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.rule != nil {
				h := p.Add(*c.rule)
				defer h.Remove()
			}
			_, err := inRegion(c.region, c.resource, c.params)
			if !errors.As(err, &tf) || tf.Name != c.want {
				t.Fatalf("error %v, want %s", err, c.want)
			}
		})
	}

	// putMetricData in the machine's region.
	if _, err := inRegion("us-west-2", "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
		`{"Namespace":"Stepship/Backups","MetricData":[{"MetricName":"RPOSeconds","Unit":"Seconds","Value":42,"Dimensions":[{"Name":"Service","Value":"web"}]}]}`); err != nil {
		t.Fatal(err)
	}
	for region, want := range map[string]int{"us-west-2": 1, "us-east-1": 0} {
		c := cfg.Copy()
		c.Region = region
		m, err := cloudwatch.NewFromConfig(c).ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("Stepship/Backups")})
		if err != nil || len(m.Metrics) != want {
			t.Errorf("metrics in %s: %+v %v, want %d", region, m, err, want)
		}
	}
}
