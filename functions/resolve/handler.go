package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// Resolver checks a deploy state machine input and resolves its target from
// the catalog: the first Task of every deploy, so that nothing after it reads
// a target from the input.
type Resolver struct {
	catalog *catalog.Catalog
	log     *slog.Logger
}

// NewResolver returns a Resolver over a loaded catalog.
func NewResolver(cat *catalog.Catalog, log *slog.Logger) (*Resolver, error) {
	if cat == nil || log == nil {
		return nil, errors.New("resolve: catalog and logger are required")
	}
	return &Resolver{catalog: cat, log: log}, nil
}

// Handle returns the checked request and the catalog's target for its
// service and environment, or *taskerr.InvalidDeployRequest (a missing,
// malformed or forbidden field; a source that is not the service's
// repository) or *taskerr.UnknownTarget. The state machine replaces its
// state with the result, so every later state reads what was checked here.
func (r *Resolver) Handle(ctx context.Context, inv payload.ResolveInvocation) (payload.Resolved, error) {
	log := logging.ForExecution(r.log, inv.ExecutionID)
	req, err := payload.DecodeDeployRequest(inv.Input)
	if err != nil {
		log.Warn("deploy input refused", slog.String("reason", err.Error()))
		return payload.Resolved{}, &taskerr.InvalidDeployRequest{Reason: err.Error()}
	}
	t, err := r.catalog.Resolve(req.Service, req.Environment)
	if err != nil {
		log.Warn("deploy target unknown", slog.String("reason", err.Error()))
		return payload.Resolved{}, &taskerr.UnknownTarget{Reason: err.Error() + "; nothing was changed"}
	}
	if s := req.Source; s != nil && (s.Provider != t.Repository.Provider || !strings.EqualFold(s.Repository, t.Repository.Name)) {
		return payload.Resolved{}, &taskerr.InvalidDeployRequest{Reason: fmt.Sprintf(
			"source %s %s is not the repository of service %s (%s %s); nothing was changed",
			s.Provider, s.Repository, t.Service, t.Repository.Provider, t.Repository.Name)}
	}
	resolved, err := payload.NewResolved(req, t, inv.ExecutionID, inv.StartTime)
	if err != nil {
		// Only a state machine that does not pass $$.Execution.Id and
		// $$.Execution.StartTime gets here: a bug of the machine, not of the
		// request.
		return payload.Resolved{}, fmt.Errorf("resolve: %w", err)
	}
	log.Info("deploy resolved", slog.String("service", t.Service), slog.String("environment", t.Environment),
		slog.String("commit", req.Commit), slog.String("cluster", t.Cluster), slog.String("ecsService", t.ECSService),
		slog.String("order", resolved.Order.Key))
	return resolved, nil
}
