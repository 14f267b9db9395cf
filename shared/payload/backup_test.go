package payload

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// The documented console inputs decode strictly and validate.
func TestDocumentedBackupAndDrillInputsAreValid(t *testing.T) {
	read := func(name string) []byte {
		t.Helper()
		raw, err := os.ReadFile("../../events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	b, err := DecodeBackupRequest(read("backup-now.json"))
	if err != nil || b.Service != "web" || b.Reason == "" {
		t.Errorf("backup-now.json: %+v, %v", b, err)
	}
	d, err := DecodeDrillRequest(read("dr-drill.json"))
	if err != nil || d.Mode != ModeDrill {
		t.Errorf("dr-drill.json: %+v, %v", d, err)
	}
	f, err := DecodeDrillRequest(read("dr-failover.json"))
	if err != nil || f.Mode != ModeFailover || f.ConfirmFailover != "web/production" {
		t.Errorf("dr-failover.json: %+v, %v", f, err)
	}
}

func TestDecodeBackupRequest(t *testing.T) {
	tests := []struct {
		name, raw string
		want      string // empty: valid; else the whole error
	}{
		{"valid", `{"service":"web","environment":"production","reason":"scheduled"}`, ""},
		{"database named", `{"service":"web","environment":"production","reason":"x","database":"web-prod"}`,
			`invalid backup request: field "database" is not allowed: the catalog names every target (see events/backup-now.json; targets come from the catalog)`},
		{"region and key named", `{"service":"web","environment":"production","reason":"x","drRegion":"eu-west-1","kmsKey":"k"}`,
			`invalid backup request: field "drRegion" is not allowed: the catalog names every target; field "kmsKey" is not allowed: the catalog names every target (see events/backup-now.json; targets come from the catalog)`},
		{"unknown field", `{"service":"web","environment":"production","reason":"x","retention":3}`,
			`invalid backup request: unknown field "retention" (see events/backup-now.json; targets come from the catalog)`},
		{"no reason", `{"service":"web","environment":"production"}`,
			`invalid backup request: reason is required (it is recorded on the snapshot) (see events/backup-now.json; targets come from the catalog)`},
		{"everything missing", `{}`,
			`invalid backup request: service is required; environment is required; reason is required (it is recorded on the snapshot) (see events/backup-now.json; targets come from the catalog)`},
		{"long reason", `{"service":"web","environment":"production","reason":"` + strings.Repeat("x", 513) + `"}`,
			`invalid backup request: reason is longer than 512 bytes (see events/backup-now.json; targets come from the catalog)`},
		{"wrong type", `{"service":"web","environment":"production","reason":7}`,
			`invalid backup request: field "reason" must be a string (see events/backup-now.json; targets come from the catalog)`},
		{"not an object", `[]`, `invalid backup request: the input is not a JSON object (see events/backup-now.json; targets come from the catalog)`},
		{"pre-deploy: snapshot only, started by a deploy", `{"service":"web","environment":"production","reason":"before the deploy of abc","snapshotOnly":true,"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:web-1"}`, ""},
		{"started by something else than an execution", `{"service":"web","environment":"production","reason":"x","AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"arn:aws:states:us-east-1:123456789012:stateMachine:stepship-deploy"}`,
			`invalid backup request: AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID must be the ARN of the Step Functions execution that started this one (see events/backup-now.json; targets come from the catalog)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBackupRequest([]byte(tt.raw))
			checkRequestError(t, err, tt.want)
		})
	}
}

func TestDecodeDrillRequest(t *testing.T) {
	const tail = " (see events/dr-drill.json; targets come from the catalog)"
	tests := []struct {
		name, raw string
		wantMode  DrillMode
		want      string
	}{
		{"mode defaults to drill", `{"service":"web","environment":"production","reason":"weekly"}`, ModeDrill, ""},
		{"expected version", `{"service":"web","environment":"production","reason":"weekly","expectedSchemaVersion":20261130}`, ModeDrill, ""},
		{"expected version zero (no migration applied)", `{"service":"web","environment":"production","reason":"weekly","expectedSchemaVersion":0}`, ModeDrill, ""},
		{"failover confirmed", `{"service":"web","environment":"production","reason":"outage","mode":"failover","confirmFailover":"web/production"}`, ModeFailover, ""},
		{"failover unconfirmed", `{"service":"web","environment":"production","reason":"outage","mode":"failover"}`, "",
			`invalid dr-drill request: confirmFailover must be "web/production" to start a failover, which keeps the restored database running` + tail},
		{"failover confirmed for another environment", `{"service":"web","environment":"production","reason":"outage","mode":"failover","confirmFailover":"web/staging"}`, "",
			`invalid dr-drill request: confirmFailover must be "web/production" to start a failover, which keeps the restored database running` + tail},
		{"confirmation in drill mode", `{"service":"web","environment":"production","reason":"weekly","confirmFailover":"web/production"}`, "",
			`invalid dr-drill request: confirmFailover is only for mode failover` + tail},
		{"unknown mode", `{"service":"web","environment":"production","reason":"weekly","mode":"promote"}`, "",
			`invalid dr-drill request: mode must be drill or failover` + tail},
		{"snapshot named", `{"service":"web","environment":"production","reason":"weekly","snapshot":"stepship-web-prod-x"}`, "",
			`invalid dr-drill request: field "snapshot" is not allowed: the catalog names every target` + tail},
		{"network named", `{"service":"web","environment":"production","reason":"weekly","subnetGroup":"public","securityGroup":"sg-1"}`, "",
			`invalid dr-drill request: field "securityGroup" is not allowed: the catalog names every target; field "subnetGroup" is not allowed: the catalog names every target` + tail},
		{"negative version", `{"service":"web","environment":"production","reason":"weekly","expectedSchemaVersion":-1}`, "",
			`invalid dr-drill request: expectedSchemaVersion must not be negative` + tail},
		{"version as a string", `{"service":"web","environment":"production","reason":"weekly","expectedSchemaVersion":"7"}`, "",
			`invalid dr-drill request: field "expectedSchemaVersion" must be a int64` + tail},
		{"trailing data", `{"service":"web","environment":"production","reason":"weekly"} {}`, "",
			`invalid dr-drill request: the input is not a JSON object` + tail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeDrillRequest([]byte(tt.raw))
			checkRequestError(t, err, tt.want)
			if err == nil && r.Mode != tt.wantMode {
				t.Errorf("mode %q, want %q", r.Mode, tt.wantMode)
			}
		})
	}
}

func checkRequestError(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ie *InvalidRequestError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want *InvalidRequestError", err, err)
	}
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
}

// FuzzDecodeDrillRequest: whatever the input, a refusal is an
// *InvalidRequestError, and an accepted failover always carries its exact
// confirmation.
func FuzzDecodeDrillRequest(f *testing.F) {
	f.Add([]byte(`{"service":"web","environment":"production","reason":"weekly"}`))
	f.Add([]byte(`{"service":"web","environment":"production","reason":"outage","mode":"failover","confirmFailover":"web/production"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeDrillRequest(data)
		if err != nil {
			var ie *InvalidRequestError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error %v is not an *InvalidRequestError with problems", err)
			}
			return
		}
		if r.Mode == ModeFailover && r.ConfirmFailover != r.Service+"/"+r.Environment {
			t.Fatalf("accepted an unconfirmed failover: %+v", r)
		}
		if r.Mode != ModeDrill && r.Mode != ModeFailover {
			t.Fatalf("accepted mode %q", r.Mode)
		}
	})
}

func TestIsExecutionARN(t *testing.T) {
	for arn, want := range map[string]bool{
		"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:web-1":          true,
		"arn:aws-cn:states:cn-north-1:123456789012:execution:m:n":                        true,
		"arn:aws:states:us-east-1:123456789012:execution:stepship-deploy:":               false,
		"arn:aws:states:us-east-1:123456789012:execution::web-1":                         false,
		"arn:aws:states:us-east-1:123456789012:stateMachine:stepship-deploy":             false,
		"arn:aws:lambda:us-east-1:123456789012:execution:stepship-deploy:web-1":          false,
		"arn:aws:states::123456789012:execution:stepship-deploy:web-1":                   false,
		"arn:aws:states:us-east-1:12345:execution:stepship-deploy:web-1":                 false,
		"execution:stepship-deploy:web-1":                                                false,
		"arn:aws:states:us-east-1:123456789012:execution:m:" + strings.Repeat("n", 2100): false,
	} {
		if got := isExecutionARN(arn); got != want {
			t.Errorf("isExecutionARN(%q) = %v, want %v", arn, got, want)
		}
	}
}
