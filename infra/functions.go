package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/statemachines"
)

// Capability names one thing a function needs from the stack. The stack turns each
// into resources, grants and environment variables, so a function's permissions
// are read from one line of data rather than from scattered wiring.
type Capability string

const (
	// PublicURL gives the function a Function URL without IAM auth (the function
	// authenticates the caller itself, e.g. by an HMAC signature) and a stack output
	// with the URL.
	PublicURL Capability = "public-url"
	// ReadsWebhookSecret grants read access to the webhook secret and sets
	// STEPSHIP_WEBHOOK_SECRET_ARN.
	ReadsWebhookSecret Capability = "reads-webhook-secret"
	// StartsDeploy grants states:StartExecution on the deploy state machine and
	// sets STEPSHIP_DEPLOY_STATE_MACHINE_ARN.
	StartsDeploy Capability = "starts-deploy"
	// DeploysECS grants the ECS and iam:PassRole permissions needed to register a
	// task-definition revision of a catalog service.
	DeploysECS Capability = "deploys-ecs"
	// VerifiesReleases grants what functions/verify reads: the catalog's ECS
	// services and their tasks, and the catalog's CloudWatch alarms.
	VerifiesReleases Capability = "verifies-releases"
	// MigratesDatabases grants what functions/migrate reads: the secrets of the
	// catalog's databases with SQL migrations, and their migrations in S3.
	MigratesDatabases Capability = "migrates-databases"
)

// lambdaTaskRoot is where Lambda unpacks a function's package; every package
// holds bootstrap and the catalog (config.CatalogFileName). The environment
// variables the stack sets are named in shared/config.
const lambdaTaskRoot = "/var/task"

// FunctionSpec describes one Lambda function built from functions/NAME into
// dist/NAME/bootstrap.
type FunctionSpec struct {
	// Name is the folder under functions/ and dist/, e.g. "webhook".
	Name string
	// Description is shown in the Lambda console.
	Description string
	// MemoryMB is the function's memory size.
	MemoryMB float64
	// Timeout bounds one invocation.
	Timeout time.Duration
	// Capabilities lists what the function needs from the stack.
	Capabilities []Capability
}

// DefaultFunctions is stepship's list of functions. Add an entry here when a new
// functions/NAME lands (and a capability if it needs new permissions).
func DefaultFunctions() []FunctionSpec {
	return []FunctionSpec{
		{
			Name:        "webhook",
			Description: "stepship: verifies git host webhooks and starts the deploy state machine",
			MemoryMB:    256,
			// Git hosts give up on a webhook after about 10 seconds.
			Timeout:      10 * time.Second,
			Capabilities: []Capability{PublicURL, ReadsWebhookSecret, StartsDeploy},
		},
		{
			Name:        "resolve",
			Description: "stepship: checks a deploy input and resolves its target from the catalog",
			MemoryMB:    128,
			Timeout:     10 * time.Second,
		},
		{
			Name:         "deploy",
			Description:  "stepship: registers the task-definition revision of a release (the new image, by digest)",
			MemoryMB:     256,
			Timeout:      60 * time.Second,
			Capabilities: []Capability{DeploysECS},
		},
		{
			Name:        "verify",
			Description: "stepship: waits for a release's ECS rollout, runs its health check, checks its alarms",
			MemoryMB:    128,
			// One invocation waits at most 10 minutes (functions/verify),
			// then answers IN_PROGRESS for the next round.
			Timeout:      11 * time.Minute,
			Capabilities: []Capability{VerifiesReleases},
		},
		{
			Name:        "migrate",
			Description: "stepship: applies a release's SQL migrations (goose) to the catalog's database",
			MemoryMB:    256,
			// The deploy state machine's Migrate state allows 900 s.
			Timeout:      15 * time.Minute,
			Capabilities: []Capability{MigratesDatabases},
		},
	}
}

// has reports whether the function needs capability c.
func (f FunctionSpec) has(c Capability) bool { return slices.Contains(f.Capabilities, c) }

// pascalName turns a function name such as "dr-verify" into "DrVerify", the stem
// of its construct ids and of its ASL placeholder (DrVerifyFunctionArn).
func pascalName(name string) string {
	stem, _ := statemachines.FunctionOf(statemachines.FunctionPlaceholder(name))
	return stem
}

// validateFunctions reports what is wrong with the list of functions.
func validateFunctions(specs []FunctionSpec) error {
	known := map[Capability]bool{PublicURL: true, ReadsWebhookSecret: true, StartsDeploy: true, DeploysECS: true, VerifiesReleases: true, MigratesDatabases: true}
	seen := map[string]bool{}
	var problems []error
	for i, f := range specs {
		switch {
		case f.Name == "":
			problems = append(problems, fmt.Errorf("function %d has no name", i))
			continue
		case f.Name != filepath.Base(f.Name) || strings.ContainsAny(f.Name, `/\ `) || pascalName(f.Name) == "":
			problems = append(problems, fmt.Errorf("function %q: name must be a plain folder name", f.Name))
		case seen[f.Name]:
			problems = append(problems, fmt.Errorf("function %q is listed twice", f.Name))
		}
		seen[f.Name] = true
		if f.MemoryMB < 128 || f.MemoryMB > 10240 {
			problems = append(problems, fmt.Errorf("function %q: memory %v MB is outside 128..10240", f.Name, f.MemoryMB))
		}
		if f.Timeout < time.Second || f.Timeout > 15*time.Minute {
			problems = append(problems, fmt.Errorf("function %q: timeout %v is outside 1s..15m", f.Name, f.Timeout))
		}
		for _, c := range f.Capabilities {
			if !known[c] {
				problems = append(problems, fmt.Errorf("function %q: unknown capability %q", f.Name, c))
			}
		}
	}
	return errors.Join(problems...)
}

// stageFunction assembles the asset directory of one function: a copy of
// distDir/NAME/bootstrap and a copy of the catalog named catalog.yaml, the same
// two files as dist/NAME/NAME.zip. It returns the directory.
func stageFunction(spec FunctionSpec, distDir, stagingDir, catalogFile string) (string, error) {
	bootstrap := filepath.Join(distDir, spec.Name, "bootstrap")
	if _, err := os.Stat(bootstrap); err != nil {
		return "", fmt.Errorf("failed to find the build of function %q at %s (run scripts/synth.sh, which builds first): %w", spec.Name, bootstrap, err)
	}
	dir := filepath.Join(stagingDir, spec.Name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("failed to clear the staging directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create the staging directory %s: %w", dir, err)
	}
	if err := copyFile(bootstrap, filepath.Join(dir, "bootstrap"), 0o755); err != nil {
		return "", err
	}
	if err := copyFile(catalogFile, filepath.Join(dir, config.CatalogFileName), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

func copyFile(from, to string, mode os.FileMode) (err error) {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("failed to open %s for staging: %w", from, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", to, err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("failed to write %s: %w", to, cerr)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("failed to copy %s to %s: %w", from, to, err)
	}
	// The mode given to OpenFile is masked by the umask; bootstrap must stay executable.
	if err := out.Chmod(mode); err != nil {
		return fmt.Errorf("failed to set the mode of %s: %w", to, err)
	}
	return nil
}
