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
		err  error
		want string
	}{
		{&rdstypes.DBSnapshotNotFoundFault{}, "DbSnapshotNotFoundException"},
		{&rdstypes.InvalidDBInstanceStateFault{}, "InvalidDbInstanceStateException"},
		{&rdstypes.KMSKeyNotAccessibleFault{}, "KmsKeyNotAccessibleException"},
		{&rdstypes.SnapshotQuotaExceededFault{}, "SnapshotQuotaExceededException"},
		{&rdstypes.InsufficientDBInstanceCapacityFault{}, "InsufficientDbInstanceCapacityException"},
		{fmt.Errorf("call: %w", &smithy.GenericAPIError{Code: "Throttling"}), "RdsException"},
	} {
		if got := modeledErrorName("Rds", c.err); got != c.want {
			t.Errorf("%T: %s, want %s", c.err, got, c.want)
		}
	}
	// SNS speaks the query protocol too: "Throttled" is ThrottledException.
	for _, c := range []struct {
		err  error
		want string
	}{
		{&snstypes.ThrottledException{}, "ThrottledException"},
		{&snstypes.KMSThrottlingException{}, "KmsThrottlingException"},
		{&snstypes.InternalErrorException{}, "InternalErrorException"},
		{&snstypes.AuthorizationErrorException{}, "AuthorizationErrorException"},
		{&smithy.GenericAPIError{Code: "InternalFailure"}, "SnsException"},
	} {
		if got := modeledErrorName("Sns", c.err); got != c.want {
			t.Errorf("%T: %s, want %s", c.err, got, c.want)
		}
	}
}
