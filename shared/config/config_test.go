package config

import (
	"strings"
	"testing"
	"time"
)

func env(kv ...string) Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestCatalogPath(t *testing.T) {
	tests := []struct {
		name string
		env  Getenv
		want string
	}{
		{"explicit", env(EnvCatalog, "/etc/stepship/catalog.yaml", lambdaTaskRoot, "/var/task"), "/etc/stepship/catalog.yaml"},
		{"in the function package", env(lambdaTaskRoot, "/var/task"), "/var/task/catalog.yaml"},
		{"working directory", env(), "catalog.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CatalogPath(tt.env); got != tt.want {
				t.Errorf("CatalogPath = %q, want %q", got, tt.want)
			}
		})
	}
}

// Every value error names the variable and shows the bad value; defaults
// apply only when the variable is unset.
func TestValues(t *testing.T) {
	tests := []struct {
		name    string
		get     func(Getenv) (any, error)
		env     Getenv
		want    any
		wantErr string
	}{
		{"required set", func(g Getenv) (any, error) { return Required(g, EnvWebhookSecretARN) }, env(EnvWebhookSecretARN, "arn"), "arn", ""},
		{"required unset", func(g Getenv) (any, error) { return Required(g, EnvWebhookSecretARN) }, env(), "", EnvWebhookSecretARN + " is required"},
		{"int default", func(g Getenv) (any, error) { return PositiveInt(g, EnvMaxBodyBytes, 7) }, env(), 7, ""},
		{"int set", func(g Getenv) (any, error) { return PositiveInt(g, EnvMaxBodyBytes, 7) }, env(EnvMaxBodyBytes, "1048576"), 1 << 20, ""},
		{"int not a number", func(g Getenv) (any, error) { return PositiveInt(g, EnvMaxBodyBytes, 7) }, env(EnvMaxBodyBytes, "lots"), 0, EnvMaxBodyBytes + ` must be a positive whole number, not "lots"`},
		{"int zero", func(g Getenv) (any, error) { return PositiveInt(g, EnvMaxBodyBytes, 7) }, env(EnvMaxBodyBytes, "0"), 0, EnvMaxBodyBytes},
		{"int one", func(g Getenv) (any, error) { return PositiveInt(g, EnvMaxBodyBytes, 7) }, env(EnvMaxBodyBytes, "1"), 1, ""},
		{"int negative", func(g Getenv) (any, error) { return PositiveInt(g, EnvMaxBodyBytes, 7) }, env(EnvMaxBodyBytes, "-1"), 0, EnvMaxBodyBytes},
		{"duration default", func(g Getenv) (any, error) { return Duration(g, EnvReplayWindow, time.Hour) }, env(), time.Hour, ""},
		{"duration set", func(g Getenv) (any, error) { return Duration(g, EnvReplayWindow, time.Hour) }, env(EnvReplayWindow, "90m"), 90 * time.Minute, ""},
		{"duration without unit", func(g Getenv) (any, error) { return Duration(g, EnvSecretOverlap, time.Hour) }, env(EnvSecretOverlap, "24"), time.Duration(0), EnvSecretOverlap + ` must be a positive duration such as 1h or 90m, not "24"`},
		{"duration negative", func(g Getenv) (any, error) { return Duration(g, EnvSecretOverlap, time.Hour) }, env(EnvSecretOverlap, "-1h"), time.Duration(0), EnvSecretOverlap},
		{"duration zero", func(g Getenv) (any, error) { return Duration(g, EnvSecretOverlap, time.Hour) }, env(EnvSecretOverlap, "0s"), time.Duration(0), EnvSecretOverlap},
		{"duration of one nanosecond", func(g Getenv) (any, error) { return Duration(g, EnvSecretOverlap, time.Hour) }, env(EnvSecretOverlap, "1ns"), time.Nanosecond, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get(tt.env)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("value = %v, want %v", got, tt.want)
			}
		})
	}
}
