package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stepship/stepship/test/harness"
	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
	"github.com/stepship/stepship/test/sfnlocal/tasks/internal/failfn"
)

// TestSameErrorsUnderTheRuntimeEmulator builds a real Go Lambda (testdata/errfn), runs
// it under the Lambda Runtime Interface Emulator, and checks that every failure gets
// the same Step Functions Error and message as the same handler run in-process.
func TestSameErrorsUnderTheRuntimeEmulator(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "errfn", "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", bin, "./testdata/errfn")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build errfn: %v\n%s", err, out)
	}
	fn := harness.StartLambda(t, bin, nil)
	rie := tasks.NewLambda().Bind("errfn", tasks.NewRIE(fn.URL()))
	inproc := tasks.NewLambda().Bind("errfn", tasks.InProcess(failfn.Handler))
	resource := "arn:aws:lambda:us-east-1:123456789012:function:errfn"
	ctx := context.Background()
	for _, mode := range []string{"pointer", "value", "wrapped", "plain", "panic", "typed"} {
		in := asl.Task{Resource: resource, StateName: "Deploy", Input: json.RawMessage(fmt.Sprintf(`{"service":"api","mode":%q}`, mode))}
		_, errR := rie.InvokeTask(ctx, in)
		_, errP := inproc.InvokeTask(ctx, in)
		var r, p *asl.TaskFailure
		if !errors.As(errR, &r) || !errors.As(errP, &p) {
			t.Fatalf("%s: emulator %v, in-process %v", mode, errR, errP)
		}
		var cr, cp struct{ ErrorType, ErrorMessage string }
		_ = json.Unmarshal([]byte(r.Cause), &cr)
		_ = json.Unmarshal([]byte(p.Cause), &cp)
		if r.Name != p.Name || cr != cp {
			t.Errorf("%s: emulator %s %+v, in-process %s %+v", mode, r.Name, cr, p.Name, cp)
		}
	}
	out, err := rie.InvokeTask(ctx, asl.Task{Resource: resource, Input: json.RawMessage(`{"service":"api"}`)})
	if err != nil || string(out) != `{"deployed":"api"}` {
		t.Fatalf("success under the emulator: %s %v", out, err)
	}
}
