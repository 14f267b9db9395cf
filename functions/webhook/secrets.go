package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretValueGetter reads a secret version (the Secrets Manager client).
type SecretValueGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretValueGetter = (*secretsmanager.Client)(nil)

// DefaultSecretTTL is how long the webhook secrets are cached. After a
// rotation (a new AWSCURRENT, the old one AWSPREVIOUS) both are accepted
// within this time; change the secret at the git host after it.
const DefaultSecretTTL = 5 * time.Minute

// SecretCache is a SecretSource over Secrets Manager: the secret's AWSCURRENT
// and, when it exists, AWSPREVIOUS versions, fetched together and kept for a
// TTL. Values are never logged and never appear in its errors. Safe for
// concurrent use.
type SecretCache struct {
	client   SecretValueGetter
	secretID string
	ttl      time.Duration
	now      func() time.Time

	mu      sync.Mutex
	values  [][]byte
	fetched time.Time
}

// NewSecretCache returns a cache of the secret secretID (name or ARN).
func NewSecretCache(client SecretValueGetter, secretID string, ttl time.Duration) *SecretCache {
	if ttl <= 0 {
		ttl = DefaultSecretTTL
	}
	return &SecretCache{client: client, secretID: secretID, ttl: ttl, now: time.Now}
}

// Secrets returns the current secret then, if any, the previous one.
func (c *SecretCache) Secrets(ctx context.Context) ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.values != nil && c.now().Sub(c.fetched) < c.ttl {
		return c.values, nil
	}
	current, err := c.get(ctx, "AWSCURRENT")
	if err != nil {
		return nil, err
	}
	if current == nil {
		return nil, fmt.Errorf("secret %s has no AWSCURRENT value", c.secretID)
	}
	values := [][]byte{current}
	previous, err := c.get(ctx, "AWSPREVIOUS")
	if err != nil {
		return nil, err
	}
	if previous != nil {
		values = append(values, previous)
	}
	c.values, c.fetched = values, c.now()
	return values, nil
}

// get returns one version's value, nil when that stage does not exist.
// Surrounding white space (a trailing newline from a file) is dropped.
func (c *SecretCache) get(ctx context.Context, stage string) ([]byte, error) {
	out, err := c.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(c.secretID),
		VersionStage: aws.String(stage),
	})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case stage != "AWSCURRENT" && errors.As(err, &nf):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("failed to read the %s value of secret %s: %w", stage, c.secretID, err)
	}
	var v []byte
	if out.SecretString != nil {
		v = []byte(strings.TrimSpace(*out.SecretString))
	} else {
		v = []byte(strings.TrimSpace(string(out.SecretBinary)))
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}
