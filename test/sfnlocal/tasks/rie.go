package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// InvocationsPath is the path of the Lambda Invoke API that the Runtime Interface
// Emulator serves.
const InvocationsPath = "/2015-03-31/functions/function/invocations"

// maxResponse bounds what is read of an invocation's request or response (Lambda's
// own limit is 6 MB).
const maxResponse = 7 << 20

// FunctionError is the error object of a failed invocation, as Lambda runtimes
// write it (aws-lambda-go: errorType is the Go type name of the returned error).
// Type is what Step Functions reports as the Error.
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// ParseFunctionError recognizes the body of a failed invocation, for answers that
// do not say so in an X-Amz-Function-Error header (the emulator answers a returned
// error with 200, a crashed runtime with 502, and the error object in the body): a
// JSON object with a non-empty errorType and no members but those runtimes put
// there (errorMessage, stackTrace, trace, cause, requestId). It returns nil for
// anything else, so that a function's own result is never taken for an error.
func ParseFunctionError(body []byte) *FunctionError {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	for k := range m {
		switch k {
		case "errorType", "errorMessage", "stackTrace", "trace", "cause", "requestId":
		default:
			return nil
		}
	}
	return decodeFunctionError(body)
}

// decodeFunctionError reads the error object of an invocation already known to
// have failed; nil when body has no string errorType.
func decodeFunctionError(body []byte) *FunctionError {
	var fe FunctionError
	if json.Unmarshal(body, &fe) != nil || fe.Type == "" {
		return nil
	}
	return &fe
}

// RIE invokes a function running under the Lambda Runtime Interface Emulator. Calls
// to one emulator (one URL) are serialized, even across RIE values: the emulator's
// default mode crashes on two concurrent invocations. A call whose context ends
// returns at once, but the emulator stays reserved until its invocation finishes.
type RIE struct {
	// URL is the emulator's base URL ("http://127.0.0.1:9001") or its full
	// invocation URL (".../2015-03-31/functions/function/invocations").
	URL    string
	Client *http.Client // default: no timeout beyond Lambda's 15 minutes
}

// NewRIE returns a Function that invokes the emulator at url.
func NewRIE(url string) *RIE { return &RIE{URL: url} }

var (
	rieMu    sync.Mutex
	rieSlots = map[string]chan struct{}{}
)

// slot is the semaphore serializing calls to one emulator.
func slot(url string) chan struct{} {
	rieMu.Lock()
	defer rieMu.Unlock()
	s, ok := rieSlots[url]
	if !ok {
		s = make(chan struct{}, 1)
		rieSlots[url] = s
	}
	return s
}

func (r *RIE) invocationURL() string {
	u := strings.TrimRight(r.URL, "/")
	if strings.Contains(u, "/2015-03-31/functions/") {
		return u
	}
	return u + InvocationsPath
}

// Invoke implements Function.
func (r *RIE) Invoke(ctx context.Context, payload []byte) (Result, error) {
	url := r.invocationURL()
	sem := slot(url)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, context.Cause(ctx)
	}
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() { <-sem }()
		res, err := r.do(context.WithoutCancel(ctx), url, payload)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
		return Result{}, context.Cause(ctx)
	}
}

func (r *RIE) do(ctx context.Context, url string, payload []byte) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return Result{}, fmt.Errorf("build request to the Lambda runtime emulator: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := r.Client
	if c == nil {
		c = &http.Client{Timeout: 16 * time.Minute}
	}
	resp, err := c.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("invoke the Lambda runtime emulator at %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return Result{}, fmt.Errorf("read the Lambda runtime emulator's response: %w", err)
	}
	res := Result{Payload: body, RequestID: resp.Header.Get("X-Amzn-Requestid")}
	if res.ExecutedVersion = resp.Header.Get("X-Amz-Executed-Version"); res.ExecutedVersion == "" {
		res.ExecutedVersion = "$LATEST"
	}
	res.FunctionError = resp.Header.Get("X-Amz-Function-Error")
	if res.FunctionError == "" && ParseFunctionError(body) != nil {
		res.FunctionError = "Unhandled"
	}
	if resp.StatusCode/100 != 2 && res.FunctionError == "" {
		return Result{}, fmt.Errorf("the Lambda runtime emulator at %s answered %s: %s", r.URL, resp.Status, truncate(string(body), 512))
	}
	return res, nil
}

// Proxy serves the Invoke API (POST InvocationsPath) in front of r's emulator,
// passing on one invocation at a time exactly as r.Invoke does, so that other
// processes can share the emulator too. It answers as the Lambda Invoke API does:
// 200 with the function's response, or with its error object and an
// X-Amz-Function-Error header. When the emulator cannot be reached it answers 502
// with describe(err) (or err's text when describe is nil).
func Proxy(r *RIE, describe func(error) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != InvocationsPath {
			http.NotFound(w, req)
			return
		}
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "the Invoke API takes POST", http.StatusMethodNotAllowed)
			return
		}
		payload, err := io.ReadAll(io.LimitReader(req.Body, maxResponse))
		if err != nil {
			http.Error(w, fmt.Sprintf("read the invocation payload: %v", err), http.StatusBadRequest)
			return
		}
		res, err := r.Invoke(req.Context(), payload)
		if err != nil {
			msg := err.Error()
			if describe != nil {
				msg = describe(err)
			}
			http.Error(w, msg, http.StatusBadGateway)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Amz-Executed-Version", res.ExecutedVersion)
		if res.RequestID != "" {
			h.Set("X-Amzn-Requestid", res.RequestID)
		}
		if res.FunctionError != "" {
			h.Set("X-Amz-Function-Error", res.FunctionError)
		}
		_, _ = w.Write(res.Payload)
	})
}
