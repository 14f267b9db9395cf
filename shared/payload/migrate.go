package payload

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// MigrateInput is what the deploy state machine sends the migrate function:
// the request (service, environment, commit) and, from the resolved target,
// where the database's credentials are and where the build for the commit
// wrote its migrations.
type MigrateInput struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Commit      string `json:"commit"`
	// DatabaseSecretARN is the Secrets Manager secret holding the database's
	// credentials as JSON (username, password, host, port, dbname: the shape
	// of RDS's rotation secrets).
	DatabaseSecretARN string `json:"databaseSecretArn"`
	// Migrations is s3://BUCKET/PREFIX/<commit>/: the build for the commit
	// copies migrations/*.sql there.
	Migrations string `json:"migrations"`
}

// migrateKind names the migrate function's input in errors: the deploy
// state machine builds it, and docs/migrations.md shows its shape.
var migrateKind = requestKind{"migrate", "docs/migrations.md"}

// isSecretARN reports whether s is a Secrets Manager secret's ARN.
func isSecretARN(s string) bool {
	a, err := arn.Parse(s)
	return err == nil && a.Service == "secretsmanager" && a.Region != "" && len(a.AccountID) == 12 &&
		strings.HasPrefix(a.Resource, "secret:") && len(a.Resource) > len("secret:")
}

// Validate names every problem of a migrate function input.
func (m MigrateInput) Validate() error {
	var problems []string
	if err := (DeployRequest{Service: m.Service, Environment: m.Environment, Commit: m.Commit}).Validate(); err != nil {
		problems = append(problems, err.(*InvalidRequestError).Problems...)
	}
	if !isSecretARN(m.DatabaseSecretARN) {
		problems = append(problems, "databaseSecretArn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")
	}
	if loc, err := ParseS3Location(m.Migrations); err != nil {
		problems = append(problems, "migrations "+err.Error())
	} else if m.Commit != "" && !strings.HasSuffix("/"+loc.Prefix, "/"+m.Commit+"/") {
		problems = append(problems, "migrations must end with the commit: s3://BUCKET/PREFIX/"+m.Commit+"/")
	}
	return migrateKind.invalid(problems)
}

// MigrateResult is the migrate function's output.
type MigrateResult struct {
	// VersionBefore and VersionAfter are the database's migration version
	// (goose's) before and after this run; equal when nothing was applied.
	VersionBefore int64 `json:"versionBefore"`
	VersionAfter  int64 `json:"versionAfter"`
	// Applied lists the files applied by this run, in order; empty (never
	// null) when the database was already up to date.
	Applied []string `json:"applied"`
	// LockWaitMS is how long the run waited for another migration of the
	// same database to finish (its advisory lock).
	LockWaitMS int64 `json:"lockWaitMs"`
	// DurationMS is the whole run's duration, reading S3 included.
	DurationMS int64 `json:"durationMs"`
}

// S3Location is a bucket and a key prefix ending in '/'.
type S3Location struct {
	Bucket string
	Prefix string
}

func (l S3Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// bucketRE is S3's bucket naming rule (general purpose buckets), but for
// the length (validBucket; see nameRE for why apart).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]+[a-z0-9]$`)

// validBucket: 3-63 characters of bucketRE.
func validBucket(s string) bool { return len(s) <= 63 && bucketRE.MatchString(s) }

// maxPrefixLen keeps the prefix plus a file name inside S3's 1024-byte key
// limit.
const maxPrefixLen = 768

// ParseS3Location parses s3://BUCKET/PREFIX/ (a "folder": the prefix is
// not empty and ends in '/'). Segments may not be empty, "." or "..", and
// the error never echoes the input.
func ParseS3Location(s string) (S3Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return S3Location{}, errors.New("must be s3://BUCKET/PREFIX/")
	}
	bucket, prefix, ok := strings.Cut(rest, "/")
	switch {
	case !validBucket(bucket) || strings.Contains(bucket, ".."):
		return S3Location{}, errors.New("must name an S3 bucket (3-63 characters: a-z, 0-9, '.', '-')")
	case !ok || prefix == "" || !strings.HasSuffix(prefix, "/"):
		return S3Location{}, errors.New("must be a folder: s3://BUCKET/PREFIX/ with a final '/'")
	case len(prefix) > maxPrefixLen || !utf8.ValidString(prefix):
		return S3Location{}, fmt.Errorf("must have a prefix of at most %d bytes of UTF-8", maxPrefixLen)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(prefix, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsFunc(seg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return S3Location{}, errors.New("must not have empty, '.' or '..' segments or control characters")
		}
	}
	return S3Location{Bucket: bucket, Prefix: prefix}, nil
}
