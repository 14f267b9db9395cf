package localenv

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// List prices the cost of a run is reckoned at (FACTS.md: us-east-1 and
// most regions): Step Functions Standard state transitions, and Lambda on
// arm64 by GB-second and by request.
const (
	PricePerTransition   = 0.025 / 1000
	PricePerArmGBSecond  = 0.0000133334
	PricePerLambdaInvoke = 0.20 / 1_000_000
)

// FunctionMemoryMB is each function's memory size as the CDK stack
// configures it (infra/functions.go; an infra test keeps the two equal):
// what a run's GB-seconds are reckoned with.
var FunctionMemoryMB = map[string]float64{
	"webhook": 256, "resolve": 128, "deploy": 256, "migrate": 256, "verify": 128,
	"snapshot": 256, "restore": 256, "dr-verify": 256,
}

// Run is what one execution cost, read from its history.
type Run struct {
	// Transitions counts state transitions as Step Functions bills them:
	// every state entered, and every retry of a Task.
	Transitions int
	// Retries is how many of the transitions were retries.
	Retries int
	// Invocations counts Lambda invocations; LambdaMS is their billed
	// duration (each rounded up to the millisecond), per function.
	Invocations int
	LambdaMS    map[string]float64
	// GBSeconds is the Lambda compute at the functions' memory sizes.
	GBSeconds float64
	// States lists each state entered, in order, with how long it took
	// (Wait states at the local service's time scale).
	States []StateTiming
}

// StateTiming is one state of a run.
type StateTiming struct {
	Name string
	Took time.Duration
}

// Cost is the run's list price in US dollars.
func (r Run) Cost() float64 {
	return float64(r.Transitions)*PricePerTransition + r.GBSeconds*PricePerArmGBSecond + float64(r.Invocations)*PricePerLambdaInvoke
}

func (r Run) String() string {
	return fmt.Sprintf("%d transitions (%d retries), %d Lambda invocations, %.3f GB-s: $%.6f", r.Transitions, r.Retries, r.Invocations, r.GBSeconds, r.Cost())
}

// Measure reads a run's transitions, Lambda invocations and state timings
// from its history.
func Measure(history []sfntypes.HistoryEvent) Run {
	r := Run{LambdaMS: map[string]float64{}}
	var fn string
	var started time.Time
	scheduledIn := map[string]int{} // state → tasks scheduled in its current visit
	var state string
	var entered time.Time
	closeState := func(at time.Time) {
		if state != "" {
			r.States = append(r.States, StateTiming{Name: state, Took: at.Sub(entered)})
			state = ""
		}
	}
	for _, ev := range history {
		at := aws.ToTime(ev.Timestamp)
		switch {
		case ev.StateEnteredEventDetails != nil:
			closeState(at)
			r.Transitions++
			state, entered = aws.ToString(ev.StateEnteredEventDetails.Name), at
			scheduledIn[state] = 0
		case ev.StateExitedEventDetails != nil:
			closeState(at)
		case ev.Type == sfntypes.HistoryEventTypeTaskScheduled || ev.Type == sfntypes.HistoryEventTypeLambdaFunctionScheduled:
			if scheduledIn[state]++; scheduledIn[state] > 1 {
				r.Transitions++
				r.Retries++
			}
			if d := ev.LambdaFunctionScheduledEventDetails; d != nil {
				fn = functionName(aws.ToString(d.Resource))
			}
		case ev.Type == sfntypes.HistoryEventTypeLambdaFunctionStarted:
			started = at
		case ev.Type == sfntypes.HistoryEventTypeLambdaFunctionSucceeded || ev.Type == sfntypes.HistoryEventTypeLambdaFunctionFailed ||
			ev.Type == sfntypes.HistoryEventTypeLambdaFunctionTimedOut:
			ms := math.Ceil(float64(at.Sub(started).Microseconds()) / 1000)
			r.Invocations++
			r.LambdaMS[fn] += ms
			r.GBSeconds += ms / 1000 * FunctionMemoryMB[fn] / 1024
		case ev.Type == sfntypes.HistoryEventTypeExecutionSucceeded || ev.Type == sfntypes.HistoryEventTypeExecutionFailed ||
			ev.Type == sfntypes.HistoryEventTypeExecutionAborted || ev.Type == sfntypes.HistoryEventTypeExecutionTimedOut:
			closeState(at)
		}
	}
	return r
}

// functionName is the stepship function a Lambda ARN names:
// "arn:aws:lambda:REGION:ACCOUNT:function:stepship-verify" → "verify".
func functionName(arn string) string {
	name := arn[strings.LastIndex(arn, ":")+1:]
	return strings.TrimPrefix(name, "stepship-")
}
