package awsproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Rule is one scripted behaviour: which calls it matches and what it does
// to them. The zero value of every filter matches everything.
type Rule struct {
	// Service is the signing name ("ecs", "rds", "states", …; see Target).
	Service string
	// Action is the operation ("UpdateService"); empty matches every
	// action of the service.
	Action string
	// Region, when set, matches only calls signed for that region.
	Region string
	// App, when set, matches only calls whose SDK application id is App
	// (Request.App): one caller's calls apart from another's of the same
	// action.
	App string
	// When, when set, must also hold; it sees the request's parameters
	// (Request.Param). It runs under the proxy's lock: keep it quick and do
	// not call the Proxy from it.
	When func(*Request) bool
	// Calls selects which of the calls this rule matches it acts on,
	// counted from 1 over the calls that pass the filters above: Nth(2),
	// FromCall(1), FirstCalls(3), … The zero value is every call.
	Calls Window
	// Effect is what happens to a selected call.
	Effect Effect
}

// Window is a range of call numbers, counted per rule from 1.
type Window struct {
	From int // first call acted on; 0 means 1
	To   int // last call acted on; 0 means no end
}

// Nth is the n-th matching call only.
func Nth(n int) Window { return Window{From: n, To: n} }

// FromCall is the n-th matching call and every one after it. FromCall(1)
// is every call, so that the SDK's retries are answered the same way and it
// gives up.
func FromCall(n int) Window { return Window{From: n} }

// FirstCalls is the first k matching calls (k ≥ 1).
func FirstCalls(k int) Window { return Window{From: 1, To: k} }

// CallRange is calls from to to, both included.
func CallRange(from, to int) Window { return Window{From: from, To: to} }

func (w Window) contains(n int) bool {
	from := max(w.From, 1)
	return n >= from && (w.To == 0 || n <= w.To)
}

func (w Window) String() string {
	switch {
	case w.From <= 1 && w.To == 0:
		return "every call"
	case w.To == 0:
		return fmt.Sprintf("calls %d…", w.From)
	case max(w.From, 1) == w.To:
		return fmt.Sprintf("call %d", w.To)
	default:
		return fmt.Sprintf("calls %d–%d", max(w.From, 1), w.To)
	}
}

type effectKind int

const (
	kindNone effectKind = iota
	kindError
	kindDrop
	kindDelay
	kindRespond
	kindAnswer
)

// Effect is what a rule does to a call. Throttle, ServerError,
// ServiceUnavailable, Error, Drop and Answer answer in place of the emulator
// (the call never reaches it); Delay and Respond let it through. When several
// rules select one call, every Delay and Respond applies (in the order the
// rules were added) and the first answering effect wins; an Answer only when
// no other answering effect selects the call, so that faults can still be
// injected in front of a script that answers.
type Effect struct {
	kind    effectKind
	err     func(Target) apiError
	delay   time.Duration
	respond RespondFunc
	answer  AnswerFunc
	name    string
}

// String names the effect for the call log.
func (e Effect) String() string { return e.name }

// RespondFunc rewrites the emulator's real answer to a call. It may change
// resp's Status, Header and Body (the Content-Length is set afterwards). An
// error answers the call with an InternalFailure and is kept in
// Proxy.Errors, so that a broken script fails the test.
type RespondFunc func(req *Request, resp *Response) error

// AnswerFunc answers a call in place of the emulator: what the emulator
// does not implement at all. Its Response is sent as it is (the
// Content-Length is set afterwards). An error answers the call with an
// InternalFailure and is kept in Proxy.Errors, so that a broken script fails
// the test.
type AnswerFunc func(req *Request) (*Response, error)

// Response is the emulator's answer, read whole (up to the proxy's response
// limit) for a RespondFunc.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Throttle answers the service's own throttling error: ThrottlingException
// (HTTP 400) for JSON services such as ECS; Throttling (HTTP 400,
// <ErrorResponse> XML) for query services such as RDS; RequestLimitExceeded
// for EC2, TooManyRequestsException (429) for Lambda, SlowDown (503) for S3.
// The SDK's retryer retries all of them.
func Throttle() Effect { return Effect{kind: kindError, err: throttleError, name: "throttle"} }

// ServerError answers HTTP 500 with the service's internal error code
// (ECS and ECR ServerException, Secrets Manager InternalServiceError,
// DynamoDB InternalServerError, Lambda ServiceException, else
// InternalFailure). The SDK's retryer retries it.
func ServerError() Effect { return Effect{kind: kindError, err: serverError, name: "5xx"} }

// ServiceUnavailable answers HTTP 503 ServiceUnavailable (retried by the
// SDK).
func ServiceUnavailable() Effect {
	return Effect{kind: kindError, err: unavailableError, name: "503"}
}

// Error answers any named error, e.g. Error("SnapshotQuotaExceeded", "…",
// 400) for RDS or Error("ServiceNotFoundException", "…", 400) for ECS. Use
// the code as it travels on the wire (the SDK's ErrorCode(): RDS's
// DBSnapshotNotFoundFault type travels as "DBSnapshotNotFound").
func Error(code, message string, status int) Effect {
	e := apiError{Code: code, Message: message, Status: status}
	return Effect{kind: kindError, err: func(Target) apiError { return e }, name: "error " + code}
}

// Delay holds the call for d and then forwards it to the emulator, even if
// the client has given up meanwhile: past a client timeout, the caller sees
// a timeout while the call still takes effect, as a slow AWS call can.
func Delay(d time.Duration) Effect {
	return Effect{kind: kindDelay, delay: d, name: "delay " + d.String()}
}

// Drop holds the call for d (or until the client gives up) and then closes
// the connection without an answer; the call never reaches the emulator.
func Drop(d time.Duration) Effect {
	return Effect{kind: kindDrop, delay: d, name: "drop after " + d.String()}
}

// Respond forwards the call and lets f rewrite the emulator's answer.
func Respond(f RespondFunc) Effect { return Effect{kind: kindRespond, respond: f, name: "respond"} }

// Answer answers the call with f's Response; the call never reaches the
// emulator (CloudWatchScript answers DescribeAlarmHistory, which moto does
// not implement, this way).
func Answer(f AnswerFunc) Effect { return Effect{kind: kindAnswer, answer: f, name: "answer"} }

// Request is one call in flight, as rules and RespondFuncs see it.
type Request struct {
	Target
	// App is the caller's SDK application id, the app/NAME part of the
	// User-Agent (aws.Config.AppID, AWS_SDK_UA_APP_ID); empty when it
	// names none.
	App string
	// N is the call's number among the calls to its Target (from 1).
	N      int
	Method string
	Path   string
	Header http.Header
	// Body is the request body (decompressed when it was sent gzip-encoded);
	// nil when it was larger than the proxy's body limit (then Param finds
	// nothing).
	Body []byte

	once   sync.Once
	params map[string]string
}

// Param returns a request parameter: a form field of a query-protocol call
// ("DBSnapshotIdentifier") or a top-level string field of a JSON call
// ("cluster", "service"). It is empty when absent.
func (r *Request) Param(name string) string {
	r.once.Do(r.parseParams)
	return r.params[name]
}

func (r *Request) parseParams() {
	r.params = map[string]string{}
	switch r.Protocol {
	case ProtocolQuery, ProtocolEC2:
		form, _ := url.ParseQuery(string(r.Body))
		for k, v := range form {
			r.params[k] = v[0]
		}
	case ProtocolJSON:
		var m map[string]json.RawMessage
		if json.Unmarshal(r.Body, &m) != nil {
			return
		}
		for k, raw := range m {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				r.params[k] = s
			}
		}
	}
}

// installed is a rule added to a proxy, with its counters.
type installed struct {
	Rule
	matched, fired int
	removed        bool
}

func (r *installed) matches(req *Request) bool {
	return (r.Service == "" || r.Service == req.Service) &&
		(r.Action == "" || r.Action == req.Action) &&
		(r.Region == "" || r.Region == req.Region) &&
		(r.App == "" || r.App == req.App) &&
		(r.When == nil || r.When(req))
}

// Handle is a rule added to a Proxy.
type Handle struct {
	p *Proxy
	r *installed
}

// Remove takes the rule out; calls after it are not matched by it.
func (h *Handle) Remove() {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	h.r.removed = true
	for i, r := range h.p.rules {
		if r == h.r {
			h.p.rules = append(h.p.rules[:i:i], h.p.rules[i+1:]...)
			break
		}
	}
}

// Matched is how many calls passed the rule's filters.
func (h *Handle) Matched() int {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.r.matched
}

// Fired is how many calls the rule acted on.
func (h *Handle) Fired() int {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.r.fired
}
