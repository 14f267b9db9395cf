package payload

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stepship/stepship/shared/catalog"
)

// ResolveInvocation is what the deploy state machine sends the resolve
// function: the execution's id and start time, and the machine's raw input.
//
//	"Parameters": {"executionId.$": "$$.Execution.Id", "startTime.$": "$$.Execution.StartTime", "input.$": "$"}
type ResolveInvocation struct {
	ExecutionID string          `json:"executionId"`
	StartTime   string          `json:"startTime"`
	Input       json.RawMessage `json:"input"`
}

// Resolved is the resolve function's output, which replaces the deploy state
// machine's state: the request as checked, its target from the catalog, the
// deploy's lock and order, and an empty slot for every result a later state
// writes, so that every path (a failure included) can read every field the
// ledger records. Later states read $.request and $.target, never the raw
// input.
type Resolved struct {
	Request DeployRequest  `json:"request"`
	Target  catalog.Target `json:"target"`
	Lock    Lock           `json:"lock"`
	Order   Order          `json:"order"`
	Record  Record         `json:"record"`

	// Slots, overwritten by the state that produces each (ResultPath).
	Image          ImageSlot     `json:"image"`
	Snapshot       SnapshotSlot  `json:"snapshot"`
	Release        DeployResult  `json:"release"`
	Migration      MigrationSlot `json:"migration"`
	Verify         VerifySlot    `json:"verify"`
	Rollback       RollbackSlot  `json:"rollback"`
	RollbackVerify VerifySlot    `json:"rollbackVerify"`
	Outcome        Outcome       `json:"outcome"`
	Error          ErrorSlot     `json:"error"`
}

// Lock is the service-environment lock of a deploy (docs/deploy.md, "Lock").
type Lock struct {
	// Key is the table's partition key of the target's lock, ledger and
	// order items: "deploy#SERVICE#ENVIRONMENT".
	Key string `json:"key"`
	// LeaseUntil is when a holder's lock may be taken over even though its
	// execution still runs (TimeFormat): the execution's start plus
	// DeployLease, which is the machine's own timeout.
	LeaseUntil string `json:"leaseUntil"`
	// ExpiresAt is the lock item's TTL (epoch seconds, as DynamoDB's N
	// wants it: a string): a week past the lease, so an abandoned lock item
	// is cleaned up.
	ExpiresAt string `json:"expiresAt"`
}

// Order places a deploy among the deploys of its target (docs/deploy.md,
// "Order"): by push time, then arrival, then execution name.
type Order struct {
	// Push is the push time the git host signed (TimeFormat); for a deploy
	// without one (a console deploy, a host that signs no time) its
	// arrival. The state machine replaces it, for a console deploy of a
	// commit stepship has recorded, with that commit's push time.
	Push string `json:"push"`
	// Arrival is the execution's start time (TimeFormat).
	Arrival string `json:"arrival"`
	// Name is the execution's name.
	Name string `json:"name"`
	// Key is Push|Arrival|Name: compared as strings, newer is greater.
	Key string `json:"key"`
	// High is the push time the ledger records as the target's newest once
	// this deploy is recorded: Push, or for an allowOlder deploy the newer
	// one already recorded.
	High string `json:"high"`
}

// Record holds the ledger fields known from the start.
type Record struct {
	// Author is who asked: the console's requestedBy, else the pusher.
	Author string `json:"author"`
	// Trigger is "webhook" (a signed push) or "console".
	Trigger string `json:"trigger"`
	Reason  string `json:"reason"`
	// RollbackRequest is the request's allowOlder.
	RollbackRequest bool `json:"rollbackRequest"`
	// SortKey is the ledger entry's sort key: "release#ARRIVAL#NAME".
	SortKey string `json:"sortKey"`
}

// ImageSlot is CheckImage's result.
type ImageSlot struct {
	Digest string `json:"digest"`
}

// SnapshotSlot is PreDeploySnapshot's result (catalog backup.beforeDeploy):
// the snapshot's identifier and the backup execution that took it; "" when
// the deploy took none.
type SnapshotSlot struct {
	ID        string `json:"id"`
	Execution string `json:"execution"`
}

// MigrationSlot is what the ledger reads of a migration: the migrate
// function's MigrateResult once it ran (numbers), "" before.
type MigrationSlot struct {
	VersionBefore string `json:"versionBefore"`
	VersionAfter  string `json:"versionAfter"`
}

// VerifySlot is a verify result before the first round.
type VerifySlot struct {
	Status      string `json:"status"`
	StartedAt   string `json:"startedAt"`
	CompletedAt string `json:"completedAt"`
}

// RollbackSlot is the revision a rollback goes back to.
type RollbackSlot struct {
	TaskDefinition string `json:"taskDefinition"`
}

// ErrorSlot is a caught error (Step Functions' Error and Cause).
type ErrorSlot struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Outcomes of a deploy: every execution ends in one of them, in its output
// (or its error) and in the ledger.
const (
	OutcomeSucceeded   = "SUCCEEDED"
	OutcomeRolledBack  = "ROLLED_BACK"
	OutcomeFailedClean = "FAILED_CLEAN"
	OutcomeFailedDirty = "FAILED_DIRTY"
)

// Outcome is how a deploy ended and why.
type Outcome struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// TimeFormat is how times are written in the lock, the order and the
// ledger: UTC with milliseconds, as Step Functions writes
// $$.Execution.StartTime and $$.State.EnteredTime, so that comparing two as
// strings compares the times.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// DeployLease is how long a deploy's lock holds against a holder whose
// execution still runs: the deploy machine's TimeoutSeconds, past which no
// execution runs anyway. A holder whose execution has ended (failed,
// stopped, timed out) loses the lock at once (docs/deploy.md, "Lock").
const DeployLease = 2 * time.Hour

// lockItemTTL keeps an abandoned lock item this long past its lease.
const lockItemTTL = 7 * 24 * time.Hour

// NewResolved returns the state a checked deploy request starts with.
func NewResolved(req DeployRequest, t catalog.Target, executionARN, startTime string) (Resolved, error) {
	start, err := time.Parse(time.RFC3339Nano, startTime)
	if err != nil {
		return Resolved{}, errors.New("the execution's start time is not an RFC 3339 time")
	}
	name := executionARN[strings.LastIndex(executionARN, ":")+1:]
	if name == "" || !strings.HasPrefix(executionARN, "arn:") {
		return Resolved{}, errors.New("the execution id is not an execution ARN")
	}
	arrival := start.UTC().Format(TimeFormat)
	push, trigger, author := arrival, "console", req.RequestedBy
	if s := req.Source; s != nil {
		trigger = "webhook"
		if author == "" {
			author = s.Pusher
		}
		if s.PushedAt != nil {
			push = s.PushedAt.UTC().Format(TimeFormat)
		}
	}
	lease := start.Add(DeployLease)
	return Resolved{
		Request: req,
		Target:  t,
		Lock: Lock{
			Key:        LockKey(t.Service, t.Environment),
			LeaseUntil: lease.UTC().Format(TimeFormat),
			ExpiresAt:  strconv.FormatInt(lease.Add(lockItemTTL).Unix(), 10),
		},
		Order:   Order{Push: push, Arrival: arrival, Name: name, Key: OrderKey(push, arrival, name), High: push},
		Record:  Record{Author: author, Trigger: trigger, Reason: req.Reason, RollbackRequest: req.AllowOlder, SortKey: "release#" + arrival + "#" + name},
		Release: DeployResult{Cluster: t.Cluster, ECSService: t.ECSService},
	}, nil
}

// LockKey is the partition key of a target's lock, order and ledger items.
func LockKey(service, environment string) string {
	return fmt.Sprintf("deploy#%s#%s", service, environment)
}

// OrderKey is the string whose order is the deploys' order: push time, then
// arrival, then execution name (the state machine builds the same with
// States.Format for a console deploy of a recorded commit).
func OrderKey(push, arrival, name string) string {
	return push + "|" + arrival + "|" + name
}
