package asl

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// retrier is one entry of a state's Retry field.
type retrier struct {
	errorEquals []string
	interval    float64 // seconds, default 1
	maxAttempts int     // default 3; 0 means never retry
	backoffRate float64 // default 2
	maxDelay    float64 // seconds; 0 means no cap
	fullJitter  bool
}

// catcher is one entry of a state's Catch field.
type catcher struct {
	errorEquals []string
	next        string
	resultPath  *path // nil with discard false means "$"
	discard     bool  // ResultPath null
}

// delay is the wait before retry number n (0 for the first retry):
// IntervalSeconds × BackoffRate^n, capped by MaxDelaySeconds, then with FULL jitter
// a uniformly random duration up to that: random() (in [0, 1)) times it.
func (r *retrier) delay(n int, random func() float64) time.Duration {
	d := r.interval * math.Pow(r.backoffRate, float64(n))
	if r.maxDelay > 0 && d > r.maxDelay {
		d = r.maxDelay
	}
	d = min(d, 1e9) // before the jitter: +Inf × 0 would be NaN
	if r.fullJitter {
		d *= random()
	}
	return time.Duration(d * float64(time.Second))
}

const maxRetrySeconds = 99999999

func compileRetry(raw json.RawMessage, field string) ([]*retrier, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, defErr(field, "must be an array of retriers")
	}
	var out []*retrier
	for i, m := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		r := &retrier{interval: 1, maxAttempts: 3, backoffRate: 2}
		for k, v := range m {
			var err error
			switch k {
			case "ErrorEquals":
				r.errorEquals, err = compileErrorEquals(v, f+".ErrorEquals", i == len(list)-1)
			case "IntervalSeconds":
				var n int64
				n, err = positiveInt(v, f+".IntervalSeconds", 1, maxRetrySeconds)
				r.interval = float64(n)
			case "MaxAttempts":
				var n int64
				n, err = positiveInt(v, f+".MaxAttempts", 0, maxRetrySeconds)
				r.maxAttempts = int(n)
			case "BackoffRate":
				var x float64
				if e := json.Unmarshal(v, &x); e != nil || x < 1 {
					err = defErr(f+".BackoffRate", "must be a number of at least 1.0")
				}
				r.backoffRate = x
			case "MaxDelaySeconds":
				var n int64
				n, err = positiveInt(v, f+".MaxDelaySeconds", 1, 31622400)
				r.maxDelay = float64(n)
			case "JitterStrategy":
				var s string
				_ = json.Unmarshal(v, &s)
				switch s {
				case "FULL":
					r.fullJitter = true
				case "NONE":
				default:
					err = defErr(f+".JitterStrategy", `must be "FULL" or "NONE"`)
				}
			case "Comment":
			default:
				err = defErr(f+"."+k, "unknown field")
			}
			if err != nil {
				return nil, err
			}
		}
		if r.errorEquals == nil {
			return nil, defErr(f+".ErrorEquals", "is required")
		}
		out = append(out, r)
	}
	return out, nil
}

func compileCatch(raw json.RawMessage, field string) ([]*catcher, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, defErr(field, "must be an array of catchers")
	}
	var out []*catcher
	for i, m := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		c := &catcher{}
		for k, v := range m {
			var err error
			switch k {
			case "ErrorEquals":
				c.errorEquals, err = compileErrorEquals(v, f+".ErrorEquals", i == len(list)-1)
			case "Next":
				if e := json.Unmarshal(v, &c.next); e != nil || c.next == "" {
					err = defErr(f+".Next", "must be a non-empty string")
				}
			case "ResultPath":
				c.resultPath, c.discard, err = compileResultPath(v, f+".ResultPath")
			case "Comment":
			case "Assign", "Output":
				err = defErr(f+"."+k, "JSONata and variables are not supported")
			default:
				err = defErr(f+"."+k, "unknown field")
			}
			if err != nil {
				return nil, err
			}
		}
		if c.errorEquals == nil {
			return nil, defErr(f+".ErrorEquals", "is required")
		}
		if c.next == "" {
			return nil, defErr(f+".Next", "is required")
		}
		out = append(out, c)
	}
	return out, nil
}

// compileErrorEquals checks an ErrorEquals list: non-empty strings; States.ALL only
// alone and only in the last retrier or catcher.
func compileErrorEquals(raw json.RawMessage, field string, last bool) ([]string, error) {
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil || len(names) == 0 {
		return nil, defErr(field, "must be a non-empty array of error names")
	}
	for _, n := range names {
		if n == "" {
			return nil, defErr(field, "error names must not be empty")
		}
		if n == errname.All {
			if len(names) != 1 {
				return nil, defErr(field, errname.All+" must appear alone")
			}
			if !last {
				return nil, defErr(field, errname.All+" must appear in the last retrier or catcher")
			}
		}
	}
	return names, nil
}

func positiveInt(raw json.RawMessage, field string, minimum, maximum int64) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, defErr(field, "must be an integer")
	}
	i, err := n.Int64()
	if err != nil || i < minimum || i > maximum {
		return 0, defErr(field, fmt.Sprintf("must be an integer from %d to %d", minimum, maximum))
	}
	return i, nil
}
