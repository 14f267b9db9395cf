package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/taskerr"
)

const (
	// healthRequestTimeout bounds one health check request.
	healthRequestTimeout = 5 * time.Second
	// maxHealthBody is how much of an answer's body is read (and discarded)
	// so that the connection can be reused.
	maxHealthBody = 4 << 10
	// maxHealthRedirects is how many same-host redirects are followed.
	maxHealthRedirects = 5
	// keptAnswers is how many of the last answers a failure names.
	keptAnswers = 3
	// healthUserAgent identifies the checks in the service's access log.
	healthUserAgent = "stepship-verify"
)

// newHealthClient is the health check's HTTP client: each request bounded
// by healthRequestTimeout, redirects followed on the same host only.
func newHealthClient() *http.Client {
	return &http.Client{Timeout: healthRequestTimeout, CheckRedirect: sameHost}
}

// sameHost follows a redirect to the host (and port) of the first request,
// at most maxHealthRedirects of them; otherwise the redirect itself is the
// answer (and its status, not the catalog's, fails the attempt).
func sameHost(req *http.Request, via []*http.Request) error {
	if len(via) > maxHealthRedirects || req.URL.Host != via[0].URL.Host {
		return http.ErrUseLastResponse
	}
	return nil
}

// healthWorstCase is the longest the health check can take.
func healthWorstCase(h *catalog.Health) time.Duration {
	return time.Duration(h.Attempts-1)*time.Duration(h.IntervalSeconds)*time.Second + time.Duration(h.Attempts)*healthRequestTimeout
}

// checkHealth GETs the URL until h.Passes consecutive answers have
// h.Status, h.IntervalSeconds apart, at most h.Attempts times; it stops as
// soon as the attempts left cannot make the passes, or when the next
// attempt would end after roundEnd. It returns the passes, or
// HealthCheckFailed.
func (v *Verifier) checkHealth(ctx context.Context, h *catalog.Health, roundEnd time.Time) (int, error) {
	interval := time.Duration(h.IntervalSeconds) * time.Second
	fail := &taskerr.HealthCheckFailed{URL: h.URL, Wanted: h.Passes}
	run := 0
	for fail.Attempts < h.Attempts && h.Attempts-fail.Attempts >= h.Passes-run {
		if fail.Attempts > 0 {
			if v.now().Add(interval+healthRequestTimeout).After(roundEnd) || v.sleep(ctx, interval) != nil {
				fail.Reason = "this invocation's time ran out before the check was decided (attempts × intervalSeconds must fit in one invocation)"
				return 0, fail
			}
		}
		answer, ok := v.probe(ctx, h)
		fail.Attempts++
		run++
		if !ok {
			run = 0
		}
		fail.Passes = max(fail.Passes, run)
		fail.Answers = append(fail.Answers, answer)
		fail.Answers = fail.Answers[max(len(fail.Answers)-keptAnswers, 0):]
		if run == h.Passes {
			return run, nil
		}
	}
	if fail.Attempts < h.Attempts {
		fail.Reason = fmt.Sprintf("stopped early: the %d attempts left cannot make %d passes in a row", h.Attempts-fail.Attempts, h.Passes)
	}
	return 0, fail
}

// probe makes one request: its answer (the status, or the request's error)
// and whether it passed.
func (v *Verifier) probe(ctx context.Context, h *catalog.Health) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, healthRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return err.Error(), false
	}
	req.Header.Set("User-Agent", healthUserAgent)
	resp, err := v.http.Do(req)
	if err != nil {
		return err.Error(), false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHealthBody))
	return strconv.Itoa(resp.StatusCode), resp.StatusCode == h.Status
}
