// Package intake is stepship's webhook policy: from a git host's raw request
// to the deploy executions it starts. It authenticates the delivery
// (shared/webhook), refuses replays and pushes the catalog does not deploy,
// and starts one deploy execution per service and environment, named from
// the signed body so that the same push never starts twice.
//
// The webhook function is a thin main over Intake.Handle; the local stack and
// the demo read its Answer.
package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/git"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/webhook"
	"github.com/stepship/stepship/statemachines"
)

// KeySource returns the webhook keys to accept (the current secret's and,
// within the rotation overlap, the previous one's). Implementations cache.
type KeySource interface {
	Keyring(ctx context.Context) (webhook.Keyring, error)
}

// The Step Functions calls the intake makes.
type (
	executionStarter interface {
		StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	}
	executionDescriber interface {
		DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	}
	// Starter starts deploy executions and, when a name is taken, reads the
	// execution that holds it (the Step Functions client).
	Starter interface {
		executionStarter
		executionDescriber
	}
)

var _ Starter = (*sfn.Client)(nil)

// Defaults.
const (
	// DefaultTimeout bounds the AWS calls of one request: GitHub waits 10 s
	// for an answer, and an answer after that counts as a failed delivery.
	DefaultTimeout = 8 * time.Second
	// DefaultReplayWindow is how old a push's signed time may be. A captured
	// delivery re-sent later than this starts nothing.
	DefaultReplayWindow = time.Hour
)

// Intake answers webhook requests. Build one with New; safe for concurrent use.
type Intake struct {
	catalog         *catalog.Catalog
	keys            KeySource
	starter         Starter
	stateMachineARN string
	receiver        *webhook.Receiver
	receiverOpts    []webhook.Option
	timeout         time.Duration
	replayWindow    time.Duration
	now             func() time.Time
	log             *slog.Logger
}

// Option configures an Intake.
type Option func(*Intake)

// WithMaxBodyBytes sets the largest body accepted (default
// webhook.DefaultMaxBodyBytes, 4 MiB); larger ones get 413.
func WithMaxBodyBytes(n int) Option {
	return func(h *Intake) { h.receiverOpts = append(h.receiverOpts, webhook.WithMaxBodyBytes(n)) }
}

// WithReceiverOptions passes options to the webhook receiver (timestamp
// tolerance).
func WithReceiverOptions(opts ...webhook.Option) Option {
	return func(h *Intake) { h.receiverOpts = append(h.receiverOpts, opts...) }
}

// WithTimeout bounds the AWS calls of one request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(h *Intake) {
		if d > 0 {
			h.timeout = d
		}
	}
}

// WithReplayWindow sets how old a signed push time may be (default
// DefaultReplayWindow).
func WithReplayWindow(d time.Duration) Option {
	return func(h *Intake) {
		if d > 0 {
			h.replayWindow = d
		}
	}
}

// WithClock sets the clock for the replay window and signed timestamps.
func WithClock(now func() time.Time) Option {
	return func(h *Intake) {
		h.now = now
		h.receiverOpts = append(h.receiverOpts, webhook.WithClock(now))
	}
}

// New returns the intake. stateMachineARN is the deploy state machine's ARN;
// the catalog must be loaded (catalog.Load validates it).
func New(cat *catalog.Catalog, keys KeySource, starter Starter, stateMachineARN string, log *slog.Logger, opts ...Option) (*Intake, error) {
	if cat == nil {
		return nil, errors.New("intake: catalog is required")
	}
	if keys == nil {
		return nil, errors.New("intake: key source is required")
	}
	if starter == nil {
		return nil, errors.New("intake: execution starter is required")
	}
	if log == nil {
		return nil, errors.New("intake: logger is required")
	}
	if _, err := statemachines.ExecutionARN(stateMachineARN, "x"); err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	h := &Intake{
		catalog:         cat,
		keys:            keys,
		starter:         starter,
		stateMachineARN: stateMachineARN,
		timeout:         DefaultTimeout,
		replayWindow:    DefaultReplayWindow,
		now:             time.Now,
		log:             log,
	}
	for _, o := range opts {
		o(h)
	}
	h.receiver = webhook.NewReceiver(h.receiverOpts...)
	return h, nil
}

// Execution is one deploy started (or found started) for a push.
type Execution struct {
	Service      string `json:"service"`
	Environment  string `json:"environment"`
	ExecutionARN string `json:"executionArn"`
}

// Answer is the JSON body of 200, 202 and 409 answers.
type Answer struct {
	// Executions lists the deploys of this push; the same on every
	// redelivery. Empty when nothing is deployed.
	Executions []Execution `json:"executions"`
	// Reason says why nothing (or not everything) was deployed.
	Reason string `json:"reason,omitempty"`
}

// ErrorAnswer is the JSON body of every other answer.
type ErrorAnswer struct {
	Error string `json:"error"`
}

// Handle answers one request of the Lambda Function URL. It never returns an
// error: every outcome is an HTTP answer (see docs/webhook.md).
func (h *Intake) Handle(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	start := h.now()
	log := h.log.With(slog.String("requestId", req.RequestContext.RequestID))
	resp, attrs := h.handle(ctx, req, log)
	attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.Duration("duration", h.now().Sub(start)))
	level := slog.LevelInfo
	if resp.StatusCode/100 == 5 { // 5xx: our failure, not the sender's
		level = slog.LevelError
	}
	log.LogAttrs(ctx, level, "webhook answered", attrs...)
	return resp, nil
}

func (h *Intake) handle(ctx context.Context, req events.LambdaFunctionURLRequest, log *slog.Logger) (events.LambdaFunctionURLResponse, []slog.Attr) {
	hdr := webhook.NewHeader(req.Headers)
	// Until the signature holds, the delivery id is only a claim; it is
	// logged (on every answer, refusals included) to tie the line to the
	// host's delivery log, never trusted.
	claimed, _ := webhook.Detect(hdr)
	attrs := []slog.Attr{slog.String("provider", string(claimed)), slog.String("deliveryId", webhook.DeliveryID(claimed, hdr))}
	if req.RequestContext.HTTP.Method != http.MethodPost {
		r := respondError(http.StatusMethodNotAllowed, "method not allowed: POST only")
		r.Headers["allow"] = http.MethodPost
		return r, append(attrs, slog.String("method", req.RequestContext.HTTP.Method))
	}
	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	keys, err := h.keys.Keyring(actx)
	if err != nil {
		// The error names the secret and the failed call, never its value.
		return respondError(http.StatusServiceUnavailable, "temporarily unavailable: redeliver later"),
			append(attrs, slog.String("error", err.Error()))
	}
	d, err := h.receiver.Receive(webhook.Request{Header: hdr, Body: req.Body, Base64: req.IsBase64Encoded}, keys)
	if err != nil {
		var me *webhook.MalformedError
		switch {
		case errors.Is(err, webhook.ErrTooLarge):
			return respondError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.receiver.MaxBodyBytes())), attrs
		case errors.Is(err, webhook.ErrBadEncoding):
			return respondError(http.StatusBadRequest, "malformed: body is not valid base64"), attrs
		case errors.Is(err, webhook.ErrUnauthorized):
			return respondError(http.StatusUnauthorized, "unauthorized"), append(attrs, slog.String("reason", "no known provider, or signature, token or repository key mismatch"))
		case errors.As(err, &me):
			return respondError(http.StatusBadRequest, "malformed: "+me.Reason), append(attrs, slog.String("reason", me.Reason))
		default:
			return respondError(http.StatusBadRequest, "malformed delivery"), append(attrs, slog.String("reason", err.Error()))
		}
	}
	if len(d.Events) > 0 {
		e := d.Events[0]
		attrs = append(attrs, slog.String("event", e.Name), slog.String("kind", string(e.Kind)),
			slog.String("repository", e.Repository), slog.String("ref", e.Ref), slog.String("commit", e.Commit))
	}
	return h.route(actx, d, log, attrs)
}

// route decides what each event deploys and starts the executions.
func (h *Intake) route(ctx context.Context, d webhook.Delivery, log *slog.Logger, attrs []slog.Attr) (events.LambdaFunctionURLResponse, []slog.Attr) {
	ans := Answer{Executions: []Execution{}}
	var reasons []string
	status := http.StatusAccepted
	conflict := false
	started := make(map[string]bool)
	log = log.With(slog.String("deliveryId", d.DeliveryID), slog.String("provider", string(d.Provider)))
	for _, e := range d.Events {
		reason, targets := h.decide(e, d.SignedAt)
		if e.Kind == webhook.KindPing && len(d.Events) == 1 {
			status = http.StatusOK
		}
		if reason != "" {
			reasons = append(reasons, reason)
			continue
		}
		for _, t := range targets {
			key := t.Service + "/" + t.Environment
			if started[key] {
				reasons = append(reasons, fmt.Sprintf("%s already deployed by an earlier ref of this delivery", key))
				continue
			}
			started[key] = true
			x, err := h.start(ctx, d.Digest, e, t, log)
			if err != nil {
				var ce *conflictError
				if !errors.As(err, &ce) {
					return respondError(http.StatusServiceUnavailable, "temporarily unavailable: redeliver later"),
						append(attrs, slog.String("error", err.Error()))
				}
				conflict = true
				reasons = append(reasons, ce.Error())
				continue
			}
			ans.Executions = append(ans.Executions, x)
		}
	}
	if len(d.Events) == 0 {
		reasons = append(reasons, "no ref changes; nothing to deploy")
	}
	if conflict {
		status = http.StatusConflict
	}
	ans.Reason = strings.Join(reasons, "; ")
	attrs = append(attrs, slog.Int("executions", len(ans.Executions)))
	if ans.Reason != "" {
		attrs = append(attrs, slog.String("reason", ans.Reason))
	}
	return respondJSON(status, ans), attrs
}

// decide returns why the event deploys nothing, or the deploys it causes.
func (h *Intake) decide(e webhook.Event, signedAt time.Time) (string, []catalog.Target) {
	switch e.Kind {
	case webhook.KindPing:
		return "ping: webhook reachable and signature valid", nil
	case webhook.KindBranchDelete:
		return fmt.Sprintf("branch %s deleted; nothing to deploy", git.ShortRef(e.Ref)), nil
	case webhook.KindTagDelete:
		return fmt.Sprintf("tag %s deleted; nothing to deploy", git.ShortRef(e.Ref)), nil
	case webhook.KindPush, webhook.KindTagPush:
	case webhook.KindOther:
		if e.Ref != "" { // a push to refs/notes/…, refs/pull/…
			return fmt.Sprintf("ref %s is neither a branch nor a tag; nothing to deploy", e.Ref), nil
		}
		fallthrough
	default:
		return fmt.Sprintf("%s event %q is not a push; nothing to deploy", e.Provider, e.Name), nil
	}
	if git.IsZeroCommit(e.Commit) {
		return fmt.Sprintf("%s: after SHA is zero; nothing to deploy", e.Ref), nil
	}
	if reason := h.replayed(e, signedAt); reason != "" {
		return reason, nil
	}
	if !h.catalog.HasRepository(e.Provider, e.Repository) {
		return fmt.Sprintf("repository %s %s is not in the catalog; nothing to deploy", e.Provider, e.Repository), nil
	}
	targets := h.catalog.Match(e.Provider, e.Repository, e.Ref)
	if len(targets) == 0 {
		if e.Kind == webhook.KindTagPush {
			return fmt.Sprintf("tag %s matches no tag pattern of %s; nothing to deploy", git.ShortRef(e.Ref), e.Repository), nil
		}
		return fmt.Sprintf("branch %s matches no branch pattern of %s; nothing to deploy", git.ShortRef(e.Ref), e.Repository), nil
	}
	return "", targets
}

// replayed says why a push is refused as a possible replay, or "": its signed
// time (the body's push time, else the delivery's signed timestamp) must be
// within the replay window, and not in the future; a GitHub push, whose body
// always carries repository.pushed_at, must have one.
func (h *Intake) replayed(e webhook.Event, signedAt time.Time) string {
	at := e.PushedAt
	if at.IsZero() {
		at = signedAt
	}
	now := h.now()
	if e.Provider == git.GitHub && e.PushedAt.IsZero() {
		return fmt.Sprintf("push of %s carries no signed push time (repository.pushed_at); nothing to deploy", git.ShortRef(e.Ref))
	}
	if at.IsZero() {
		return "" // a host that signs no time: see docs/webhook.md, threat model
	}
	if now.Sub(at) > h.replayWindow {
		return fmt.Sprintf("push of %s at %s is older than the replay window (%s): a re-sent delivery deploys nothing; push again or start the deploy from the console",
			git.ShortRef(e.Ref), at.UTC().Format(time.RFC3339), h.replayWindow)
	}
	if at.Sub(now) > webhook.DefaultTimestampTolerance {
		return fmt.Sprintf("push of %s at %s is in the future; nothing to deploy (check the host's clock)", git.ShortRef(e.Ref), at.UTC().Format(time.RFC3339))
	}
	return ""
}

// DeployRequest returns the deploy state machine's input for a push and a
// target. It depends only on the signed body and the catalog, so a re-send of
// the same push, under any delivery id, sends the same bytes.
func DeployRequest(e webhook.Event, t catalog.Target) payload.DeployRequest {
	src := &payload.Source{Provider: e.Provider, Repository: e.Repository, Ref: e.Ref, Pusher: e.Pusher}
	if !e.PushedAt.IsZero() {
		at := e.PushedAt.UTC()
		src.PushedAt = &at
	}
	return payload.DeployRequest{Service: t.Service, Environment: t.Environment, Commit: e.Commit, Source: src}
}

// ExecutionName is the deterministic name of the execution that deploys a
// push to one service and environment: readable service and environment,
// then 32 hex digits of SHA-256 over the signed body's digest, the ref, the
// service and the environment (a Bitbucket delivery can push several refs).
// The delivery id, which no host signs, is not part of it. At most 80
// characters of [a-z0-9-], valid for Step Functions and CloudWatch Logs.
func ExecutionName(bodyDigest [sha256.Size]byte, ref, service, environment string) string {
	m := sha256.New()
	m.Write(bodyDigest[:])
	for _, s := range []string{ref, service, environment} {
		m.Write([]byte{0})
		m.Write([]byte(s))
	}
	const hashLen = 32
	prefix := service + "-" + environment
	prefix = strings.TrimRight(prefix[:min(len(prefix), 80-1-hashLen)], "-")
	return prefix + "-" + hex.EncodeToString(m.Sum(nil))[:hashLen]
}

// conflictError: the execution name of this push is taken by an execution
// with another input (the catalog changed since, or a hash collision).
type conflictError struct{ service, environment, arn string }

func (e *conflictError) Error() string {
	return fmt.Sprintf("%s/%s: conflict: execution %s already exists with a different input; not started", e.service, e.environment, e.arn)
}

func (h *Intake) start(ctx context.Context, digest [sha256.Size]byte, e webhook.Event, t catalog.Target, log *slog.Logger) (Execution, error) {
	req := DeployRequest(e, t)
	input, err := json.Marshal(req)
	if err != nil {
		return Execution{}, fmt.Errorf("failed to encode the deploy request of %s/%s: %w", t.Service, t.Environment, err)
	}
	name := ExecutionName(digest, e.Ref, t.Service, t.Environment)
	arn, _ := statemachines.ExecutionARN(h.stateMachineARN, name) // checked in New
	x := Execution{Service: t.Service, Environment: t.Environment, ExecutionARN: arn}
	log = log.With(slog.String("service", t.Service), slog.String("environment", t.Environment), slog.String("executionArn", arn))
	out, err := h.starter.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(h.stateMachineARN),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		// The name is taken: by this very push (a re-send after the
		// execution closed), or by another input.
		same, derr := h.sameInput(ctx, arn, input)
		if derr != nil {
			return Execution{}, derr
		}
		if !same {
			log.Warn("execution name taken by a different input")
			return Execution{}, &conflictError{service: t.Service, environment: t.Environment, arn: arn}
		}
		log.Info("deploy already started by an earlier delivery of this push")
		return x, nil
	}
	if err != nil {
		return Execution{}, fmt.Errorf("failed to start the deploy of %s/%s (execution %s): %w", t.Service, t.Environment, name, err)
	}
	x.ExecutionARN = aws.ToString(out.ExecutionArn)
	log.Info("deploy started", slog.String("commit", req.Commit))
	return x, nil
}

// sameInput reports whether the execution arn was started with input.
func (h *Intake) sameInput(ctx context.Context, arn string, input []byte) (bool, error) {
	out, err := h.starter.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return false, fmt.Errorf("failed to describe the existing execution %s: %w", arn, err)
	}
	return jsonEqual([]byte(aws.ToString(out.Input)), input), nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return string(ca) == string(cb)
}

func respondJSON(status int, v any) events.LambdaFunctionURLResponse {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for our types
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	return events.LambdaFunctionURLResponse{
		StatusCode: status,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(b),
	}
}

func respondError(status int, msg string) events.LambdaFunctionURLResponse {
	return respondJSON(status, ErrorAnswer{Error: msg})
}
