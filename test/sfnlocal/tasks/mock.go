package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// MockConfig is a mock configuration file: Step Functions Local's format
// (StateMachines → TestCases → state name → mocked response name; MockedResponses →
// name → invocation index or range → Return or Throw), plus stepship's Rules, which
// pin responses without a test case. See sfnlocal/README.md.
type MockConfig struct {
	StateMachines   map[string]MockStateMachine  `json:"StateMachines"`
	MockedResponses map[string]MockedResponseSeq `json:"MockedResponses"`
	Rules           []MockRule                   `json:"Rules"`
}

// MockStateMachine lists a state machine's test cases.
type MockStateMachine struct {
	TestCases map[string]map[string]string `json:"TestCases"`
}

// MockedResponseSeq maps an invocation index ("0", "1", "2-4"; counted from 0 per
// execution and state) to a response. Calls past the last index get the last one.
type MockedResponseSeq map[string]MockResponse

// MockResponse is one pinned response: Return (the task's output), Throw (the task
// fails with this error and cause), or Invoke (run the real binding).
type MockResponse struct {
	Return json.RawMessage `json:"Return,omitempty"`
	Throw  *MockThrow      `json:"Throw,omitempty"`
	Invoke bool            `json:"Invoke,omitempty"`
}

// MockThrow is a pinned failure.
type MockThrow struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// MockRule pins a response sequence to every execution's matching tasks. Empty
// fields match anything; Resource is a Router pattern ('*' wildcards).
type MockRule struct {
	StateMachine string `json:"StateMachine,omitempty"`
	State        string `json:"State,omitempty"`
	Resource     string `json:"Resource,omitempty"`
	// Response names an entry of MockedResponses.
	Response string `json:"Response,omitempty"`

	seq []MockResponse
}

// Return is a MockResponse returning output (JSON text).
func Return(output string) MockResponse { return MockResponse{Return: json.RawMessage(output)} }

// Throw is a MockResponse failing the task with error and cause.
func Throw(errName, cause string) MockResponse {
	return MockResponse{Throw: &MockThrow{Error: errName, Cause: cause}}
}

// Passthrough is a MockResponse that runs the real binding.
func Passthrough() MockResponse { return MockResponse{Invoke: true} }

// LoadMockConfig reads and checks a mock configuration file.
func LoadMockConfig(path string) (*MockConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mock configuration: %w", err)
	}
	return ParseMockConfig(b)
}

// ParseMockConfig parses and checks a mock configuration.
func ParseMockConfig(b []byte) (*MockConfig, error) {
	var c MockConfig
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse mock configuration: %w", err)
	}
	for name, seq := range c.MockedResponses {
		if len(seq) == 0 {
			return nil, fmt.Errorf("mock configuration: MockedResponses %q is empty", name)
		}
		for k, r := range seq {
			if _, _, err := parseRange(k); err != nil {
				return nil, fmt.Errorf("mock configuration: MockedResponses %q: %w", name, err)
			}
			n := 0
			if r.Return != nil {
				n++
				if !json.Valid(r.Return) {
					return nil, fmt.Errorf("mock configuration: MockedResponses %q[%s]: Return is not JSON", name, k)
				}
			}
			if r.Throw != nil {
				n++
				if r.Throw.Error == "" {
					return nil, fmt.Errorf("mock configuration: MockedResponses %q[%s]: Throw needs an Error", name, k)
				}
			}
			if r.Invoke {
				n++
			}
			if n != 1 {
				return nil, fmt.Errorf("mock configuration: MockedResponses %q[%s]: give exactly one of Return, Throw, Invoke", name, k)
			}
		}
	}
	for sm, m := range c.StateMachines {
		for tc, states := range m.TestCases {
			for state, resp := range states {
				if _, ok := c.MockedResponses[resp]; !ok {
					return nil, fmt.Errorf("mock configuration: StateMachines %q TestCases %q state %q: no MockedResponses %q", sm, tc, state, resp)
				}
			}
		}
	}
	for i, r := range c.Rules {
		if _, ok := c.MockedResponses[r.Response]; !ok {
			return nil, fmt.Errorf("mock configuration: Rules[%d]: no MockedResponses %q", i, r.Response)
		}
	}
	return &c, nil
}

func parseRange(k string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(k, "-")
	lo, err = strconv.Atoi(a)
	if err != nil || lo < 0 {
		return 0, 0, fmt.Errorf("invocation key %q is not an index or a range like 1-3", k)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("invocation key %q is not an index or a range like 1-3", k)
		}
	}
	return lo, hi, nil
}

// pick returns the response for the n-th call (from 0): the entry whose key covers n,
// else the one with the highest key.
func pick(seq MockedResponseSeq, n int) MockResponse {
	type entry struct {
		lo, hi int
		r      MockResponse
	}
	var es []entry
	for k, r := range seq {
		lo, hi, err := parseRange(k)
		if err == nil {
			es = append(es, entry{lo, hi, r})
		}
	}
	if len(es) == 0 {
		return Passthrough()
	}
	sort.Slice(es, func(i, j int) bool { return es[i].hi < es[j].hi })
	for _, e := range es {
		if n >= e.lo && n <= e.hi {
			return e.r
		}
	}
	return es[len(es)-1].r
}

// Mocks is an asl.TaskInvoker serving pinned responses and passing every other task
// to Next. It implements server.TestCaseBinder: StartExecution with a
// stateMachineArn ending in "#TestCase" runs that execution with that test case.
type Mocks struct {
	Next asl.TaskInvoker

	mu     sync.Mutex
	cfg    MockConfig
	bound  map[string]string // execution ARN → test case
	counts map[string]int    // execution ARN + state + response → calls so far
}

// NewMocks serves cfg (nil: empty) in front of next.
func NewMocks(cfg *MockConfig, next asl.TaskInvoker) *Mocks {
	m := &Mocks{Next: next, bound: map[string]string{}, counts: map[string]int{}}
	if cfg != nil {
		m.cfg = *cfg
	}
	if m.cfg.MockedResponses == nil {
		m.cfg.MockedResponses = map[string]MockedResponseSeq{}
	}
	return m
}

// Pin adds a rule answering matching tasks with responses in order (the last one
// repeats). Example: m.Pin(MockRule{StateMachine: "deploy", State: "Migrate"},
// Throw("MigrationFailed", "boom"), Return(`{"ok":true}`)).
func (m *Mocks) Pin(rule MockRule, responses ...MockResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rule.seq = append([]MockResponse{}, responses...)
	m.cfg.Rules = append([]MockRule{rule}, m.cfg.Rules...)
}

// Reset forgets pinned rules added with Pin and all call counts.
func (m *Mocks) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	rules := m.cfg.Rules[:0]
	for _, r := range m.cfg.Rules {
		if r.seq == nil {
			rules = append(rules, r)
		}
	}
	m.cfg.Rules = rules
	m.counts = map[string]int{}
}

// BindTestCase makes an execution use a test case of the mock configuration.
func (m *Mocks) BindTestCase(executionARN, stateMachineName, testCase string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cfg.StateMachines[stateMachineName].TestCases[testCase]; !ok {
		return fmt.Errorf("the mock configuration has no test case %q for state machine %q", testCase, stateMachineName)
	}
	m.bound[executionARN] = testCase
	return nil
}

// response finds the pinned response for a task, if any (m.mu held).
func (m *Mocks) response(task asl.Task) (MockResponse, bool) {
	ex := task.Execution
	if tc, ok := m.bound[ex.ARN]; ok {
		if name, ok := m.cfg.StateMachines[ex.StateMachineName].TestCases[tc][task.StateName]; ok {
			return m.next(ex.ARN+"\x00"+task.StateName+"\x00"+name, m.cfg.MockedResponses[name], nil), true
		}
	}
	for i, r := range m.cfg.Rules {
		if r.StateMachine != "" && r.StateMachine != ex.StateMachineName {
			continue
		}
		if r.State != "" && r.State != task.StateName {
			continue
		}
		if r.Resource != "" && !Match(r.Resource, task.Resource) {
			continue
		}
		key := ex.ARN + "\x00" + task.StateName + "\x00rule" + strconv.Itoa(len(m.cfg.Rules)-i) + r.Response
		return m.next(key, m.cfg.MockedResponses[r.Response], r.seq), true
	}
	return MockResponse{}, false
}

func (m *Mocks) next(key string, seq MockedResponseSeq, list []MockResponse) MockResponse {
	n := m.counts[key]
	m.counts[key] = n + 1
	if list != nil {
		if len(list) == 0 {
			return Passthrough()
		}
		return list[min(n, len(list)-1)]
	}
	return pick(seq, n)
}

// InvokeTask implements asl.TaskInvoker.
func (m *Mocks) InvokeTask(ctx context.Context, task asl.Task) (json.RawMessage, error) {
	m.mu.Lock()
	r, ok := m.response(task)
	m.mu.Unlock()
	switch {
	case !ok || r.Invoke:
		if m.Next == nil {
			return nil, &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("no mocked response and no binding for state %q (resource %q)", task.StateName, task.Resource)}
		}
		return m.Next.InvokeTask(ctx, task)
	case r.Throw != nil:
		return nil, &asl.TaskFailure{Name: r.Throw.Error, Cause: r.Throw.Cause}
	}
	return r.Return, nil
}
