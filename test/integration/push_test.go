// Package integration proves stepship's paths end to end on one machine: the
// built bootstraps under the Lambda runtime emulator, the AWS emulator, and the
// local Step Functions service running statemachines/ — nothing faked.
package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/webhook/webhooktest"
	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/localenv/localenvtest"
	"github.com/stepship/stepship/test/world"
)

const pushedCommit = "3f2a9c1e5b7d4f60812a3b4c5d6e7f8091a2b3c4" // events/github-push.json "after"

// signedPush is events/github-push.json pushed now, signed as GitHub signs it.
func signedPush(t *testing.T, e *localenv.Env, delivery string) (map[string]string, []byte) {
	body := webhooktest.WithPushedAt(localenvtest.Fixture(t, e, "github-push.json"), time.Now())
	return webhooktest.GitHubHeaders("push", delivery, []byte(e.Spec.GitHubSecret), body), body
}

// A signed GitHub push deploys the pushed commit: webhook → deploy state machine
// (resolve from the catalog, CodeBuild build of the commit, the image's digest
// from ECR, then the deploy function) → the ECS service runs a new
// task-definition revision whose image is the commit's, by digest.
func TestSignedPushDeploysTheCommit(t *testing.T) {
	e := localenvtest.StartT(t)
	ctx := context.Background()
	headers, body := signedPush(t, e, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	// The emulator's CodeBuild runs no buildspec: put the image and the
	// migrations the build writes.
	digest, err := world.PushImage(ctx, e.AWS, e.Spec, pushedCommit)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.PushMigrations(ctx, e.AWS, e.Releases, pushedCommit, baseMigrations); err != nil {
		t.Fatal(err)
	}

	a, err := e.Post(ctx, headers, body)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != 202 || len(a.Executions) != 1 {
		t.Fatalf("answer %d %s, want 202 with one execution", a.Status, a.Body)
	}
	x := a.Executions[0]
	if x.Service != "web" || x.Environment != "production" || !strings.HasPrefix(x.ExecutionARN, "arn:aws:states:us-east-1:123456789012:execution:"+localenv.DeployStateMachine+":") {
		t.Fatalf("execution %+v", x)
	}

	out, err := e.WaitExecution(ctx, x.ExecutionARN, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("execution %s: %s %s\nwebhook logs:\n%s\ndeploy logs:\n%s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), e.Webhook.Logs(), e.Deploy.Logs())
	}
	hist, err := e.History(ctx, x.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := oneVerifyRound(localenv.StatePath(hist)), []string{"Resolve", "HasSource", "Acquire", "ReadLast", "OrderCheck", "BuildMode", "Build", "CheckImage",
		"SnapshotBeforeDeploy", "Register", "MigrationsMode", "Migrate", "UpdateService", "Verify", "VerifyDone", "BakeNeeded", "Bake", "CheckBake", "Succeeded",
		"RecordSucceeded", "Release", "Finish", "Deployed"}; !slices.Equal(got, want) {
		t.Errorf("path %v, want %v", got, want)
	}

	svc, err := world.Service(ctx, e.AWS, e.Spec)
	if err != nil {
		t.Fatal(err)
	}
	wantImage := "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@" + digest
	if svc.Revision != 2 || svc.Images["web"] != wantImage {
		t.Fatalf("service runs %s (revision %d) with image %q, want revision 2 with %q", svc.TaskDefinition, svc.Revision, svc.Images["web"], wantImage)
	}

	// The output is the outcome: what runs now, and what ran before.
	var result struct {
		Status                 string `json:"status"`
		Commit                 string `json:"commit"`
		ImageDigest            string `json:"imageDigest"`
		PreviousTaskDefinition string `json:"previousTaskDefinition"`
		TaskDefinition         string `json:"taskDefinition"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &result); err != nil {
		t.Fatalf("output %s: %v", aws.ToString(out.Output), err)
	}
	if result.Status != "SUCCEEDED" || result.Commit != pushedCommit || result.ImageDigest != digest ||
		result.PreviousTaskDefinition != e.Seeded.TaskDefinition || result.TaskDefinition != svc.TaskDefinition {
		t.Errorf("output %s", aws.ToString(out.Output))
	}

	// A redelivery of the same delivery, and a replay of the same signed body
	// under a new delivery id, start nothing new and name the same execution.
	replayed := withHeader(headers, "X-GitHub-Delivery", "0b1c2d3e-replayed-under-a-new-id")
	for name, h := range map[string]map[string]string{"redelivery": headers, "replay under a new delivery id": replayed} {
		again, err := e.Post(ctx, h, body)
		if err != nil {
			t.Fatal(err)
		}
		if again.Status != 202 || len(again.Executions) != 1 || again.Executions[0].ExecutionARN != x.ExecutionARN {
			t.Fatalf("%s answered %d %s, want 202 with %s", name, again.Status, again.Body, x.ExecutionARN)
		}
	}
	assertExecutions(t, e, 1)
	// Nothing registered twice: one ledger entry, one new revision.
	if l, err := world.Ledger(ctx, e.AWS, e.Releases, "web", "production"); err != nil || len(l) != 1 {
		t.Errorf("ledger %+v (%v), want the one deploy", l, err)
	}
	if svc, err := world.Service(ctx, e.AWS, e.Spec); err != nil || svc.Revision != 2 {
		t.Errorf("service on %+v (%v), want revision 2", svc, err)
	}

	// A captured push re-sent after the replay window starts nothing.
	old := webhooktest.WithPushedAt(localenvtest.Fixture(t, e, "github-push.json"), time.Now().Add(-2*time.Hour))
	late, err := e.Post(ctx, webhooktest.GitHubHeaders("push", "late-replay", []byte(e.Spec.GitHubSecret), old), old)
	if err != nil {
		t.Fatal(err)
	}
	if late.Status != 202 || len(late.Executions) != 0 || !strings.Contains(late.Reason, "older than the replay window") {
		t.Fatalf("an old push answered %d %s, want 202 refusing it", late.Status, late.Body)
	}
	assertExecutions(t, e, 1)
}

// A wrong or missing signature gets 401 and starts nothing.
func TestBadSignatureStartsNothing(t *testing.T) {
	e := localenvtest.StartT(t)
	ctx := context.Background()
	headers, body := signedPush(t, e, "bad-signature-delivery")
	tampered := withHeader(headers, "X-Hub-Signature-256", webhooktest.HexSignature([]byte("not the secret"), body))
	missing := withHeader(headers, "X-Hub-Signature-256", "")
	altered := []byte(strings.Replace(string(body), `"ref": "refs/heads/main"`, `"ref": "refs/heads/main" `, 1))
	for name, tc := range map[string]struct {
		headers map[string]string
		body    []byte
	}{
		"wrong secret":      {tampered, body},
		"no signature":      {missing, body},
		"body altered":      {headers, altered},
		"signature of SHA1": {withHeader(missing, "X-Hub-Signature", "sha1="+strings.Repeat("0", 40)), body},
		// The GitLab form of the same secret: the keyring has no gitlab key.
		"gitlab token": {webhooktest.GitLabTokenHeaders("Push Hook", "gl-1", e.Spec.GitHubSecret), localenvtest.Fixture(t, e, "gitlab-push.json")},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := e.Post(ctx, tc.headers, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != 401 {
				t.Fatalf("answer %d %s, want 401", a.Status, a.Body)
			}
			if strings.Contains(a.Body, "secret") || strings.Contains(a.Body, "sha256") {
				t.Errorf("the 401 says why: %s", a.Body)
			}
		})
	}
	assertExecutions(t, e, 0)
	svc, err := world.Service(ctx, e.AWS, e.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Revision != 1 {
		t.Fatalf("service moved to revision %d", svc.Revision)
	}
}

// withHeader returns a copy of h with the header k (in any case) set to v, or
// removed when v is empty.
func withHeader(h map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for hk, hv := range h {
		if !strings.EqualFold(hk, k) {
			out[hk] = hv
		}
	}
	if v != "" {
		out[k] = v
	}
	return out
}

func assertExecutions(t *testing.T, e *localenv.Env, want int) {
	t.Helper()
	out, err := e.SFN.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(e.DeployStateMachineARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Executions) != want {
		t.Fatalf("%d executions of the deploy state machine, want %d", len(out.Executions), want)
	}
}

// After a rotation, the previous secret verifies only for the overlap: a leaked
// secret, rotated out, stops working — measured on the built webhook function
// against the emulator's Secrets Manager version stages.
func TestRotatedOutSecretStopsVerifying(t *testing.T) {
	e := localenvtest.StartT(t)
	ctx := context.Background()
	const fresh = "a brand-new secret, after the leak"
	if _, err := secretsmanager.NewFromConfig(e.AWS).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(e.Seeded.SecretARN),
		SecretString: aws.String(`{"github": "` + fresh + `"}`),
	}); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	const overlap = 3 * time.Second
	fn, err := e.StartWebhook(ctx, map[string]string{config.EnvSecretOverlap: overlap.String()})
	if err != nil {
		t.Fatal(err)
	}
	ping := localenvtest.Fixture(t, e, "github-ping.json")
	post := func(secret string) int {
		t.Helper()
		a, err := localenv.PostTo(ctx, fn, webhooktest.GitHubHeaders("ping", "rotation-ping", []byte(secret), ping), ping)
		if err != nil {
			t.Fatal(err)
		}
		return a.Status
	}
	if got := post(e.Spec.GitHubSecret); got != 200 || time.Since(rotated) >= overlap {
		t.Fatalf("within the overlap the previous secret got %d (after %s), want 200", got, time.Since(rotated))
	}
	time.Sleep(time.Until(rotated.Add(overlap + time.Second)))
	if got := post(e.Spec.GitHubSecret); got != 401 {
		t.Errorf("after the overlap the previous secret got %d, want 401", got)
	}
	if got := post(fresh); got != 200 {
		t.Errorf("the current secret got %d, want 200", got)
	}
}
