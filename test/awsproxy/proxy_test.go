package awsproxy_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/awsproxy/awsproxytest"
	"github.com/stepship/stepship/test/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.MotoMain(m)) }

// setup starts a proxy in front of the shared emulator and returns an SDK
// configuration through it that makes at most attempts attempts per call.
func setup(t *testing.T, attempts int) (*awsproxy.Proxy, aws.Config) {
	t.Helper()
	m := harness.SharedMoto(t)
	p := awsproxytest.Start(t, m.Endpoint)
	cfg := p.Config(m.Config(t.Context()))
	cfg.Retryer = awsproxy.Retryer(attempts, 0)
	return p, cfg
}

func name(prefix string) string { return prefix + "-" + uuid.NewString()[:8] }

// call is one SDK call to a service through the proxy, and the typed error
// its Go SDK decodes the service's internal error into (nil: none is modeled).
type call struct {
	service, action string
	do              func(context.Context, aws.Config) error
	serverErr       func(error) bool
}

// isA reports whether err is (wraps) a T.
func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

var calls = []call{
	{"ecs", "ListClusters", func(ctx context.Context, c aws.Config) error {
		_, err := ecs.NewFromConfig(c).ListClusters(ctx, &ecs.ListClustersInput{})
		return err
	}, isA[*ecstypes.ServerException]},
	{"rds", "DescribeDBInstances", func(ctx context.Context, c aws.Config) error {
		_, err := rds.NewFromConfig(c).DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
		return err
	}, nil},
	{"ecr", "DescribeRepositories", func(ctx context.Context, c aws.Config) error {
		_, err := ecr.NewFromConfig(c).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
		return err
	}, nil},
	{"secretsmanager", "ListSecrets", func(ctx context.Context, c aws.Config) error {
		_, err := secretsmanager.NewFromConfig(c).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
		return err
	}, isA[*smtypes.InternalServiceError]},
	{"states", "ListStateMachines", func(ctx context.Context, c aws.Config) error {
		_, err := sfn.NewFromConfig(c).ListStateMachines(ctx, &sfn.ListStateMachinesInput{})
		return err
	}, nil},
}

// TestInjectedErrorsDecodeAndRetry: every injected throttle and 5xx decodes
// into the service's error code, is retried by the SDK until its attempts
// run out (FromCall(1) answers the retries too), and a call that is
// throttled once succeeds on the retry.
func TestInjectedErrorsDecodeAndRetry(t *testing.T) {
	const attempts = 3
	for _, c := range calls {
		t.Run(c.service, func(t *testing.T) {
			p, cfg := setup(t, attempts)
			ctx := t.Context()
			cases := []struct {
				effect awsproxy.Effect
				code   string
				status int
				typed  func(error) bool
			}{
				{awsproxy.Throttle(), map[bool]string{true: "Throttling", false: "ThrottlingException"}[c.service == "rds"], 400, nil},
				{awsproxy.ServerError(), map[string]string{"ecs": "ServerException", "ecr": "ServerException", "secretsmanager": "InternalServiceError"}[c.service], 500, c.serverErr},
				{awsproxy.ServiceUnavailable(), "ServiceUnavailable", 503, nil},
			}
			for _, tc := range cases {
				if tc.code == "" {
					tc.code = "InternalFailure"
				}
				h := p.Add(awsproxy.Rule{Service: c.service, Action: c.action, Calls: awsproxy.FromCall(1), Effect: tc.effect})
				err := c.do(ctx, cfg)
				h.Remove()
				var ae smithy.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
					t.Fatalf("%s: got %v, want API error %s", tc.effect, err, tc.code)
				}
				if tc.typed != nil && !tc.typed(err) {
					t.Errorf("%s: %T is not decoded as the modeled type", tc.effect, err)
				}
				if h.Fired() != attempts {
					t.Errorf("%s: the SDK made %d attempts, want %d (retried)", tc.effect, h.Fired(), attempts)
				}
				if got := p.Calls()[len(p.Calls())-1]; got.Status != tc.status || got.Effects[0] != tc.effect.String() {
					t.Errorf("%s: logged %+v", tc.effect, got)
				}
			}
			// Throttled once: the SDK's retry gets through to the emulator.
			h := p.Add(awsproxy.Rule{Service: c.service, Action: c.action, Calls: awsproxy.Nth(1), Effect: awsproxy.Throttle()})
			if err := c.do(ctx, cfg); err != nil {
				t.Fatalf("after one throttle: %v", err)
			}
			if h.Matched() != 2 || h.Fired() != 1 {
				t.Errorf("matched %d, fired %d; want 2 and 1", h.Matched(), h.Fired())
			}
		})
	}
}

// TestNamedErrors: Error answers any named error, decoded into the SDK's
// typed error and not retried.
func TestNamedErrors(t *testing.T) {
	p, cfg := setup(t, 3)
	ctx := t.Context()

	p.Add(awsproxy.Rule{Service: "ecs", Action: "UpdateService", Effect: awsproxy.Error("ServiceNotFoundException", "Service not found.", 400)})
	_, err := ecs.NewFromConfig(cfg).UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web")})
	var snf *ecstypes.ServiceNotFoundException
	if !errors.As(err, &snf) {
		t.Errorf("UpdateService: got %v, want ServiceNotFoundException", err)
	}

	p.Add(awsproxy.Rule{Service: "rds", Action: "CopyDBSnapshot", Effect: awsproxy.Error("SnapshotQuotaExceeded", "Cannot copy more than 5 snapshots across regions", 400)})
	_, err = rds.NewFromConfig(cfg).CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String("a"), TargetDBSnapshotIdentifier: aws.String("b")})
	var sq *rdstypes.SnapshotQuotaExceededFault
	if !errors.As(err, &sq) || !strings.Contains(sq.ErrorMessage(), "5 snapshots") {
		t.Errorf("CopyDBSnapshot: got %v, want SnapshotQuotaExceededFault", err)
	}
	if n := p.Count("ecs", "UpdateService") + p.Count("rds", "CopyDBSnapshot"); n != 2 {
		t.Errorf("%d calls, want 2 (a named client error is not retried)", n)
	}
}

// TestDelayPastClientTimeout: a delayed call times the client out and still
// reaches the emulator afterwards; a dropped one never does.
func TestDelayPastClientTimeout(t *testing.T) {
	p, cfg := setup(t, 1)
	cfg.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
	ctx := t.Context()
	client := ecs.NewFromConfig(cfg)

	late := name("late")
	p.Add(awsproxy.Rule{Service: "ecs", Action: "CreateCluster", Calls: awsproxy.Nth(1), Effect: awsproxy.Delay(time.Second)})
	start := time.Now()
	_, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(late)})
	if err == nil || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("delayed CreateCluster: err %v after %s, want a client timeout", err, time.Since(start))
	}
	dropped := name("dropped")
	p.Add(awsproxy.Rule{Service: "ecs", Action: "CreateCluster", Calls: awsproxy.Nth(1), Effect: awsproxy.Drop(5 * time.Second)})
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(dropped)}); err == nil {
		t.Fatal("dropped CreateCluster succeeded")
	}

	time.Sleep(time.Second) // the delayed call arrives at the emulator now
	out, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{late, dropped}})
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, c := range out.Clusters {
		found = append(found, aws.ToString(c.ClusterName))
	}
	if len(found) != 1 || found[0] != late {
		t.Errorf("clusters in the emulator: %v, want only %s (the delayed call took effect, the dropped one did not)", found, late)
	}
}

// TestRespondRewrites: a RespondFunc sees moto's real answer and the
// request's parameters, and changes what the SDK decodes.
func TestRespondRewrites(t *testing.T) {
	p, cfg := setup(t, 1)
	ctx := t.Context()
	client := ecs.NewFromConfig(cfg)
	cluster := name("c")
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	var seen string
	p.Add(awsproxy.Rule{Service: "ecs", Action: "CreateCluster", When: func(r *awsproxy.Request) bool { return r.Param("clusterName") == "x-"+cluster },
		Effect: awsproxy.Respond(func(r *awsproxy.Request, resp *awsproxy.Response) error {
			seen = r.Param("clusterName")
			resp.Body = []byte(strings.Replace(string(resp.Body), `"status": "ACTIVE"`, `"status": "PROVISIONING"`, 1))
			return nil
		})})
	out, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x-" + cluster)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Cluster.Status); got != "PROVISIONING" || seen != "x-"+cluster {
		t.Errorf("status %q, parameter seen %q", got, seen)
	}
}

// TestAnswer: an AnswerFunc answers in place of moto (the call never
// reaches it); a failing one answers InternalFailure and is kept in Errors.
func TestAnswer(t *testing.T) {
	m := harness.SharedMoto(t)
	p, err := awsproxy.Start(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := p.Config(m.Config(t.Context()))
	cfg.Retryer = awsproxy.Retryer(1, 0)
	client := ecs.NewFromConfig(cfg)
	h := p.Add(awsproxy.Rule{Service: "ecs", Action: "ListClusters", Calls: awsproxy.Nth(1), Effect: awsproxy.Answer(func(*awsproxy.Request) (*awsproxy.Response, error) {
		return &awsproxy.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
			Body: []byte(`{"clusterArns":["arn:aws:ecs:us-east-1:123456789012:cluster/answered"]}`)}, nil
	})})
	p.Add(awsproxy.Rule{Service: "ecs", Action: "ListClusters", Calls: awsproxy.Nth(2), Effect: awsproxy.Answer(func(*awsproxy.Request) (*awsproxy.Response, error) {
		return nil, errors.New("broken script")
	})})
	out, err := client.ListClusters(t.Context(), &ecs.ListClustersInput{})
	if err != nil || len(out.ClusterArns) != 1 || !strings.HasSuffix(out.ClusterArns[0], "/answered") || h.Fired() != 1 {
		t.Fatalf("answered ListClusters: %+v, %v", out, err)
	}
	if _, err := client.ListClusters(t.Context(), &ecs.ListClustersInput{}); err == nil || !strings.Contains(err.Error(), "broken script") {
		t.Errorf("failing AnswerFunc: %v", err)
	}
	if errs := p.Errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "answering ListClusters: broken script") {
		t.Errorf("Errors: %v", errs)
	}
	if c := p.Calls(); len(c) != 2 || c[0].Effects[0] != "answer" || c[0].Status != http.StatusOK || c[1].Status != http.StatusInternalServerError {
		t.Errorf("calls:\n%s", awsproxy.CallTable(c))
	}
}

// TestCallLog: every call is logged with its target and number; the log is
// bounded and printable.
func TestCallLog(t *testing.T) {
	m := harness.SharedMoto(t)
	p := awsproxytest.Start(t, m.Endpoint, awsproxy.WithLogLimit(3))
	cfg := p.Config(m.Config(t.Context()))
	client := ecs.NewFromConfig(cfg)
	for range 4 {
		if _, err := client.ListClusters(t.Context(), &ecs.ListClustersInput{}); err != nil {
			t.Fatal(err)
		}
	}
	calls := p.Calls()
	if len(calls) != 3 || calls[0].Seq != 2 || calls[2].N != 4 || calls[2].Target != (awsproxy.Target{Service: "ecs", Region: "us-east-1", Action: "ListClusters", Protocol: awsproxy.ProtocolJSON}) {
		t.Errorf("calls: %+v", calls)
	}
	if p.Count("ecs", "ListClusters") != 4 {
		t.Errorf("count %d, want 4", p.Count("ecs", "ListClusters"))
	}
	table := awsproxy.CallTable(calls)
	if !strings.Contains(table, "ListClusters") || strings.Count(table, "\n") != 4 {
		t.Errorf("table:\n%s", table)
	}
}

// TestRuleByApp: the SDK's application id tells two callers of the same
// action apart, in the rules and in the call log.
func TestRuleByApp(t *testing.T) {
	p, cfg := setup(t, 1)
	fn, machine := cfg.Copy(), cfg.Copy()
	fn.AppID, machine.AppID = "stepship-snapshot", "states"
	h := p.Add(awsproxy.Rule{Service: "ecs", Action: "ListClusters", App: "stepship-snapshot", Effect: awsproxy.Throttle()})
	if _, err := ecs.NewFromConfig(machine).ListClusters(t.Context(), &ecs.ListClustersInput{}); err != nil {
		t.Errorf("the other caller's call: %v", err)
	}
	if _, err := ecs.NewFromConfig(fn).ListClusters(t.Context(), &ecs.ListClustersInput{}); !isA[smithy.APIError](err) {
		t.Errorf("the function's call: %v, want it throttled", err)
	}
	if _, err := ecs.NewFromConfig(cfg).ListClusters(t.Context(), &ecs.ListClustersInput{}); err != nil {
		t.Errorf("a call naming no app: %v", err)
	}
	if h.Matched() != 1 || h.Fired() != 1 {
		t.Errorf("matched %d, fired %d; want 1, 1", h.Matched(), h.Fired())
	}
	var apps []string
	for _, c := range p.Calls() {
		apps = append(apps, c.App)
	}
	if strings.Join(apps, ",") != "states,stepship-snapshot," {
		t.Errorf("apps in the log: %q", apps)
	}
	if table := awsproxy.CallTable(p.Calls()); !strings.Contains(table, "stepship-snapshot") || !strings.Contains(table, " app ") {
		t.Errorf("table:\n%s", table)
	}
}

// TestCloseReleasesHeldCalls: Close does not wait for a held call.
func TestCloseReleasesHeldCalls(t *testing.T) {
	m := harness.SharedMoto(t)
	p, err := awsproxy.Start(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p.Add(awsproxy.Rule{Service: "ecs", Effect: awsproxy.Delay(time.Minute)})
	cfg := p.Config(m.Config(t.Context()))
	cfg.Retryer = awsproxy.Retryer(1, 0)
	done := make(chan error, 1)
	go func() {
		_, err := ecs.NewFromConfig(cfg).ListClusters(context.Background(), &ecs.ListClustersInput{})
		done <- err
	}()
	for p.Count("ecs", "ListClusters") == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("held call: err %v after %s", err, time.Since(start))
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, target := range []string{"http://192.0.2.1:5000", "https://127.0.0.1:5000", "://", "http://example.com"} {
		if p, err := awsproxy.Start(target); err == nil {
			p.Close()
			t.Errorf("Start(%q) succeeded", target)
		}
	}
}
