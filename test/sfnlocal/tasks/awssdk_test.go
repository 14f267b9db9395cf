package tasks

import (
	"fmt"
	"testing"

	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
)

func TestModeledErrorName(t *testing.T) {
	for _, c := range []struct {
		service string
		err     error
		want    string
	}{
		{"Rds", &rdstypes.DBSnapshotNotFoundFault{}, "DbSnapshotNotFoundException"},
		{"Rds", &rdstypes.InvalidDBInstanceStateFault{}, "InvalidDbInstanceStateException"},
		{"Rds", &rdstypes.KMSKeyNotAccessibleFault{}, "KmsKeyNotAccessibleException"},
		{"Rds", &rdstypes.SnapshotQuotaExceededFault{}, "SnapshotQuotaExceededException"},
		{"Rds", &rdstypes.InsufficientDBInstanceCapacityFault{}, "InsufficientDbInstanceCapacityException"},
		{"Rds", fmt.Errorf("call: %w", &smithy.GenericAPIError{Code: "Throttling"}), "RdsException"},
		// SNS speaks the query protocol too: "Throttled" is ThrottledException.
		{"Sns", &snstypes.ThrottledException{}, "ThrottledException"},
		{"Sns", &snstypes.KMSThrottlingException{}, "KmsThrottlingException"},
		{"Sns", &snstypes.InternalErrorException{}, "InternalErrorException"},
		{"Sns", &snstypes.AuthorizationErrorException{}, "AuthorizationErrorException"},
		{"Sns", &smithy.GenericAPIError{Code: "InternalFailure"}, "SnsException"},
	} {
		if got := modeledErrorName(c.service, c.err); got != c.want {
			t.Errorf("%T: %s, want %s", c.err, got, c.want)
		}
	}
}
