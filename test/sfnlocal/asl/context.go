package asl

import "time"

// timeFormat is how Step Functions renders times in the context object.
const timeFormat = "2006-01-02T15:04:05.000Z"

// stateCtx is what the context object ("$$") says while a state runs.
type stateCtx struct {
	x          *Execution
	state      string
	entered    time.Time
	retryCount int
	token      string
	mapItem    *mapItem
	obj        any // the context object, built on first use
}

type mapItem struct {
	index int
	value any
}

// object returns the context object, building it on first use.
func (sc *stateCtx) object() any {
	if sc.obj == nil {
		sc.obj = sc.build()
	}
	return sc.obj
}

// changed discards the cached context object after retryCount or token changed.
func (sc *stateCtx) changed() { sc.obj = nil }

func (sc *stateCtx) build() any {
	x := sc.x
	c := map[string]any{
		"Execution": map[string]any{
			"Id":           x.info.ARN,
			"Name":         x.info.Name,
			"StartTime":    x.info.StartTime.UTC().Format(timeFormat),
			"Input":        x.inputValue,
			"RoleArn":      x.info.RoleARN,
			"RedriveCount": int64(0),
		},
		"StateMachine": map[string]any{
			"Id":   x.info.StateMachineARN,
			"Name": x.info.StateMachineName,
		},
		"State": map[string]any{
			"Name":        sc.state,
			"EnteredTime": sc.entered.UTC().Format(timeFormat),
			"RetryCount":  int64(sc.retryCount),
		},
	}
	if sc.token != "" {
		c["Task"] = map[string]any{"Token": sc.token}
	}
	if sc.mapItem != nil {
		c["Map"] = map[string]any{"Item": map[string]any{
			"Index": int64(sc.mapItem.index),
			"Value": sc.mapItem.value,
		}}
	}
	return c
}
