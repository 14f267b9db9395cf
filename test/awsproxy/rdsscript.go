package awsproxy

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RDSScript scripts what RDS does and moto does not (FACTS.md, "The AWS
// emulator": "instances, snapshots and copies are available at once …; no
// concurrent-copy quota"). Every field is optional; the zero value changes
// nothing. Install it with Install; it acts on calls signed for Region (all
// regions when empty).
type RDSScript struct {
	Region string

	// SnapshotPolls: a DB snapshot made through the proxy (CreateDBSnapshot,
	// CopyDBSnapshot) is answered with status "creating" — no
	// SnapshotCreateTime, a rising PercentProgress — by those calls and by
	// the first SnapshotPolls DescribeDBSnapshots answers that include it;
	// then "available" with PercentProgress 100.
	SnapshotPolls int
	// InstancePolls: a DB instance made through the proxy (CreateDBInstance,
	// RestoreDBInstanceFromDBSnapshot, RestoreDBInstanceToPointInTime,
	// CreateDBInstanceReadReplica) is "creating", with no Endpoint, in those
	// answers and the first InstancePolls DescribeDBInstances answers that
	// include it; then "available" (or RestoredStatus).
	InstancePolls int
	// RestoredStatus, when set, is the status an instance restored from a
	// snapshot or to a point in time ends in instead of "available":
	// "failed" or "incompatible-restore" (both end the SDK's
	// DBInstanceAvailable waiter with an error).
	RestoredStatus string
	// RestoredEndpoint, "HOST:PORT", is the Endpoint (Address, Port) an
	// instance restored from a snapshot through the proxy answers with once
	// available: a test points the restored database at a real PostgreSQL.
	RestoredEndpoint string

	// CopyQuotaExceeded: the first CopyQuotaExceeded CopyDBSnapshot calls
	// answer RDS's error for the concurrent cross-region copy limit:
	// SnapshotQuotaExceeded (HTTP 400, the SDK's SnapshotQuotaExceededFault),
	// "Cannot copy more than 5 snapshots across regions".
	CopyQuotaExceeded int
	// RestoreError, when set, answers RestoreDBInstanceFromDBSnapshot calls
	// selected by RestoreErrorCalls (every call when zero), e.g.
	// Error("InsufficientDBInstanceCapacity", "…", 400) or Throttle().
	RestoreError      Effect
	RestoreErrorCalls Window

	// MadeAt maps a DB snapshot identifier to the SnapshotCreateTime its
	// DescribeDBSnapshots answers report (moto stamps a snapshot with the
	// time the test made it): a snapshot made long before the test.
	MadeAt map[string]time.Time

	// VanishingSnapshots maps a DB snapshot identifier to how many
	// DescribeDBSnapshots answers still include it; after that it is gone,
	// as if someone deleted it (0: gone from the start):
	// DescribeDBSnapshots by its identifier or ARN, CopyDBSnapshot and
	// RestoreDBInstanceFromDBSnapshot from it, DeleteDBSnapshot of it and
	// AddTagsToResource, RemoveTagsFromResource and ListTagsForResource on
	// its ARN answer DBSnapshotNotFound (HTTP 404), and listings leave it
	// out. A key ending in "*" matches every identifier that starts with
	// the rest: {"stepship-web-prod-*": 1} makes each backup's snapshot
	// vanish after one answer, whatever its name. The region a snapshot is
	// gone from is the call's, or the one in its ARN (the source of a
	// cross-region copy).
	VanishingSnapshots map[string]int
}

// CopyQuotaMessage is RDS's message for the concurrent cross-region copy
// limit, as it answers CopyDBSnapshot.
const CopyQuotaMessage = "Cannot copy more than 5 snapshots across regions"

// Script is an installed script: Remove takes its rules out.
type Script struct{ handles []*Handle }

// Remove takes the script's rules out of the proxy.
func (s *Script) Remove() {
	for _, h := range s.handles {
		h.Remove()
	}
}

func (s *Script) add(p *Proxy, r Rule) { s.handles = append(s.handles, p.Add(r)) }

// rdsState is what an RDS script remembers between calls.
type rdsState struct {
	mu        sync.Mutex
	snapshots map[string]int // account/region/id → answers so far
	instances map[string]int
	restored  map[string]bool
	seen      map[string]int // vanishing snapshot region/id → answers that included it
}

// Install adds the script's rules to p.
func (s RDSScript) Install(p *Proxy) *Script {
	st := &rdsState{snapshots: map[string]int{}, instances: map[string]int{}, restored: map[string]bool{}, seen: map[string]int{}}
	sc := &Script{}
	rule := func(action string, when func(*Request) bool, calls Window, e Effect) {
		sc.add(p, Rule{Service: "rds", Region: s.Region, Action: action, When: when, Calls: calls, Effect: e})
	}
	if s.CopyQuotaExceeded > 0 {
		rule("CopyDBSnapshot", nil, FirstCalls(s.CopyQuotaExceeded), Error("SnapshotQuotaExceeded", CopyQuotaMessage, http.StatusBadRequest))
	}
	if s.RestoreError.kind != kindNone {
		rule("RestoreDBInstanceFromDBSnapshot", nil, s.RestoreErrorCalls, s.RestoreError)
	}
	if len(s.VanishingSnapshots) > 0 {
		notFound := func(param string) func(*Request) bool {
			return func(r *Request) bool { return s.vanished(st, r.Region, r.Param(param)) }
		}
		gone := Effect{kind: kindError, name: "error DBSnapshotNotFound", err: func(Target) apiError {
			return apiError{"DBSnapshotNotFound", "DBSnapshot not found.", http.StatusNotFound}
		}}
		rule("DescribeDBSnapshots", notFound("DBSnapshotIdentifier"), Window{}, gone)
		rule("DeleteDBSnapshot", notFound("DBSnapshotIdentifier"), Window{}, gone)
		rule("RestoreDBInstanceFromDBSnapshot", notFound("DBSnapshotIdentifier"), Window{}, gone)
		rule("CopyDBSnapshot", notFound("SourceDBSnapshotIdentifier"), Window{}, gone)
		for _, action := range []string{"AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"} {
			rule(action, func(r *Request) bool {
				arn := r.Param("ResourceName")
				return strings.Contains(arn, ":snapshot:") && s.vanished(st, r.Region, arn)
			}, Window{}, gone)
		}
	}
	if len(s.MadeAt) > 0 {
		rule("DescribeDBSnapshots", nil, Window{}, Respond(func(r *Request, resp *Response) error {
			return st.rewrite(p, r, resp, "DBSnapshot", func(elem []byte, id, _ string) []byte {
				if at, ok := s.MadeAt[id]; ok {
					return xmlSet(elem, "SnapshotCreateTime", at.UTC().Format(time.RFC3339Nano))
				}
				return elem
			})
		}))
	}
	if s.SnapshotPolls > 0 || len(s.VanishingSnapshots) > 0 {
		for _, action := range []string{"CreateDBSnapshot", "CopyDBSnapshot", "DescribeDBSnapshots"} {
			rule(action, nil, Window{}, Respond(func(r *Request, resp *Response) error {
				return s.snapshotAnswer(p, st, r, resp)
			}))
		}
	}
	if s.InstancePolls > 0 || s.RestoredStatus != "" || s.RestoredEndpoint != "" {
		for _, action := range []string{"CreateDBInstance", "RestoreDBInstanceFromDBSnapshot", "RestoreDBInstanceToPointInTime", "CreateDBInstanceReadReplica", "DescribeDBInstances"} {
			rule(action, nil, Window{}, Respond(func(r *Request, resp *Response) error {
				return s.instanceAnswer(p, st, r, resp)
			}))
		}
	}
	return sc
}

// snapshotID reduces an identifier or ARN (…:snapshot:ID) to the ID.
func snapshotID(s string) string { return s[strings.LastIndexByte(s, ':')+1:] }

// snapshotRegion is the region an identifier or ARN names: the ARN's
// (arn:aws:rds:REGION:…), else region, the call's.
func snapshotRegion(region, idOrARN string) string {
	if parts := strings.SplitN(idOrARN, ":", 5); len(parts) == 5 && parts[0] == "arn" && parts[3] != "" {
		return parts[3]
	}
	return region
}

// survives is how many answers may still include the snapshot, if it
// vanishes: its own entry of VanishingSnapshots, else that of the longest
// prefix ("…*") it starts with.
func (s RDSScript) survives(id string) (n int, ok bool) {
	if n, ok := s.VanishingSnapshots[id]; ok || id == "" {
		return n, ok
	}
	longest := -1
	for k, v := range s.VanishingSnapshots {
		if prefix, isPrefix := strings.CutSuffix(k, "*"); isPrefix && strings.HasPrefix(id, prefix) && len(prefix) > longest {
			longest, n, ok = len(prefix), v, true
		}
	}
	return n, ok
}

// vanished reports whether the snapshot is gone for good in region (or in
// the region its ARN names, when that is one the script acts on).
func (s RDSScript) vanished(st *rdsState, region, idOrARN string) bool {
	id := snapshotID(idOrARN)
	survives, ok := s.survives(id)
	region = snapshotRegion(region, idOrARN)
	if !ok || (s.Region != "" && region != s.Region) {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.seen[region+"/"+id] >= survives
}

// rewrite edits each <element> of a successful answer under the state's
// lock; f gets the element, its <element>Identifier and the
// account/region/id key (the same identifier in another account, a copy
// shared there, is another resource).
func (st *rdsState) rewrite(p *Proxy, r *Request, resp *Response, element string, f func(elem []byte, id, key string) []byte) error {
	if resp.Status != http.StatusOK {
		return nil
	}
	account, err := p.accountOf(p.ctx, r)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	resp.Body = rewriteElements(resp.Body, element, func(elem []byte) []byte {
		id, ok := xmlChild(elem, element+"Identifier")
		if !ok {
			err = fmt.Errorf("a %s without %sIdentifier in the answer to %s", element, element, r.Action)
			return elem
		}
		return f(elem, id, account+"/"+r.Region+"/"+id)
	})
	return err
}

func (s RDSScript) snapshotAnswer(p *Proxy, st *rdsState, r *Request, resp *Response) error {
	created := r.Action != "DescribeDBSnapshots"
	return st.rewrite(p, r, resp, "DBSnapshot", func(elem []byte, id, key string) []byte {
		if survives, ok := s.survives(id); ok && !created {
			seen := r.Region + "/" + id // as vanished (a rule predicate) reads it
			if st.seen[seen] >= survives {
				return nil
			}
			st.seen[seen]++
		}
		if s.SnapshotPolls == 0 {
			return elem
		}
		if created {
			st.snapshots[key] = 0
		} else if n, ok := st.snapshots[key]; ok {
			st.snapshots[key] = n + 1
		} else {
			return elem // not made through this script
		}
		return snapshotProgress(elem, st.snapshots[key], s.SnapshotPolls)
	})
}

// snapshotProgress shows a snapshot in the n-th answer after the one that
// made it (n = 0), polls of them showing it creating: creating, without
// SnapshotCreateTime, PercentProgress rising, while n ≤ polls; then
// available at 100 %.
func snapshotProgress(elem []byte, n, polls int) []byte {
	if n >= 1 && n > polls {
		return xmlSet(xmlSet(elem, "Status", "available"), "PercentProgress", "100")
	}
	elem = xmlSet(elem, "Status", "creating")
	elem = xmlRemove(elem, "SnapshotCreateTime")
	return xmlSet(elem, "PercentProgress", strconv.Itoa(100*n/(polls+1)))
}

func (s RDSScript) instanceAnswer(p *Proxy, st *rdsState, r *Request, resp *Response) error {
	created := r.Action != "DescribeDBInstances"
	restore := strings.HasPrefix(r.Action, "Restore")
	return st.rewrite(p, r, resp, "DBInstance", func(elem []byte, _, key string) []byte {
		if created {
			st.instances[key] = 0
			st.restored[key] = restore
		} else if n, ok := st.instances[key]; ok {
			st.instances[key] = n + 1
		} else {
			return elem
		}
		if n := st.instances[key]; n >= 1 && n > s.InstancePolls {
			if st.restored[key] && s.RestoredStatus != "" {
				return xmlSet(elem, "DBInstanceStatus", s.RestoredStatus)
			}
			if host, port, ok := strings.Cut(s.RestoredEndpoint, ":"); ok && st.restored[key] {
				elem = xmlSetInner(elem, "Endpoint", "<Address>"+xmlText(host)+"</Address><Port>"+xmlText(port)+"</Port>")
			}
			return xmlSet(elem, "DBInstanceStatus", "available")
		}
		return xmlRemove(xmlSet(elem, "DBInstanceStatus", "creating"), "Endpoint")
	})
}
