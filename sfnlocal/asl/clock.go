package asl

import (
	"context"
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
	return sleep(ctx, time.Duration(float64(d)/c.factor))
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
