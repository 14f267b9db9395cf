package awsproxy

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retryer returns the SDK's standard retryer as a test wants it in front of
// the proxy: at most maxAttempts attempts per call (the first included), a
// fixed backoff between them instead of the exponential one (up to 20 s),
// and no client-side retry quota, which a fault matrix would otherwise use
// up and turn into "retry quota exceeded". What is retried is unchanged:
// throttling codes, 5xx, connection errors and timeouts. Use it as
//
//	cfg.Retryer = awsproxy.Retryer(3, 0)
func Retryer(maxAttempts int, backoff time.Duration) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return backoff, nil })
		})
	}
}
