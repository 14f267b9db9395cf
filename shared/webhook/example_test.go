package webhook_test

import (
	"fmt"

	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

func ExampleReceiver_Receive() {
	secret := []byte("s3cr3t-current")
	body := []byte(`{"ref":"refs/heads/main","after":"3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4","deleted":false,` +
		`"repository":{"full_name":"acme/web"},"pusher":{"name":"dana-ops"}}`)
	// Header names in any case, as a Function URL or a proxy passes them.
	h := webhook.NewHeader(map[string]string{
		"X-GitHub-Event":      "push",
		"X-GitHub-Delivery":   "7c1e2a40-cb0b-11f0-8d4b-2b1e5f0a9c11",
		"X-Hub-Signature-256": webhooktest.HexSignature(secret, body),
	})
	r := webhook.NewReceiver()
	// The current secret first, then the previous one during a rotation.
	_, events, err := r.Receive(h, body, [][]byte{secret, []byte("s3cr3t-previous")})
	if err != nil {
		fmt.Println(err)
		return
	}
	e := events[0]
	fmt.Println(e.Provider, e.Kind, e.Repository, e.Ref, e.Commit[:7], e.Pusher)

	_, _, err = r.Receive(h, append(body, ' '), [][]byte{secret})
	fmt.Println(err)
	// Output:
	// github push acme/web refs/heads/main 3f2a9c1 dana-ops
	// webhook: unauthorized
}
