package intake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stepship/stepship/shared/webhook"
)

// SecretValueGetter reads a secret version (the Secrets Manager client).
type SecretValueGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretValueGetter = (*secretsmanager.Client)(nil)

const (
	// DefaultSecretTTL is how long the webhook keys are cached.
	DefaultSecretTTL = 5 * time.Minute
	// DefaultSecretOverlap is how long after the current secret version was
	// created the previous one (AWSPREVIOUS) is still accepted: the time to
	// change the secret at the git host. After it, a rotated-out secret —
	// for example a leaked one — verifies nothing.
	DefaultSecretOverlap = 24 * time.Hour
)

// Version stages of Secrets Manager.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// SecretCache is a KeySource over Secrets Manager: the secret's AWSCURRENT
// keyring and, for the overlap after a rotation, its AWSPREVIOUS one, fetched
// together and kept for a TTL. Values are never logged and never appear in
// its errors. Safe for concurrent use.
type SecretCache struct {
	client   SecretValueGetter
	secretID string
	ttl      time.Duration
	overlap  time.Duration
	now      func() time.Time

	mu         sync.Mutex
	keys       webhook.Keyring
	currentLen int       // keys[:currentLen] are the current version's
	fetched    time.Time // when keys were read
	expires    time.Time // when the previous version's keys stop being accepted; zero: none held
}

// SecretOption configures a SecretCache.
type SecretOption func(*SecretCache)

// WithSecretTTL sets how long keys are cached (default DefaultSecretTTL).
func WithSecretTTL(d time.Duration) SecretOption {
	return func(c *SecretCache) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithSecretOverlap sets how long the previous version is accepted after the
// current one was created (default DefaultSecretOverlap).
func WithSecretOverlap(d time.Duration) SecretOption {
	return func(c *SecretCache) {
		if d > 0 {
			c.overlap = d
		}
	}
}

// WithSecretClock sets the cache's clock (tests).
func WithSecretClock(now func() time.Time) SecretOption {
	return func(c *SecretCache) { c.now = now }
}

// NewSecretCache returns a cache of the secret secretID (name or ARN).
func NewSecretCache(client SecretValueGetter, secretID string, opts ...SecretOption) *SecretCache {
	c := &SecretCache{client: client, secretID: secretID, ttl: DefaultSecretTTL, overlap: DefaultSecretOverlap, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Keyring returns the current keys then, within the overlap, the previous
// ones. A current value that is not a keyring is a *webhook.KeyringError
// (which shows the expected format, never the value); a previous value that
// is not one is ignored.
func (c *SecretCache) Keyring(ctx context.Context) (webhook.Keyring, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.keys != nil && now.Sub(c.fetched) < c.ttl {
		if !c.expires.IsZero() && !now.Before(c.expires) {
			c.keys = c.current(c.keys)
			c.expires = time.Time{}
		}
		return c.keys, nil
	}
	value, created, err := c.get(ctx, stageCurrent)
	if err != nil {
		return nil, err
	}
	if value == nil {
		return nil, fmt.Errorf("secret %s has no %s value", c.secretID, stageCurrent)
	}
	keys, err := webhook.ParseKeyring(value)
	if err != nil {
		return nil, fmt.Errorf("secret %s (%s): %w", c.secretID, stageCurrent, err)
	}
	n := len(keys)
	var until time.Time // when the previous version's keys stop being accepted
	if expires := created.Add(c.overlap); now.Before(expires) {
		prev, _, err := c.get(ctx, stagePrevious)
		if err != nil {
			return nil, err
		}
		if prevKeys, err := webhook.ParseKeyring(prev); prev != nil && err == nil {
			keys, until = append(keys, prevKeys...), expires
		}
	}
	c.keys, c.currentLen, c.fetched, c.expires = keys[:len(keys):len(keys)], n, now, until
	return c.keys, nil
}

// current drops the previous version's keys.
func (c *SecretCache) current(keys webhook.Keyring) webhook.Keyring { return keys[:c.currentLen] }

// get returns one version's value and creation time; a nil value when that
// stage does not exist.
func (c *SecretCache) get(ctx context.Context, stage string) ([]byte, time.Time, error) {
	out, err := c.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(c.secretID),
		VersionStage: aws.String(stage),
	})
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if stage != stageCurrent && errors.As(err, &nf) {
			return nil, time.Time{}, nil
		}
		return nil, time.Time{}, fmt.Errorf("failed to read the %s value of secret %s: %w", stage, c.secretID, err)
	}
	v := out.SecretBinary
	if out.SecretString != nil {
		v = []byte(*out.SecretString)
	}
	if len(v) == 0 {
		return nil, time.Time{}, nil
	}
	return v, aws.ToTime(out.CreatedDate), nil
}
