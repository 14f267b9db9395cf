package intake

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

// secretVersion is one version of the fake secret.
type secretVersion struct {
	value   string
	created time.Time
}

// fakeSecrets answers GetSecretValue from a stage → version map, like Secrets
// Manager: a stage without a version is ResourceNotFoundException.
type fakeSecrets struct {
	stages map[string]secretVersion
	err    error
	calls  []string
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	stage := aws.ToString(in.VersionStage)
	f.calls = append(f.calls, aws.ToString(in.SecretId)+"@"+stage)
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.stages[stage]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret value for staging label: " + stage)}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v.value), CreatedDate: aws.Time(v.created), VersionStages: []string{stage}}, nil
}

const secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stepship/webhook-AbCdEf"

const (
	currentValue  = `{"github": "s3cr3t-current-0123"}`
	previousValue = `{"github": "s3cr3t-previous-0123"}`
)

// rotated is a secret rotated at created: AWSCURRENT since then, AWSPREVIOUS
// before.
func rotated(created time.Time) *fakeSecrets {
	return &fakeSecrets{stages: map[string]secretVersion{
		"AWSCURRENT":  {currentValue, created},
		"AWSPREVIOUS": {previousValue, created.Add(-30 * 24 * time.Hour)},
	}}
}

// secretsOf lists a keyring's GitHub secrets, in order.
func secretsOf(k webhook.Keyring) []string {
	var out []string
	for _, key := range k {
		out = append(out, string(key.Secret))
	}
	return out
}

var (
	cur  = []string{"s3cr3t-current-0123"}
	both = []string{"s3cr3t-current-0123", "s3cr3t-previous-0123"}
)

// The previous secret is accepted for the overlap after the current one was
// created, and never after, whether the keyring is fetched then or was
// cached before.
func TestSecretCacheRotation(t *testing.T) {
	const overlap = 24 * time.Hour
	rotatedAt := now
	tests := []struct {
		name    string
		secrets *fakeSecrets
		// reads are the times of successive Keyring calls; want the secrets
		// the last one returns.
		reads     []time.Duration // after rotatedAt
		want      []string
		wantCalls []string // stages read, all calls
	}{
		{name: "just rotated", secrets: rotated(rotatedAt), reads: []time.Duration{time.Minute},
			want: both, wantCalls: []string{"AWSCURRENT", "AWSPREVIOUS"}},
		{name: "last second of the overlap", secrets: rotated(rotatedAt), reads: []time.Duration{overlap - time.Second},
			want: both, wantCalls: []string{"AWSCURRENT", "AWSPREVIOUS"}},
		{name: "overlap over: previous not even read", secrets: rotated(rotatedAt), reads: []time.Duration{overlap},
			want: cur, wantCalls: []string{"AWSCURRENT"}},
		{name: "cached keyring crosses the expiry", secrets: rotated(rotatedAt), reads: []time.Duration{overlap - time.Minute, overlap},
			want: cur, wantCalls: []string{"AWSCURRENT", "AWSPREVIOUS"}},
		{name: "cached keyring before the expiry", secrets: rotated(rotatedAt), reads: []time.Duration{overlap - time.Minute, overlap - time.Second},
			want: both, wantCalls: []string{"AWSCURRENT", "AWSPREVIOUS"}},
		{name: "refetched after the TTL and the expiry", secrets: rotated(rotatedAt), reads: []time.Duration{overlap - time.Minute, overlap + 5*time.Minute},
			want: cur, wantCalls: []string{"AWSCURRENT", "AWSPREVIOUS", "AWSCURRENT"}},
		{name: "never rotated: no previous version", secrets: &fakeSecrets{stages: map[string]secretVersion{"AWSCURRENT": {currentValue, rotatedAt}}},
			reads: []time.Duration{time.Minute}, want: cur, wantCalls: []string{"AWSCURRENT", "AWSPREVIOUS"}},
		{name: "previous not a keyring: ignored", secrets: &fakeSecrets{stages: map[string]secretVersion{
			"AWSCURRENT": {currentValue, rotatedAt}, "AWSPREVIOUS": {"old-plain-string-secret", rotatedAt.Add(-time.Hour)}}},
			reads: []time.Duration{time.Minute}, want: cur, wantCalls: []string{"AWSCURRENT", "AWSPREVIOUS"}},
		{name: "no creation date: previous never accepted", secrets: &fakeSecrets{stages: map[string]secretVersion{
			"AWSCURRENT": {currentValue, time.Time{}}, "AWSPREVIOUS": {previousValue, time.Time{}}}},
			reads: []time.Duration{time.Minute}, want: cur, wantCalls: []string{"AWSCURRENT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clock time.Time
			c := NewSecretCache(tt.secrets, secretARN, WithSecretOverlap(overlap), WithSecretClock(func() time.Time { return clock }))
			var got webhook.Keyring
			for _, d := range tt.reads {
				clock = rotatedAt.Add(d)
				var err error
				if got, err = c.Keyring(context.Background()); err != nil {
					t.Fatalf("Keyring at +%v: %v", d, err)
				}
			}
			if !slices.Equal(secretsOf(got), tt.want) {
				t.Errorf("secrets = %q, want %q", secretsOf(got), tt.want)
			}
			var stages []string
			for _, c := range tt.secrets.calls {
				id, stage, _ := strings.Cut(c, "@")
				if id != secretARN {
					t.Errorf("read secret %q, want %q", id, secretARN)
				}
				stages = append(stages, stage)
			}
			if !slices.Equal(stages, tt.wantCalls) {
				t.Errorf("stages read = %v, want %v", stages, tt.wantCalls)
			}
		})
	}
}

func TestSecretCacheErrors(t *testing.T) {
	tests := []struct {
		name    string
		secrets *fakeSecrets
		want    []string // substrings of the error
		secret  string   // must not appear in it
	}{
		{name: "throttled", secrets: &fakeSecrets{err: errors.New("api error ThrottlingException: Rate exceeded")},
			want: []string{"failed to read the AWSCURRENT value of secret " + secretARN, "Rate exceeded"}},
		{name: "no current version", secrets: &fakeSecrets{stages: map[string]secretVersion{}},
			want: []string{"failed to read the AWSCURRENT value of secret " + secretARN}},
		{name: "empty current value", secrets: &fakeSecrets{stages: map[string]secretVersion{"AWSCURRENT": {"", now}}},
			want: []string{"secret " + secretARN + " has no AWSCURRENT value"}},
		{name: "plain string", secrets: &fakeSecrets{stages: map[string]secretVersion{"AWSCURRENT": {"plain-string-secret-0123", now}}},
			want: []string{"secret " + secretARN + " (AWSCURRENT)", "not a JSON object", webhook.KeyringFormat}, secret: "plain-string-secret-0123"},
		{name: "short value", secrets: &fakeSecrets{stages: map[string]secretVersion{"AWSCURRENT": {`{"github":"tiny-secret"}`, now}}},
			want: []string{`key "github": the secret is shorter than 16 characters`, webhook.KeyringFormat}, secret: "tiny-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewSecretCache(tt.secrets, secretARN, WithSecretClock(func() time.Time { return now }))
			got, err := c.Keyring(context.Background())
			if err == nil {
				t.Fatalf("Keyring = %+v, want an error", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q shows the secret's value", err)
			}
		})
	}
}

// failSecondCall fails every call after the first.
type failSecondCall struct{ *fakeSecrets }

func (f *failSecondCall) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if len(f.calls) > 0 {
		return nil, errors.New("api error ThrottlingException: Rate exceeded")
	}
	return f.fakeSecrets.GetSecretValue(ctx, in, opts...)
}

// A previous version that exists but cannot be read (other than not found)
// fails the read: a transient error must not silently drop a key hosts still
// sign with.
func TestSecretCachePreviousUnreadable(t *testing.T) {
	getter := &failSecondCall{fakeSecrets: rotated(now)}
	_, err := NewSecretCache(getter, secretARN, WithSecretClock(func() time.Time { return now })).Keyring(context.Background())
	if err == nil || !strings.Contains(err.Error(), "failed to read the AWSPREVIOUS value of secret "+secretARN) {
		t.Errorf("error = %v, want one naming AWSPREVIOUS", err)
	}
}

// A failure is not cached: the next call asks again. A success is, for the
// TTL.
func TestSecretCacheTTL(t *testing.T) {
	clock := now
	f := &fakeSecrets{err: errors.New("throttled")}
	c := NewSecretCache(f, secretARN, WithSecretTTL(time.Minute), WithSecretClock(func() time.Time { return clock }))
	if _, err := c.Keyring(context.Background()); err == nil {
		t.Fatal("no error from a failing Secrets Manager")
	}
	f.err, f.stages = nil, map[string]secretVersion{"AWSCURRENT": {currentValue, now.Add(-48 * time.Hour)}}
	if got, err := c.Keyring(context.Background()); err != nil || !slices.Equal(secretsOf(got), cur) {
		t.Fatalf("after recovery: %q, %v", secretsOf(got), err)
	}
	calls := len(f.calls)
	f.stages["AWSCURRENT"] = secretVersion{`{"github": "s3cr3t-rotated-0123"}`, now}
	clock = clock.Add(59 * time.Second)
	if got, _ := c.Keyring(context.Background()); !slices.Equal(secretsOf(got), cur) || len(f.calls) != calls {
		t.Errorf("within the TTL: %q after %d calls, want the cached keyring", secretsOf(got), len(f.calls)-calls)
	}
	clock = clock.Add(time.Second)
	if got, _ := c.Keyring(context.Background()); !slices.Equal(secretsOf(got), []string{"s3cr3t-rotated-0123"}) {
		t.Errorf("after the TTL: %q, want the rotated secret", secretsOf(got))
	}
}

// A TTL or overlap of zero or less keeps the default.
func TestSecretCacheOptions(t *testing.T) {
	tests := []struct {
		name         string
		opts         []SecretOption
		ttl, overlap time.Duration
	}{
		{"defaults", nil, DefaultSecretTTL, DefaultSecretOverlap},
		{"set", []SecretOption{WithSecretTTL(time.Second), WithSecretOverlap(time.Minute)}, time.Second, time.Minute},
		{"zero keeps the defaults", []SecretOption{WithSecretTTL(0), WithSecretOverlap(0)}, DefaultSecretTTL, DefaultSecretOverlap},
		{"negative keeps the defaults", []SecretOption{WithSecretTTL(-time.Second), WithSecretOverlap(-time.Second)}, DefaultSecretTTL, DefaultSecretOverlap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewSecretCache(&fakeSecrets{}, secretARN, tt.opts...)
			if c.ttl != tt.ttl || c.overlap != tt.overlap {
				t.Errorf("ttl %v overlap %v, want %v %v", c.ttl, c.overlap, tt.ttl, tt.overlap)
			}
		})
	}
}

// Through the intake: a push signed with the previous secret is accepted
// during the overlap and unauthorized after it, the keyring being cached
// across the expiry.
func TestRotationThroughIntake(t *testing.T) {
	const overlap = time.Hour
	body := fixture(t, "github-push.json")
	signedPrevious := post(webhooktest.GitHubHeaders("push", delivery, []byte("s3cr3t-previous-0123"), body), body)
	signedCurrent := post(webhooktest.GitHubHeaders("push", delivery, []byte("s3cr3t-current-0123"), body), body)
	rotatedAt := now.Add(-overlap + time.Minute) // the overlap ends a minute after now
	tests := []struct {
		name   string
		at     time.Duration // after now, for the request; the keyring is read at now first
		req    func() any
		isPrev bool
		want   int
	}{
		{name: "previous within the overlap", at: 0, isPrev: true, want: 202},
		{name: "previous after the overlap, cached keyring", at: time.Minute, isPrev: true, want: 401},
		{name: "previous long after, refetched", at: time.Hour, isPrev: true, want: 401},
		{name: "current after the overlap", at: time.Minute, want: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := now
			cache := NewSecretCache(rotated(rotatedAt), secretARN, WithSecretOverlap(overlap), WithSecretClock(func() time.Time { return clock }))
			if _, err := cache.Keyring(context.Background()); err != nil {
				t.Fatal(err)
			}
			hs := newHarness(t, cache, WithReplayWindow(48*time.Hour))
			clock = now.Add(tt.at)
			req := signedCurrent
			if tt.isPrev {
				req = signedPrevious
			}
			if status, _, raw := hs.do(t, req); status != tt.want {
				t.Errorf("answer = %d %s, want %d", status, raw, tt.want)
			}
			if tt.want == http.StatusUnauthorized && hs.sfn.calls != 0 {
				t.Error("a refused delivery started executions")
			}
		})
	}
}
