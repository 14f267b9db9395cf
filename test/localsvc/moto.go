package localsvc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
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

	*proc
}

// StartMoto starts a moto server (a few seconds) and returns once it
// answers. ctx bounds the start; the server runs until Close. A server that
// does not come up is stopped, and the error carries its log.
func StartMoto(ctx context.Context, opts ...Option) (*Moto, error) {
	o := newOptions(opts)
	bin, err := ToolPath("moto_server")
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	p, port, err := o.start(ctx, "moto_server", func(port int) procSpec {
		return procSpec{
			argv: []string{bin, "-H", Loopback, "-p", fmt.Sprint(port)},
			dir:  root,
			env:  mergeEnv(append(baseEnv(), "PYTHONUNBUFFERED=1"), o.env),
		}
	}, motoStartTimeout, func(port int) func(context.Context) error {
		return httpReady(fmt.Sprintf("http://%s/moto-api/", hostPort(port)))
	})
	if err != nil {
		return nil, fmt.Errorf("failed to start the AWS emulator (moto): %w", err)
	}
	return &Moto{Endpoint: "http://" + hostPort(port), Port: port, proc: p}, nil
}

// Close stops the server (SIGTERM, then SIGKILL after 5 s) and removes the
// log folder it created. It is safe to call more than once.
func (m *Moto) Close() error { return m.proc.shutdown(syscall.SIGTERM, 5*time.Second) }

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
// process (a Lambda bootstrap, a CLI) at this emulator:
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
func (m *Moto) Reset(ctx context.Context) error {
	return m.post(ctx, "/moto-api/reset", "")
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
