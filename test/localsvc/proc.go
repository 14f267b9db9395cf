package localsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Loopback is the only address the harness listens on or connects to.
const Loopback = "127.0.0.1"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// The port is released before returning, so a process started right after
// may race with another one for it; the Start functions retry when the
// process reports the address in use.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", Loopback, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(port int) string { return net.JoinHostPort(Loopback, strconv.Itoa(port)) }

// proc is a child process whose output goes to a log file. It runs in its
// own process group (stop signals reach its children too) and is killed by
// the kernel if this process dies before stopping it.
//
// Each service embeds it: Logs, LogReport, LogSize, LogsSince and Err are
// the service's.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    chan struct{} // closed once the process has exited
	waitErr error
	stopped sync.Once
	// owned are the folders removed once the process has stopped (a log
	// folder the service created, PostgreSQL's data).
	owned []string
}

type procSpec struct {
	name string // set by options.start
	argv []string
	env  []string // the full environment; nil means a minimal one
	dir  string
	cred *syscall.Credential // run as another user (postgres as root)
}

func startProc(spec procSpec, logDir string) (*proc, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log folder for %s: %w", spec.name, err)
	}
	logFile, err := os.CreateTemp(logDir, safeName(spec.name)+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("creating log file for %s: %w", spec.name, err)
	}
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	if cmd.Env == nil {
		cmd.Env = baseEnv()
	}
	cmd.Stdin = nil
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: spec.cred,
	}
	fmt.Fprintf(logFile, "# localsvc: %s\n", strings.Join(spec.argv, " "))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", spec.name, spec.argv[0], err)
	}
	p := &proc{name: spec.name, cmd: cmd, logPath: logFile.Name(), log: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// baseEnv is the environment of a child process unless a Start function says
// otherwise: enough to run, nothing of the developer's AWS setup.
func baseEnv() []string {
	env := []string{"TZ=UTC", "LANG=C.UTF-8"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group, waits up to grace, then kills the
// group. It is safe to call more than once.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	p.stopped.Do(func() {
		pid := p.cmd.Process.Pid
		if !p.exited() {
			_ = syscall.Kill(-pid, sig)
			select {
			case <-p.done:
			case <-time.After(grace):
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				<-p.done
			}
		}
		// Children that outlived the leader (they share its group).
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		p.log.Close()
	})
}

// shutdown stops the process (see stop) and removes the folders it owns. It
// is safe to call more than once.
func (p *proc) shutdown(sig syscall.Signal, grace time.Duration) error {
	p.stop(sig, grace)
	var errs []error
	for _, d := range p.owned {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove the folder of %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}

// Logs returns the process's whole log so far (empty once Close removed a
// log folder the service created itself).
func (p *proc) Logs() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log %s: %v)", p.logPath, err)
	}
	return string(b)
}

// LogsSince returns the log from offset (a LogSize taken earlier) on, at
// most its last 32 KiB.
func (p *proc) LogsSince(offset int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log %s: %v)", p.logPath, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	start := offset
	prefix := ""
	if st.Size()-start > logTailMax {
		start = st.Size() - logTailMax
		prefix = fmt.Sprintf("(… %d earlier bytes in %s)\n", start-offset, p.logPath)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err.Error()
	}
	b, _ := io.ReadAll(f)
	return prefix + string(b)
}

// LogSize is the log's length so far, an offset for LogsSince.
func (p *proc) LogSize() int64 {
	st, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// LogReport is the end of the log (LogsSince(0)) between lines naming the
// process and its command line: what a failed test or demo prints.
func (p *proc) LogReport() string {
	return fmt.Sprintf("--- log of %s (%s) ---\n%s\n--- end of log of %s ---", p.name, strings.Join(p.cmd.Args, " "), p.LogsSince(0), p.name)
}

// Err is nil while the process runs; once it has exited (or was stopped),
// an error saying how it ended.
func (p *proc) Err() error {
	if !p.exited() {
		return nil
	}
	return fmt.Errorf("%s %s", p.name, p.describeExit())
}

// logTailMax bounds how much of a process log LogsSince and LogReport give.
const logTailMax = 32 << 10

// describeExit says how the process ended, for error messages.
func (p *proc) describeExit() string {
	if p.waitErr == nil {
		return "exited with status 0"
	}
	return p.waitErr.Error()
}

// addrInUse reports whether the log says the listen address was taken.
func (p *proc) addrInUse() bool {
	out := strings.ToLower(p.Logs())
	return strings.Contains(out, "address already in use") || strings.Contains(out, "could not bind")
}

// errNotReady is returned by readiness checks that should be retried.
var errNotReady = errors.New("not ready")

// waitReady polls check every 50 ms until it succeeds, the process exits,
// the timeout passes or ctx is done.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration, check func(ctx context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s %s before it was ready; log:\n%s", p.name, p.describeExit(), p.LogsSince(0))
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return fmt.Errorf("gave up waiting for %s to be ready (last check: %v): %w", p.name, last, err)
			}
			return fmt.Errorf("%s not ready after %s (last check: %v); log:\n%s", p.name, timeout, last, p.LogsSince(0))
		case <-p.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tcpReady is a readiness check that succeeds once addr accepts connections.
func tcpReady(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// startWithPort starts a process listening on a fresh free port, retrying
// with another port (up to 3 times) when the port was taken meanwhile. ctx
// bounds the start only; the process runs until it is stopped.
func startWithPort(ctx context.Context, spec func(port int) procSpec, logDir string, timeout time.Duration, ready func(port int) func(context.Context) error) (*proc, int, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, 0, err
		}
		s := spec(port)
		p, err := startProc(s, logDir)
		if err != nil {
			return nil, 0, err
		}
		if err := p.waitReady(ctx, timeout, ready(port)); err != nil {
			p.stop(syscall.SIGKILL, time.Second)
			lastErr = err
			if ctx.Err() == nil && p.addrInUse() {
				continue
			}
			return nil, 0, err
		}
		return p, port, nil
	}
	return nil, 0, lastErr
}

// Option adjusts how StartMoto, StartPostgres and StartLambda start their
// process.
type Option func(*options)

type options struct {
	logDir string
	env    map[string]string
}

// WithLogDir writes the process's log into dir, which the caller owns: the
// log outlives Close. Without it, the service writes into a temporary
// folder of its own and Close removes it.
func WithLogDir(dir string) Option { return func(o *options) { o.logDir = dir } }

// WithEnv sets an environment variable of the process, e.g. moto's
// MOTO_ECS_SERVICE_RUNNING or MOTO_RDS_SNAPSHOT_LIMIT.
func WithEnv(key, value string) Option {
	return func(o *options) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		o.env[key] = value
	}
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// start starts the process of the service name on a free port (see startWithPort),
// logging into the caller's folder or into a new temporary one that the
// process owns (Close removes it).
func (o options) start(ctx context.Context, name string, spec func(port int) procSpec, timeout time.Duration, ready func(port int) func(context.Context) error) (*proc, int, error) {
	logDir := o.logDir
	if logDir == "" {
		dir, err := os.MkdirTemp("", "stepship-"+safeName(name)+"-")
		if err != nil {
			return nil, 0, fmt.Errorf("failed to create a log folder for %s: %w", name, err)
		}
		logDir = dir
	}
	named := func(port int) procSpec {
		s := spec(port)
		s.name = name
		return s
	}
	p, port, err := startWithPort(ctx, named, logDir, timeout, ready)
	if o.logDir == "" {
		if err != nil {
			os.RemoveAll(logDir)
		} else {
			p.owned = append(p.owned, logDir)
		}
	}
	return p, port, err
}

// envList turns a map into KEY=VALUE lines, sorted, for exec.Cmd.Env.
func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// mergeEnv overlays extra on base (both KEY=VALUE lists).
func mergeEnv(base []string, extra map[string]string) []string {
	m := map[string]string{}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return envList(m)
}
