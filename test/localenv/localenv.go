// Package localenv runs stepship on one machine with no AWS account: the AWS
// emulator seeded with the demo's account (test/world), every function's built
// bootstrap under the Lambda Runtime Interface Emulator, and the local Step
// Functions service executing statemachines/*.asl.json. The integration tests
// (through localenvtest.StartT) and `make demo` both start it, so the demo
// shows exactly what the tests prove.
//
// Every function's and every service integration's AWS call goes through the
// fault-injecting proxy (test/awsproxy), so that tests script what ECS and RDS
// do and moto does not: by default each deployment rolls out (IN_PROGRESS,
// then COMPLETED); ScriptECS changes that. The deploy pipeline runs whole: the
// lock and ledger table, a real PostgreSQL migrations run against, a local
// HTTP server answering the catalog's health check (Health switches it), and
// the alarm the bake watches.
//
// WithBackups adds the backup and dr-drill machines (in two regions) and their
// functions.
//
// Start brings it all up and returns an *Env, or an error with nothing left
// running; Close stops everything. The package does not import testing.
package localenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/intake"
	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/localsvc"
	"github.com/stepship/stepship/test/sfnlocal/server"
	"github.com/stepship/stepship/test/world"
)

// Names the local account uses, as the CDK stack would name them.
const (
	Region              = localsvc.Region
	Account             = localsvc.AccountID
	DeployFunctionName  = "stepship-deploy"
	ResolveFunctionName = "stepship-resolve"
	DeployStateMachine  = "stepship-deploy"
	WebhookFunctionName = "stepship-webhook"
	VerifyFunctionName  = "stepship-verify"
	MigrateFunctionName = "stepship-migrate"

	// With WithBackups: the backup machine runs in Region, the drill machine
	// and its functions in the DR region (world.DemoBackups().DRRegion), as
	// the CDK stacks would deploy them.
	SnapshotFunctionName = "stepship-snapshot"
	RestoreFunctionName  = "stepship-restore"
	DRVerifyFunctionName = "stepship-dr-verify"
	BackupStateMachine   = "stepship-backup"
	DrillStateMachine    = "stepship-dr-drill"

	// StatesAppID is the SDK application id (awsproxy.Request.App) of the
	// local Step Functions service's own AWS calls (the machines' SDK
	// integrations); a function's calls carry its function name
	// (AWS_SDK_UA_APP_ID), so that a test tells a machine's
	// DescribeDBSnapshots from a function's.
	StatesAppID = "states"
	// NotificationTopic is the name of the topic in the home and in the DR
	// region where the backup and drill machines publish.
	NotificationTopic = "stepship-notifications"
)

// Env is one running local stepship.
type Env struct {
	Root    string
	Spec    world.Spec
	Seeded  *world.Seeded
	Moto    *localsvc.Moto
	AWS     aws.Config // points at the AWS emulator
	SFN     *sfn.Client
	Server  *server.Server
	Webhook *localsvc.Lambda
	Deploy  *localsvc.Lambda
	Resolve *localsvc.Lambda
	Verify  *localsvc.Lambda
	Migrate *localsvc.Lambda
	// DeployStateMachineARN is the deploy state machine in the local service.
	DeployStateMachineARN string
	// WebhookEnv is the webhook function's environment (to start more copies).
	WebhookEnv map[string]string

	// Proxy is the fault-injecting proxy in front of the AWS emulator that
	// every function and the local service's SDK integrations call through.
	Proxy *awsproxy.Proxy
	// Releases is what the deploy pipeline's world seeded: the lock and
	// ledger table, the migrations bucket, the bake's alarm.
	Releases world.ReleaseSpec
	// Postgres is the database catalog.yaml's web/production runs on (its
	// secret names this cluster's host and port; database BackupSpec.DBName).
	Postgres *localsvc.Postgres
	// Health answers the catalog's health check of web/production.
	Health *Health
	// Catalog is the catalog every function reads: catalog.yaml with its
	// health-check URLs pointed at Health.
	Catalog string

	// BackupSpec names the database (always seeded) and, with WithBackups,
	// its backups and drills.
	BackupSpec            world.BackupSpec
	SeededBackups         *world.SeededBackups
	Snapshot              *localsvc.Lambda
	Restore               *localsvc.Lambda
	DRVerify              *localsvc.Lambda
	BackupStateMachineARN string
	DrillStateMachineARN  string
	// HomeTopic and DRTopic are where the backup machine (home region) and
	// the drill machine (DR region) publish, each with a queue that reads
	// what they published (world.Topic.Notifications).
	HomeTopic, DRTopic world.Topic

	ecsMu sync.Mutex
	ecs   *awsproxy.Script // what ScriptECS installed

	sharedMu sync.Mutex
	shared   *awsproxy.Script // what ScriptSharedCopies installed (WithBackups)

	// envs is each function's environment, by its folder name (the first
	// one it was started with).
	envs map[string]map[string]string

	functions string            // the built functions (dist/local)
	svcOpts   []localsvc.Option // how services are started (log folder)
	attempts  int               // AWS_MAX_ATTEMPTS of every function (0: the SDK's)

	// stops undo each started part, in the order they were started.
	stops []func() error
	// logs are the services whose logs LogReport gives, in start order.
	logs []interface{ LogReport() string }
}

// Option adjusts Start.
type Option func(*options)

type options struct {
	timeScale    float64
	timeoutScale float64
	backups      bool
	progress     func(step string, took time.Duration)
	functions    string
	logDir       string
	beforeDeploy bool
	attempts     int
}

// DefaultTimeScale divides every wait and timeout of the state machines: a
// 2-second retry takes 0.1 s, a 30-second Task timeout allows 1.5 s — ample for
// a call to the emulator even on a loaded machine, where a larger scale would
// time real calls out.
const DefaultTimeScale = 20

// WithTimeScale divides every wait of the state machines (default DefaultTimeScale).
func WithTimeScale(f float64) Option { return func(o *options) { o.timeScale = f } }

// WithTimeoutScale divides Task states' TimeoutSeconds and HeartbeatSeconds
// instead of the time scale (default: the time scale; DefaultTimeScale with
// WithBackups).
func WithTimeoutScale(f float64) Option { return func(o *options) { o.timeoutScale = f } }

// BackupTimeScale is the time scale WithBackups sets: the backup and drill
// machines poll once a minute and retry the copy quota every 5 minutes, which
// take 30 ms and 150 ms at this scale, and their whole-execution timeouts
// (24 and 30 hours) still leave 43 and 54 s. Task timeouts keep
// DefaultTimeScale, so a 30-second timeout still allows 1.5 s for a real call.
const BackupTimeScale = 2000

// WithBackups also runs the backup and dr-drill state machines: the world of
// world.DemoBackups seeded (its backup account's key in a second emulated
// account), an awsproxy in front of the emulator that copies snapshots
// shared with that account (ScriptSharedCopies), the snapshot, restore and
// dr-verify bootstraps under the runtime emulator, the two machines created
// (in the home and the DR region), and the time scale BackupTimeScale unless
// WithTimeScale says otherwise.
func WithBackups() Option { return func(o *options) { o.backups = true } }

// WithSnapshotBeforeDeploy is WithBackups with the local catalog's
// backup.beforeDeploy on: every deploy of web/production runs the backup
// machine snapshot-only before its migrations.
func WithSnapshotBeforeDeploy() Option {
	return func(o *options) { o.backups, o.beforeDeploy = true, true }
}

// WithFunctionAttempts makes every function's AWS SDK clients try each call
// at most n times (AWS_MAX_ATTEMPTS; the SDK's default is 3, with a backoff
// of up to seconds in real time): a fault a test injects into a function's
// call then reaches the state machine's Retry and Catch at once, and at its
// scaled pace.
func WithFunctionAttempts(n int) Option { return func(o *options) { o.attempts = n } }

// WithProgress reports each start-up step when it is done.
func WithProgress(f func(step string, took time.Duration)) Option {
	return func(o *options) { o.progress = f }
}

// WithFunctions runs the bootstraps already built in dir (NAME/bootstrap, what
// localsvc.BuildFunctions returns). Without it, Start builds them first.
func WithFunctions(dir string) Option { return func(o *options) { o.functions = dir } }

// WithLogDir writes every service's log into dir, which the caller owns, so
// that the logs outlive Close. Without it, each service's log is removed by
// Close: read LogReport before.
func WithLogDir(dir string) Option { return func(o *options) { o.logDir = dir } }

// Start brings the local stepship up. ctx bounds the start; the stack then
// runs until Close. When a step fails, what was started is stopped again
// and the error says which step failed.
func Start(ctx context.Context, opts ...Option) (_ *Env, err error) {
	o := options{progress: func(string, time.Duration) {}}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.timeScale == 0 && o.backups:
		o.timeScale = BackupTimeScale
		if o.timeoutScale == 0 {
			o.timeoutScale = DefaultTimeScale
		}
	case o.timeScale == 0:
		o.timeScale = DefaultTimeScale
	}
	root, err := localsvc.RepoRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, Spec: world.Demo(), attempts: o.attempts}
	defer func() {
		if err == nil {
			return
		}
		if logs := e.LogReport(); logs != "" {
			err = fmt.Errorf("%w\nlogs of what was started:\n%s", err, logs)
		}
		err = errors.Join(err, e.Close())
	}()
	var svcOpts []localsvc.Option
	if o.logDir != "" {
		svcOpts = append(svcOpts, localsvc.WithLogDir(o.logDir))
	}
	e.svcOpts = svcOpts

	step := time.Now()
	if e.Moto, err = localsvc.StartMoto(ctx, svcOpts...); err != nil {
		return nil, err
	}
	e.started(e.Moto.Close, e.Moto)
	e.AWS = e.Moto.Config(ctx)
	if e.Proxy, err = awsproxy.Start(e.Moto.Endpoint); err != nil {
		return nil, err
	}
	e.started(e.Proxy.Close, nil)
	o.progress("AWS emulator (moto) on "+e.Moto.Endpoint+", behind the fault-injecting proxy on "+e.Proxy.URL(), time.Since(step))

	step = time.Now()
	seeded, err := world.Seed(ctx, e.AWS, e.Spec)
	if err != nil {
		return nil, fmt.Errorf("failed to seed the emulated account: %w", err)
	}
	e.Seeded = seeded
	o.progress(fmt.Sprintf("seeded: ECS %s/%s on %s, webhook secret, CodeBuild %s, ECR %s",
		e.Spec.Cluster, e.Spec.Service, TaskDefinitionName(seeded.TaskDefinition), e.Spec.BuildProject, e.Spec.ECRRepository), time.Since(step))

	step = time.Now()
	if err := e.startReleases(ctx, svcOpts, o.beforeDeploy); err != nil {
		return nil, err
	}
	o.progress(fmt.Sprintf("releases: table %s, migrations bucket %s, alarm %s; PostgreSQL on %s:%d (database %s, secret %s); health check on %s",
		e.Releases.Table, e.Releases.MigrationsBucket, e.Releases.Alarm, e.Postgres.Host, e.Postgres.Port, e.BackupSpec.DBName, e.BackupSpec.SecretName, e.Health.URL()), time.Since(step))

	step = time.Now()
	if o.functions == "" {
		if o.functions, err = localsvc.BuildFunctions(ctx); err != nil {
			return nil, err
		}
	}
	// Every function reads the catalog, as its package carries it in Lambda,
	// and calls AWS through the proxy.
	fnEnv := e.Proxy.Env(e.Moto.Env())
	fnEnv[config.EnvCatalog] = e.Catalog
	e.functions = o.functions
	lambdas := map[string]string{}
	for _, f := range []struct {
		fn   **localsvc.Lambda
		dir  string
		name string
		env  map[string]string
	}{
		{&e.Resolve, "resolve", ResolveFunctionName, fnEnv},
		{&e.Deploy, "deploy", DeployFunctionName, fnEnv},
		{&e.Verify, "verify", VerifyFunctionName, with(fnEnv, config.EnvVerifyPollInterval, "100ms")},
		{&e.Migrate, "migrate", MigrateFunctionName, with(fnEnv, config.EnvDatabaseSSLMode, "disable")},
	} {
		if *f.fn, err = e.startFunction(ctx, o.functions, f.dir, f.env, svcOpts); err != nil {
			return nil, err
		}
		lambdas[f.name] = (*f.fn).URL()
	}
	o.progress("resolve, deploy, migrate and verify functions: built bootstraps under the Lambda runtime emulator", time.Since(step))

	// The service integrations call AWS through the proxy, each call tried
	// once, so that a fault a test injects reaches the state machine's own
	// Retry.
	integrations := e.Proxy.Config(e.AWS.Copy())
	integrations.Retryer = awsproxy.Retryer(1, 0)
	integrations.AppID = StatesAppID
	machines := []server.MachineConfig{}
	if o.backups {
		step = time.Now()
		if err = e.startBackups(ctx, fnEnv, &machines, lambdas); err != nil {
			return nil, err
		}
		o.progress(fmt.Sprintf("backups: RDS %s and its secret, DR key, subnet group %s and %s in %s; topics %s in %s and %s; snapshot, restore and dr-verify functions",
			e.BackupSpec.Database, e.BackupSpec.DrillSubnetGroup, e.BackupSpec.DrillSecurityGroup, e.BackupSpec.DRRegion, NotificationTopic, Region, e.BackupSpec.DRRegion), time.Since(step))
	}

	step = time.Now()
	s, err := server.NewFromConfig(ctx, &server.Config{
		Region:       Region,
		Account:      Account,
		TimeScale:    o.timeScale,
		TimeoutScale: o.timeoutScale,
		StateMachines: append([]server.MachineConfig{{
			Name: DeployStateMachine,
			File: filepath.Join(e.Root, statemachines.File(statemachines.Deploy)),
			DefinitionSubstitutions: map[string]string{
				statemachines.FunctionPlaceholder("resolve"): fnARN(Region, ResolveFunctionName),
				statemachines.FunctionPlaceholder("deploy"):  fnARN(Region, DeployFunctionName),
				statemachines.FunctionPlaceholder("verify"):  fnARN(Region, VerifyFunctionName),
				statemachines.FunctionPlaceholder("migrate"): fnARN(Region, MigrateFunctionName),
				statemachines.TableName:                      e.Releases.Table,
				// The backup machine (WithBackups) its pre-deploy
				// snapshots run; by name, as the CDK stack fills it.
				statemachines.BackupStateMachineArn: fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", Region, Account, BackupStateMachine),
			},
			RoleArn: fmt.Sprintf("arn:aws:iam::%s:role/stepship-deploy-state-machine", Account),
		}}, machines...),
		Lambdas: lambdas,
		// The service integrations (CodeBuild, ECR, ECS, DynamoDB, RDS, …)
		// call the AWS emulator through the proxy; aws-sdk:sfn calls reach
		// this service itself.
		AWSConfig: &integrations,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to configure the local Step Functions service: %w", err)
	}
	if err := s.Listen(localsvc.Loopback + ":0"); err != nil {
		return nil, fmt.Errorf("failed to start the local Step Functions service: %w", err)
	}
	e.started(func() error { return shutdown(s) }, nil)
	e.Server = s
	e.DeployStateMachineARN = s.StateMachineARN(DeployStateMachine)
	if o.backups {
		e.BackupStateMachineARN = s.StateMachineARNIn(Region, BackupStateMachine)
		e.DrillStateMachineARN = s.StateMachineARNIn(e.BackupSpec.DRRegion, DrillStateMachine)
	}
	e.SFN = sfn.NewFromConfig(e.AWS, func(o *sfn.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	o.progress("local Step Functions service on "+s.URL(), time.Since(step))

	step = time.Now()
	env := e.Proxy.Env(e.Moto.Env())
	env["AWS_ENDPOINT_URL_SFN"] = s.URL()
	env[config.EnvWebhookSecretARN] = seeded.SecretARN
	env[config.EnvDeployStateMachineARN] = e.DeployStateMachineARN
	env[config.EnvCatalog] = e.Catalog
	e.WebhookEnv = env
	if e.Webhook, err = e.startFunction(ctx, o.functions, "webhook", env, svcOpts); err != nil {
		return nil, err
	}
	o.progress("webhook function: built bootstrap under the Lambda runtime emulator", time.Since(step))
	return e, nil
}

// fnARN is the ARN of a function of the local account in region.
func fnARN(region, name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, Account, name)
}

// startBackups seeds the backup world and the notification topics of both
// regions, starts the snapshot, restore and dr-verify functions (calling AWS
// through the proxy; restore reads and writes the ledger in the home region),
// and adds the backup and drill machines and their functions to the local
// service's configuration.
func (e *Env) startBackups(ctx context.Context, fnEnv map[string]string, machines *[]server.MachineConfig, lambdas map[string]string) error {
	seeded, err := world.SeedBackups(ctx, e.AWS, e.BackupSpec)
	if err != nil {
		return fmt.Errorf("failed to seed the emulated account's backups: %w", err)
	}
	e.SeededBackups = seeded
	if e.HomeTopic, err = world.SeedTopic(ctx, e.AWS, Region, NotificationTopic); err != nil {
		return err
	}
	if e.DRTopic, err = world.SeedTopic(ctx, e.AWS, e.BackupSpec.DRRegion, NotificationTopic); err != nil {
		return err
	}
	// The snapshot function names its own role as the retiring principal of
	// the grants it makes for the backup account, as the home stack tells it.
	home := with(fnEnv, config.EnvFunctionRoleARN, fmt.Sprintf("arn:aws:iam::%s:role/%s", Account, SnapshotFunctionName))
	dr := maps.Clone(fnEnv)
	dr["AWS_REGION"], dr["AWS_DEFAULT_REGION"] = e.BackupSpec.DRRegion, e.BackupSpec.DRRegion
	// The restore function gets the drill security group and the ledger in
	// the home region as the DR stack gives them.
	restore := maps.Clone(dr)
	restore[config.EnvDrillSecurityGroup] = seeded.SecurityGroupID
	restore[config.EnvLedgerTable], restore[config.EnvLedgerRegion] = e.Releases.Table, Region
	for _, f := range []struct {
		fn   **localsvc.Lambda
		dir  string
		name string
		env  map[string]string
	}{
		{&e.Snapshot, "snapshot", SnapshotFunctionName, home},
		{&e.Restore, "restore", RestoreFunctionName, restore},
		{&e.DRVerify, "dr-verify", DRVerifyFunctionName, dr},
	} {
		if *f.fn, err = e.startFunction(ctx, e.functions, f.dir, f.env, e.svcOpts); err != nil {
			return err
		}
		lambdas[f.name] = (*f.fn).URL()
	}
	// RDS copies a snapshot shared from another account; moto does not
	// (FACTS.md): the proxy makes the backup account's copies.
	e.ScriptSharedCopies(awsproxy.SharedSnapshotScript{})
	role := func(name string) string { return fmt.Sprintf("arn:aws:iam::%s:role/%s-state-machine", Account, name) }
	*machines = append(*machines, server.MachineConfig{
		Name:   BackupStateMachine,
		Region: Region,
		File:   filepath.Join(e.Root, statemachines.File(statemachines.Backup)),
		DefinitionSubstitutions: map[string]string{
			statemachines.FunctionPlaceholder("snapshot"): fnARN(Region, SnapshotFunctionName),
			statemachines.NotificationTopicArn:            e.HomeTopic.ARN,
		},
		RoleArn: role(BackupStateMachine),
	}, server.MachineConfig{
		Name:   DrillStateMachine,
		Region: e.BackupSpec.DRRegion,
		File:   filepath.Join(e.Root, statemachines.File(statemachines.DRDrill)),
		DefinitionSubstitutions: map[string]string{
			statemachines.FunctionPlaceholder("restore"):   fnARN(e.BackupSpec.DRRegion, RestoreFunctionName),
			statemachines.FunctionPlaceholder("dr-verify"): fnARN(e.BackupSpec.DRRegion, DRVerifyFunctionName),
			statemachines.NotificationTopicArn:             e.DRTopic.ARN,
		},
		RoleArn: role(DrillStateMachine),
	})
	return nil
}

// ScriptSharedCopies replaces how the proxy copies a snapshot shared from
// another account into the caller's (awsproxy.SharedSnapshotScript; its
// Region is the DR region's unless set): WithBackups installs the script
// with no polls. Call it between backups, not during one.
func (e *Env) ScriptSharedCopies(s awsproxy.SharedSnapshotScript) {
	e.sharedMu.Lock()
	defer e.sharedMu.Unlock()
	if e.shared != nil {
		e.shared.Remove()
	}
	if s.Region == "" {
		s.Region = e.BackupSpec.DRRegion
	}
	e.shared = s.Install(e.Proxy)
}

// startFunction runs the built bootstrap of functions/NAME from dist under the
// Lambda runtime emulator; its AWS calls carry its function name,
// stepship-NAME, as their SDK application id.
func (e *Env) startFunction(ctx context.Context, dist, name string, env map[string]string, opts []localsvc.Option) (*localsvc.Lambda, error) {
	bootstrap, err := localsvc.Bootstrap(dist, name)
	if err != nil {
		return nil, err
	}
	env = with(env, "AWS_SDK_UA_APP_ID", "stepship-"+name)
	if e.attempts > 0 {
		env["AWS_MAX_ATTEMPTS"] = strconv.Itoa(e.attempts)
	}
	fn, err := localsvc.StartLambda(ctx, bootstrap, env, opts...)
	if err != nil {
		return nil, err
	}
	e.started(fn.Close, fn)
	if _, ok := e.envs[name]; !ok {
		if e.envs == nil {
			e.envs = map[string]map[string]string{}
		}
		e.envs[name] = maps.Clone(env)
	}
	return fn, nil
}

// FunctionEnv returns the environment the stack started functions/NAME with
// (to start more copies, or to measure its start); false when the stack does
// not run it (snapshot, restore and dr-verify need WithBackups).
func (e *Env) FunctionEnv(name string) (map[string]string, bool) {
	env, ok := e.envs[name]
	return maps.Clone(env), ok
}

// StartWebhook starts another copy of the webhook function, its environment
// WebhookEnv with the given variables changed (for example a shorter
// STEPSHIP_SECRET_OVERLAP). It stops with the stack.
func (e *Env) StartWebhook(ctx context.Context, changes map[string]string) (*localsvc.Lambda, error) {
	env := maps.Clone(e.WebhookEnv)
	maps.Copy(env, changes)
	return e.startFunction(ctx, e.functions, "webhook", env, e.svcOpts)
}

// started records a part of the stack: how to stop it, and its log (nil for
// none).
func (e *Env) started(stop func() error, log interface{ LogReport() string }) {
	e.stops = append(e.stops, stop)
	if log != nil {
		e.logs = append(e.logs, log)
	}
}

// shutdown stops the local Step Functions service, aborting running executions.
func shutdown(s *server.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		return fmt.Errorf("failed to stop the local Step Functions service: %w", err)
	}
	return nil
}

// Close stops everything Start started, the last started first, and returns
// what went wrong doing so. It is safe to call more than once.
func (e *Env) Close() error {
	var errs []error
	for _, stop := range slices.Backward(e.stops) {
		errs = append(errs, stop())
	}
	e.stops = nil
	return errors.Join(errs...)
}

// LogReport is the end of every service's log (the webhook and deploy
// functions under the runtime emulator, the AWS emulator), each between lines
// naming it: what a failed test or demo prints.
func (e *Env) LogReport() string {
	var b strings.Builder
	for _, l := range slices.Backward(e.logs) {
		b.WriteString(l.LogReport())
		b.WriteString("\n")
	}
	return b.String()
}

// Fixture reads events/NAME.
func (e *Env) Fixture(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(e.Root, "events", name))
	if err != nil {
		return nil, fmt.Errorf("failed to read fixture: %w", err)
	}
	return b, nil
}

// Answer is the webhook function's HTTP answer: its status, its raw body and
// the body decoded (shared/intake's Answer).
type Answer struct {
	Status int
	Body   string
	intake.Answer
}

// Post sends a webhook delivery to the webhook function exactly as a Lambda
// Function URL would: a POST with the raw body and the host's headers.
func (e *Env) Post(ctx context.Context, headers map[string]string, body []byte) (Answer, error) {
	return PostTo(ctx, e.Webhook, headers, body)
}

// PostTo is Post to a given copy of the webhook function.
func PostTo(ctx context.Context, webhook *localsvc.Lambda, headers map[string]string, body []byte) (Answer, error) {
	h := map[string]string{"content-type": "application/json", "user-agent": "GitHub-Hookshot/stepship-demo"}
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	req := events.LambdaFunctionURLRequest{
		Version: "2.0",
		RawPath: "/",
		Headers: h,
		Body:    string(body),
		RequestContext: events.LambdaFunctionURLRequestContext{
			HTTP:      events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/", Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: h["user-agent"]},
			TimeEpoch: time.Now().UnixMilli(),
		},
	}
	out, ferr, err := webhook.Invoke(ctx, req)
	if err != nil {
		return Answer{}, fmt.Errorf("failed to invoke the webhook function: %w", err)
	}
	if ferr != nil {
		return Answer{}, fmt.Errorf("the webhook function failed: %w", ferr)
	}
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return Answer{}, fmt.Errorf("the webhook function answered %s: %w", out, err)
	}
	a := Answer{Status: resp.StatusCode, Body: resp.Body}
	if strings.HasPrefix(strings.TrimSpace(resp.Body), "{") {
		if err := json.Unmarshal([]byte(resp.Body), &a); err != nil {
			return Answer{}, fmt.Errorf("the webhook function's body %s: %w", resp.Body, err)
		}
	}
	a.Status, a.Body = resp.StatusCode, resp.Body
	return a, nil
}

// WaitExecution polls DescribeExecution until the execution is no longer running.
func (e *Env) WaitExecution(ctx context.Context, arn string, timeout time.Duration) (*sfn.DescribeExecutionOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		out, err := e.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("failed to describe execution %s: %w", arn, err)
		}
		if out.Status != sfntypes.ExecutionStatusRunning {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("execution %s still running after %s", arn, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// History returns an execution's whole history, oldest first.
func (e *Env) History(ctx context.Context, arn string) ([]sfntypes.HistoryEvent, error) {
	var all []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(e.SFN, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("failed to read the history of %s: %w", arn, err)
		}
		all = append(all, page.Events...)
	}
	return all, nil
}

// StatePath lists the states an execution entered, in order.
func StatePath(history []sfntypes.HistoryEvent) []string {
	var path []string
	for _, ev := range history {
		if d := ev.StateEnteredEventDetails; d != nil {
			path = append(path, aws.ToString(d.Name))
		}
	}
	return path
}

// TaskDefinitionName is "family:revision" of a task-definition ARN.
func TaskDefinitionName(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
