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
	// CopiesSnapshots grants what the snapshot function does to stepship's
	// snapshots of the catalog's databases: read them in the home and DR
	// regions, copy them to the DR region re-encrypted with the catalog's
	// drKmsKey, and delete them (backup.go); share the DR copies with the
	// catalog's backup accounts and assume their roles (backupaccount.go).
	// The function is also each backup-account stack's pruning.
	CopiesSnapshots Capability = "copies-snapshots"
	// RestoresDrills grants what the restore function does in a DR region:
	// restore the catalog's copies into the drill's subnet group, never
	// publicly, and delete only what a drill restored (dr.go); it sets
	// STEPSHIP_DRILL_SECURITY_GROUP.
	RestoresDrills Capability = "restores-drills"
	// RecordsDrills lets the function use the home stack's ledger from a DR
	// region: read the deploys' migration versions and write the drill
	// reports (dr.go, grantLedger); it sets STEPSHIP_LEDGER_TABLE and
	// STEPSHIP_LEDGER_REGION.
	RecordsDrills Capability = "records-drills"
	// VerifiesDrills puts the function in the DR stack's isolated drill VPC
	// with a security group of its own that reaches only the restored
	// databases and the Secrets Manager endpoint, and lets it read the
	// catalog's database secrets' replicas in that region (dr.go).
	VerifiesDrills Capability = "verifies-drills"
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
	// DR puts the function in the stack of each disaster-recovery region
	// the catalog's backups name (NewDRStack) instead of the home stack.
	DR bool
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
		{
			Name:        "snapshot",
			Description: "stepship: plans a backup, copies its snapshot to the DR region and prunes by retention in both regions",
			MemoryMB:    256,
			// Within the backup state machine's Task timeouts (Prune: 120 s).
			Timeout:      110 * time.Second,
			Capabilities: []Capability{CopiesSnapshots},
		},
		{
			Name:        "restore",
			Description: "stepship: plans a drill, picks the newest DR copy, restores it in isolation, cleans it up and records the report",
			MemoryMB:    256,
			// Within the dr-drill state machine's Task timeouts (Cleanup: 120 s).
			Timeout:      110 * time.Second,
			Capabilities: []Capability{RestoresDrills, RecordsDrills},
			DR:           true,
		},
		{
			Name:        "dr-verify",
			Description: "stepship: checks a restored database's data from inside the drill VPC and measures the RTO",
			MemoryMB:    256,
			// Within the Verify Task's timeout (300 s).
			Timeout:      280 * time.Second,
			Capabilities: []Capability{VerifiesDrills},
			DR:           true,
		},
	}
}

// homeAndDR splits the functions into those of the home stack and those of
// each DR stack.
func homeAndDR(specs []FunctionSpec) (home, dr []FunctionSpec) {
	for _, f := range specs {
		if f.DR {
			dr = append(dr, f)
		} else {
			home = append(home, f)
		}
	}
	return home, dr
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
	known := map[Capability]bool{PublicURL: true, ReadsWebhookSecret: true, StartsDeploy: true, DeploysECS: true, VerifiesReleases: true, MigratesDatabases: true,
		CopiesSnapshots: true, RestoresDrills: true, RecordsDrills: true, VerifiesDrills: true}
	// Capabilities whose resources exist only in a DR stack; the others are the home stack's.
	drOnly := map[Capability]bool{RestoresDrills: true, RecordsDrills: true, VerifiesDrills: true}
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
			switch {
			case !known[c]:
				problems = append(problems, fmt.Errorf("function %q: unknown capability %q", f.Name, c))
			case drOnly[c] != f.DR:
				problems = append(problems, fmt.Errorf("function %q: capability %q belongs to the %s stack", f.Name, c, map[bool]string{true: "DR", false: "home"}[drOnly[c]]))
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
