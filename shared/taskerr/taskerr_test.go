package taskerr

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/stepship/stepship/statemachines"
)

// The deploy state machine catches or retries these errors by their Go type
// names (aws-lambda-go reports a returned error by its type's name): a
// renamed type would silently fall through to States.ALL.
func TestDeployStateMachineNamesTheseTypes(t *testing.T) {
	def, err := statemachines.Definition(statemachines.Deploy)
	if err != nil {
		t.Fatal(err)
	}
	var sm struct {
		States map[string]struct {
			Retry []struct{ ErrorEquals []string }
			Catch []struct{ ErrorEquals []string }
		}
	}
	if err := json.Unmarshal(def, &sm); err != nil {
		t.Fatal(err)
	}
	names := func(state string, retry bool) []string {
		var out []string
		s := sm.States[state]
		if retry {
			for _, r := range s.Retry {
				out = append(out, r.ErrorEquals...)
			}
		} else {
			for _, c := range s.Catch {
				out = append(out, c.ErrorEquals...)
			}
		}
		return out
	}
	tests := []struct {
		err   error
		state string
		retry bool
	}{
		{&InvalidDeployRequest{}, "Resolve", false},
		{&UnknownTarget{}, "Resolve", false},
		{&ECSCallFailed{}, "Deploy", true},
	}
	for _, tt := range tests {
		name := reflect.TypeOf(tt.err).Elem().Name()
		t.Run(name, func(t *testing.T) {
			if got := names(tt.state, tt.retry); !slices.Contains(got, name) {
				t.Errorf("state %s (retry %v) names %v, not %s", tt.state, tt.retry, got, name)
			}
		})
	}
}

func TestMessagesSayWhatToFix(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&ServiceNotFound{Cluster: "demo", Service: "web"}, `ECS service "web" not found (or not ACTIVE) in cluster "demo": check the catalog`},
		{&ContainerNotFound{TaskDefinition: "web:1", Container: "app"}, `task definition web:1 has no container named "app": check the catalog`},
		{&RoleNotAllowed{TaskDefinition: "web:1", Role: "arn:aws:iam::123456789012:role/admin"}, "task definition web:1 uses role arn:aws:iam::123456789012:role/admin, which the catalog does not list in this environment's roles: add it there (and redeploy the stack) or change the task definition"},
		{&InvalidDeployRequest{Reason: "r"}, "r"},
		{&UnknownTarget{Reason: "r"}, "r"},
		{&ECSCallFailed{Reason: "r"}, "r"},
	}
	for _, tt := range tests {
		t.Run(reflect.TypeOf(tt.err).Elem().Name(), func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
