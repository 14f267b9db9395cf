package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
)

// Environment variables of the webhook function.
const (
	// EnvSecretARN names the Secrets Manager secret holding the webhook
	// secret (required).
	EnvSecretARN = "STEPSHIP_WEBHOOK_SECRET_ARN"
	// EnvStateMachineARN is the deploy state machine's ARN (required).
	EnvStateMachineARN = "STEPSHIP_DEPLOY_STATE_MACHINE_ARN"
	// EnvCatalog is the catalog file's path (default
	// $LAMBDA_TASK_ROOT/catalog.yaml).
	EnvCatalog = "STEPSHIP_CATALOG"
	// EnvMaxBodyBytes is the largest body accepted, in bytes (default 4 MiB).
	EnvMaxBodyBytes = "STEPSHIP_MAX_BODY_BYTES"
)

// settings is the function's configuration, read once at start.
type settings struct {
	secretARN       string
	stateMachineARN string
	catalogPath     string
	maxBodyBytes    int // 0: the default
}

// settingsFromEnv reads the configuration; getenv is os.Getenv outside tests.
func settingsFromEnv(getenv func(string) string) (settings, error) {
	s := settings{
		secretARN:       getenv(EnvSecretARN),
		stateMachineARN: getenv(EnvStateMachineARN),
		catalogPath:     getenv(EnvCatalog),
	}
	var errs []error
	if s.secretARN == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvSecretARN))
	}
	if s.stateMachineARN == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvStateMachineARN))
	}
	if s.catalogPath == "" {
		root := getenv("LAMBDA_TASK_ROOT")
		if root == "" {
			root = "."
		}
		s.catalogPath = filepath.Join(root, "catalog.yaml")
	}
	if v := getenv(EnvMaxBodyBytes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive number of bytes, not %q", EnvMaxBodyBytes, v))
		}
		s.maxBodyBytes = n
	}
	return s, errors.Join(errs...)
}
