package awsproxy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// apiError is an error the proxy answers in place of the emulator.
type apiError struct {
	Code    string
	Message string
	Status  int
}

// throttleError is the error the service itself answers when it throttles a
// caller, in the shape its SDK decodes; every code here is in the Go SDK's
// retry.DefaultThrottleErrorCodes.
func throttleError(t Target) apiError {
	switch {
	case t.Protocol == ProtocolEC2:
		return apiError{"RequestLimitExceeded", "Request limit exceeded.", http.StatusServiceUnavailable}
	case t.Service == "s3":
		return apiError{"SlowDown", "Please reduce your request rate.", http.StatusServiceUnavailable}
	case t.Service == "lambda":
		return apiError{"TooManyRequestsException", "Rate exceeded", http.StatusTooManyRequests}
	case t.Protocol == ProtocolQuery:
		return apiError{"Throttling", "Rate exceeded", http.StatusBadRequest}
	default:
		return apiError{"ThrottlingException", "Rate exceeded", http.StatusBadRequest}
	}
}

// internalErrorCodes are the services whose API model names their own
// internal error; the SDK decodes these into a typed error
// (ecs/types.ServerException, secretsmanager/types.InternalServiceError, …).
var internalErrorCodes = map[string]string{
	"ecs":            "ServerException",
	"ecr":            "ServerException",
	"secretsmanager": "InternalServiceError",
	"dynamodb":       "InternalServerError",
	"lambda":         "ServiceException",
	"s3":             "InternalError",
	"ec2":            "InternalError",
}

// serverError is an HTTP 500 with the service's internal error code (by
// default the generic InternalFailure).
func serverError(t Target) apiError {
	code, ok := internalErrorCodes[t.Service]
	if !ok {
		code = "InternalFailure"
	}
	return apiError{code, "We encountered an internal error. Please try again.", http.StatusInternalServerError}
}

// unavailableError is an HTTP 503 ServiceUnavailable.
func unavailableError(Target) apiError {
	return apiError{"ServiceUnavailable", "Service is unavailable. Please try again later.", http.StatusServiceUnavailable}
}

// writeAPIError answers e in the shape of t's protocol, with a fresh
// request id in the header and, where the protocol has one, in the body.
func writeAPIError(w http.ResponseWriter, r *http.Request, t Target, e apiError) {
	body := errorBody(w.Header(), r.Header, t, e)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// errorResponse is e as an AnswerFunc's Response to req.
func errorResponse(req *Request, e apiError) *Response {
	h := http.Header{}
	body := errorBody(h, req.Header, req.Target, e)
	return &Response{Status: e.Status, Header: h, Body: body}
}

// errorBody is e in the shape of t's protocol; it sets the answer's headers
// in h (reqHeader is the request's).
func errorBody(h, reqHeader http.Header, t Target, e apiError) []byte {
	id := uuid.NewString()
	h.Set("X-Amzn-RequestId", id)
	var body []byte
	switch {
	case t.Protocol == ProtocolQuery:
		kind := "Sender"
		if e.Status >= 500 {
			kind = "Receiver"
		}
		h.Set("Content-Type", "text/xml")
		body = []byte("<ErrorResponse><Error><Type>" + kind + "</Type><Code>" + xmlText(e.Code) +
			"</Code><Message>" + xmlText(e.Message) + "</Message></Error><RequestId>" + id +
			"</RequestId></ErrorResponse>")
	case t.Protocol == ProtocolEC2:
		h.Set("Content-Type", "text/xml")
		body = []byte("<Response><Errors><Error><Code>" + xmlText(e.Code) + "</Code><Message>" +
			xmlText(e.Message) + "</Message></Error></Errors><RequestID>" + id + "</RequestID></Response>")
	case t.Protocol == ProtocolREST && t.Service == "s3":
		h.Set("Content-Type", "application/xml")
		body = []byte("<Error><Code>" + xmlText(e.Code) + "</Code><Message>" + xmlText(e.Message) +
			"</Message><RequestId>" + id + "</RequestId></Error>")
	case t.Protocol == ProtocolCBOR:
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
		h.Set("Content-Type", "application/cbor")
		body = cborStringMap("__type", e.Code, "message", e.Message)
	default: // awsJson and restJson1
		ct := reqHeader.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/x-amz-json") {
			ct = "application/json"
		}
		h.Set("Content-Type", ct)
		h.Set("X-Amzn-ErrorType", e.Code)
		body, _ = json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	}
	return body
}

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// cborStringMap encodes a CBOR map of text strings (RFC 8949: major type 5
// for the map, 3 for each string), kv being key, value, key, value, ….
func cborStringMap(kv ...string) []byte {
	b := cborHead(nil, 5, len(kv)/2)
	for _, s := range kv[:len(kv)/2*2] {
		b = cborHead(b, 3, len(s))
		b = append(b, s...)
	}
	return b
}

func cborHead(b []byte, major byte, n int) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n < 1<<8:
		return append(b, m|24, byte(n))
	case n < 1<<16:
		return append(b, m|25, byte(n>>8), byte(n))
	default:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}
