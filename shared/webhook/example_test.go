package webhook_test

import (
	"fmt"

	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
)

func ExampleReceiver_Receive() {
	// The webhook secret's value: one key per git host.
	keys, err := webhook.ParseKeyring([]byte(`{"github": "s3cr3t-current-0123"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	body := `{"ref":"refs/heads/main","after":"3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4","deleted":false,` +
		`"repository":{"full_name":"acme/web","pushed_at":1795776000},"pusher":{"name":"dana-ops"}}`
	// Header names in any case, as a Function URL or a proxy passes them.
	h := webhook.NewHeader(map[string]string{
		"X-GitHub-Event":      "push",
		"X-GitHub-Delivery":   "7c1e2a40-cb0b-11f0-8d4b-2b1e5f0a9c11",
		"X-Hub-Signature-256": webhooktest.HexSignature([]byte("s3cr3t-current-0123"), []byte(body)),
	})
	r := webhook.NewReceiver()
	d, err := r.Receive(webhook.Request{Header: h, Body: body}, keys)
	if err != nil {
		fmt.Println(err)
		return
	}
	e := d.Events[0]
	fmt.Println(e.Provider, e.Kind, e.Repository, e.Ref, e.Commit[:7], e.Pusher, e.PushedAt.Format("2006-01-02T15:04:05Z07:00"))

	_, err = r.Receive(webhook.Request{Header: h, Body: body + " "}, keys)
	fmt.Println(err)
	// Output:
	// github push acme/web refs/heads/main 3f2a9c1 dana-ops 2026-11-27T10:40:00Z
	// webhook: unauthorized
}
