package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

// Config is the sfnlocal configuration file (sfnlocal.json); see sfnlocal/README.md.
// Relative paths are resolved against the directory of the file.
type Config struct {
	// Region and Account name the ARNs (defaults us-east-1, 123456789012).
	Region  string `json:"region,omitempty"`
	Account string `json:"account,omitempty"`
	// TimeScale divides every wait of the interpreter (Wait states, Retry intervals,
	// .sync polls): 1000 makes a 5-minute Wait take 0.3 s. Default 1.
	TimeScale float64 `json:"timeScale,omitempty"`
	// TimeoutScale divides Task states' TimeoutSeconds and HeartbeatSeconds
	// instead of TimeScale (default: TimeScale). A large TimeScale makes a
	// minute's Wait take milliseconds; a smaller TimeoutScale keeps a Task's
	// 30-second timeout long enough for a real call.
	TimeoutScale float64 `json:"timeoutScale,omitempty"`
	// StateMachines are created at start.
	StateMachines []MachineConfig `json:"stateMachines,omitempty"`
	// Lambdas binds function names (or function ARNs) to Lambda Runtime Interface
	// Emulator URLs ("http://127.0.0.1:9001").
	Lambdas map[string]string `json:"lambdas,omitempty"`
	// Mocks is a mock configuration file (tasks.MockConfig).
	Mocks string `json:"mocks,omitempty"`
	// AWSIntegrations enables the SDK service integrations (default true); their
	// endpoint comes from the environment (AWS_ENDPOINT_URL, AWS_REGION, …).
	AWSIntegrations *bool `json:"awsIntegrations,omitempty"`
	// PollIntervalSeconds is the real-time interval between .sync polls (default 5,
	// divided by TimeScale).
	PollIntervalSeconds float64 `json:"pollIntervalSeconds,omitempty"`

	// MockConfig is a parsed mock configuration, used with or instead of Mocks; Go API only.
	MockConfig *tasks.MockConfig `json:"-"`
	// Functions binds function names to Go code (in-process handlers); Go API only.
	Functions map[string]tasks.Function `json:"-"`
	// AWSConfig is the SDK configuration of the service integrations; nil loads
	// the default one from the environment. Go API only: it lets a process run
	// the service against an emulator without changing its own environment.
	AWSConfig *aws.Config `json:"-"`
	// Dir is the directory relative paths are resolved against (set by LoadConfig).
	Dir string `json:"-"`
}

// MachineConfig is one state machine to create at start.
type MachineConfig struct {
	Name string `json:"name"`
	// File is the ASL file; Definition may be given inline instead.
	File       string          `json:"file,omitempty"`
	Definition json.RawMessage `json:"definition,omitempty"`
	// DefinitionSubstitutions replace ${Key} in the definition text, as CloudFormation
	// and the CDK do.
	DefinitionSubstitutions map[string]string `json:"definitionSubstitutions,omitempty"`
	RoleArn                 string            `json:"roleArn,omitempty"`
	// Region is the machine's region (default: the config's): its ARN and the
	// region its SDK integrations call.
	Region string `json:"region,omitempty"`
}

// LoadConfig reads a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sfnlocal config: %w", err)
	}
	var c Config
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse sfnlocal config %s: %w", path, err)
	}
	c.Dir = filepath.Dir(path)
	return &c, nil
}

// Substitute replaces ${Key} in definition with subs[Key], as Step Functions
// does with definitionSubstitutions, and fails on a placeholder that has no
// substitution (the grammar is statemachines', shared with the CDK app).
func Substitute(definition string, subs map[string]string) (string, error) {
	out, err := statemachines.Substitute([]byte(definition), subs)
	if err != nil {
		return "", fmt.Errorf("the definition uses a placeholder that definitionSubstitutions does not fill: %w", err)
	}
	return string(out), nil
}

func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Definition returns a machine's definition text after substitutions.
func (c *Config) Definition(m MachineConfig) (string, error) {
	def := string(m.Definition)
	if m.File != "" {
		b, err := os.ReadFile(c.path(m.File))
		if err != nil {
			return "", fmt.Errorf("state machine %q: %w", m.Name, err)
		}
		def = string(b)
	}
	if def == "" {
		return "", fmt.Errorf("state machine %q: give a file or a definition", m.Name)
	}
	def, err := Substitute(def, m.DefinitionSubstitutions)
	if err != nil {
		return "", fmt.Errorf("state machine %q: %w", m.Name, err)
	}
	return def, nil
}

// Mocks returns the mock layer a server built from this config uses (nil when it was
// built without one). Tests use it to pin responses from Go.
func (s *Server) Mocks() *tasks.Mocks {
	m, _ := s.opts.Invoker.(*tasks.Mocks)
	return m
}

// awsConfig is the SDK configuration of the service integrations.
func (c *Config) awsConfig(ctx context.Context) (aws.Config, error) {
	if c.AWSConfig != nil {
		return c.AWSConfig.Copy(), nil
	}
	var opts []func(*awsconfig.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS SDK configuration for service integrations: %w", err)
	}
	return cfg, nil
}

// NewFromConfig builds a Server from a configuration: task bindings (emulator URLs,
// in-process functions, AWS integrations, a mock layer in front of them all — always
// present, so tests can Pin responses), the clock, and the state machines.
func NewFromConfig(ctx context.Context, c *Config) (*Server, error) {
	scale := c.TimeScale
	if scale < 0 {
		return nil, fmt.Errorf("sfnlocal config: timeScale must be positive, got %v", scale)
	}
	if scale == 0 {
		scale = 1
	}
	lambdas := tasks.NewLambda()
	for name, url := range c.Lambdas {
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return nil, fmt.Errorf("sfnlocal config: lambdas[%q]: %q is not an http URL", name, url)
		}
		fn, _ := tasks.FunctionName(name)
		lambdas.Bind(fn, tasks.NewRIE(url))
	}
	for name, f := range c.Functions {
		fn, _ := tasks.FunctionName(name)
		lambdas.Bind(fn, f)
	}
	var services *tasks.AWS
	if c.AWSIntegrations == nil || *c.AWSIntegrations {
		cfg, err := c.awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		if cfg.Region == "" {
			cfg.Region = DefaultRegion
		}
		services = tasks.NewAWS(cfg)
		poll := c.PollIntervalSeconds
		if poll <= 0 {
			poll = 5
		}
		services.PollInterval = max(time.Duration(poll/scale*float64(time.Second)), time.Millisecond)
	}
	mockCfg := c.MockConfig
	if c.Mocks != "" && mockCfg != nil {
		return nil, fmt.Errorf("sfnlocal config: give mocks (a file) or MockConfig, not both")
	}
	if c.Mocks != "" {
		var err error
		if mockCfg, err = tasks.LoadMockConfig(c.path(c.Mocks)); err != nil {
			return nil, err
		}
	}
	mocks := tasks.NewMocks(mockCfg, tasks.Standard(lambdas, services))
	var clock, timeouts asl.Clock
	if scale != 1 {
		clock = asl.NewScaledClock(scale)
	}
	if c.TimeoutScale < 0 {
		return nil, fmt.Errorf("sfnlocal config: timeoutScale must be positive, got %v", c.TimeoutScale)
	}
	if c.TimeoutScale > 0 && c.TimeoutScale != scale {
		timeouts = asl.NewScaledClock(c.TimeoutScale)
	}
	s := New(Options{Region: c.Region, Account: c.Account, Invoker: mocks, Clock: clock, TimeoutClock: timeouts})
	if services != nil {
		services.SelfEndpoint = s.URL
	}
	for _, m := range c.StateMachines {
		def, err := c.Definition(m)
		if err != nil {
			return nil, err
		}
		role := m.RoleArn
		if role == "" {
			role = "arn:aws:iam::" + s.opts.Account + ":role/sfnlocal"
		}
		if _, err := s.CreateStateMachineIn(m.Region, m.Name, def, role); err != nil {
			return nil, fmt.Errorf("create state machine %q: %w", m.Name, err)
		}
	}
	return s, nil
}
