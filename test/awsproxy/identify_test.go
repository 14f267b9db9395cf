package awsproxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"
)

func rawRequest(t testing.TB, raw string) (*http.Request, []byte) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n"))))
	if err != nil {
		t.Fatalf("reading the request: %v", err)
	}
	body, _ := io.ReadAll(r.Body)
	return r, body
}

func TestIdentify(t *testing.T) {
	const auth = "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/%s/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc\n"
	sign := func(scope string) string { return strings.Replace(auth, "%s", scope, 1) }
	cases := []struct {
		name, raw string
		want      Target
	}{
		{"ECS awsJson1_1", "POST / HTTP/1.1\nHost: x\n" + sign("us-east-1/ecs") + "X-Amz-Target: AmazonEC2ContainerServiceV20141113.UpdateService\nContent-Type: application/x-amz-json-1.1\nContent-Length: 2\n\n{}",
			Target{"ecs", "us-east-1", "UpdateService", ProtocolJSON}},
		{"Step Functions awsJson1_0", "POST / HTTP/1.1\nHost: x\n" + sign("eu-west-1/states") + "X-Amz-Target: AWSStepFunctions.StartExecution\nContent-Length: 0\n\n",
			Target{"states", "eu-west-1", "StartExecution", ProtocolJSON}},
		{"RDS query", "POST / HTTP/1.1\nHost: x\n" + sign("us-west-2/rds") + "Content-Type: application/x-www-form-urlencoded; charset=utf-8\nContent-Length: 56\n\nAction=DescribeDBSnapshots&Version=2014-10-31&Marker=a%26",
			Target{"rds", "us-west-2", "DescribeDBSnapshots", ProtocolQuery}},
		{"EC2 query", "POST / HTTP/1.1\nHost: x\n" + sign("us-east-1/ec2") + "Content-Type: application/x-www-form-urlencoded\nContent-Length: 31\n\nAction=DescribeVpcs&Version=1.0",
			Target{"ec2", "us-east-1", "DescribeVpcs", ProtocolEC2}},
		{"query by GET", "GET /?Action=ListUsers&Version=2010-05-08 HTTP/1.1\nHost: x\n" + sign("us-east-1/iam") + "\n",
			Target{"iam", "us-east-1", "ListUsers", ProtocolQuery}},
		{"CloudWatch RPC v2 CBOR", "POST /service/GraniteServiceVersion20100801/operation/DescribeAlarms HTTP/1.1\nHost: x\n" + sign("us-east-1/monitoring") + "Smithy-Protocol: rpc-v2-cbor\nContent-Length: 0\n\n",
			Target{"monitoring", "us-east-1", "DescribeAlarms", ProtocolCBOR}},
		{"Lambda restJson1", "POST /2015-03-31/functions/deploy/invocations HTTP/1.1\nHost: x\n" + sign("us-east-1/lambda") + "Content-Length: 2\n\n{}",
			Target{"lambda", "us-east-1", "", ProtocolREST}},
		{"SigV4a", "GET /bucket HTTP/1.1\nHost: x\nAuthorization: AWS4-ECDSA-P256-SHA256 Credential=testing/20260101/s3/aws4_request, SignedHeaders=host, Signature=abc\nX-Amz-Region-Set: eu-central-1,us-east-1\n\n",
			Target{"s3", "eu-central-1", "", ProtocolREST}},
		{"presigned", "GET /?X-Amz-Credential=testing%2F20260101%2Fus-east-2%2Frds%2Faws4_request&Action=CopyDBSnapshot HTTP/1.1\nHost: x\n\n",
			Target{"rds", "us-east-2", "CopyDBSnapshot", ProtocolQuery}},
		{"unsigned", "POST / HTTP/1.1\nHost: x\nX-Amz-Target: Foo.Bar\nContent-Length: 0\n\n",
			Target{"", "", "Bar", ProtocolJSON}},
		{"bad scope", "POST / HTTP/1.1\nHost: x\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/us-east-1/ecs\nX-Amz-Target: Foo.Bar\nContent-Length: 0\n\n",
			Target{"", "", "Bar", ProtocolJSON}},
		{"form without action", "POST / HTTP/1.1\nHost: x\n" + sign("us-east-1/sts") + "Content-Type: application/x-www-form-urlencoded\nContent-Length: 5\n\na=b;c",
			Target{"sts", "us-east-1", "", ProtocolREST}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, body := rawRequest(t, tc.raw)
			if got := Identify(r, body); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzIdentify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host", "AmazonEC2ContainerServiceV20141113.UpdateService", "application/x-amz-json-1.1", "/", "{}")
	f.Add("AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/rds/aws4_request", "", "application/x-www-form-urlencoded", "/", "Action=CopyDBSnapshot&Version=2014-10-31")
	f.Add("AWS4-ECDSA-P256-SHA256 Credential=a/b/s3/aws4_request", "", "", "/service/x/operation/Y", "")
	f.Add("Credential=////aws4_request,", "a.b.c", "", "", "%zz&Action=X")
	f.Fuzz(func(t *testing.T, auth, target, contentType, path, body string) {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Skip()
		}
		r.URL.Path = path
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Target", target)
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		got := Identify(r, []byte(body))
		if strings.Contains(got.Service, "/") || strings.Contains(got.Region, "/") {
			t.Errorf("scope parts with a slash: %+v", got)
		}
		if r.Header.Get("X-Amz-Target") != "" && (got.Protocol != ProtocolJSON || strings.Contains(got.Action, ".")) {
			t.Errorf("JSON target %q read as %+v", target, got)
		}
		if got.Protocol == "" {
			t.Errorf("no protocol: %+v", got)
		}
	})
}

// TestErrorShapes: what an injected error looks like on the wire, per
// protocol (the SDK round trips are in proxy_test.go).
func TestErrorShapes(t *testing.T) {
	cases := []struct {
		target               Target
		effect               Effect
		status               int
		contentType, content string
	}{
		{Target{"ecs", "us-east-1", "UpdateService", ProtocolJSON}, Throttle(), 400, "application/x-amz-json-1.1", `{"__type":"ThrottlingException","message":"Rate exceeded"}`},
		{Target{"rds", "us-east-1", "CopyDBSnapshot", ProtocolQuery}, Throttle(), 400, "text/xml", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>"},
		{Target{"rds", "us-east-1", "CopyDBSnapshot", ProtocolQuery}, ServerError(), 500, "text/xml", "<Type>Receiver</Type><Code>InternalFailure</Code>"},
		{Target{"ec2", "us-east-1", "DescribeVpcs", ProtocolEC2}, Throttle(), 503, "text/xml", "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"},
		{Target{"lambda", "us-east-1", "", ProtocolREST}, Throttle(), 429, "application/", `"__type":"TooManyRequestsException"`},
		{Target{"s3", "us-east-1", "", ProtocolREST}, Error("NoSuchKey", "a<b", 404), 404, "application/xml", "<Error><Code>NoSuchKey</Code><Message>a&lt;b</Message>"},
	}
	for _, tc := range cases {
		t.Run(tc.target.String()+" "+tc.effect.String(), func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			w := &recorder{header: http.Header{}}
			writeAPIError(w, r, tc.target, tc.effect.err(tc.target))
			if w.status != tc.status || !strings.HasPrefix(w.header.Get("Content-Type"), tc.contentType) || !strings.Contains(w.body.String(), tc.content) {
				t.Errorf("got %d %s %s", w.status, w.header.Get("Content-Type"), w.body.String())
			}
			if w.header.Get("X-Amzn-RequestId") == "" {
				t.Error("no request id")
			}
		})
	}
}

func TestCBORError(t *testing.T) {
	long := strings.Repeat("x", 300)
	b := cborStringMap("__type", "ThrottlingException", "message", long)
	v, err := cbor.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(cbor.Map)
	if !ok || m["__type"] != cbor.String("ThrottlingException") || m["message"] != cbor.String(long) {
		t.Errorf("decoded %#v", v)
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func TestAppID(t *testing.T) {
	for ua, want := range map[string]string{
		"aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26 md/GOOS#linux api/rds#1.128.0 app/stepship-snapshot m/E,g": "stepship-snapshot",
		"aws-sdk-go-v2/1.48.0 ua/2.1 app/states":                            "states",
		"aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26 api/rds#1.128.0": "",
		"":                    "",
		"curl/8.5.0":          "",
		"x-app/a app/b app/c": "b",
	} {
		if got := AppID(ua); got != want {
			t.Errorf("AppID(%q) = %q, want %q", ua, got, want)
		}
	}
}
