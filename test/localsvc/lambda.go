package localsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

// InvocationsPath is the Lambda Invoke API path the runtime emulator serves.
const InvocationsPath = tasks.InvocationsPath

const rieStartTimeout = 30 * time.Second

// Lambda is one built bootstrap running under the Lambda Runtime Interface
// Emulator (aws-lambda-rie), one emulator process per function.
//
// The emulator crashes when two invocations overlap, so it is only reached
// through a small proxy of the harness that lets one invocation through at a
// time: URL() is that proxy, safe for concurrent callers (a local Step
// Functions runner, several goroutines of a test).
type Lambda struct {
	// Name is the function name the emulator reports (AWS_LAMBDA_FUNCTION_NAME).
	Name string

	url   string // proxy invocations URL
	rie   string // emulator base URL, behind the proxy
	proxy *http.Server
	*proc
}

// FunctionError is a failed invocation: the function returned an error or
// crashed (tasks.FunctionError, where the local Step Functions service decodes
// it too).
type FunctionError = tasks.FunctionError

// StartLambda runs bootstrapPath (a linux binary for this machine, e.g. from
// Bootstrap) under aws-lambda-rie on free ports until Close. env is the
// function's environment (on top of a minimal one with region us-east-1,
// AWS_LAMBDA_FUNCTION_NAME = the bootstrap's folder name and a 60 s
// AWS_LAMBDA_FUNCTION_TIMEOUT); pass Moto.Env() merged with the function's own
// settings. ctx bounds the start; on failure nothing is left running.
func StartLambda(ctx context.Context, bootstrapPath string, env map[string]string, opts ...Option) (*Lambda, error) {
	o := newOptions(opts)
	rie, err := ToolPath("aws-lambda-rie")
	if err != nil {
		return nil, err
	}
	bootstrapPath, err = filepath.Abs(bootstrapPath)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(bootstrapPath)
	if err != nil {
		return nil, fmt.Errorf("bootstrap %s: %w (build it with BuildFunctions or `make build-local`)", bootstrapPath, err)
	}
	if st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("bootstrap %s is not executable", bootstrapPath)
	}
	name := filepath.Base(filepath.Dir(bootstrapPath))
	fenv := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "60",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_REGION":                      Region,
		"AWS_DEFAULT_REGION":              Region,
		"AWS_EC2_METADATA_DISABLED":       "true",
		"LOG_LEVEL":                       "info",
	}
	for k, v := range env {
		fenv[k] = v
	}
	for k, v := range o.env {
		fenv[k] = v
	}
	p, port, err := o.start(ctx, "lambda-"+name, func(port int) procSpec {
		// The emulator's runtime API (which the bootstrap polls) needs a
		// port of its own too; its default, 9001, would clash between
		// emulators.
		apiPort, perr := FreePort()
		if perr != nil {
			apiPort = port + 1
		}
		return procSpec{
			argv: []string{rie,
				"--runtime-interface-emulator-address", hostPort(port),
				"--runtime-api-address", hostPort(apiPort),
				bootstrapPath},
			dir: filepath.Dir(bootstrapPath),
			env: mergeEnv(baseEnv(), fenv),
		}
	}, rieStartTimeout, func(port int) func(context.Context) error {
		return tcpReady(hostPort(port))
	})
	if err != nil {
		return nil, fmt.Errorf("failed to start function %s under the runtime emulator: %w", name, err)
	}
	l := &Lambda{Name: name, rie: "http://" + hostPort(port), proc: p}
	if err := l.startProxy(); err != nil {
		return nil, errors.Join(err, p.shutdown(syscall.SIGKILL, time.Second))
	}
	return l, nil
}

// Close stops the invoke proxy and the emulator (SIGTERM, then SIGKILL after
// 5 s) and removes the log folder it created. It is safe to call more than
// once.
func (l *Lambda) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if err := l.proxy.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("failed to stop the invoke proxy of %s: %w", l.Name, err))
	}
	return errors.Join(append(errs, l.proc.shutdown(syscall.SIGTERM, 5*time.Second))...)
}

// startProxy serves the invocations path on a free port and forwards one
// request at a time to the emulator.
func (l *Lambda) startProxy() error {
	ln, err := net.Listen("tcp", net.JoinHostPort(Loopback, "0"))
	if err != nil {
		return fmt.Errorf("listening for the %s invoke proxy: %w", l.Name, err)
	}
	unreachable := func(err error) string {
		if l.proc.exited() {
			return fmt.Sprintf("runtime emulator of %s has exited (%s)", l.Name, l.proc.describeExit())
		}
		return fmt.Sprintf("runtime emulator of %s unreachable: %v", l.Name, err)
	}
	l.proxy = &http.Server{
		Handler:           tasks.Proxy(tasks.NewRIE(l.rie), unreachable),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = l.proxy.Serve(ln) }()
	l.url = "http://" + ln.Addr().String() + InvocationsPath
	return nil
}

// URL is the function's invocations endpoint (POST the event; the response
// body is the function's result or a FunctionError). Concurrent requests are
// queued.
func (l *Lambda) URL() string { return l.url }

// Invoke sends payload (raw JSON as []byte or json.RawMessage, anything else
// is marshalled) and returns the response body. A function error (returned
// error, panic, crash, timeout) comes back as funcErr, with the body too;
// err is for failures to invoke at all.
func (l *Lambda) Invoke(ctx context.Context, payload any) (body []byte, funcErr *FunctionError, err error) {
	var in []byte
	switch p := payload.(type) {
	case []byte:
		in = p
	case json.RawMessage:
		in = p
	case string:
		in = []byte(p)
	default:
		in, err = json.Marshal(payload)
		if err != nil {
			return nil, nil, fmt.Errorf("marshalling the payload for %s: %w", l.Name, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(in))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("invoking %s: %w", l.Name, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the response of %s: %w", l.Name, err)
	}
	// A returned error comes with HTTP 200; a crash of the runtime (a
	// panic, os.Exit) with HTTP 502 and the same kind of body.
	if fe := ParseFunctionError(body); fe != nil {
		return body, fe, nil
	}
	if resp.StatusCode != http.StatusOK {
		return body, nil, fmt.Errorf("invoking %s: HTTP %d: %s", l.Name, resp.StatusCode, bytes.TrimSpace(body))
	}
	if h := resp.Header.Get("X-Amz-Function-Error"); h != "" {
		return body, &FunctionError{Type: h, Message: string(body)}, nil
	}
	return body, nil, nil
}

// ParseFunctionError recognizes the body of a failed invocation
// (tasks.ParseFunctionError); nil for anything else.
func ParseFunctionError(body []byte) *FunctionError { return tasks.ParseFunctionError(body) }
