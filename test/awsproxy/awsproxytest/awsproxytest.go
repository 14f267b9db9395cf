// Package awsproxytest starts an awsproxy.Proxy for one test. It is the only
// part of awsproxy that imports testing.
package awsproxytest

import (
	"testing"

	"github.com/stepship/stepship/test/awsproxy"
)

// Start starts a proxy in front of target (the emulator's URL, e.g.
// harness.SharedMoto(t).Endpoint) for t. It fails t when the proxy does not
// start; when t ends it closes the proxy, fails t if the proxy recorded
// errors (a failed forward, a broken RespondFunc), and prints the call log
// when t failed.
func Start(t testing.TB, target string, opts ...awsproxy.Option) *awsproxy.Proxy {
	t.Helper()
	p, err := awsproxy.Start(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("%v", err)
		}
		for _, err := range p.Errors() {
			t.Errorf("awsproxy: %v", err)
		}
		if t.Failed() {
			t.Logf("calls through the AWS proxy:\n%s", awsproxy.CallTable(p.Calls()))
		}
	})
	return p
}
