package asl

import (
	"context"
	"math"
	"time"
)

// realClock is wall-clock time.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// scaledClock divides every duration it sleeps by factor; Now stays real.
type scaledClock struct{ factor float64 }

// NewScaledClock returns a Clock whose Sleep waits d/factor of real time, so that
// with factor 1000 a Wait of one second takes one millisecond. Now stays real time.
// A factor of zero or less means 1 (real time).
func NewScaledClock(factor float64) Clock {
	if factor <= 0 {
		factor = 1
	}
	return scaledClock{factor: factor}
}

func (c scaledClock) Now() time.Time { return time.Now() }

func (c scaledClock) Sleep(ctx context.Context, d time.Duration) error {
	scaled := float64(d) / c.factor
	if scaled >= math.MaxInt64 {
		return sleep(ctx, math.MaxInt64)
	}
	return sleep(ctx, time.Duration(scaled))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// seconds converts a count of seconds to a Duration, saturating instead of
// overflowing: a path may select up to 2^53 seconds, past time.Duration's range.
func seconds(n int64) time.Duration {
	if n > int64(math.MaxInt64/time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}
