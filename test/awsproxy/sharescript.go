package awsproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// SharedSnapshotScript scripts what RDS does and moto does not with a DB
// snapshot shared with another account. moto 5.2 lists a snapshot shared
// with the caller's account (DescribeDBSnapshots SnapshotType=shared), but
// CopyDBSnapshot from its ARN looks for the identifier in the caller's own
// account (DBSnapshotNotFound), and nothing checks the share or the
// snapshot's key. With the script, a CopyDBSnapshot signed for Region (all
// when empty) whose SourceDBSnapshotIdentifier is the ARN of a snapshot of
// another account in that region is answered as RDS answers it:
//
//   - DBSnapshotNotFound (404) when the snapshot does not exist, or is not
//     shared with the caller's account (its restore attribute names neither
//     the account nor all);
//   - InvalidDBSnapshotState (400) when it is not available;
//   - for an encrypted snapshot, KMSKeyNotAccessibleFault (400) when the
//     call names no KmsKeyId, or when no grant on the snapshot's key gives a
//     principal of the caller's account Decrypt, DescribeKey and
//     CreateGrant; and for any, when the caller's account has no key
//     KmsKeyId (an ARN, alias ARN, id or alias) in the region;
//   - else the copy is made in the caller's account: a DB snapshot with the
//     target identifier, the source's instance identifier, engine, engine
//     version, storage and master user, encrypted with KmsKeyId (its key
//     ARN, as RDS reports it), tagged
//     with the call's Tags (with CopyTags and no Tags, the source's), and
//     answered with SourceDBSnapshotIdentifier and SourceRegion. It is
//     "creating" in that answer and in the first CopyPolls
//     DescribeDBSnapshots answers of that account that include it, then
//     available.
//
// moto makes the copy the only way it can make a snapshot with the
// source's attributes in another account: a stand-in DB instance of the
// source's identifier in the caller's account, its snapshot, the stand-in
// deleted (with its automated backups) — all before the answer, so the
// caller never sees it; the script refuses (InternalFailure, and
// Proxy.Errors) when the caller's account already has an instance of that
// identifier. A copy from the caller's own account passes through
// unchanged. DB cluster snapshots are not scripted.
type SharedSnapshotScript struct {
	Region    string
	CopyPolls int
}

// shareState is what the script remembers: the copies it made, by
// account/region/identifier, and how many answers showed each
// (polls.snapshots).
type shareState struct {
	mu    sync.Mutex // one copy at a time (the stand-in instance)
	polls *rdsState
}

// Install adds the script's rules to p.
func (s SharedSnapshotScript) Install(p *Proxy) *Script {
	st := &shareState{polls: &rdsState{snapshots: map[string]int{}}}
	sc := &Script{}
	sc.add(p, Rule{Service: "rds", Region: s.Region, Action: "CopyDBSnapshot", When: crossAccountSource,
		Effect: Answer(func(r *Request) (*Response, error) { return s.copy(p, st, r) })})
	if s.CopyPolls > 0 {
		sc.add(p, Rule{Service: "rds", Region: s.Region, Action: "DescribeDBSnapshots",
			Effect: Respond(func(r *Request, resp *Response) error { return s.describe(p, st, r, resp) })})
	}
	return sc
}

// crossAccountSource: the source is an ARN in the call's region. Whose
// account it is the answer finds out (a rule's predicate may not call the
// emulator).
func crossAccountSource(r *Request) bool {
	a, err := arn.Parse(r.Param("SourceDBSnapshotIdentifier"))
	return err == nil && a.Service == "rds" && a.Region == r.Region && a.AccountID != ""
}

// sharedSnapshot is what the script reads of the source snapshot.
type sharedSnapshot struct {
	ID               string `xml:"DBSnapshotIdentifier"`
	Instance         string `xml:"DBInstanceIdentifier"`
	Status           string `xml:"Status"`
	Engine           string `xml:"Engine"`
	EngineVersion    string `xml:"EngineVersion"`
	AllocatedStorage int    `xml:"AllocatedStorage"`
	MasterUsername   string `xml:"MasterUsername"`
	Encrypted        bool   `xml:"Encrypted"`
	KmsKeyID         string `xml:"KmsKeyId"`
	Tags             []struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	} `xml:"TagList>Tag"`
}

// shareGrantOps are what RDS needs of the source's key to copy it.
var shareGrantOps = []string{"CreateGrant", "Decrypt", "DescribeKey"}

func (s SharedSnapshotScript) copy(p *Proxy, st *shareState, r *Request) (*Response, error) {
	ctx := p.ctx
	caller, err := p.accountOf(ctx, r)
	if err != nil {
		return nil, err
	}
	source := r.Param("SourceDBSnapshotIdentifier")
	src, _ := arn.Parse(source)
	if src.AccountID == caller {
		return p.replay(ctx, r)
	}
	id := snapshotID(source)
	notFound := errorResponse(r, apiError{"DBSnapshotNotFound", "DBSnapshot " + source + " not found.", http.StatusNotFound})

	ans, err := p.motoQuery(ctx, "rds", r.Region, src.AccountID, url.Values{"Action": {"DescribeDBSnapshots"}, "Version": {rdsVersion}, "DBSnapshotIdentifier": {id}})
	if err != nil {
		return nil, err
	}
	var found struct {
		Snapshots []sharedSnapshot `xml:"DescribeDBSnapshotsResult>DBSnapshots>DBSnapshot"`
	}
	if e := ans.queryError(); e.Code == "DBSnapshotNotFound" {
		return notFound, nil
	} else if !ans.ok() || xml.Unmarshal(ans.Body, &found) != nil || len(found.Snapshots) != 1 {
		return nil, fmt.Errorf("reading snapshot %s of account %s: HTTP %d: %s", id, src.AccountID, ans.Status, ans.Body)
	}
	snap := found.Snapshots[0]
	shared, err := p.sharedWith(ctx, r.Region, src.AccountID, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(shared, caller) && !slices.Contains(shared, "all") {
		return notFound, nil
	}
	if snap.Status != "available" {
		return errorResponse(r, apiError{"InvalidDBSnapshotState", "Snapshot " + source + " is not in available state.", http.StatusBadRequest}), nil
	}
	target := r.Param("KmsKeyId")
	if snap.Encrypted {
		noKey := errorResponse(r, apiError{"KMSKeyNotAccessibleFault",
			"The source snapshot KMS key [" + snap.KmsKeyID + "] does not exist, is not enabled or you do not have permissions to access it.", http.StatusBadRequest})
		if target == "" {
			return noKey, nil
		}
		granted, err := p.granted(ctx, r.Region, src.AccountID, snap.KmsKeyID, caller)
		if err != nil {
			return nil, err
		}
		if !granted {
			return noKey, nil
		}
	}

	if target != "" {
		arn, ok, err := p.keyARN(ctx, r.Region, caller, target)
		if err != nil {
			return nil, err
		}
		if !ok {
			return errorResponse(r, apiError{"KMSKeyNotAccessibleFault", "The specified KMS key [" + target + "] does not exist, is not enabled or you do not have permissions to access it.", http.StatusBadRequest}), nil
		}
		target = arn
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	body, err := s.makeCopy(ctx, p, r, caller, source, snap, target)
	if err != nil || body.Status != http.StatusOK {
		return body, err
	}
	key := caller + "/" + r.Region + "/" + strings.ToLower(r.Param("TargetDBSnapshotIdentifier"))
	st.polls.mu.Lock()
	st.polls.snapshots[key] = 0
	st.polls.mu.Unlock()
	return body, nil
}

// rdsVersion is the RDS API version of the script's own calls.
const rdsVersion = "2014-10-31"

// sharedWith lists the accounts a snapshot's restore attribute names.
func (p *Proxy) sharedWith(ctx context.Context, region, account, id string) ([]string, error) {
	ans, err := p.motoQuery(ctx, "rds", region, account, url.Values{"Action": {"DescribeDBSnapshotAttributes"}, "Version": {rdsVersion}, "DBSnapshotIdentifier": {id}})
	if err != nil {
		return nil, err
	}
	var attrs struct {
		Attributes []struct {
			Name   string   `xml:"AttributeName"`
			Values []string `xml:"AttributeValues>AttributeValue"`
		} `xml:"DescribeDBSnapshotAttributesResult>DBSnapshotAttributesResult>DBSnapshotAttributes>DBSnapshotAttribute"`
	}
	if !ans.ok() || xml.Unmarshal(ans.Body, &attrs) != nil {
		return nil, fmt.Errorf("reading the attributes of snapshot %s of account %s: HTTP %d: %s", id, account, ans.Status, ans.Body)
	}
	for _, a := range attrs.Attributes {
		if a.Name == "restore" {
			return a.Values, nil
		}
	}
	return nil, nil
}

// granted reports whether a grant on key (of account, in region) gives a
// principal of grantee every operation RDS needs to copy with it.
func (p *Proxy) granted(ctx context.Context, region, account, key, grantee string) (bool, error) {
	marker := ""
	for {
		in := map[string]any{"KeyId": key}
		if marker != "" {
			in["Marker"] = marker
		}
		ans, err := p.motoJSON(ctx, "kms", region, account, "TrentService.ListGrants", in)
		if err != nil {
			return false, err
		}
		var out struct {
			Grants []struct {
				GranteePrincipal string
				Operations       []string
			}
			Truncated  bool
			NextMarker string
		}
		if !ans.ok() || json.Unmarshal(ans.Body, &out) != nil {
			return false, fmt.Errorf("listing the grants of key %s of account %s: HTTP %d: %s", key, account, ans.Status, ans.Body)
		}
		for _, g := range out.Grants {
			if principalAccount(g.GranteePrincipal) != grantee {
				continue
			}
			if !slices.ContainsFunc(shareGrantOps, func(op string) bool { return !slices.Contains(g.Operations, op) }) {
				return true, nil
			}
		}
		if !out.Truncated || out.NextMarker == "" {
			return false, nil
		}
		marker = out.NextMarker
	}
}

// keyARN is the ARN of account's key in region that key names (an ARN,
// alias ARN, id or alias); false when there is none.
func (p *Proxy) keyARN(ctx context.Context, region, account, key string) (string, bool, error) {
	ans, err := p.motoJSON(ctx, "kms", region, account, "TrentService.DescribeKey", map[string]any{"KeyId": key})
	if err != nil {
		return "", false, err
	}
	var out struct{ KeyMetadata struct{ Arn string } }
	if ans.Status == http.StatusBadRequest || ans.Status == http.StatusNotFound {
		return "", false, nil
	}
	if !ans.ok() || json.Unmarshal(ans.Body, &out) != nil || out.KeyMetadata.Arn == "" {
		return "", false, fmt.Errorf("describing key %s of account %s: HTTP %d: %s", key, account, ans.Status, ans.Body)
	}
	return out.KeyMetadata.Arn, true, nil
}

// principalAccount is the account of a principal: an account id, or an
// IAM ARN's account.
func principalAccount(principal string) string {
	if a, err := arn.Parse(principal); err == nil {
		return a.AccountID
	}
	return principal
}

// makeCopy makes the copy in the caller's account (see the type's doc) and
// returns CopyDBSnapshot's answer.
func (s SharedSnapshotScript) makeCopy(ctx context.Context, p *Proxy, r *Request, caller, source string, snap sharedSnapshot, key string) (*Response, error) {
	call := func(params url.Values) (motoAnswer, error) {
		params.Set("Version", rdsVersion)
		return p.motoQuery(ctx, "rds", r.Region, caller, params)
	}
	create := url.Values{"Action": {"CreateDBInstance"}, "DBInstanceIdentifier": {snap.Instance}, "DBInstanceClass": {"db.t3.micro"},
		"Engine": {snap.Engine}, "EngineVersion": {snap.EngineVersion}, "AllocatedStorage": {strconv.Itoa(max(snap.AllocatedStorage, 20))},
		"MasterUsername": {snap.MasterUsername}, "MasterUserPassword": {"awsproxy-stand-in"}}
	if key != "" {
		create.Set("StorageEncrypted", "true")
		create.Set("KmsKeyId", key)
	}
	ans, err := call(create)
	if err != nil {
		return nil, err
	}
	if e := ans.queryError(); e.Code == "DBInstanceAlreadyExists" {
		return nil, fmt.Errorf("account %s already has a DB instance %s: the script makes its stand-in under that identifier", caller, snap.Instance)
	} else if !ans.ok() {
		return errorResponse(r, e), nil // e.g. KMSKeyNotAccessibleFault for the target key
	}
	snapshot := url.Values{"Action": {"CreateDBSnapshot"}, "DBInstanceIdentifier": {snap.Instance}, "DBSnapshotIdentifier": {r.Param("TargetDBSnapshotIdentifier")}}
	tags := requestTags(r)
	if len(tags) == 0 && strings.EqualFold(r.Param("CopyTags"), "true") {
		for _, t := range snap.Tags {
			tags = append(tags, [2]string{t.Key, t.Value})
		}
	}
	for i, t := range tags {
		snapshot.Set(fmt.Sprintf("Tags.Tag.%d.Key", i+1), t[0])
		snapshot.Set(fmt.Sprintf("Tags.Tag.%d.Value", i+1), t[1])
	}
	made, err := call(snapshot)
	if err != nil {
		return nil, err
	}
	gone, err := call(url.Values{"Action": {"DeleteDBInstance"}, "DBInstanceIdentifier": {snap.Instance}, "SkipFinalSnapshot": {"true"}, "DeleteAutomatedBackups": {"true"}})
	if err != nil {
		return nil, err
	}
	if !gone.ok() {
		return nil, fmt.Errorf("deleting the stand-in instance %s of account %s: HTTP %d: %s", snap.Instance, caller, gone.Status, gone.Body)
	}
	if !made.ok() {
		return errorResponse(r, made.queryError()), nil // e.g. DBSnapshotAlreadyExists
	}
	body := bytes.ReplaceAll(made.Body, []byte("CreateDBSnapshot"), []byte("CopyDBSnapshot"))
	body = rewriteElements(body, "DBSnapshot", func(elem []byte) []byte {
		elem = xmlSet(elem, "SourceDBSnapshotIdentifier", source)
		elem = xmlSet(elem, "SourceRegion", r.Region)
		if s.CopyPolls > 0 {
			elem = snapshotProgress(elem, 0, s.CopyPolls)
		}
		return elem
	})
	h := http.Header{}
	h.Set("Content-Type", "text/xml")
	return &Response{Status: http.StatusOK, Header: h, Body: body}, nil
}

// requestTags are a query-protocol call's Tags.Tag.N.Key/Value (or
// Tags.member.N), in order.
func requestTags(r *Request) [][2]string {
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return nil
	}
	var out [][2]string
	for i := 1; ; i++ {
		k, v := "", ""
		for _, prefix := range []string{"Tags.Tag.", "Tags.member."} {
			if key := form.Get(prefix + strconv.Itoa(i) + ".Key"); key != "" {
				k, v = key, form.Get(prefix+strconv.Itoa(i)+".Value")
			}
		}
		if k == "" {
			return out
		}
		out = append(out, [2]string{k, v})
	}
}

// describe shows a copy the script made as creating for the first
// CopyPolls answers of its account that include it.
func (s SharedSnapshotScript) describe(p *Proxy, st *shareState, r *Request, resp *Response) error {
	return st.polls.rewrite(p, r, resp, "DBSnapshot", func(elem []byte, _, key string) []byte {
		n, ok := st.polls.snapshots[key]
		if !ok {
			return elem // not a copy the script made
		}
		st.polls.snapshots[key] = n + 1
		return snapshotProgress(elem, n+1, s.CopyPolls)
	})
}

// replay sends a call to the emulator as it came, for an Answer that lets
// it through.
func (p *Proxy) replay(ctx context.Context, r *Request) (*Response, error) {
	if r.Body == nil {
		return nil, fmt.Errorf("the body of %s is past the proxy's body limit: it cannot be replayed", r.Action)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(p.target.String(), "/")+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	req.Header.Del("Content-Encoding") // Body is the plain body
	ans, err := p.motoDo(req)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "text/xml")
	return &Response{Status: ans.Status, Header: h, Body: ans.Body}, nil
}
