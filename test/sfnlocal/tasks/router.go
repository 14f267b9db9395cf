// Package tasks binds Task state resources to what runs them: Lambda functions (in the
// Lambda Runtime Interface Emulator, or as Go handlers in-process), AWS service
// integrations through the AWS SDK (pointed at a local emulator with AWS_ENDPOINT_URL),
// and pinned mock responses. Every binding is an asl.TaskInvoker; a Router composes
// them by resource ARN pattern.
package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/stepship/stepship/test/sfnlocal/asl"
	"github.com/stepship/stepship/test/sfnlocal/asl/errname"
)

// Router dispatches a task to the first route whose pattern matches its Resource.
// A pattern is a resource ARN in which '*' matches any run of characters (':'
// included), e.g. "arn:aws:lambda:*:function:deploy*" or "arn:aws:states:::dynamodb:*".
// An exact pattern wins over wildcard ones; wildcard patterns are tried in the order
// they were added.
type Router struct {
	mu     sync.RWMutex
	exact  map[string]asl.TaskInvoker
	routes []route
}

type route struct {
	pattern string
	inv     asl.TaskInvoker
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{exact: map[string]asl.TaskInvoker{}} }

// Handle routes resources matching pattern to inv.
func (r *Router) Handle(pattern string, inv asl.TaskInvoker) *Router {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.Contains(pattern, "*") {
		r.exact[pattern] = inv
	} else {
		r.routes = append(r.routes, route{pattern, inv})
	}
	return r
}

// HandleFunc routes resources matching pattern to f.
func (r *Router) HandleFunc(pattern string, f func(ctx context.Context, task asl.Task) (json.RawMessage, error)) *Router {
	return r.Handle(pattern, asl.TaskInvokerFunc(f))
}

// Lookup returns the invoker for resource, or nil.
func (r *Router) Lookup(resource string) asl.TaskInvoker {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if inv, ok := r.exact[resource]; ok {
		return inv
	}
	for _, rt := range r.routes {
		if Match(rt.pattern, resource) {
			return rt.inv
		}
	}
	return nil
}

// InvokeTask implements asl.TaskInvoker.
func (r *Router) InvokeTask(ctx context.Context, task asl.Task) (json.RawMessage, error) {
	inv := r.Lookup(task.Resource)
	if inv == nil {
		return nil, &asl.TaskFailure{Name: errname.Runtime, Cause: fmt.Sprintf("the local Step Functions service has no binding for resource %q (state %q)", task.Resource, task.StateName)}
	}
	return inv.InvokeTask(ctx, task)
}

// Match reports whether s matches the glob pattern, where '*' matches any run of
// characters and every other character matches itself.
func Match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// Standard composes the usual bindings: Lambda function ARNs and
// arn:aws:states:::lambda:invoke* go to lambdas; every other
// arn:aws:states:::SERVICE:ACTION goes to services (when not nil), whose Lambda client
// also serves functions that lambdas has no binding for.
func Standard(lambdas *Lambda, services *AWS) *Router {
	if lambdas == nil {
		lambdas = NewLambda()
	}
	r := NewRouter()
	r.Handle("arn:aws:lambda:*", lambdas)
	r.Handle("arn:aws:states:::lambda:invoke*", lambdas)
	if services != nil {
		if lambdas.Client == nil {
			lambdas.Client = services.LambdaClient()
		}
		r.Handle("arn:aws:states:::*", services)
	}
	return r
}
