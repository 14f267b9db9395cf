package asl

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// parallelAttempt runs every branch on the (InputPath, Parameters) input at once;
// the result is the array of branch outputs. The first failing branch stops the
// others and its error is the state's error.
func (x *Execution) parallelAttempt(ctx context.Context, f *frame, st *state, raw any, sc *stateCtx) (any, error) {
	_, effective, err := x.parametersInput(st, raw, sc)
	if err != nil {
		return nil, err
	}
	x.record(f, HistoryEvent{Type: EventParallelStateStarted, StateName: st.name})
	results, err := x.fanOut(ctx, f, len(st.branches), 0, func(bctx context.Context, bf *frame, i int) (any, error) {
		return x.runMachine(bctx, bf, st.branches[i], effective)
	})
	return x.fannedIn(ctx, f, st, raw, sc, results, err, EventParallelStateSucceeded, EventParallelStateFailed)
}

// fannedIn ends a Parallel or Map attempt: its failed event (unless the
// execution is stopping) and error, or its succeeded event and output.
func (x *Execution) fannedIn(ctx context.Context, f *frame, st *state, raw any, sc *stateCtx, results []any, err error, succeeded, failed EventType) (any, error) {
	if err != nil {
		if ctx.Err() == nil {
			x.record(f, failedEvent(failed, st.name, err))
		}
		return nil, err
	}
	x.record(f, HistoryEvent{Type: succeeded, StateName: st.name})
	return x.outputFrom(st, raw, results, sc)
}

// maxInlineConcurrency is how many iterations an inline Map state runs at once at
// most, whatever its MaxConcurrency (Step Functions documents 40).
const maxInlineConcurrency = 40

// mapAttempt runs the ItemProcessor once per item of ItemsPath (at most
// MaxConcurrency at a time, 0 meaning as many as an inline Map allows:
// maxInlineConcurrency); the result is the array of iteration outputs, in item
// order.
func (x *Execution) mapAttempt(ctx context.Context, f *frame, st *state, raw any, sc *stateCtx) (any, error) {
	data, err := x.effectiveInput(st, raw, sc)
	if err != nil {
		return nil, err
	}
	items := data
	if st.itemsPath != nil {
		if items, err = st.itemsPath.get(data, sc); err != nil {
			return nil, runtimeErr(fmt.Sprintf("invalid path %s specified for ItemsPath: no results in the input %s", st.itemsPath.src, truncate(mustEncode(data))))
		}
	}
	arr, ok := items.([]any)
	if !ok {
		return nil, runtimeErr(fmt.Sprintf("the Map state's items must be a JSON array, not %s", describe(items)))
	}
	limit := st.maxConcurrency
	if st.maxConcurrencyPath != nil {
		v, err := st.maxConcurrencyPath.get(data, sc)
		n, ok := toNonNegativeInt(v)
		if err != nil || !ok {
			return nil, runtimeErr(fmt.Sprintf("the MaxConcurrencyPath %s must select a non-negative integer", st.maxConcurrencyPath.src))
		}
		limit = n
	}
	if limit == 0 || limit > maxInlineConcurrency {
		limit = maxInlineConcurrency
	}
	x.record(f, HistoryEvent{Type: EventMapStateStarted, StateName: st.name, Index: len(arr)})
	results, err := x.fanOut(ctx, f, len(arr), int(limit), func(ictx context.Context, bf *frame, i int) (any, error) {
		item := arr[i]
		if st.itemSelector != nil {
			isc := &stateCtx{x: x, state: st.name, entered: sc.entered, retryCount: sc.retryCount, mapItem: &mapItem{index: i, value: arr[i]}}
			var err error
			if item, err = st.itemSelector.eval(data, isc); err != nil {
				return nil, err
			}
		}
		x.record(bf, HistoryEvent{Type: EventMapIterationStarted, StateName: st.name, Index: i})
		out, err := x.runMachine(ictx, bf, st.iterator, item)
		switch {
		case err == nil:
			x.record(bf, HistoryEvent{Type: EventMapIterationSucceeded, StateName: st.name, Index: i})
		case ictx.Err() != nil:
			x.record(bf, HistoryEvent{Type: EventMapIterationAborted, StateName: st.name, Index: i})
		default:
			ev := failedEvent(EventMapIterationFailed, st.name, err)
			ev.Index = i
			x.record(bf, ev)
		}
		return out, err
	})
	return x.fannedIn(ctx, f, st, raw, sc, results, err, EventMapStateSucceeded, EventMapStateFailed)
}

func failedEvent(typ EventType, name string, err error) HistoryEvent {
	ev := HistoryEvent{Type: typ, StateName: name, Error: errname.Runtime, Cause: err.Error()}
	var sf *stateFailure
	if errors.As(err, &sf) {
		ev.Error, ev.Cause = sf.name, sf.cause
	}
	return ev
}

// fanOut runs fn for 0..n-1 concurrently (at most limit at once when limit > 0),
// each with its own history frame. The first failure cancels the rest and is
// returned; results are in index order.
func (x *Execution) fanOut(ctx context.Context, f *frame, n, limit int, fn func(context.Context, *frame, int) (any, error)) ([]any, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]any, n)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	var sem chan struct{}
	if limit > 0 && limit < n {
		sem = make(chan struct{}, limit)
	}
	base := f.prev
launch:
	for i := 0; i < n; i++ {
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-cctx.Done():
				break launch
			}
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if sem != nil {
				defer func() { <-sem }()
			}
			out, err := guard(func() (any, error) { return fn(cctx, &frame{prev: base}, i) })
			if err != nil {
				mu.Lock()
				if firstErr == nil || (isFailure(err) && !isFailure(firstErr)) {
					firstErr = err
				}
				mu.Unlock()
				cancel()
				return
			}
			results[i] = out
		}(i)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return results, nil
}

func isFailure(err error) bool {
	var sf *stateFailure
	return errors.As(err, &sf)
}
