package awsenv

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestConfig(t *testing.T) {
	env := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5001",
	}
	cfg, err := Config(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "SECRET" || creds.SessionToken != "TOKEN" || cfg.Region != "us-east-1" {
		t.Errorf("config %+v, credentials %+v, %v", cfg, creds, err)
	}
	get := func(k string) string { return env[k] }
	if got := aws.ToString(Endpoint(get, cfg, "Secrets Manager")); got != "http://127.0.0.1:5001" {
		t.Errorf("secrets manager endpoint %s", got)
	}
	if got := aws.ToString(Endpoint(get, cfg, "RDS")); got != "http://127.0.0.1:5000" {
		t.Errorf("rds endpoint %s", got)
	}
	if got := Endpoint(func(string) string { return "" }, aws.Config{}, "RDS"); got != nil {
		t.Errorf("endpoint without variables %v", *got)
	}
}

// TestConfigFromEnvironment: which variable wins, and each required one
// missing on its own is an error that names it.
func TestConfigFromEnvironment(t *testing.T) {
	full := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
	with := func(changes map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		for k, v := range changes {
			env[k] = v
		}
		return env
	}
	for _, tc := range []struct {
		name          string
		env           map[string]string
		err           string // a part of the error; "" for none
		region, token string
		endpoint      *string // cfg.BaseEndpoint
		app           string  // cfg.AppID
		attempts      int     // cfg.RetryMaxAttempts (0: the SDK's default)
	}{
		{name: "complete", env: full, region: "us-east-1"},
		{name: "default region", env: with(map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-1"}), region: "eu-west-1"},
		{name: "AWS_REGION wins", env: with(map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"}), region: "us-east-1"},
		{name: "session token", env: with(map[string]string{"AWS_SESSION_TOKEN": "T"}), region: "us-east-1", token: "T"},
		{name: "endpoint", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://localhost:5000"}), region: "us-east-1", endpoint: aws.String("http://localhost:5000")},
		{name: "application id", env: with(map[string]string{"AWS_SDK_UA_APP_ID": "stepship-snapshot"}), region: "us-east-1", app: "stepship-snapshot"},
		{name: "attempts", env: with(map[string]string{"AWS_MAX_ATTEMPTS": "1"}), region: "us-east-1", attempts: 1},
		{name: "attempts not a number", env: with(map[string]string{"AWS_MAX_ATTEMPTS": "three"}), err: "AWS_MAX_ATTEMPTS"},
		{name: "no attempts", env: with(map[string]string{"AWS_MAX_ATTEMPTS": "0"}), err: "AWS_MAX_ATTEMPTS"},
		{name: "no region", env: with(map[string]string{"AWS_REGION": ""}), err: "AWS_REGION"},
		{name: "no region, nothing else", env: map[string]string{}, err: "AWS_REGION"},
		{name: "no key", env: with(map[string]string{"AWS_ACCESS_KEY_ID": ""}), err: "AWS_ACCESS_KEY_ID"},
		{name: "no secret", env: with(map[string]string{"AWS_SECRET_ACCESS_KEY": ""}), err: "AWS_SECRET_ACCESS_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tc.region || creds.AccessKeyID != "a" || creds.SecretAccessKey != "b" || creds.SessionToken != tc.token || cfg.AppID != tc.app || cfg.RetryMaxAttempts != tc.attempts {
				t.Errorf("region %q, credentials %+v, app id %q, attempts %d", cfg.Region, creds, cfg.AppID, cfg.RetryMaxAttempts)
			}
			if aws.ToString(cfg.BaseEndpoint) != aws.ToString(tc.endpoint) || (cfg.BaseEndpoint == nil) != (tc.endpoint == nil) {
				t.Errorf("base endpoint %v, want %v", aws.ToString(cfg.BaseEndpoint), aws.ToString(tc.endpoint))
			}
		})
	}
}

// TestEndpoint: the service's own variable (named from its id in upper case,
// spaces as '_'), else the configuration's, else nil.
func TestEndpoint(t *testing.T) {
	env := map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm", "AWS_ENDPOINT_URL_RDS": "http://rds"}
	get := func(k string) string { return env[k] }
	base := aws.Config{BaseEndpoint: aws.String("http://base")}
	for _, tc := range []struct {
		service string
		cfg     aws.Config
		want    *string
	}{
		{"Secrets Manager", base, aws.String("http://sm")},
		{"secrets manager", aws.Config{}, aws.String("http://sm")},
		{"RDS", base, aws.String("http://rds")},
		{"rds", aws.Config{}, aws.String("http://rds")},
		{"S3", base, aws.String("http://base")},
		{"Secrets", base, aws.String("http://base")},
		{"S3", aws.Config{}, nil},
	} {
		got := Endpoint(get, tc.cfg, tc.service)
		if (got == nil) != (tc.want == nil) || aws.ToString(got) != aws.ToString(tc.want) {
			t.Errorf("Endpoint(%q, base %v) = %v, want %v", tc.service, aws.ToString(tc.cfg.BaseEndpoint), aws.ToString(got), aws.ToString(tc.want))
		}
	}
}
