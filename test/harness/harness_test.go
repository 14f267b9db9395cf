package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stepship/stepship/test/localsvc"
)

func TestMain(m *testing.M) {
	code := MotoMain(m)
	if fnPath != "" {
		os.RemoveAll(filepath.Dir(filepath.Dir(fnPath)))
	}
	os.Exit(code)
}

func portClosed(t *testing.T, port int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(localsvc.Loopback, fmt.Sprint(port)), time.Second)
	if err == nil {
		c.Close()
		t.Errorf("port %d still accepts connections after cleanup", port)
	}
}

func TestMoto(t *testing.T) {
	var port int
	t.Run("start", func(t *testing.T) {
		m := StartMoto(t)
		port = m.Port
		ctx := context.Background()
		sm := secretsmanager.NewFromConfig(m.Config(ctx))
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String("harness/test"), SecretString: aws.String("s3cret"),
		}); err != nil {
			t.Fatalf("CreateSecret on moto: %v", err)
		}
		got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("harness/test")})
		if err != nil || aws.ToString(got.SecretString) != "s3cret" {
			t.Fatalf("GetSecretValue = %v, %v", got, err)
		}
		if !strings.Contains(aws.ToString(got.ARN), ":"+localsvc.AccountID+":") {
			t.Errorf("ARN %s is not in account %s", aws.ToString(got.ARN), localsvc.AccountID)
		}
		if err := m.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("harness/test")}); err == nil {
			t.Fatal("the secret survived Reset")
		}
		env := m.Env()
		if env["AWS_ENDPOINT_URL"] != m.Endpoint || env["AWS_REGION"] != localsvc.Region {
			t.Errorf("Env() = %v", env)
		}
		if !strings.HasPrefix(m.Endpoint, "http://127.0.0.1:") {
			t.Errorf("Endpoint %s is not on loopback", m.Endpoint)
		}
	})
	portClosed(t, port)
}

func TestSharedMoto(t *testing.T) {
	var endpoints []string
	for i := 0; i < 2; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			m := SharedMoto(t)
			endpoints = append(endpoints, m.Endpoint)
			ctx := context.Background()
			sm := secretsmanager.NewFromConfig(m.Config(ctx))
			if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: aws.String(fmt.Sprintf("shared/%d/%d", time.Now().UnixNano(), i)), SecretString: aws.String("x"),
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if len(endpoints) != 2 || endpoints[0] != endpoints[1] {
		t.Fatalf("SharedMoto gave endpoints %v, want one server", endpoints)
	}
}

func TestPostgres(t *testing.T) {
	var port int
	var dir string
	t.Run("start", func(t *testing.T) {
		p := StartPostgres(t)
		port, dir = p.Port, p.DataDir
		ctx := t.Context()
		exec := func(database, sql string) string {
			t.Helper()
			out, err := p.ExecIn(ctx, database, sql)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := exec("postgres", "select 40 + 2"); got != "42" {
			t.Fatalf("select 40 + 2 = %q", got)
		}
		dsn, err := p.CreateDatabase(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/app?sslmode=disable", p.Port); dsn != want {
			t.Errorf("DSN = %s, want %s", dsn, want)
		}
		exec("app", "create table t (id int primary key); insert into t values (1)")
		if got := exec("app", "select count(*) from t"); got != "1" {
			t.Errorf("count = %q", got)
		}
		if _, err := os.Stat(filepath.Join(p.SocketDir, fmt.Sprintf(".s.PGSQL.%d", p.Port))); err != nil {
			t.Errorf("no unix socket in %s: %v", p.SocketDir, err)
		}
	})
	portClosed(t, port)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data folder %s not removed: %v", dir, err)
	}
}

var (
	fnOnce sync.Once
	fnPath string
	fnErr  error
)

// testBootstrap builds testdata/fn like scripts/build.sh builds a function
// for the emulator.
func testBootstrap(t *testing.T) string {
	t.Helper()
	fnOnce.Do(func() {
		dir, err := os.MkdirTemp("", "harness-fn-")
		if err != nil {
			fnErr = err
			return
		}
		fnPath = filepath.Join(dir, "fn", "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", fnPath, "./testdata/fn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			fnErr = fmt.Errorf("building testdata/fn: %v\n%s", err, out)
		}
	})
	if fnErr != nil {
		t.Fatal(fnErr)
	}
	return fnPath
}

func TestLambda(t *testing.T) {
	bootstrap := testBootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var l *Lambda
	var proxyURL string
	if !t.Run("start", func(t *testing.T) {
		l = StartLambda(t, bootstrap, map[string]string{"GREETING": "hi", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
		proxyURL = l.URL()
		if !strings.HasPrefix(l.URL(), "http://127.0.0.1:") || !strings.HasSuffix(l.URL(), localsvc.InvocationsPath) {
			t.Errorf("URL() = %s", l.URL())
		}

		body, fe, err := l.Invoke(ctx, map[string]any{"name": "x"})
		if err != nil || fe != nil {
			t.Fatalf("Invoke = %s, %v, %v", body, fe, err)
		}
		var out map[string]string
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"hello": "x", "greeting": "hi", "endpoint": "http://127.0.0.1:1", "function": "fn"}
		for k, v := range want {
			if out[k] != v {
				t.Errorf("result[%s] = %q, want %q (result %s)", k, out[k], v, body)
			}
		}

		_, fe, err = l.Invoke(ctx, []byte(`{"fail":true}`))
		if err != nil {
			t.Fatal(err)
		}
		if fe == nil || fe.Type != "BadInput" || fe.Message != "bad input: asked to fail" {
			t.Fatalf("failed invocation gave FunctionError %+v, want BadInput", fe)
		}

		_, fe, err = l.Invoke(ctx, []byte(`{"panic":true}`))
		if err != nil || fe == nil {
			t.Fatalf("panicking invocation: FunctionError %+v, err %v", fe, err)
		}

		// Concurrent calls: the emulator alone would crash on these.
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, fe, err := l.Invoke(ctx, map[string]any{"name": fmt.Sprint(i), "sleepMs": 50})
				switch {
				case err != nil:
					errs <- err
				case fe != nil:
					errs <- fe
				case !strings.Contains(string(body), fmt.Sprintf(`"hello":"%d"`, i)):
					errs <- fmt.Errorf("call %d got %s", i, body)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent invocation: %v", err)
		}

		// A process exit mid-invocation is a function error too, and the
		// next call gets a fresh runtime.
		_, fe, err = l.Invoke(ctx, []byte(`{"exit":true}`))
		if err != nil || fe == nil {
			t.Fatalf("exiting invocation: FunctionError %+v, err %v", fe, err)
		}
		t.Logf("exit gave %v", fe)
		if body, fe, err := l.Invoke(ctx, map[string]any{"name": "again"}); err != nil || fe != nil {
			t.Fatalf("invocation after a crash = %s, %v, %v", body, fe, err)
		}
		if !strings.Contains(l.Logs(), "START RequestId") {
			t.Errorf("Logs() lacks the emulator's output:\n%s", l.Logs())
		}
	}) || l == nil {
		return
	}
	resp, err := http.Post(proxyURL, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Errorf("the invoke proxy still answers after cleanup")
	}
	if l.Err() == nil {
		t.Errorf("the emulator still runs after cleanup")
	}
}

// fakeTB records Fatal calls instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed string
	skip   bool
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }
func (f *fakeTB) Skip(...any)                       { f.skip = true }
func (f *fakeTB) Skipf(string, ...any)              { f.skip = true }
func (f *fakeTB) SkipNow()                          { f.skip = true }

// RequireTool fails (never skips) on a tool it cannot find; localsvc's tests
// check that a missing tool's error names `make tools`.
func TestRequireTool(t *testing.T) {
	for _, name := range []string{"moto_server", "aws-lambda-rie", "initdb", "node", "asl-validator", "cfn-lint"} {
		if p := RequireTool(t, name); !filepath.IsAbs(p) {
			t.Errorf("RequireTool(%s) = %s, want an absolute path", name, p)
		}
	}
	f := &fakeTB{TB: t}
	RequireTool(f, "no-such-tool")
	if f.skip || !strings.Contains(f.failed, "unknown tool") {
		t.Errorf("RequireTool of an unknown tool: failed %q, skipped %v", f.failed, f.skip)
	}
}
