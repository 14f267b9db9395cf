package asl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// runPass: InputPath → Parameters → Result → ResultPath → OutputPath.
func (x *Execution) runPass(st *state, raw any, sc *stateCtx) (any, error) {
	_, effective, err := x.parametersInput(st, raw, sc)
	if err != nil {
		return nil, err
	}
	if st.hasResult {
		effective = st.result
	}
	return x.outputFrom(st, raw, effective, sc)
}

// runChoice evaluates the rules in order against the InputPath-processed input; the
// output is that input after OutputPath.
func (x *Execution) runChoice(st *state, raw any, sc *stateCtx) (any, string, error) {
	data, err := x.effectiveInput(st, raw, sc)
	if err != nil {
		return nil, "", err
	}
	next := st.def
	for _, r := range st.choices {
		ok, err := r.eval(data, sc)
		if err != nil {
			return nil, "", err
		}
		if ok {
			next = r.next
			break
		}
	}
	if next == "" {
		return nil, "", fail(errname.NoChoiceMatched, fmt.Sprintf("no Choice rule of state %s matched the input and there is no Default", quote(st.name)))
	}
	out, err := x.outputPath(st, data, sc)
	return out, next, err
}

// runWait waits for Seconds, until Timestamp, or for the value at SecondsPath or
// TimestampPath (in the InputPath-processed input).
func (x *Execution) runWait(ctx context.Context, st *state, raw any, sc *stateCtx) (any, error) {
	data, err := x.effectiveInput(st, raw, sc)
	if err != nil {
		return nil, err
	}
	var d time.Duration
	switch {
	case st.hasSeconds:
		d = seconds(st.seconds)
	case st.hasTimestamp:
		d = st.timestamp.Sub(x.r.clock.Now())
	case st.secondsPath != nil:
		v, err := st.secondsPath.get(data, sc)
		n, ok := toNonNegativeInt(v)
		if err != nil || !ok {
			return nil, runtimeErr(fmt.Sprintf("the SecondsPath %s must select a non-negative integer in the input %s", st.secondsPath.src, truncate(mustEncode(data))))
		}
		d = seconds(n)
	case st.timestampPath != nil:
		v, err := st.timestampPath.get(data, sc)
		s, _ := v.(string)
		t, ok := parseTimestamp(s)
		if err != nil || !ok {
			return nil, runtimeErr(fmt.Sprintf("the TimestampPath %s must select an RFC 3339 timestamp in the input %s", st.timestampPath.src, truncate(mustEncode(data))))
		}
		d = t.Sub(x.r.clock.Now())
	}
	if err := x.r.clock.Sleep(ctx, d); err != nil {
		return nil, err
	}
	return x.outputPath(st, data, sc)
}

// runFail fails with Error and Cause, or the strings at ErrorPath and CausePath
// (paths or intrinsic functions over the state input).
func (x *Execution) runFail(st *state, raw any, sc *stateCtx) error {
	name, cause := st.errorName, st.cause
	str := func(p *path, c *compiledCall, field string) (string, error) {
		var v any
		var err error
		if c != nil {
			v, err = c.eval(raw, sc)
		} else {
			v, err = p.get(raw, sc)
			if err != nil {
				return "", runtimeErr(fmt.Sprintf("invalid path %s specified for %s: no results in the input", p.src, field))
			}
		}
		if err != nil {
			return "", err
		}
		s, ok := v.(string)
		if !ok {
			return "", runtimeErr(fmt.Sprintf("%s must select a string, not %s", field, describe(v)))
		}
		return s, nil
	}
	var err error
	if st.errorPath != nil || st.errorCall != nil {
		if name, err = str(st.errorPath, st.errorCall, "ErrorPath"); err != nil {
			return err
		}
	}
	if st.causePath != nil || st.causeCall != nil {
		if cause, err = str(st.causePath, st.causeCall, "CausePath"); err != nil {
			return err
		}
	}
	return fail(name, cause)
}

// withRetryCatch runs attempt, retrying it per the state's Retry field and then
// routing the error per its Catch field. It returns the output and the next state.
func (x *Execution) withRetryCatch(ctx context.Context, st *state, raw any, sc *stateCtx, attempt func() (any, error)) (any, string, error) {
	counts := make([]int, len(st.retry))
	for {
		out, err := attempt()
		if err == nil {
			return out, st.next, nil
		}
		var sf *stateFailure
		if ctx.Err() != nil || !errors.As(err, &sf) || terminalError(sf.name) {
			return nil, "", err
		}
		if i := matchRetrier(st.retry, sf.name); i >= 0 && counts[i] < st.retry[i].maxAttempts {
			d := st.retry[i].delay(counts[i], x.r.random)
			counts[i]++
			sc.retryCount++
			sc.changed()
			if err := x.r.clock.Sleep(ctx, d); err != nil {
				return nil, "", err
			}
			continue
		}
		for _, c := range st.catch {
			if !matchesAny(c.errorEquals, sf.name) {
				continue
			}
			errOut := map[string]any{"Error": sf.name, "Cause": sf.cause}
			switch {
			case c.discard:
				return raw, c.next, nil
			case c.resultPath == nil:
				return errOut, c.next, nil
			}
			out, err := c.resultPath.set(raw, errOut)
			if err != nil {
				return nil, "", fail(errname.ResultPathMatchFailure, fmt.Sprintf("unable to apply the Catch ResultPath %s to the state input: %v", c.resultPath.src, err))
			}
			return out, c.next, nil
		}
		return nil, "", err
	}
}

// matchRetrier returns the index of the first retrier whose ErrorEquals matches.
func matchRetrier(rs []*retrier, name string) int {
	for i, r := range rs {
		if matchesAny(r.errorEquals, name) {
			return i
		}
	}
	return -1
}
