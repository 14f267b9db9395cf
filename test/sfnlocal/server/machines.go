package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// smSettings are the members CreateStateMachine and UpdateStateMachine share.
type smSettings struct {
	Definition           string          `json:"definition"`
	RoleArn              string          `json:"roleArn"`
	LoggingConfiguration json.RawMessage `json:"loggingConfiguration"`
	TracingConfiguration json.RawMessage `json:"tracingConfiguration"`
}

type createSMIn struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
	smSettings
}

func (s *Server) parseDefinition(def string) (Machine, error) {
	if strings.TrimSpace(def) == "" {
		return nil, errf(codeInvalidDefinition, "Invalid State Machine Definition: the definition is empty")
	}
	if len(def) > 1<<20 {
		return nil, errf(codeInvalidDefinition, "Invalid State Machine Definition: the definition is larger than 1 MiB")
	}
	m, err := s.engine.Parse([]byte(def))
	if err != nil {
		return nil, errf(codeInvalidDefinition, "Invalid State Machine Definition: '%s'", err.Error())
	}
	return m, nil
}

func (s *Server) createStateMachine(region string, in createSMIn) (any, error) {
	if msg, ok := validName(in.Name); !ok {
		return nil, errf(codeInvalidName, "Invalid Name: '%s' (%s)", in.Name, msg)
	}
	typ := in.Type
	switch typ {
	case "":
		typ = "STANDARD"
	case "STANDARD", "EXPRESS":
	default:
		return nil, errf(codeValidation, "type must be STANDARD or EXPRESS, not %q", in.Type)
	}
	m, err := s.parseDefinition(in.Definition)
	if err != nil {
		return nil, err
	}
	arn := s.smArn(region, in.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.machines[arn]; ok {
		// The service's idempotency check: name, definition, type, logging and tracing
		// configuration; a different roleArn is ignored (and not applied).
		if old.definition == in.Definition && old.typ == typ &&
			sameJSON(old.logging, in.LoggingConfiguration) && sameJSON(old.tracing, in.TracingConfiguration) {
			return map[string]any{"stateMachineArn": arn, "creationDate": epoch(old.created)}, nil
		}
		return nil, errf(codeStateMachineAlreadyExist, "State Machine Already Exists: '%s'", arn)
	}
	now := s.now()
	s.machines[arn] = &stateMachine{
		arn: arn, name: in.Name, region: region, definition: in.Definition, roleArn: in.RoleArn,
		typ: typ, description: in.Description, created: now, updated: now, revision: 1, machine: m,
		logging: in.LoggingConfiguration, tracing: in.TracingConfiguration,
	}
	return map[string]any{"stateMachineArn": arn, "creationDate": epoch(now)}, nil
}

// sameJSON reports whether two optional JSON documents are equal once compacted.
func sameJSON(a, b json.RawMessage) bool {
	ca, okA := compactJSON(string(a))
	cb, okB := compactJSON(string(b))
	if !okA || !okB {
		return string(a) == string(b)
	}
	return ca == cb
}

// machine finds a state machine by ARN (caller holds s.mu).
func (s *Server) machine(arn string) (*stateMachine, error) {
	if arn == "" {
		return nil, errf(codeValidation, "stateMachineArn is required")
	}
	_, _, kind, _, ok := arnParts(arn)
	if !ok || kind != "stateMachine" {
		return nil, errf(codeInvalidArn, "Invalid Arn: '%s'", arn)
	}
	sm, ok := s.machines[arn]
	if !ok {
		return nil, errf(codeStateMachineDoesNotExist, "State Machine Does Not Exist: '%s'", arn)
	}
	return sm, nil
}

type updateSMIn struct {
	StateMachineArn string `json:"stateMachineArn"`
	smSettings
}

func (s *Server) updateStateMachine(in updateSMIn) (any, error) {
	if in.Definition == "" && in.RoleArn == "" && in.LoggingConfiguration == nil && in.TracingConfiguration == nil {
		return nil, errf("MissingRequiredParameter", "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified")
	}
	var m Machine
	if in.Definition != "" {
		var err error
		if m, err = s.parseDefinition(in.Definition); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sm, err := s.machine(in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	if m != nil {
		sm.definition, sm.machine = in.Definition, m
	}
	if in.RoleArn != "" {
		sm.roleArn = in.RoleArn
	}
	if in.LoggingConfiguration != nil {
		sm.logging = in.LoggingConfiguration
	}
	if in.TracingConfiguration != nil {
		sm.tracing = in.TracingConfiguration
	}
	sm.updated = s.now()
	sm.revision++
	return map[string]any{"updateDate": epoch(sm.updated), "revisionId": strconv.Itoa(sm.revision)}, nil
}

type arnIn struct {
	StateMachineArn string `json:"stateMachineArn"`
	ExecutionArn    string `json:"executionArn"`
}

func (s *Server) describeSM(sm *stateMachine) map[string]any {
	out := map[string]any{
		"stateMachineArn":      sm.arn,
		"name":                 sm.name,
		"status":               "ACTIVE",
		"definition":           sm.definition,
		"roleArn":              sm.roleArn,
		"type":                 sm.typ,
		"creationDate":         epoch(sm.created),
		"revisionId":           strconv.Itoa(sm.revision),
		"loggingConfiguration": json.RawMessage(`{"level":"OFF","includeExecutionData":false}`),
		"tracingConfiguration": json.RawMessage(`{"enabled":false}`),
	}
	if sm.description != "" {
		out["description"] = sm.description
	}
	if len(sm.logging) > 0 && json.Valid(sm.logging) {
		out["loggingConfiguration"] = sm.logging
	}
	if len(sm.tracing) > 0 && json.Valid(sm.tracing) {
		out["tracingConfiguration"] = sm.tracing
	}
	return out
}

func (s *Server) describeStateMachine(in arnIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm, err := s.machine(in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	return s.describeSM(sm), nil
}

func (s *Server) describeStateMachineForExecution(in arnIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.execution(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	out := s.describeSM(e.machineCopy)
	delete(out, "status")
	delete(out, "type")
	delete(out, "creationDate")
	out["updateDate"] = epoch(e.machineCopy.updated)
	return out, nil
}

type listIn struct {
	StateMachineArn string `json:"stateMachineArn"`
	ExecutionArn    string `json:"executionArn"`
	StatusFilter    string `json:"statusFilter"`
	MaxResults      int    `json:"maxResults"`
	NextToken       string `json:"nextToken"`
	ReverseOrder    bool   `json:"reverseOrder"`
	IncludeData     *bool  `json:"includeExecutionData"`
}

// page returns the window [start, end) of n items for a request, and the token of
// the next page ("" when none). kind binds a token to the operation that issued it.
func page(kind string, n, maxResults int, token string) (start, end int, next string, err error) {
	if maxResults < 0 || maxResults > 1000 {
		return 0, 0, "", errf(codeValidation, "maxResults must be between 0 and 1000")
	}
	if maxResults == 0 {
		maxResults = 100
	}
	if token != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(token)
		i := strings.LastIndexByte(string(raw), ':')
		ok := i >= 0
		k, off := string(raw), ""
		if ok {
			k, off = string(raw[:i]), string(raw[i+1:])
		}
		v, aerr := strconv.Atoi(off)
		if derr != nil || !ok || k != kind || aerr != nil || v < 0 || v > n {
			return 0, 0, "", errf(codeInvalidToken, "Invalid Token: '%s'", token)
		}
		start = v
	}
	end = min(start+maxResults, n)
	if end < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(end)))
	}
	return start, end, next, nil
}

func (s *Server) listStateMachines(in listIn) (any, error) {
	s.mu.Lock()
	all := make([]*stateMachine, 0, len(s.machines))
	for _, sm := range s.machines {
		all = append(all, sm)
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *stateMachine) int { return strings.Compare(a.arn, b.arn) })
	start, end, next, err := page("sm", len(all), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, end-start)
	for _, sm := range all[start:end] {
		items = append(items, map[string]any{"stateMachineArn": sm.arn, "name": sm.name, "type": sm.typ, "creationDate": epoch(sm.created)})
	}
	out := map[string]any{"stateMachines": items}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (s *Server) deleteStateMachine(in arnIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.machine(in.StateMachineArn); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == codeStateMachineDoesNotExist {
			return map[string]any{}, nil // deleting is idempotent
		}
		return nil, err
	}
	delete(s.machines, in.StateMachineArn)
	return map[string]any{}, nil
}
