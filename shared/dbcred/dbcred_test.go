package dbcred

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/lib/pq"

	"github.com/stepship/stepship/test/harness"
)

const password = "Tr0ub4dor&3-horse"

// rdsSecret is the shape RDS writes for a rotated PostgreSQL secret.
const rdsSecret = `{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"` + password + `","dbname":"app","dbInstanceIdentifier":"web-db"}`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Credentials
		wantErr string
	}{
		{name: "RDS shape", in: rdsSecret, want: Credentials{Username: "app", Password: password, Host: "db.internal", Port: 5432, DBName: "app"}},
		{name: "port as string", in: `{"host":"h","port":"6432","username":"u","password":"p","dbname":"d"}`, want: Credentials{Username: "u", Password: "p", Host: "h", Port: 6432, DBName: "d"}},
		{name: "no port", in: `{"host":"h","username":"u","password":"p","dbname":"d"}`, want: Credentials{Username: "u", Password: "p", Host: "h", Port: DefaultPort, DBName: "d"}},
		{name: "aurora", in: `{"engine":"aurora-postgresql","host":"h","username":"u","password":"p","dbname":"d"}`, want: Credentials{Username: "u", Password: "p", Host: "h", Port: DefaultPort, DBName: "d"}},
		{name: "missing fields", in: `{"password":"` + password + `"}`, wantErr: "username is required; host is required; dbname is required"},
		{name: "mysql", in: `{"engine":"mysql","host":"h","username":"u","password":"p","dbname":"d"}`, wantErr: "engine must be postgres"},
		{name: "port zero", in: `{"host":"h","port":0,"username":"u","password":"p","dbname":"d"}`, wantErr: "port must be a number"},
		{name: "port too big", in: `{"host":"h","port":70000,"username":"u","password":"p","dbname":"d"}`, wantErr: "port must be a number"},
		{name: "password a number", in: `{"host":"h","username":"u","password":12345678,"dbname":"d"}`, wantErr: `field "password" must be a string`},
		{name: "not JSON", in: password, wantErr: "not a JSON object"},
		{name: "trailing data", in: rdsSecret + `{}`, wantErr: "data after"},
		{name: "too big", in: `{"host":"` + strings.Repeat("h", maxSecretBytes) + `"}`, wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want error %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), password) {
					t.Fatalf("error %q contains the password", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse = %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
}

// Parse reads a secret of up to 64 KiB (Secrets Manager's limit) and refuses
// a larger one before decoding it.
func TestParseSizeLimit(t *testing.T) {
	padded := func(n int) []byte {
		return []byte(rdsSecret + strings.Repeat(" ", n-len(rdsSecret)))
	}
	if c, err := Parse(padded(maxSecretBytes)); err != nil || c.Password != password {
		t.Errorf("a secret of exactly %d bytes: %v, %v", maxSecretBytes, c, err)
	}
	if _, err := Parse(padded(maxSecretBytes + 1)); err == nil || !strings.Contains(err.Error(), "larger than 65536 bytes") {
		t.Errorf("a secret of %d bytes: %v", maxSecretBytes+1, err)
	}
}

// Parse never panics, never echoes the secret in an error, and what it
// accepts is complete.
func FuzzParse(f *testing.F) {
	for _, s := range []string{rdsSecret, `{"port":"x"}`, `{}`, `[]`, `{"host":"h","port":"6432","username":"u","password":"p","dbname":"d"}`} {
		f.Add([]byte(s))
	}
	// The fixed wording of Parse's errors, from inputs that hold no secret: a
	// value that is part of it (`{"userna`) is not echoed by an error that
	// says it.
	var wording []string
	for _, s := range []string{`x`, `[]`, `{}`, `{"port":"x"}`, `{"username":"u","password":"p","host":"h","port":70000}`} {
		if _, err := Parse([]byte(s)); err != nil {
			wording = append(wording, err.Error())
		}
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		c, err := Parse(value)
		if err != nil {
			fixed := slices.ContainsFunc(wording, func(w string) bool { return strings.Contains(w, string(value)) })
			if len(value) >= 8 && !fixed && strings.Contains(err.Error(), string(value)) {
				t.Fatalf("error %q echoes the secret", err)
			}
			return
		}
		if c.Username == "" || c.Password == "" || c.Host == "" || c.DBName == "" || c.Port == 0 {
			t.Fatalf("Parse accepted incomplete credentials %#v", c)
		}
	})
}

// Printing or logging credentials never shows the password.
func TestCredentialsHideThePassword(t *testing.T) {
	c, err := Parse([]byte(rdsSecret))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("connecting", "credentials", c)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c), "%s": fmt.Sprintf("%s", c),
		"slog": logged.String(),
	} {
		if strings.Contains(s, password) || !strings.Contains(s, "db.internal") {
			t.Errorf("%s: %s", name, s)
		}
	}
	cfg := c.PQConfig(pq.SSLModeRequire, time.Second, "x")
	if cfg.Password != password || cfg.Host != "db.internal" || cfg.Port != 5432 || cfg.Database != "app" || cfg.User != "app" || cfg.SSLMode != pq.SSLModeRequire {
		t.Errorf("PQConfig = %+v", cfg)
	}
}

type fakeSecrets struct {
	values map[string]string
	calls  int
	err    error
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.values[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func TestCache(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-AbCdEf"
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	sm := &fakeSecrets{values: map[string]string{arn: rdsSecret, "bad": `{"password":"` + password + `"}`}}
	c := NewCache(sm, WithTTL(time.Minute), WithClock(func() time.Time { return now }))
	ctx := context.Background()

	tests := []struct {
		name      string
		do        func() (Credentials, error)
		wantCalls int
		wantErr   string
	}{
		{name: "first read", do: func() (Credentials, error) { return c.Get(ctx, arn) }, wantCalls: 1},
		{name: "cached", do: func() (Credentials, error) { return c.Get(ctx, arn) }, wantCalls: 1},
		{name: "after the TTL", do: func() (Credentials, error) { now = now.Add(time.Minute); return c.Get(ctx, arn) }, wantCalls: 2},
		{name: "after Forget", do: func() (Credentials, error) { c.Forget(arn); return c.Get(ctx, arn) }, wantCalls: 3},
		{name: "missing secret", do: func() (Credentials, error) { return c.Get(ctx, "nope") }, wantCalls: 4, wantErr: "secret nope does not exist"},
		{name: "not credentials", do: func() (Credentials, error) { return c.Get(ctx, "bad") }, wantCalls: 5, wantErr: "secret bad: the secret is not usable database credentials"},
		{name: "throttled", do: func() (Credentials, error) {
			sm.err = errors.New("ThrottlingException: Rate exceeded")
			defer func() { sm.err = nil }()
			return c.Get(ctx, "bad")
		}, wantCalls: 6, wantErr: "failed to read secret bad: ThrottlingException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.do()
			if sm.calls != tt.wantCalls {
				t.Errorf("%d calls to Secrets Manager, want %d", sm.calls, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || strings.Contains(err.Error(), password) {
					t.Fatalf("Get = %v, want error %q…", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Password != password {
				t.Fatalf("Get = %v, %v", got, err)
			}
		})
	}
}

// The real client against the emulator: the RDS secret shape round-trips,
// a missing secret is named as such.
func TestCacheAgainstMoto(t *testing.T) {
	m := harness.StartMoto(t)
	ctx := t.Context()
	sm := secretsmanager.NewFromConfig(m.Config(ctx))
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("web/db"), SecretString: aws.String(rdsSecret)})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(sm)
	got, err := c.Get(ctx, aws.ToString(out.ARN))
	if err != nil || got.Password != password || got.Host != "db.internal" {
		t.Fatalf("Get = %v, %v", got, err)
	}
	missing := strings.Replace(aws.ToString(out.ARN), "web/db", "web/nope", 1)
	if _, err := c.Get(ctx, missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing secret: %v", err)
	}
}

// The cache keeps credentials for its TTL: DefaultTTL unless WithTTL sets a
// positive one.
func TestCacheTTL(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-AbCdEf"
	for _, tc := range []struct {
		name string
		opts []Option
		ttl  time.Duration
	}{
		{"default", nil, DefaultTTL},
		{"one second", []Option{WithTTL(time.Second)}, time.Second},
		{"one nanosecond", []Option{WithTTL(time.Nanosecond)}, time.Nanosecond},
		{"zero keeps the default", []Option{WithTTL(0)}, DefaultTTL},
		{"negative keeps the default", []Option{WithTTL(-time.Minute)}, DefaultTTL},
		{"the last one wins", []Option{WithTTL(time.Hour), WithTTL(time.Second)}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			now := start
			sm := &fakeSecrets{values: map[string]string{arn: rdsSecret}}
			c := NewCache(sm, append(tc.opts, WithClock(func() time.Time { return now }))...)
			for _, step := range []struct {
				at    time.Duration // since start
				calls int
			}{{0, 1}, {tc.ttl - 1, 1}, {tc.ttl, 2}, {2*tc.ttl - 1, 2}, {2 * tc.ttl, 3}} {
				now = start.Add(step.at)
				if got, err := c.Get(context.Background(), arn); err != nil || got.Password != password || sm.calls != step.calls {
					t.Fatalf("at +%v: %v, %v after %d calls, want %d", step.at, got, err, sm.calls, step.calls)
				}
			}
		})
	}
}
