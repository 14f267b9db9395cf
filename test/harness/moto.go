package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The emulated account every test talks to.
const (
	Region          = "us-east-1"
	AccountID       = "123456789012" // moto's default account
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// motoStartTimeout bounds how long the moto server may take to come up
// (it imports every service's models on start: seconds on a busy machine).
const motoStartTimeout = 90 * time.Second

// Moto is a running moto server (the AWS emulator) on 127.0.0.1.
type Moto struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:43121.
	Endpoint string
	// Port is the server's TCP port.
	Port int

	proc *proc
}

// StartMoto starts a moto server of its own for this test (a few seconds) and
// stops it when the test ends; its log is printed if the test failed. Tests
// of one package can share one server instead: see SharedMoto and MotoMain.
func StartMoto(t testing.TB, opts ...MotoOption) *Moto {
	t.Helper()
	var o motoOptions
	for _, opt := range opts {
		opt(&o)
	}
	m, err := startMoto(t.TempDir(), o.env)
	if err != nil {
		t.Fatal(err)
	}
	cleanupProc(t, m.proc, syscall.SIGTERM, 5*time.Second)
	return m
}

// MotoOption configures StartMoto.
type MotoOption func(*motoOptions)

type motoOptions struct{ env map[string]string }

// WithMotoEnv sets an environment variable of the moto server process, e.g.
// MOTO_ECS_SERVICE_RUNNING or MOTO_RDS_SNAPSHOT_LIMIT.
func WithMotoEnv(key, value string) MotoOption {
	return func(o *motoOptions) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		o.env[key] = value
	}
}

func startMoto(logDir string, env map[string]string) (*Moto, error) {
	bin, err := ToolPath("moto_server")
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	p, port, err := startWithPort(func(port int) procSpec {
		return procSpec{
			name: "moto_server",
			argv: []string{bin, "-H", Loopback, "-p", fmt.Sprint(port)},
			dir:  root,
			env:  mergeEnv(append(baseEnv(), "PYTHONUNBUFFERED=1"), env),
		}
	}, logDir, motoStartTimeout, func(port int) func(context.Context) error {
		return httpReady(fmt.Sprintf("http://%s/moto-api/", hostPort(port)))
	})
	if err != nil {
		return nil, err
	}
	return &Moto{Endpoint: "http://" + hostPort(port), Port: port, proc: p}, nil
}

// httpReady is a readiness check that succeeds once GET url answers 200.
func httpReady(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %w", url, resp.Status, errNotReady)
		}
		return nil
	}
}

// Config returns an SDK configuration for the emulator: static test
// credentials, region us-east-1 and BaseEndpoint set to the server, and
// nothing read from the environment or ~/.aws.
func (m *Moto) Config(ctx context.Context) aws.Config {
	_ = ctx
	return aws.Config{
		Region:       Region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		BaseEndpoint: aws.String(m.Endpoint),
		HTTPClient:   &http.Client{Timeout: 60 * time.Second},
	}
}

// ConfigForRegion is Config for another region (the same server serves all
// regions; the region travels in each request's signature).
func (m *Moto) ConfigForRegion(ctx context.Context, region string) aws.Config {
	c := m.Config(ctx)
	c.Region = region
	return c
}

// Env returns the environment variables that point an SDK in a child
// process (a Lambda bootstrap, scripts/demo, a CLI) at this emulator:
// AWS_ENDPOINT_URL, the region, static credentials, and no shared config or
// instance metadata lookups.
func (m *Moto) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":            m.Endpoint,
		"AWS_REGION":                  Region,
		"AWS_DEFAULT_REGION":          Region,
		"AWS_ACCESS_KEY_ID":           AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	}
}

// Environ is Env as KEY=VALUE lines, for exec.Cmd.Env (append it to a base
// environment).
func (m *Moto) Environ() []string { return envList(m.Env()) }

// Reset wipes every service's state (POST /moto-api/reset). It keeps
// /moto-api/config and state-manager settings.
func (m *Moto) Reset() error {
	return m.post(context.Background(), "/moto-api/reset", "")
}

// EnableStepFunctionsExecution switches on moto's own ASL interpreter
// (POST /moto-api/config); create state machines after calling it.
func (m *Moto) EnableStepFunctionsExecution(ctx context.Context) error {
	return m.post(ctx, "/moto-api/config", `{"stepfunctions":{"execute_state_machine":true}}`)
}

func (m *Moto) post(ctx context.Context, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s to moto: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s to moto: %s: %s", path, resp.Status, b)
	}
	return nil
}

// Logs returns moto's log so far.
func (m *Moto) Logs() string { return m.proc.output() }

var shared struct {
	mu     sync.Mutex
	moto   *Moto
	err    error
	logDir string
}

// SharedMoto returns the test binary's one shared moto server, starting it on
// first use. State is shared by every test of the package: use unique names,
// or call Reset in tests that don't run in parallel. When the test fails,
// the part of moto's log written during it is printed. Use MotoMain in
// TestMain to stop the server at the end (without it, the kernel kills it
// when the test binary exits).
func SharedMoto(t testing.TB) *Moto {
	t.Helper()
	shared.mu.Lock()
	if shared.moto == nil && shared.err == nil {
		shared.logDir, shared.err = os.MkdirTemp("", "stepship-moto-")
		if shared.err == nil {
			shared.moto, shared.err = startMoto(shared.logDir, nil)
		}
	}
	m, err := shared.moto, shared.err
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("starting the shared moto server: %v", err)
	}
	if m.proc.exited() {
		t.Fatalf("the shared moto server has died (%s); log:\n%s", m.proc.describeExit(), m.proc.tail(0, logTailMax))
	}
	offset := m.proc.size()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- shared moto log during this test ---\n%s\n--- end of moto log ---", m.proc.tail(offset, logTailMax))
		}
	})
	return m
}

// MotoMain runs the tests of a package that uses SharedMoto and then stops
// the shared server and removes its log (printing the log's end first when
// a test failed). Use it as:
//
//	func TestMain(m *testing.M) { os.Exit(harness.MotoMain(m)) }
func MotoMain(m *testing.M) int {
	code := m.Run()
	StopSharedMoto(code != 0)
	return code
}

// StopSharedMoto stops the shared moto server, if one was started, and
// removes its log, printing the log's end to stderr first when printLog is
// set. For a TestMain that does more than MotoMain.
func StopSharedMoto(printLog bool) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.moto != nil {
		shared.moto.proc.stop(syscall.SIGTERM, 5*time.Second)
		if printLog {
			fmt.Fprintf(os.Stderr, "--- end of the shared moto log ---\n%s\n", lastLines(shared.moto.proc.output(), 60))
		}
	}
	if shared.logDir != "" {
		os.RemoveAll(shared.logDir)
	}
	shared.moto, shared.err, shared.logDir = nil, nil, ""
}
