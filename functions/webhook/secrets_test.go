package main

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// fakeSecrets answers GetSecretValue from a stage → value map, like Secrets
// Manager: a stage without a version is ResourceNotFoundException.
type fakeSecrets struct {
	stages map[string]string
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
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

const secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stepship/webhook-AbCdEf"

func TestSecretCache(t *testing.T) {
	clock := now
	f := &fakeSecrets{stages: map[string]string{"AWSCURRENT": "new-secret\n"}}
	c := NewSecretCache(f, secretARN, time.Minute)
	c.now = func() time.Time { return clock }

	got, err := c.Secrets(context.Background())
	if err != nil || !reflect.DeepEqual(got, [][]byte{[]byte("new-secret")}) {
		t.Fatalf("Secrets = %q, %v; want the current value, trimmed", got, err)
	}
	if want := []string{secretARN + "@AWSCURRENT", secretARN + "@AWSPREVIOUS"}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls = %v, want %v", f.calls, want)
	}
	// Rotation: a previous version appears; the cache keeps its values for the TTL.
	f.stages["AWSPREVIOUS"] = "old-secret"
	clock = clock.Add(59 * time.Second)
	if got, _ := c.Secrets(context.Background()); len(got) != 1 || len(f.calls) != 2 {
		t.Errorf("within the TTL: %q after %d calls, want the cached value", got, len(f.calls))
	}
	clock = clock.Add(time.Second)
	got, err = c.Secrets(context.Background())
	if err != nil || !reflect.DeepEqual(got, [][]byte{[]byte("new-secret"), []byte("old-secret")}) {
		t.Errorf("after the TTL: %q, %v; want current then previous", got, err)
	}
}

func TestSecretCacheErrors(t *testing.T) {
	f := &fakeSecrets{err: errors.New("api error ThrottlingException: Rate exceeded")}
	c := NewSecretCache(f, secretARN, 0)
	if c.ttl != DefaultSecretTTL {
		t.Errorf("ttl = %v, want the default", c.ttl)
	}
	_, err := c.Secrets(context.Background())
	if err == nil || !strings.Contains(err.Error(), "failed to read the AWSCURRENT value of secret "+secretARN) {
		t.Errorf("error = %v, want one naming the secret and the stage", err)
	}
	// A failure is not cached: the next call asks again.
	f.err = nil
	f.stages = map[string]string{"AWSCURRENT": "s"}
	if got, err := c.Secrets(context.Background()); err != nil || len(got) != 1 {
		t.Errorf("after recovery: %q, %v", got, err)
	}

	missing := NewSecretCache(&fakeSecrets{stages: map[string]string{}}, secretARN, time.Minute)
	if _, err := missing.Secrets(context.Background()); err == nil {
		t.Error("a secret without AWSCURRENT did not fail")
	}
	empty := NewSecretCache(&fakeSecrets{stages: map[string]string{"AWSCURRENT": "  "}}, secretARN, time.Minute)
	if _, err := empty.Secrets(context.Background()); err == nil || strings.Contains(err.Error(), "  ") {
		t.Errorf("an empty secret: %v, want an error", err)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	s, err := settingsFromEnv(env(EnvSecretARN, secretARN, EnvStateMachineARN, stateMachineARN, "LAMBDA_TASK_ROOT", "/var/task"))
	if err != nil {
		t.Fatal(err)
	}
	want := settings{secretARN: secretARN, stateMachineARN: stateMachineARN, catalogPath: "/var/task/catalog.yaml"}
	if s != want {
		t.Errorf("settings = %+v, want %+v", s, want)
	}
	s, err = settingsFromEnv(env(EnvSecretARN, "x", EnvStateMachineARN, "y", EnvCatalog, "/etc/stepship/catalog.yaml", EnvMaxBodyBytes, "1048576"))
	if err != nil || s.catalogPath != "/etc/stepship/catalog.yaml" || s.maxBodyBytes != 1<<20 {
		t.Errorf("settings = %+v, %v", s, err)
	}
	_, err = settingsFromEnv(env(EnvMaxBodyBytes, "lots"))
	for _, name := range []string{EnvSecretARN, EnvStateMachineARN, EnvMaxBodyBytes} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
