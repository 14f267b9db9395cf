package functiontest

import (
	"errors"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/function"
)

func TestStartAndRefused(t *testing.T) {
	handler := func() {}
	var got function.Env
	h := Start(t, "probe", Env("../testdata/catalog.yaml", nil), func(e function.Env) (any, error) { got = e; return handler, nil })
	if _, ok := h.(func()); !ok || got.AWS.Region != "us-east-1" || len(got.Catalog.Services) != 1 {
		t.Errorf("started %T with %+v", h, got)
	}
	if reason := Refused(t, "probe", Env("../testdata/catalog.yaml", nil), func(function.Env) (any, error) { return nil, errors.New("no table") }); reason != "no table" {
		t.Errorf("reason %q", reason)
	}
	if reason := Refused(t, "probe", Env("../testdata/missing.yaml", nil), nil); !strings.Contains(reason, "missing.yaml") {
		t.Errorf("reason %q does not name the missing catalog", reason)
	}
	if reason := Refused(t, "probe", Env("../testdata/catalog.yaml", map[string]string{"AWS_REGION": ""}), nil); !strings.Contains(reason, "AWS_REGION") {
		t.Errorf("reason %q does not name AWS_REGION", reason)
	}
}
