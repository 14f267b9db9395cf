package awsproxy

import (
	"net/http"
	"net/url"
	"strings"
)

// Protocol is the wire protocol of one AWS call: it decides how the action is
// read from the request and how an injected error is shaped.
type Protocol string

// The protocols the proxy tells apart.
const (
	// ProtocolJSON is awsJson1_0 / awsJson1_1 (ECS, ECR, Secrets Manager,
	// Step Functions, DynamoDB, CodeBuild, …): the action is in X-Amz-Target.
	ProtocolJSON Protocol = "json"
	// ProtocolQuery is awsQuery (RDS, IAM, STS, SNS, …): the action is the
	// Action field of the form-encoded body; errors are <ErrorResponse> XML.
	ProtocolQuery Protocol = "query"
	// ProtocolEC2 is ec2Query: like ProtocolQuery, with EC2's own error shape
	// (<Response><Errors><Error>).
	ProtocolEC2 Protocol = "ec2"
	// ProtocolCBOR is Smithy RPC v2 CBOR (CloudWatch in current SDKs): the
	// action is the last segment of /service/NAME/operation/ACTION.
	ProtocolCBOR Protocol = "cbor"
	// ProtocolREST is restJson1 / restXml (Lambda, Scheduler, S3, …): the
	// operation is in the method and path, so Call.Action is empty; match
	// such calls with Rule.When on Request.Method and Request.Path.
	ProtocolREST Protocol = "rest"
)

// Target is what identifies one AWS call.
type Target struct {
	// Service is the SigV4 signing name from the credential scope: "ecs",
	// "rds", "secretsmanager", "states" (Step Functions), "monitoring"
	// (CloudWatch), "events" (EventBridge), "ecr", "dynamodb", … Empty when
	// the request is not signed.
	Service string
	// Region is the region from the credential scope (or, for SigV4a, from
	// X-Amz-Region-Set). Empty when the request is not signed.
	Region string
	// Action is the operation name, e.g. "UpdateService" or
	// "DescribeDBSnapshots"; empty for ProtocolREST.
	Action   string
	Protocol Protocol
}

// String is "service/region/action", the key calls are counted by.
func (t Target) String() string { return t.Service + "/" + t.Region + "/" + t.Action }

// Identify reads service, region, action and protocol from a request. body
// is the request body as read so far (the proxy reads at most its body limit;
// a query-protocol action past that is not found). Identify never fails: what
// it cannot read stays empty.
func Identify(r *http.Request, body []byte) Target {
	var t Target
	t.Service, t.Region = credentialScope(r)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		t.Protocol = ProtocolJSON
		t.Action = target[strings.LastIndexByte(target, '.')+1:]
		return t
	}
	if op, ok := cborOperation(r); ok {
		t.Protocol, t.Action = ProtocolCBOR, op
		return t
	}
	if action := queryAction(r, body); action != "" {
		t.Protocol, t.Action = ProtocolQuery, action
		if t.Service == "ec2" {
			t.Protocol = ProtocolEC2
		}
		return t
	}
	t.Protocol = ProtocolREST
	return t
}

// credentialScope reads the service and region from the SigV4 (or SigV4a)
// credential scope: AKID/DATE/REGION/SERVICE/aws4_request (SigV4a has no
// region: AKID/DATE/SERVICE/aws4_request, with the regions in
// X-Amz-Region-Set). A presigned URL carries the scope in X-Amz-Credential.
func credentialScope(r *http.Request) (service, region string) {
	cred := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return "", ""
		}
		cred, _, _ = strings.Cut(rest, ",")
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	parts := strings.Split(strings.TrimSpace(cred), "/")
	n := len(parts)
	if n < 4 || parts[n-1] != "aws4_request" {
		return "", ""
	}
	service = parts[n-2]
	if n >= 5 {
		region = parts[n-3]
	} else {
		region, _, _ = strings.Cut(r.Header.Get("X-Amz-Region-Set"), ",")
		region = strings.TrimSpace(region)
	}
	return service, region
}

// cborOperation reads the action of a Smithy RPC v2 request:
// POST /service/SERVICE/operation/ACTION.
func cborOperation(r *http.Request) (string, bool) {
	if !strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor") {
		return "", false
	}
	_, op, ok := strings.Cut(r.URL.Path, "/operation/")
	if !ok || op == "" || strings.Contains(op, "/") {
		return "", false
	}
	return op, true
}

// queryAction reads Action from a form-encoded body (or, for a GET, from
// the URL query).
func queryAction(r *http.Request, body []byte) string {
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("Action")
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/x-www-form-urlencoded") {
		return ""
	}
	// ParseQuery keeps the fields it could read before a malformed one.
	form, _ := url.ParseQuery(string(body))
	return form.Get("Action")
}

// AppID reads the SDK application id from a User-Agent: the NAME of its
// app/NAME element, which the AWS SDKs add for aws.Config.AppID (set from
// AWS_SDK_UA_APP_ID). It tells apart callers whose calls are otherwise
// alike (a function's DescribeDBSnapshots and a state machine's). Empty when
// there is none.
func AppID(userAgent string) string {
	for _, f := range strings.Fields(userAgent) {
		if id, ok := strings.CutPrefix(f, "app/"); ok {
			return id
		}
	}
	return ""
}
