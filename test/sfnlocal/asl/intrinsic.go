package asl

import (
	"errors"
	"fmt"

	"github.com/stepship/stepship/test/sfnlocal/asl/intrinsic"
)

// This file is the only place that knows the intrinsic package's API.

// isIntrinsic reports whether a ".$" value is an intrinsic function call rather
// than a path.
func isIntrinsic(s string) bool { return intrinsic.IsIntrinsic(s) }

// compiledCall is a parsed intrinsic function invocation with its path arguments
// compiled.
type compiledCall struct {
	src   string
	call  *intrinsic.Call
	paths map[string]*path
}

func compileIntrinsic(expr string) (*compiledCall, error) {
	c, err := intrinsic.Parse(expr)
	if err != nil {
		return nil, err
	}
	cc := &compiledCall{src: expr, call: c, paths: map[string]*path{}}
	if err := cc.compilePaths(c); err != nil {
		return nil, err
	}
	return cc, nil
}

func (cc *compiledCall) compilePaths(c *intrinsic.Call) error {
	for _, a := range c.Args {
		switch a.Kind {
		case intrinsic.ArgPath:
			p, err := compilePath(a.Str)
			if err != nil {
				return fmt.Errorf("argument of %s: %w", c.Name, err)
			}
			cc.paths[a.Str] = p
		case intrinsic.ArgCall:
			if err := cc.compilePaths(a.Call); err != nil {
				return err
			}
		}
	}
	return nil
}

// eval runs the call; path arguments are resolved against data ("$…") and the
// context object ("$$…"). Failures come back as *stateFailure with the name the
// intrinsic package assigns (States.Runtime for bad arguments).
func (cc *compiledCall) eval(data any, sc *stateCtx) (any, error) {
	v, err := cc.call.Eval(func(p string) (any, error) {
		cp, ok := cc.paths[p]
		if !ok {
			var err error
			if cp, err = compilePath(p); err != nil {
				return nil, runtimeErr(err.Error())
			}
		}
		v, err := cp.get(data, sc)
		if err != nil {
			return nil, runtimeErr(fmt.Sprintf("the JSONPath %s in %s could not be found in the input", p, cc.src))
		}
		return v, nil
	})
	if err != nil {
		var ie *intrinsic.Error
		if errors.As(err, &ie) {
			var sf *stateFailure
			if errors.As(ie.Err, &sf) {
				return nil, sf
			}
			return nil, fail(ie.Name, ie.Cause)
		}
		return nil, runtimeErr(err.Error())
	}
	return v, nil
}
