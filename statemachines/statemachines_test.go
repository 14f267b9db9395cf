package statemachines_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/asl"
)

// substituted returns a state machine's definition with every placeholder
// filled the way the CDK app fills it: functions by ARN, resources by name.
func substituted(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := statemachines.Definition(name)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, p := range statemachines.Placeholders(raw) {
		if !statemachines.Known(p) {
			t.Errorf("%s: placeholder ${%s} is neither ${NameFunctionArn} nor one of %v: infra cannot fill it", name, p, statemachines.Resources)
		}
		if fn, ok := statemachines.FunctionOf(p); ok {
			values[p] = "arn:aws:lambda:us-east-1:123456789012:function:" + strings.ToLower(fn)
		} else {
			values[p] = "stepship-" + p
		}
	}
	def, err := statemachines.Substitute(raw, values)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

func TestEveryFilePassesASLValidator(t *testing.T) {
	validator := harness.RequireTool(t, "asl-validator")
	for _, name := range statemachines.Names() {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(validator, "--json-path", name+".asl.json").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "is valid") {
				t.Fatalf("asl-validator: %v\n%s", err, out)
			}
		})
	}
}

func TestEveryFileParsesInTheLocalInterpreter(t *testing.T) {
	for _, name := range statemachines.Names() {
		t.Run(name, func(t *testing.T) {
			if _, err := asl.Parse(substituted(t, name)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Every Task is bounded and retried, and the machine itself is bounded: a hung
// call or a throttled API never leaves an execution running forever or failing on
// the first transient error.
func TestEveryTaskHasATimeoutAndARetryAndTheMachineATimeout(t *testing.T) {
	for _, name := range statemachines.Names() {
		t.Run(name, func(t *testing.T) {
			m := machineOf(t, name)
			if m.TimeoutSeconds <= 0 {
				t.Errorf("the machine has no TimeoutSeconds")
			}
			for sname, st := range m.allStates() {
				if st.Type != "Task" {
					continue
				}
				if st.TimeoutSeconds <= 0 && st.TimeoutSecondsPath == "" {
					t.Errorf("Task %s has no TimeoutSeconds", sname)
				}
				if len(st.Retry) == 0 {
					t.Errorf("Task %s has no Retry for throttling and 5xx", sname)
				}
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	def := []byte(`{"a":"${DeployFunctionArn}","b":"${TableName}","c":"${DeployFunctionArn}"}`)
	if got := statemachines.Placeholders(def); strings.Join(got, ",") != "DeployFunctionArn,TableName" {
		t.Errorf("Placeholders = %v", got)
	}
	out, err := statemachines.Substitute(def, map[string]string{"DeployFunctionArn": "arn:x", "TableName": "t"})
	if err != nil || string(out) != `{"a":"arn:x","b":"t","c":"arn:x"}` {
		t.Errorf("Substitute = %s, %v", out, err)
	}
	if _, err := statemachines.Substitute(def, map[string]string{"TableName": "t"}); err == nil || !strings.Contains(err.Error(), "${DeployFunctionArn}") {
		t.Errorf("a missing value must be named: %v", err)
	}
	for in, want := range map[string]string{"deploy": "DeployFunctionArn", "dr-verify": "DrVerifyFunctionArn"} {
		if got := statemachines.FunctionPlaceholder(in); got != want {
			t.Errorf("statemachines.FunctionPlaceholder(%q) = %q, want %q", in, got, want)
		}
	}
	if statemachines.Known("Bucket") || !statemachines.Known(statemachines.TableName) || !statemachines.Known("ResolveFunctionArn") || statemachines.Known("FunctionArn") {
		t.Error("Known accepts only functions and listed resources")
	}
}

func TestExecutionARN(t *testing.T) {
	got, err := statemachines.ExecutionARN("arn:aws:states:eu-west-1:123456789012:stateMachine:stepship-deploy", "web-1")
	if err != nil || got != "arn:aws:states:eu-west-1:123456789012:execution:stepship-deploy:web-1" {
		t.Errorf("ExecutionARN = %q, %v", got, err)
	}
	for _, bad := range []string{"", "arn:aws:lambda:us-east-1:123456789012:function:x", "arn:aws:states:us-east-1:123456789012:stateMachine:"} {
		if _, err := statemachines.ExecutionARN(bad, "x"); err == nil {
			t.Errorf("statemachines.ExecutionARN(%q) accepted", bad)
		}
	}
}

// definition is the part of an ASL document these tests read.
type definition struct {
	TimeoutSeconds int               `json:"TimeoutSeconds"`
	StartAt        string            `json:"StartAt"`
	States         map[string]*state `json:"States"`
}

type state struct {
	Type               string `json:"Type"`
	Next               string `json:"Next"`
	Default            string `json:"Default"`
	TimeoutSeconds     int    `json:"TimeoutSeconds"`
	TimeoutSecondsPath string `json:"TimeoutSecondsPath"`
	Choices            []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Retry []struct {
		ErrorEquals []string `json:"ErrorEquals"`
		MaxAttempts *int     `json:"MaxAttempts"`
	} `json:"Retry"`
	Catch []struct {
		ErrorEquals []string `json:"ErrorEquals"`
		Next        string   `json:"Next"`
	} `json:"Catch"`
	Branches      []definition `json:"Branches"`
	ItemProcessor *definition  `json:"ItemProcessor"`
}

func machineOf(t *testing.T, name string) definition {
	t.Helper()
	var d definition
	unmarshalDefinition(t, name, &d)
	return d
}

// unmarshalDefinition decodes a state machine's definition into v.
func unmarshalDefinition(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := statemachines.Definition(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// allStates returns the states of the machine and of its branches and maps.
func (d definition) allStates() map[string]*state {
	out := map[string]*state{}
	for n, s := range d.States {
		out[n] = s
		for _, b := range s.Branches {
			for bn, bs := range b.allStates() {
				out[bn] = bs
			}
		}
		if s.ItemProcessor != nil {
			for bn, bs := range s.ItemProcessor.allStates() {
				out[bn] = bs
			}
		}
	}
	return out
}

// The deploy machine gives its long steps the time the catalog's budget
// reckons with (catalog.WorstCaseRun, checked against MaxDeployRun when a
// catalog is read), and itself the lease: if they drifted apart, a catalog
// the check accepts could still be cut off by the machine's timeout.
func TestDeployTimeoutsAreTheCatalogsBudget(t *testing.T) {
	m := machineOf(t, statemachines.Deploy)
	states := m.allStates()
	if got := time.Duration(m.TimeoutSeconds) * time.Second; got != catalog.DeployLease || payload.DeployLease != catalog.DeployLease {
		t.Errorf("the machine's TimeoutSeconds is %s, the lease %s", got, catalog.DeployLease)
	}
	for name, want := range map[string]time.Duration{
		"Build":             catalog.BuildTimeout,
		"PreDeploySnapshot": catalog.PreDeploySnapshotTimeout,
		"Migrate":           catalog.SQLMigrationTimeout,
	} {
		if got := time.Duration(states[name].TimeoutSeconds) * time.Second; got != want {
			t.Errorf("%s has TimeoutSeconds %s, the catalog's budget reckons %s", name, got, want)
		}
	}
	for _, name := range []string{"MigrationTask", "MigrationTaskHostNetwork"} {
		if got := states[name].TimeoutSecondsPath; got != "$.target.migrations.timeoutSeconds" {
			t.Errorf("%s: TimeoutSecondsPath %q, want the catalog's migrations.timeoutSeconds", name, got)
		}
	}
}
