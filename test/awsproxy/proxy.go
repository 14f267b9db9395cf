package awsproxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Defaults of the options.
const (
	DefaultBodyLimit      = 8 << 20  // request bytes read for identification and rules
	DefaultResponseLimit  = 32 << 20 // response bytes a RespondFunc may be given
	DefaultLogLimit       = 10000    // calls kept by Calls
	DefaultForwardTimeout = 60 * time.Second
)

// maxErrors bounds Errors.
const maxErrors = 100

// Option configures Start.
type Option func(*options)

type options struct {
	bodyLimit, responseLimit, logLimit int
	forwardTimeout                     time.Duration
}

// WithBodyLimit sets how much of a request body is read for identification
// and rules; a larger body is streamed through unread (its query-protocol
// action and parameters are then unknown).
func WithBodyLimit(n int) Option { return func(o *options) { o.bodyLimit = n } }

// WithResponseLimit sets the largest answer a RespondFunc is given; a larger
// one is answered with an InternalFailure.
func WithResponseLimit(n int) Option { return func(o *options) { o.responseLimit = n } }

// WithLogLimit sets how many calls Calls keeps (the latest).
func WithLogLimit(n int) Option { return func(o *options) { o.logLimit = n } }

// WithForwardTimeout bounds each forwarded call to the emulator.
func WithForwardTimeout(d time.Duration) Option { return func(o *options) { o.forwardTimeout = d } }

// Call is one entry of the call log.
type Call struct {
	Seq int // order of arrival, from 1
	Target
	App      string    // the caller's SDK application id (Request.App)
	N        int       // number of the call among the calls to its Target
	Start    time.Time // when it arrived
	Duration time.Duration
	// Effects names what the rules did ("throttle", "delay 2s", "respond");
	// empty when the call went through untouched.
	Effects []string
	// Status is the HTTP status answered; 0 when the connection was dropped
	// or the client had gone.
	Status int
	// Err is what went wrong in the proxy (forwarding, a RespondFunc).
	Err error
}

// Proxy is a fault-injecting reverse proxy on 127.0.0.1 in front of an AWS
// emulator. Its methods are safe for concurrent use.
type Proxy struct {
	target *url.URL
	url    string
	opts   options
	srv    *http.Server
	client *http.Client
	served chan error

	ctx    context.Context // ends at Close: held calls are released
	cancel context.CancelFunc

	dynamoMu sync.Mutex // serializes DynamoDB calls (see ServeHTTP)

	mu     sync.Mutex
	rules  []*installed
	counts map[Target]int
	seq    int
	log    []Call // ring of at most opts.logLimit
	next   int    // where the next call goes in a full ring
	errs   []error
	closed bool
	// accounts caches the account of each access key (accountOf; made on
	// first use).
	accounts map[string]string
}

// Start listens on a free port of 127.0.0.1 and proxies to target, the
// emulator's base URL (which must be on the loopback address too). It runs
// until Close.
func Start(target string, opts ...Option) (*Proxy, error) {
	o := options{bodyLimit: DefaultBodyLimit, responseLimit: DefaultResponseLimit, logLimit: DefaultLogLimit, forwardTimeout: DefaultForwardTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.bodyLimit < 0 || o.responseLimit < 0 || o.logLimit < 1 || o.forwardTimeout <= 0 {
		return nil, fmt.Errorf("failed to start the AWS proxy: limits must be positive")
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("failed to start the AWS proxy: target %q: %w", target, err)
	}
	if u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("failed to start the AWS proxy: target %q is not an http URL on the loopback address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("failed to start the AWS proxy: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target: u,
		url:    "http://" + ln.Addr().String(),
		opts:   o,
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
			// The emulator's redirects go back to the client unchanged.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		served: make(chan error, 1),
		ctx:    ctx,
		cancel: cancel,
		counts: map[Target]int{},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { p.served <- p.srv.Serve(ln) }()
	return p, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the proxy's base URL, e.g. http://127.0.0.1:40123: use it where the
// emulator's endpoint would go (BaseEndpoint, AWS_ENDPOINT_URL).
func (p *Proxy) URL() string { return p.url }

// Config returns c with BaseEndpoint pointed at the proxy.
func (p *Proxy) Config(c aws.Config) aws.Config {
	c.BaseEndpoint = aws.String(p.url)
	return c
}

// Env returns a copy of env (for a child process, e.g. localsvc.Moto.Env)
// with AWS_ENDPOINT_URL pointed at the proxy.
func (p *Proxy) Env(env map[string]string) map[string]string {
	out := maps.Clone(env)
	if out == nil {
		out = map[string]string{}
	}
	out["AWS_ENDPOINT_URL"] = p.url
	return out
}

// Close stops the proxy: held calls are released, connections closed. It is
// safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, p.srv.Close())
	}
	if serveErr := <-p.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	p.client.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("failed to stop the AWS proxy: %w", err)
	}
	return nil
}

// Add adds a rule after the existing ones and returns its handle.
func (p *Proxy) Add(r Rule) *Handle {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := &installed{Rule: r}
	p.rules = append(p.rules, in)
	return &Handle{p: p, r: in}
}

// ClearRules removes every rule (the call log and counts stay).
func (p *Proxy) ClearRules() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		r.removed = true
	}
	p.rules = nil
}

// ResetCalls empties the call log, the per-target counts and Errors.
func (p *Proxy) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts, p.log, p.next, p.seq, p.errs = map[Target]int{}, nil, 0, 0, nil
}

// Calls returns the call log, oldest first (the latest WithLogLimit calls).
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Call, 0, len(p.log))
	out = append(out, p.log[p.next:]...)
	out = append(out, p.log[:p.next]...)
	return out
}

// Count is how many calls of service's action arrived, in every region
// (an empty action counts every action of the service).
func (p *Proxy) Count(service, action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for t, c := range p.counts {
		if t.Service == service && (action == "" || t.Action == action) {
			n += c
		}
	}
	return n
}

// Errors returns what went wrong inside the proxy: failed forwards, failed
// RespondFuncs (the first 100). A test should expect none.
func (p *Proxy) Errors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.errs...)
}

func (p *Proxy) record(c Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.Err != nil && len(p.errs) < maxErrors {
		p.errs = append(p.errs, fmt.Errorf("call %d (%s): %w", c.Seq, c.Target, c.Err))
	}
	if len(p.log) < p.opts.logLimit {
		p.log = append(p.log, c)
		return
	}
	p.log[p.next] = c
	p.next = (p.next + 1) % len(p.log)
}

// plan is what the rules decided for one call.
type plan struct {
	delay   time.Duration
	answer  *Effect // an answering effect, or nil to forward
	respond []RespondFunc
	effects []string
}

// admit numbers the call and runs the rules over it.
func (p *Proxy) admit(req *Request) (seq int, pl plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.counts[req.Target]++
	req.N = p.counts[req.Target]
	var answerer *installed // the first rule that would Answer
	for _, r := range p.rules {
		if !r.matches(req) {
			continue
		}
		r.matched++
		if !r.Calls.contains(r.matched) || r.Effect.kind == kindNone {
			continue
		}
		switch r.Effect.kind {
		case kindDelay:
			pl.delay += r.Effect.delay
		case kindRespond:
			pl.respond = append(pl.respond, r.Effect.respond)
		case kindAnswer:
			if answerer == nil {
				answerer = r
			}
			continue // counted below, unless a fault answers
		default:
			if pl.answer != nil {
				continue // the first answering effect wins
			}
			pl.answer = &r.Effect
		}
		r.fired++
		pl.effects = append(pl.effects, r.Effect.name)
	}
	if pl.answer == nil && answerer != nil {
		answerer.fired++
		pl.answer = &answerer.Effect
		pl.effects = append(pl.effects, answerer.Effect.name)
	}
	return p.seq, pl
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	head, err := io.ReadAll(io.LimitReader(r.Body, int64(p.opts.bodyLimit)+1))
	if err != nil {
		http.Error(w, "awsproxy: reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	body := io.Reader(bytes.NewReader(head))
	req := &Request{Method: r.Method, Path: r.URL.Path, Header: r.Header, App: AppID(r.Header.Get("User-Agent"))}
	if len(head) > p.opts.bodyLimit {
		body = io.MultiReader(body, r.Body)
		req.Target = Identify(r, nil)
	} else {
		req.Body = p.plain(r.Header, head)
		req.Target = Identify(r, req.Body)
	}
	seq, pl := p.admit(req)
	c := Call{Seq: seq, Target: req.Target, App: req.App, N: req.N, Start: start, Effects: pl.effects}
	defer func() {
		c.Duration = time.Since(start)
		p.record(c)
	}()

	if pl.delay > 0 && !p.hold(pl.delay, nil) {
		c.Err = errors.New("proxy closed while holding the call")
		panic(http.ErrAbortHandler)
	}
	if pl.answer != nil {
		if pl.answer.kind == kindDrop {
			p.hold(pl.answer.delay, r.Context().Done())
			panic(http.ErrAbortHandler) // closes the connection unanswered; the deferred record runs

		}
		if pl.answer.kind == kindAnswer {
			c.Status, c.Err = p.answer(w, r, req, pl.answer.answer)
			return
		}
		e := pl.answer.err(req.Target)
		writeAPIError(w, r, req.Target, e)
		c.Status = e.Status
		return
	}
	if req.Service == "dynamodb" {
		// DynamoDB applies a conditional write atomically; moto's threaded
		// server can check two conditions before either write lands (two
		// deploys would both take a lock). One DynamoDB call at a time here
		// is what DynamoDB guarantees per item.
		p.dynamoMu.Lock()
		defer p.dynamoMu.Unlock()
	}
	c.Status, c.Err = p.forward(w, r, req, body, pl.respond)
}

// plain is a request body as rules read it: a gzip-compressed one (the SDK
// compresses CloudWatch's PutMetricData) decompressed, up to the body limit;
// the emulator still gets the bytes as sent.
func (p *Proxy) plain(h http.Header, body []byte) []byte {
	if !strings.EqualFold(strings.TrimSpace(h.Get("Content-Encoding")), "gzip") {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(p.opts.bodyLimit)))
	if err != nil {
		return body
	}
	return out
}

// hold waits d, or until the proxy closes (false), or until gone is closed.
func (p *Proxy) hold(d time.Duration, gone <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-gone:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// hopHeaders are not forwarded (RFC 9110 §7.6.1), and Accept-Encoding is
// left to the transport so that a RespondFunc always sees a plain body.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Accept-Encoding"}

// forward sends the call to the emulator (detached from the client, so that
// a delayed call still takes effect after the client gave up) and copies the
// answer back, through the RespondFuncs when there are any.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, req *Request, body io.Reader, respond []RespondFunc) (int, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.forwardTimeout)
	defer cancel()
	u := *p.target
	u.Path = strings.TrimSuffix(p.target.Path, "/") + r.URL.Path
	u.RawPath = ""
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return p.fail(w, r, req, fmt.Errorf("building the forwarded request: %w", err))
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.ContentLength = r.ContentLength
	resp, err := p.client.Do(out)
	if err != nil {
		return p.fail(w, r, req, fmt.Errorf("forwarding to the emulator: %w", err))
	}
	defer resp.Body.Close()
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	if len(respond) == 0 {
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return resp.StatusCode, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(p.opts.responseLimit)+1))
	if err != nil {
		return p.fail(w, r, req, fmt.Errorf("reading the emulator's answer: %w", err))
	}
	if len(b) > p.opts.responseLimit {
		return p.fail(w, r, req, fmt.Errorf("the emulator's answer is larger than the response limit (%d bytes)", p.opts.responseLimit))
	}
	rs := &Response{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: b}
	for _, f := range respond {
		if err := f(req, rs); err != nil {
			return p.fail(w, r, req, fmt.Errorf("rewriting the answer to %s: %w", req.Action, err))
		}
	}
	rs.Header.Del("Content-Length")
	maps.Copy(w.Header(), rs.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(rs.Body)))
	w.WriteHeader(rs.Status)
	_, _ = w.Write(rs.Body)
	return rs.Status, nil
}

// answer sends f's answer to the call.
func (p *Proxy) answer(w http.ResponseWriter, r *http.Request, req *Request, f AnswerFunc) (int, error) {
	rs, err := f(req)
	if err == nil && rs == nil {
		err = errors.New("no answer")
	}
	if err != nil {
		return p.fail(w, r, req, fmt.Errorf("answering %s: %w", req.Action, err))
	}
	h := w.Header()
	maps.Copy(h, rs.Header)
	h.Set("Content-Length", strconv.Itoa(len(rs.Body)))
	w.WriteHeader(rs.Status)
	_, _ = w.Write(rs.Body)
	return rs.Status, nil
}

// fail answers an InternalFailure for a call the proxy could not complete.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, req *Request, err error) (int, error) {
	e := apiError{Code: "InternalFailure", Message: "awsproxy: " + err.Error(), Status: http.StatusInternalServerError}
	writeAPIError(w, r, req.Target, e)
	return e.Status, err
}
