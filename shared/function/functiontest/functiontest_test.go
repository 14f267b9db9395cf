package functiontest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/function"
)

// recorder is a testing.TB that keeps what Errorf says.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestStartedAndRefused(t *testing.T) {
	env := Env("../../../catalog.yaml", "STEPSHIP_X", "1")
	if env("STEPSHIP_X") != "1" || env("AWS_REGION") != "us-east-1" || env(config.EnvCatalog) != "../../../catalog.yaml" {
		t.Errorf("Env: %q %q", env("STEPSHIP_X"), env("AWS_REGION"))
	}
	handler := func() {}
	var got function.Env
	h := Started(t, "fn", env, func(e function.Env) (any, error) { got = e; return handler, nil })
	if _, ok := h.(func()); !ok || got.Catalog == nil || got.Getenv("STEPSHIP_X") != "1" {
		t.Errorf("Started = %T, env %+v", h, got)
	}

	refuse := func(function.Env) (any, error) { return nil, errors.New("STEPSHIP_X must be 2") }
	Refused(t, "fn", env, refuse, "STEPSHIP_X must be")
	Refused(t, "fn", Env("missing.yaml"), refuse, "catalog: failed to read missing.yaml")

	// A function that starts, or says something else, is not refused.
	for _, tt := range []struct {
		setup Setup
		want  string
	}{
		{func(function.Env) (any, error) { return handler, nil }, "STEPSHIP_X"},
		{refuse, "something else"},
	} {
		r := &recorder{TB: t}
		Refused(r, "fn", env, tt.setup, tt.want)
		if len(r.errors) == 0 {
			t.Errorf("Refused(%q) passed", tt.want)
		}
	}
}
