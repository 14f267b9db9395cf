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

func TestConfigNamesWhatIsMissing(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"AWS_REGION":        {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
		"AWS_ACCESS_KEY_ID": {"AWS_REGION": "us-east-1"},
	} {
		if _, err := Config(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	cfg, err := Config(func(k string) string {
		return map[string]string{"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}[k]
	})
	if err != nil || cfg.Region != "eu-west-1" {
		t.Errorf("AWS_DEFAULT_REGION: %+v %v", cfg.Region, err)
	}
}
