package function

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/config"
)

// environment is a complete Lambda environment with testdata/catalog.yaml,
// with changes ("" removes a variable).
func environment(changes map[string]string) config.Getenv {
	env := map[string]string{config.EnvCatalog: filepath.Join("testdata", "catalog.yaml"),
		"AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
	for k, v := range changes {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func TestLoad(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	e, err := Load(environment(nil), log)
	if err != nil || e.AWS.Region != "us-west-2" || len(e.Catalog.Services) != 1 || e.Log != log || e.Getenv("AWS_ACCESS_KEY_ID") != "a" {
		t.Fatalf("Load = %+v, %v", e, err)
	}
	if _, err := Load(environment(map[string]string{"AWS_REGION": ""}), log); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("without a region: %v", err)
	}
	if _, err := Load(environment(map[string]string{config.EnvCatalog: "testdata/missing.yaml"}), log); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("without a catalog: %v", err)
	}
}

// Run starts the handler setup built, once; a function whose environment or
// setup fails says why in one JSON error line on stdout and on stderr, and
// starts nothing.
func TestRun(t *testing.T) {
	errSetup := errors.New("no table name")
	for _, tc := range []struct {
		name       string
		env        config.Getenv
		setupErr   error
		wantSetup  bool   // setup was called
		wantCode   int    // 0: started
		wantStderr string // a prefix; "" for nothing on stderr
	}{
		{name: "starts", env: environment(nil), wantSetup: true},
		{name: "setup fails", env: environment(nil), setupErr: errSetup, wantSetup: true, wantCode: 1, wantStderr: "probe: no table name\n"},
		{name: "no credentials", env: environment(map[string]string{"AWS_SECRET_ACCESS_KEY": ""}), wantCode: 1, wantStderr: "probe: failed to build the AWS configuration: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set\n"},
		{name: "no catalog", env: environment(map[string]string{config.EnvCatalog: "testdata/missing.yaml"}), wantCode: 1, wantStderr: "probe: catalog: failed to read testdata/missing.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			var started []any
			var setups []Env
			handler := func() {}
			code := Run("probe", tc.env, &stdout, &stderr, func(h any) { started = append(started, h) }, func(e Env) (any, error) {
				setups = append(setups, e)
				if tc.setupErr != nil {
					return nil, tc.setupErr
				}
				return handler, nil
			})
			if code != tc.wantCode || !strings.HasPrefix(stderr.String(), tc.wantStderr) || (tc.wantStderr == "") != (stderr.Len() == 0) {
				t.Fatalf("Run = %d, stderr %q; want %d, %q…", code, stderr.String(), tc.wantCode, tc.wantStderr)
			}
			if len(setups) != map[bool]int{false: 0, true: 1}[tc.wantSetup] {
				t.Fatalf("setup called %d times, want it called: %v", len(setups), tc.wantSetup)
			}
			if tc.wantSetup && (setups[0].Catalog == nil || setups[0].AWS.Region != "us-west-2" || setups[0].Log == nil) {
				t.Errorf("setup got %+v", setups[0])
			}
			if tc.wantCode != 0 {
				var line map[string]any
				if len(started) != 0 {
					t.Error("a function that cannot start was started")
				}
				err := json.Unmarshal([]byte(stdout.String()), &line)
				if logged, _ := line["error"].(string); err != nil || line["level"] != "ERROR" || line["msg"] != "probe function failed to start" || stderr.String() != "probe: "+logged+"\n" {
					t.Errorf("log = %q (%v), want one error line with the error", stdout.String(), err)
				}
				return
			}
			if len(started) != 1 {
				t.Fatalf("started %d times, want once", len(started))
			}
			if h, ok := started[0].(func()); !ok || h == nil {
				t.Errorf("started %T, want setup's handler", started[0])
			}
			if stdout.Len() != 0 {
				t.Errorf("a function that starts logged %q", stdout.String())
			}
		})
	}
}
