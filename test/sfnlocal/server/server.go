// Package server is a local AWS Step Functions service: an HTTP server speaking the
// Step Functions API (awsJson1_0) over the sfnlocal/asl interpreter, so the
// unmodified AWS SDK and CLI can create state machines, start executions, read
// their history and complete callback tasks on loopback.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// DefaultAccount is the account id in ARNs when Options.Account is empty.
const DefaultAccount = "123456789012"

// DefaultRegion is the region used when a request carries no SigV4 credential scope
// and Options.Region is empty.
const DefaultRegion = "us-east-1"

// Options configure a Server.
type Options struct {
	// Region is the default region (requests name theirs in the SigV4 scope).
	Region string
	// Account is the account id in ARNs (default 123456789012).
	Account string
	// Invoker runs Task states (used when Engine is nil).
	Invoker asl.TaskInvoker
	// Clock scales time for the interpreter (used when Engine is nil; nil: real time).
	Clock asl.Clock
	// TimeoutClock measures Task TimeoutSeconds and HeartbeatSeconds (used when
	// Engine is nil; nil: Clock).
	TimeoutClock asl.Clock
	// Engine overrides the interpreter (tests); default NewASLEngine(Invoker, Clock).
	Engine Engine
	// Logger receives one line per request error and per execution start (default: discard).
	Logger *slog.Logger
	// Now is the time source for API dates (default time.Now).
	Now func() time.Time
}

// TestCaseBinder is implemented by task invokers that serve Step Functions Local style
// mock test cases (sfnlocal/tasks.Mocks). StartExecution with a stateMachineArn ending
// in "#TestCase" binds the new execution to that test case.
type TestCaseBinder interface {
	BindTestCase(executionARN, stateMachineName, testCase string) error
}

// Server is the local Step Functions service. Its zero value is not usable; call New.
type Server struct {
	opts   Options
	engine Engine
	log    *slog.Logger
	now    func() time.Time

	baseCtx context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	machines map[string]*stateMachine // by ARN
	execs    map[string]*execution    // by ARN
	seq      int64

	httpMu sync.Mutex
	http   *http.Server
	ln     net.Listener
}

type stateMachine struct {
	arn, name, region string
	definition        string
	roleArn           string
	typ               string
	description       string
	created, updated  time.Time
	revision          int
	machine           Machine
	logging           json.RawMessage
	tracing           json.RawMessage
}

type execution struct {
	arn, name   string
	smArn       string
	smName      string
	input       string // as given
	inputKey    string // compacted, for idempotency
	start       time.Time
	seq         int64
	ex          Execution
	express     bool
	region      string
	machineCopy *stateMachine // the machine as it was when the execution started
}

// New returns a Server. It runs executions until Shutdown.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	s := &Server{opts: opts, machines: map[string]*stateMachine{}, execs: map[string]*execution{}}
	s.engine = opts.Engine
	if s.engine == nil {
		var extra []asl.Option
		if opts.TimeoutClock != nil {
			extra = append(extra, asl.WithTimeoutClock(opts.TimeoutClock))
		}
		s.engine = NewASLEngine(opts.Invoker, opts.Clock, extra...)
	}
	s.log = opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.now = opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	return s
}

// SetLogger sets the logger for request errors and execution starts.
func (s *Server) SetLogger(l *slog.Logger) {
	if l != nil {
		s.log = l
	}
}

// Start serves the API on ln in the background (use Addr or URL to find it).
func (s *Server) Start(ln net.Listener) {
	s.httpMu.Lock()
	defer s.httpMu.Unlock()
	s.ln = ln
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
}

// Listen listens on addr (e.g. "127.0.0.1:0") and starts serving.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.Start(ln)
	return nil
}

// URL is the base URL of a started server ("http://127.0.0.1:PORT"); set it as
// AWS_ENDPOINT_URL_SFN or the sfn client's BaseEndpoint.
func (s *Server) URL() string {
	s.httpMu.Lock()
	defer s.httpMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Shutdown stops serving and aborts running executions.
func (s *Server) Shutdown(ctx context.Context) error {
	s.httpMu.Lock()
	h := s.http
	s.httpMu.Unlock()
	var err error
	if h != nil {
		err = h.Shutdown(ctx)
	}
	s.mu.Lock()
	running := make([]Execution, 0)
	for _, e := range s.execs {
		running = append(running, e.ex)
	}
	s.mu.Unlock()
	for _, ex := range running {
		select {
		case <-ex.Done():
		default:
			ex.Stop(errname.Aborted, "the local Step Functions service shut down")
		}
	}
	s.cancel()
	return err
}

// CreateStateMachine registers a state machine from Go (the config loader uses it),
// in the server's default region, and returns its ARN. An existing machine of that
// name is updated.
func (s *Server) CreateStateMachine(name, definition, roleArn string) (string, error) {
	return s.CreateStateMachineIn(s.opts.Region, name, definition, roleArn)
}

// CreateStateMachineIn is CreateStateMachine in a given region: one server hosts
// the machines of several regions, as Step Functions does in each, and its SDK
// integrations call services in the region of the execution's machine.
func (s *Server) CreateStateMachineIn(region, name, definition, roleArn string) (string, error) {
	if region == "" {
		region = s.opts.Region
	}
	arn := s.smArn(region, name)
	s.mu.Lock()
	_, exists := s.machines[arn]
	s.mu.Unlock()
	if !exists {
		_, err := s.createStateMachine(region, createSMIn{Name: name, smSettings: smSettings{Definition: definition, RoleArn: roleArn}})
		if err == nil {
			return arn, nil
		}
		if ae := (*apiError)(nil); !errors.As(err, &ae) || ae.Code != codeStateMachineAlreadyExist {
			return "", err
		}
	}
	if _, err := s.updateStateMachine(updateSMIn{StateMachineArn: arn, smSettings: smSettings{Definition: definition, RoleArn: roleArn}}); err != nil {
		return "", err
	}
	return arn, nil
}

// StateMachineARN returns the ARN a state machine of this name has in the default region.
func (s *Server) StateMachineARN(name string) string { return s.smArn(s.opts.Region, name) }

// StateMachineARNIn returns the ARN a state machine of this name has in region.
func (s *Server) StateMachineARNIn(region, name string) string { return s.smArn(region, name) }

func (s *Server) smArn(region, name string) string {
	return "arn:aws:states:" + region + ":" + s.opts.Account + ":stateMachine:" + name
}

var credentialScope = regexp.MustCompile(`Credential=[^/,\s]*/\d{8}/([a-z0-9-]+)/`)

// region reads the region from the SigV4 credential scope of the request.
func (s *Server) region(r *http.Request) string {
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1]
	}
	return s.opts.Region
}

type opFunc func(s *Server, region string, body []byte) (any, error)

var operations = map[string]opFunc{
	"CreateStateMachine":               decode((*Server).createStateMachine),
	"UpdateStateMachine":               decodeNR((*Server).updateStateMachine),
	"DescribeStateMachine":             decodeNR((*Server).describeStateMachine),
	"DescribeStateMachineForExecution": decodeNR((*Server).describeStateMachineForExecution),
	"ListStateMachines":                decodeNR((*Server).listStateMachines),
	"DeleteStateMachine":               decodeNR((*Server).deleteStateMachine),
	"StartExecution":                   decode((*Server).startExecution),
	"DescribeExecution":                decodeNR((*Server).describeExecution),
	"ListExecutions":                   decodeNR((*Server).listExecutions),
	"GetExecutionHistory":              decodeNR((*Server).getExecutionHistory),
	"StopExecution":                    decodeNR((*Server).stopExecution),
	"SendTaskSuccess":                  decodeNR((*Server).sendTaskSuccess),
	"SendTaskFailure":                  decodeNR((*Server).sendTaskFailure),
	"SendTaskHeartbeat":                decodeNR((*Server).sendTaskHeartbeat),
}

func decode[T any](f func(*Server, string, T) (any, error)) opFunc {
	return func(s *Server, region string, body []byte) (any, error) {
		var in T
		if err := unmarshalBody(body, &in); err != nil {
			return nil, err
		}
		return f(s, region, in)
	}
}

func decodeNR[T any](f func(*Server, T) (any, error)) opFunc {
	return func(s *Server, _ string, body []byte) (any, error) {
		var in T
		if err := unmarshalBody(body, &in); err != nil {
			return nil, err
		}
		return f(s, in)
	}
}

func unmarshalBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{Code: codeSerialization, Message: "cannot read request body: " + err.Error(), Status: http.StatusBadRequest}
	}
	return nil
}

// ServeHTTP implements http.Handler: one awsJson1_0 request per call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("sfnlocal: panic serving request", "panic", fmt.Sprint(v))
			writeError(w, &apiError{Code: codeInternalFailure, Message: fmt.Sprint(v), Status: http.StatusInternalServerError})
		}
	}()
	if r.Method != http.MethodPost {
		writeError(w, &apiError{Code: codeUnknownOperation, Message: "the Step Functions API takes POST requests", Status: http.StatusBadRequest})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AWSStepFunctions.")
	f := operations[op]
	if !ok || f == nil {
		writeError(w, &apiError{Code: codeUnknownOperation, Message: fmt.Sprintf("unknown operation %q", target), Status: http.StatusBadRequest})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, &apiError{Code: codeSerialization, Message: "cannot read request body: " + err.Error(), Status: http.StatusBadRequest})
		return
	}
	out, err := f(s, s.region(r), body)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{Code: codeInternalFailure, Message: err.Error(), Status: http.StatusInternalServerError}
		}
		s.log.Info("sfnlocal: request failed", "operation", op, "error", ae.Code, "message", ae.Message)
		writeError(w, ae)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, &apiError{Code: codeInternalFailure, Message: err.Error(), Status: http.StatusInternalServerError})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-RequestId", uuid.NewString())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": errorTypePrefix + e.Code, "message": e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-RequestId", uuid.NewString())
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}
