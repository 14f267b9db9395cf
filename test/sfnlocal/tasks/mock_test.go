package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stepship/stepship/test/sfnlocal/asl"
)

const mockFile = `{
  "StateMachines": {
    "deploy": {"TestCases": {"MigrateFailsOnce": {"Migrate": "FailThenOK"}}}
  },
  "MockedResponses": {
    "FailThenOK": {
      "0": {"Throw": {"Error": "MigrationFailed", "Cause": "lock held"}},
      "1-2": {"Return": {"migrated": true}},
      "3": {"Invoke": true}
    },
    "Notify": {"0": {"Return": {"MessageId": "m-1"}}}
  },
  "Rules": [{"StateMachine": "deploy", "Resource": "arn:aws:states:::sns:*", "Response": "Notify"}]
}`

func TestMocks(t *testing.T) {
	cfg, err := ParseMockConfig([]byte(mockFile))
	if err != nil {
		t.Fatal(err)
	}
	real := asl.TaskInvokerFunc(func(_ context.Context, tk asl.Task) (json.RawMessage, error) {
		return json.RawMessage(`"real ` + tk.StateName + `"`), nil
	})
	m := NewMocks(cfg, real)
	ctx := context.Background()
	migrate := task("arn:aws:lambda:us-east-1:1:function:migrate", "Migrate", `{}`)

	// Not bound to the test case: the real binding.
	if out, _ := m.InvokeTask(ctx, migrate); string(out) != `"real Migrate"` {
		t.Fatalf("unbound execution got %s", out)
	}
	if err := m.BindTestCase(migrate.Execution.ARN, "deploy", "Nope"); err == nil {
		t.Fatal("unknown test case accepted")
	}
	if err := m.BindTestCase(migrate.Execution.ARN, "deploy", "MigrateFailsOnce"); err != nil {
		t.Fatal(err)
	}
	_, err = m.InvokeTask(ctx, migrate)
	var tf *asl.TaskFailure
	if !errors.As(err, &tf) || tf.Name != "MigrationFailed" || tf.Cause != "lock held" {
		t.Fatalf("call 0: %v", err)
	}
	for i := 1; i <= 2; i++ {
		if out, err := m.InvokeTask(ctx, migrate); err != nil || string(out) != `{"migrated": true}` {
			t.Fatalf("call %d: %s %v", i, out, err)
		}
	}
	for i := 3; i <= 4; i++ { // 3 passes through; past the end the last entry repeats
		if out, _ := m.InvokeTask(ctx, migrate); string(out) != `"real Migrate"` {
			t.Fatalf("call %d: %s", i, out)
		}
	}
	// Counts are per execution.
	other := migrate
	other.Execution.ARN += "-2"
	if out, _ := m.InvokeTask(ctx, other); string(out) != `"real Migrate"` {
		t.Fatalf("another execution without the test case: %s", out)
	}
	// Rules need no test case.
	if out, _ := m.InvokeTask(ctx, task("arn:aws:states:::sns:publish", "Notify", `{}`)); string(out) != `{"MessageId": "m-1"}` {
		t.Fatalf("rule: %s", out)
	}
	// Pin from Go, in sequence.
	m.Pin(MockRule{State: "Deploy"}, Throw("States.Timeout", "slow"), Return(`{"ok":1}`))
	dep := task("arn:aws:lambda:us-east-1:1:function:deploy", "Deploy", `{}`)
	if _, err := m.InvokeTask(ctx, dep); !errors.As(err, &tf) || tf.Name != "States.Timeout" {
		t.Fatalf("pinned 0: %v", err)
	}
	for range 2 {
		if out, _ := m.InvokeTask(ctx, dep); string(out) != `{"ok":1}` {
			t.Fatalf("pinned 1: %s", out)
		}
	}
	m.Reset()
	if out, _ := m.InvokeTask(ctx, dep); string(out) != `"real Deploy"` {
		t.Fatalf("after reset: %s", out)
	}
}

func TestMockConfigErrors(t *testing.T) {
	for _, bad := range []string{
		`{"MockedResponses":{"A":{}}}`,
		`{"MockedResponses":{"A":{"x":{"Return":1}}}}`,
		`{"MockedResponses":{"A":{"0":{"Return":1,"Throw":{"Error":"E"}}}}}`,
		`{"MockedResponses":{"A":{"0":{"Throw":{"Cause":"c"}}}}}`,
		`{"StateMachines":{"s":{"TestCases":{"t":{"S":"Missing"}}}}}`,
		`{"Rules":[{"Response":"Missing"}]}`,
		`{"Unknown":1}`,
	} {
		if _, err := ParseMockConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		} else if !strings.Contains(err.Error(), "mock configuration") {
			t.Errorf("unclear error %v", err)
		}
	}
}
