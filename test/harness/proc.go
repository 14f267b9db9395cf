package harness

import (
	"bytes"
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
	"testing"
	"time"
)

// Loopback is the only address the harness listens on or connects to.
const Loopback = "127.0.0.1"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// The port is released before returning, so a process started right after
// may race with another test for it; the Start functions retry when the
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
// the kernel if the test binary dies before its cleanup ran.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    chan struct{} // closed once the process has exited
	waitErr error
	stopped sync.Once
}

type procSpec struct {
	name string
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
	fmt.Fprintf(logFile, "# harness: %s\n", strings.Join(spec.argv, " "))
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

// output returns the whole log so far.
func (p *proc) output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log %s: %v)", p.logPath, err)
	}
	return string(b)
}

// tail returns at most the last max bytes of the log, from offset on.
func (p *proc) tail(offset int64, max int64) string {
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
	if st.Size()-start > max {
		start = st.Size() - max
		prefix = fmt.Sprintf("(… %d earlier bytes in %s)\n", start-offset, p.logPath)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err.Error()
	}
	b, _ := io.ReadAll(f)
	return prefix + string(b)
}

func (p *proc) size() int64 {
	st, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logTailMax bounds how much of a process log is printed for a failed test.
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
	out := strings.ToLower(p.output())
	return strings.Contains(out, "address already in use") || strings.Contains(out, "could not bind")
}

// errNotReady is returned by readiness checks that should be retried.
var errNotReady = errors.New("not ready")

// waitReady polls check every 50 ms until it succeeds, the process exits or
// the timeout passes.
func (p *proc) waitReady(timeout time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s %s before it was ready; log:\n%s", p.name, p.describeExit(), p.tail(0, logTailMax))
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (last check: %v); log:\n%s", p.name, timeout, last, p.tail(0, logTailMax))
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
// with another port (up to 3 times) when the port was taken meanwhile.
func startWithPort(spec func(port int) procSpec, logDir string, timeout time.Duration, ready func(port int) func(context.Context) error) (*proc, int, error) {
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
		if err := p.waitReady(timeout, ready(port)); err != nil {
			p.stop(syscall.SIGKILL, time.Second)
			lastErr = err
			if p.addrInUse() {
				continue
			}
			return nil, 0, err
		}
		return p, port, nil
	}
	return nil, 0, lastErr
}

// cleanupProc registers the stop of p with t, printing its log (from offset
// on) when the test failed.
func cleanupProc(t testing.TB, p *proc, sig syscall.Signal, grace time.Duration) {
	t.Cleanup(func() {
		p.stop(sig, grace)
		if t.Failed() {
			t.Logf("--- log of %s (%s) ---\n%s\n--- end of log of %s ---", p.name, strings.Join(p.cmd.Args, " "), p.tail(0, logTailMax), p.name)
		}
	})
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

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := bytes.Split([]byte(strings.TrimRight(s, "\n")), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
