package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/webhook"
)

// SecretSource returns the webhook secrets to accept: the current one first,
// then, during a rotation, the previous one. Implementations cache.
type SecretSource interface {
	Secrets(ctx context.Context) ([][]byte, error)
}

// ExecutionStarter starts a deploy execution (the Step Functions client).
type ExecutionStarter interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

var _ ExecutionStarter = (*sfn.Client)(nil)

// DefaultTimeout bounds the AWS calls of one request: GitHub waits 10 s for
// an answer, and an answer after that counts as a failed delivery.
const DefaultTimeout = 8 * time.Second

// Handler is the webhook intake: it authenticates a git host's delivery,
// finds the services the push deploys in the catalog and starts one deploy
// execution per service and environment.
type Handler struct {
	catalog         *catalog.Catalog
	secrets         SecretSource
	starter         ExecutionStarter
	stateMachineARN string
	executionPrefix string // stateMachineARN with ":stateMachine:" turned into ":execution:", plus ":"
	receiver        *webhook.Receiver
	receiverOpts    []webhook.Option
	timeout         time.Duration
	log             *slog.Logger
}

// Option configures a Handler.
type Option func(*Handler)

// WithMaxBodyBytes sets the largest body accepted (default
// webhook.DefaultMaxBodyBytes, 4 MiB); larger ones get 413.
func WithMaxBodyBytes(n int) Option {
	return func(h *Handler) { h.receiverOpts = append(h.receiverOpts, webhook.WithMaxBodyBytes(n)) }
}

// WithReceiverOptions passes options to the webhook receiver (clock,
// timestamp tolerance).
func WithReceiverOptions(opts ...webhook.Option) Option {
	return func(h *Handler) { h.receiverOpts = append(h.receiverOpts, opts...) }
}

// WithTimeout bounds the AWS calls of one request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.timeout = d
		}
	}
}

// NewHandler returns the webhook handler. stateMachineARN is the deploy state
// machine's ARN; the catalog must be loaded (catalog.Load validates it).
func NewHandler(cat *catalog.Catalog, secrets SecretSource, starter ExecutionStarter, stateMachineARN string, log *slog.Logger, opts ...Option) (*Handler, error) {
	switch {
	case cat == nil:
		return nil, errors.New("webhook handler: catalog is required")
	case secrets == nil:
		return nil, errors.New("webhook handler: secret source is required")
	case starter == nil:
		return nil, errors.New("webhook handler: execution starter is required")
	case log == nil:
		return nil, errors.New("webhook handler: logger is required")
	}
	prefix, err := executionARNPrefix(stateMachineARN)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		catalog:         cat,
		secrets:         secrets,
		starter:         starter,
		stateMachineARN: stateMachineARN,
		executionPrefix: prefix,
		timeout:         DefaultTimeout,
		log:             log,
	}
	for _, o := range opts {
		o(h)
	}
	h.receiver = webhook.NewReceiver(h.receiverOpts...)
	return h, nil
}

// executionARNPrefix turns arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME
// into arn:PARTITION:states:REGION:ACCOUNT:execution:NAME: — an execution's
// ARN is that prefix and the execution's name.
func executionARNPrefix(stateMachineARN string) (string, error) {
	parts := strings.Split(stateMachineARN, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[6] == "" {
		return "", fmt.Errorf("webhook handler: %q is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)", stateMachineARN)
	}
	parts[5] = "execution"
	return strings.Join(parts, ":") + ":", nil
}

// Execution is one deploy started (or found started) for a delivery.
type Execution struct {
	Service      string `json:"service"`
	Environment  string `json:"environment"`
	ExecutionARN string `json:"executionArn"`
}

// Answer is the JSON body of 200 and 202 answers.
type Answer struct {
	// Executions lists the deploys of this delivery; the same on every
	// redelivery. Empty when nothing is deployed.
	Executions []Execution `json:"executions"`
	// Reason says why nothing (or not everything) was deployed.
	Reason string `json:"reason,omitempty"`
}

type errorAnswer struct {
	Error string `json:"error"`
}

// Handle answers one request of the Lambda Function URL. It never returns an
// error: every outcome is an HTTP answer (see docs/webhook.md).
func (h *Handler) Handle(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	start := time.Now()
	log := h.log.With(slog.String("requestId", req.RequestContext.RequestID))
	resp, attrs := h.handle(ctx, req, log)
	attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.Duration("duration", time.Since(start)))
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	}
	log.LogAttrs(ctx, level, "webhook answered", attrs...)
	return resp, nil
}

func (h *Handler) handle(ctx context.Context, req events.LambdaFunctionURLRequest, log *slog.Logger) (events.LambdaFunctionURLResponse, []slog.Attr) {
	hdr := webhook.NewHeader(req.Headers)
	provider, detectErr := webhook.Detect(hdr)
	// Until the signature holds, the delivery id is only a claim; it is
	// logged to tie the line to the host's delivery log, never trusted.
	attrs := []slog.Attr{slog.String("provider", string(provider)), slog.String("deliveryId", webhook.DeliveryID(provider, hdr))}
	if req.RequestContext.HTTP.Method != http.MethodPost {
		r := respondError(http.StatusMethodNotAllowed, "method not allowed: POST only")
		r.Headers["allow"] = http.MethodPost
		return r, append(attrs, slog.String("method", req.RequestContext.HTTP.Method))
	}
	body, err := h.decodeBody(req)
	if err != nil {
		if errors.Is(err, webhook.ErrTooLarge) {
			return respondError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.receiver.MaxBodyBytes())), attrs
		}
		return respondError(http.StatusBadRequest, "malformed: body is not valid base64"), attrs
	}
	if detectErr != nil {
		return respondError(http.StatusUnauthorized, "unauthorized"), append(attrs, slog.String("reason", "no known provider headers"))
	}

	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	secrets, err := h.secrets.Secrets(actx)
	if err != nil {
		// The error names the secret and the failed call, never its value.
		return respondError(http.StatusServiceUnavailable, "temporarily unavailable: redeliver later"),
			append(attrs, slog.String("error", err.Error()))
	}
	if err := h.receiver.Verify(provider, hdr, body, secrets); err != nil {
		return respondError(http.StatusUnauthorized, "unauthorized"), append(attrs, slog.String("reason", "signature or token mismatch"))
	}
	evs, err := webhook.Parse(provider, hdr, body)
	if err != nil {
		var me *webhook.MalformedError
		reason := "malformed delivery"
		if errors.As(err, &me) {
			reason = me.Reason
		}
		return respondError(http.StatusBadRequest, "malformed: "+reason), append(attrs, slog.String("reason", reason))
	}
	if len(evs) > 0 {
		e := evs[0]
		attrs = append(attrs, slog.String("event", e.Name), slog.String("kind", string(e.Kind)),
			slog.String("repository", e.Repository), slog.String("ref", e.Ref), slog.String("commit", e.Commit))
	}
	return h.route(actx, evs, log, attrs)
}

// decodeBody returns the raw request body, decoded once from base64 when the
// Function URL says so, and bounded by the body limit.
func (h *Handler) decodeBody(req events.LambdaFunctionURLRequest) ([]byte, error) {
	max := h.receiver.MaxBodyBytes()
	if !req.IsBase64Encoded {
		if len(req.Body) > max {
			return nil, webhook.ErrTooLarge
		}
		return []byte(req.Body), nil
	}
	if base64.StdEncoding.DecodedLen(len(req.Body)) > max+2 {
		return nil, webhook.ErrTooLarge
	}
	body, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, err
	}
	if len(body) > max {
		return nil, webhook.ErrTooLarge
	}
	return body, nil
}

// route decides what each event deploys and starts the executions.
func (h *Handler) route(ctx context.Context, evs []webhook.Event, log *slog.Logger, attrs []slog.Attr) (events.LambdaFunctionURLResponse, []slog.Attr) {
	ans := Answer{Executions: []Execution{}}
	var reasons []string
	status := http.StatusAccepted
	started := make(map[string]bool)
	for _, e := range evs {
		elog := log.With(slog.String("deliveryId", e.DeliveryID), slog.String("provider", string(e.Provider)))
		reason, targets := h.decide(e)
		if e.Kind == webhook.KindPing && len(evs) == 1 {
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
			x, err := h.start(ctx, e, t, elog)
			var ie *internalError
			switch {
			case errors.As(err, &ie):
				return respondError(http.StatusInternalServerError, "internal error"), append(attrs, slog.String("error", err.Error()))
			case err != nil:
				return respondError(http.StatusServiceUnavailable, "temporarily unavailable: redeliver later"),
					append(attrs, slog.String("error", err.Error()))
			}
			ans.Executions = append(ans.Executions, x)
		}
	}
	if len(evs) == 0 {
		reasons = append(reasons, "no ref changes; nothing to deploy")
	}
	ans.Reason = strings.Join(reasons, "; ")
	attrs = append(attrs, slog.Int("executions", len(ans.Executions)))
	if ans.Reason != "" {
		attrs = append(attrs, slog.String("reason", ans.Reason))
	}
	return respondJSON(status, ans), attrs
}

// decide returns why the event deploys nothing, or the deploys it causes.
func (h *Handler) decide(e webhook.Event) (string, []catalog.Target) {
	switch e.Kind {
	case webhook.KindPing:
		return "ping: webhook reachable and signature valid", nil
	case webhook.KindBranchDelete:
		return fmt.Sprintf("branch %s deleted; nothing to deploy", strings.TrimPrefix(e.Ref, "refs/heads/")), nil
	case webhook.KindTagDelete:
		return fmt.Sprintf("tag %s deleted; nothing to deploy", strings.TrimPrefix(e.Ref, "refs/tags/")), nil
	case webhook.KindPush, webhook.KindTagPush:
	case webhook.KindOther:
		if e.Ref != "" { // a push to refs/notes/…, refs/pull/…
			return fmt.Sprintf("ref %s is neither a branch nor a tag; nothing to deploy", e.Ref), nil
		}
		fallthrough
	default:
		return fmt.Sprintf("%s event %q is not a push; nothing to deploy", e.Provider, e.Name), nil
	}
	if webhook.IsZeroCommit(e.Commit) {
		return fmt.Sprintf("%s: after SHA is zero; nothing to deploy", e.Ref), nil
	}
	if !h.catalog.HasRepository(string(e.Provider), e.Repository) {
		return fmt.Sprintf("repository %s %s is not in the catalog; nothing to deploy", e.Provider, e.Repository), nil
	}
	targets := h.catalog.Match(string(e.Provider), e.Repository, e.Ref)
	if len(targets) == 0 {
		if e.Kind == webhook.KindTagPush {
			return fmt.Sprintf("tag %s matches no tag pattern of %s; nothing to deploy", strings.TrimPrefix(e.Ref, "refs/tags/"), e.Repository), nil
		}
		return fmt.Sprintf("branch %s matches no branch pattern of %s; nothing to deploy", strings.TrimPrefix(e.Ref, "refs/heads/"), e.Repository), nil
	}
	return "", targets
}

// DeployRequest returns the deploy state machine's input for an event and a
// target. It depends on nothing but them, so a redelivery sends the same
// bytes (StartExecution's idempotency needs the same name and input).
func DeployRequest(e webhook.Event, t catalog.Target) payload.DeployRequest {
	return payload.DeployRequest{
		Service:     t.Service,
		Environment: t.Environment,
		Cluster:     t.Cluster,
		ECSService:  t.ECSService,
		Container:   t.Container,
		Image:       t.ImageFor(e.Commit),
		Build: payload.Build{
			Mode:       t.Build.Mode,
			Project:    t.Build.Project,
			Repository: ecrRepositoryName(t.Image),
		},
		Source: payload.Source{
			Provider:   string(e.Provider),
			Repository: e.Repository,
			Ref:        e.Ref,
			Commit:     e.Commit,
			DeliveryID: e.DeliveryID,
			Pusher:     e.Pusher,
		},
	}
}

// ecrRepositoryName is the repository part of an image repository:
// "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web" → "team/web".
func ecrRepositoryName(image string) string {
	_, name, _ := strings.Cut(image, "/")
	return name
}

// ExecutionName is the deterministic name of the execution that deploys a
// delivery's push of one service to one environment: readable service and
// environment, then 32 hex digits of SHA-256 over provider, delivery id,
// service and environment. At most 80 characters of [a-z0-9-], valid for
// Step Functions (and for CloudWatch Logs).
func ExecutionName(provider webhook.Provider, deliveryID, service, environment string) string {
	sum := sha256.Sum256([]byte(string(provider) + "\x00" + deliveryID + "\x00" + service + "\x00" + environment))
	const hashLen = 32
	prefix := service + "-" + environment
	if max := 80 - 1 - hashLen; len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], "-")
	}
	return prefix + "-" + hex.EncodeToString(sum[:])[:hashLen]
}

func (h *Handler) start(ctx context.Context, e webhook.Event, t catalog.Target, log *slog.Logger) (Execution, error) {
	req := DeployRequest(e, t)
	if err := req.Validate(); err != nil { // the catalog's validation should make this impossible
		return Execution{}, &internalError{fmt.Errorf("failed to build the deploy request of %s/%s: %w", t.Service, t.Environment, err)}
	}
	input, err := json.Marshal(req)
	if err != nil {
		return Execution{}, &internalError{fmt.Errorf("failed to encode the deploy request of %s/%s: %w", t.Service, t.Environment, err)}
	}
	name := ExecutionName(e.Provider, e.DeliveryID, t.Service, t.Environment)
	x := Execution{Service: t.Service, Environment: t.Environment}
	out, err := h.starter.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(h.stateMachineARN),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	switch {
	case errors.As(err, &exists):
		// A redelivery of a delivery whose execution has closed: same name,
		// same execution.
		x.ExecutionARN = h.executionPrefix + name
		log.Info("deploy already started by an earlier delivery", slog.String("service", t.Service),
			slog.String("environment", t.Environment), slog.String("executionArn", x.ExecutionARN))
	case err != nil:
		return Execution{}, fmt.Errorf("failed to start the deploy of %s/%s (execution %s): %w", t.Service, t.Environment, name, err)
	default:
		x.ExecutionARN = aws.ToString(out.ExecutionArn)
		log.Info("deploy started", slog.String("service", t.Service), slog.String("environment", t.Environment),
			slog.String("image", req.Image), slog.String("executionArn", x.ExecutionARN))
	}
	return x, nil
}

// internalError is a failure of ours, not of AWS: answered 500.
type internalError struct{ err error }

func (e *internalError) Error() string { return e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

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
	return respondJSON(status, errorAnswer{Error: msg})
}
