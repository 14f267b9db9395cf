// Package dbcred reads a PostgreSQL database's credentials from Secrets
// Manager and turns them into a connection configuration. The secret is JSON
// in the shape of RDS's rotation secrets:
//
//	{"engine": "postgres", "host": "db.example.internal", "port": 5432,
//	 "username": "app", "password": "…", "dbname": "app"}
//
// The password never leaves a Credentials value as text: its String,
// GoString and LogValue hide it, and no error of this package contains it.
package dbcred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/lib/pq"
)

// Credentials are what a connection needs. Port is 5432 when the secret
// has none.
type Credentials struct {
	Username string
	Password string
	Host     string
	Port     uint16
	DBName   string
}

// DefaultPort is PostgreSQL's port, used when the secret names none.
const DefaultPort = 5432

// maxSecretBytes bounds the secret value parsed (Secrets Manager's own
// limit is 64 KiB).
const maxSecretBytes = 64 << 10

// redacted replaces the password wherever Credentials are printed.
const redacted = "[redacted]"

func (c Credentials) String() string {
	return fmt.Sprintf("postgres user=%s password=%s host=%s port=%d dbname=%s", c.Username, redacted, c.Host, c.Port, c.DBName)
}

// GoString hides the password from %#v.
func (c Credentials) GoString() string { return "dbcred.Credentials{" + c.String() + "}" }

// LogValue hides the password from log/slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("host", c.Host),
		slog.Int("port", int(c.Port)), slog.String("dbname", c.DBName))
}

// secretDoc is the secret's JSON. Port is a number in RDS's secrets and a
// string in some hand-made ones: both are accepted.
type secretDoc struct {
	Engine   *string         `json:"engine"`
	Host     *string         `json:"host"`
	Port     json.RawMessage `json:"port"`
	Username *string         `json:"username"`
	Password *string         `json:"password"`
	DBName   *string         `json:"dbname"`
}

// Parse reads a secret's JSON value. Unknown fields (RDS adds
// dbInstanceIdentifier, dbClusterIdentifier, …) are ignored. The error names
// the fields that are missing or malformed, never a value.
func Parse(value []byte) (Credentials, error) {
	if len(value) > maxSecretBytes {
		return Credentials{}, fmt.Errorf("the secret is larger than %d bytes", maxSecretBytes)
	}
	var doc secretDoc
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Credentials{}, fmt.Errorf("the secret's field %q must be a %s", te.Field, te.Type)
		}
		return Credentials{}, errors.New(`the secret is not a JSON object {"username", "password", "host", "port", "dbname"}`)
	}
	if dec.More() {
		return Credentials{}, errors.New("the secret has data after its JSON object")
	}
	var problems []string
	need := func(name string, v *string) string {
		if v == nil || *v == "" {
			problems = append(problems, name+" is required")
			return ""
		}
		return *v
	}
	c := Credentials{
		Username: need("username", doc.Username),
		Password: need("password", doc.Password),
		Host:     need("host", doc.Host),
		DBName:   need("dbname", doc.DBName),
	}
	if doc.Engine != nil && *doc.Engine != "postgres" && *doc.Engine != "aurora-postgresql" {
		problems = append(problems, "engine must be postgres or aurora-postgresql")
	}
	port, err := parsePort(doc.Port)
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.Port = port
	if len(problems) > 0 {
		return Credentials{}, fmt.Errorf("the secret is not usable database credentials: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

func parsePort(raw json.RawMessage) (uint16, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return DefaultPort, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errors.New("port must be a number from 1 to 65535")
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, errors.New("port must be a number from 1 to 65535")
	}
	return uint16(n), nil
}

// PQConfig is the lib/pq configuration for c, with the given TLS mode and
// connect timeout. Nothing is read from the environment (PG* variables).
func (c Credentials) PQConfig(sslMode pq.SSLMode, connectTimeout time.Duration, applicationName string) pq.Config {
	return pq.Config{
		Host:            c.Host,
		Port:            c.Port,
		User:            c.Username,
		Password:        c.Password,
		Database:        c.DBName,
		SSLMode:         sslMode,
		ConnectTimeout:  connectTimeout,
		ApplicationName: applicationName,
	}
}

// SecretValueGetter reads a secret (the Secrets Manager client).
type SecretValueGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretValueGetter = (*secretsmanager.Client)(nil)

// DefaultTTL is how long credentials are cached: long enough that warm
// invocations do not call Secrets Manager, short enough that a rotation is
// picked up without waiting for an authentication failure.
const DefaultTTL = 15 * time.Minute

// Cache reads credentials from Secrets Manager and keeps them, per secret,
// for a TTL, so a warm function reads each secret once. Safe for concurrent
// use.
type Cache struct {
	client SecretValueGetter
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	creds   Credentials
	fetched time.Time
}

// Option configures a Cache.
type Option func(*Cache)

// WithTTL sets how long credentials are kept (default DefaultTTL).
func WithTTL(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithClock sets the cache's clock (tests).
func WithClock(now func() time.Time) Option { return func(c *Cache) { c.now = now } }

// NewCache returns an empty cache over client.
func NewCache(client SecretValueGetter, opts ...Option) *Cache {
	c := &Cache{client: client, ttl: DefaultTTL, now: time.Now, entries: map[string]cached{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Get returns the credentials in the secret's AWSCURRENT version. A secret
// that does not exist, cannot be read or does not hold credentials is an
// error naming the secret and why, never its value.
func (c *Cache) Get(ctx context.Context, secretARN string) (Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[secretARN]; ok && c.now().Sub(e.fetched) < c.ttl {
		return e.creds, nil
	}
	out, err := c.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		var notFound *smtypes.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return Credentials{}, fmt.Errorf("secret %s does not exist (or has no current value)", secretARN)
		}
		return Credentials{}, fmt.Errorf("failed to read secret %s: %w", secretARN, err)
	}
	value := []byte(aws.ToString(out.SecretString))
	if out.SecretString == nil {
		value = out.SecretBinary
	}
	creds, err := Parse(value)
	if err != nil {
		return Credentials{}, fmt.Errorf("secret %s: %w", secretARN, err)
	}
	c.entries[secretARN] = cached{creds: creds, fetched: c.now()}
	return creds, nil
}

// Forget drops the cached credentials of a secret, so the next Get reads it
// again: after the database refused them (the secret was rotated).
func (c *Cache) Forget(secretARN string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, secretARN)
}
