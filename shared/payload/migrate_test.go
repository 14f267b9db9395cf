package payload

import (
	"errors"
	"strings"
	"testing"
)

const migrateCommit = "0123456789abcdef0123456789abcdef01234567"

func validMigrateInput() MigrateInput {
	return MigrateInput{
		Service: "web", Environment: "production", Commit: migrateCommit,
		DatabaseSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-AbCdEf",
		Migrations:        "s3://stepship-artifacts/web/migrations/" + migrateCommit + "/",
	}
}

func TestMigrateInputValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*MigrateInput)
		want   []string // substrings of the problems; none: valid
	}{
		{name: "valid", change: func(*MigrateInput) {}},
		{name: "commit directly under the bucket", change: func(m *MigrateInput) { m.Migrations = "s3://stepship-artifacts/" + migrateCommit + "/" }},
		{name: "empty", change: func(m *MigrateInput) { *m = MigrateInput{} }, want: []string{"service is required", "environment is required", "commit is required", "databaseSecretArn must be", "migrations must be s3://"}},
		{name: "an IAM role's ARN", change: func(m *MigrateInput) { m.DatabaseSecretARN = "arn:aws:iam::123456789012:role/secret:x" }, want: []string{"databaseSecretArn must be"}},
		{name: "secret name, not ARN", change: func(m *MigrateInput) { m.DatabaseSecretARN = "web/db" }, want: []string{"databaseSecretArn must be"}},
		{name: "secret ARN without a name", change: func(m *MigrateInput) { m.DatabaseSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:" }, want: []string{"databaseSecretArn must be"}},
		{name: "secret ARN with a one-character name", change: func(m *MigrateInput) { m.DatabaseSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:w" }},
		{name: "secret ARN without a region", change: func(m *MigrateInput) {
			m.DatabaseSecretARN = "arn:aws:secretsmanager::123456789012:secret:web/db-AbCdEf"
		}, want: []string{"databaseSecretArn must be"}},
		{name: "secret ARN with a short account", change: func(m *MigrateInput) {
			m.DatabaseSecretARN = "arn:aws:secretsmanager:us-east-1:12345678901:secret:web/db-AbCdEf"
		}, want: []string{"databaseSecretArn must be"}},
		{name: "another commit's folder", change: func(m *MigrateInput) {
			m.Migrations = "s3://stepship-artifacts/web/migrations/ffffffffffffffffffffffffffffffffffffffff/"
		}, want: []string{"migrations must end with the commit"}},
		{name: "commit as a suffix of a segment", change: func(m *MigrateInput) { m.Migrations = "s3://stepship-artifacts/x" + migrateCommit + "/" }, want: []string{"must end with the commit"}},
		{name: "no final slash", change: func(m *MigrateInput) { m.Migrations = strings.TrimSuffix(m.Migrations, "/") }, want: []string{"must be a folder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validMigrateInput()
			tt.change(&in)
			err := in.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ire *InvalidRequestError
			if !errors.As(err, &ire) {
				t.Fatalf("Validate() = %v, want *InvalidRequestError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseS3Location(t *testing.T) {
	tests := []struct {
		name, in       string
		bucket, prefix string
		wantErr        string
	}{
		{name: "folder", in: "s3://b-1.x/a/b/", bucket: "b-1.x", prefix: "a/b/"},
		{name: "one segment", in: "s3://bkt/a/", bucket: "bkt", prefix: "a/"},
		{name: "not s3", in: "https://bkt/a/", wantErr: "must be s3://"},
		{name: "bucket too short", in: "s3://bk/a/", wantErr: "must name an S3 bucket"},
		{name: "bucket upper case", in: "s3://Bucket/a/", wantErr: "must name an S3 bucket"},
		{name: "bucket double dot", in: "s3://a..b/a/", wantErr: "must name an S3 bucket"},
		{name: "no prefix", in: "s3://bkt/", wantErr: "must be a folder"},
		{name: "no slash at all", in: "s3://bkt", wantErr: "must be a folder"},
		{name: "a key, not a folder", in: "s3://bkt/a/001.sql", wantErr: "must be a folder"},
		{name: "empty segment", in: "s3://bkt/a//b/", wantErr: "must not have empty"},
		{name: "dot-dot segment", in: "s3://bkt/a/../b/", wantErr: "must not have empty"},
		{name: "control character", in: "s3://bkt/a\nb/", wantErr: "control characters"},
		{name: "unit separator (last control character)", in: "s3://bkt/a\x1fb/", wantErr: "control characters"},
		{name: "delete character", in: "s3://bkt/a\x7fb/", wantErr: "control characters"},
		{name: "space (first printable character)", in: "s3://bkt/a b/", bucket: "bkt", prefix: "a b/"},
		{name: "tilde", in: "s3://bkt/a~b/", bucket: "bkt", prefix: "a~b/"},
		{name: "too long", in: "s3://bkt/" + strings.Repeat("a/", 400), wantErr: "at most 768 bytes"},
		{name: "the longest", in: "s3://bkt/" + strings.Repeat("a/", 384), bucket: "bkt", prefix: strings.Repeat("a/", 384)},
		{name: "one byte too long", in: "s3://bkt/" + strings.Repeat("a/", 383) + "ab/", wantErr: "at most 768 bytes"},
		{name: "not UTF-8", in: "s3://bkt/\xff/", wantErr: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := ParseS3Location(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseS3Location(%q) = %+v, %v; want error %q", tt.in, loc, err, tt.wantErr)
				}
				return
			}
			if err != nil || loc.Bucket != tt.bucket || loc.Prefix != tt.prefix || loc.String() != tt.in {
				t.Fatalf("ParseS3Location(%q) = %+v (%s), %v", tt.in, loc, loc, err)
			}
		})
	}
}

// A parsed location prints back as its input, and an error never echoes it.
func FuzzParseS3Location(f *testing.F) {
	for _, s := range []string{"s3://bkt/a/", "s3://b-1.x/a/b/", "s3://bkt/a//", "s3://bkt/../", "s3:/x", "s3://bkt/é/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseS3Location(s)
		if err != nil {
			if len(s) > 12 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		if loc.String() != s || !strings.HasSuffix(loc.Prefix, "/") || strings.Contains(loc.Prefix, "//") {
			t.Fatalf("ParseS3Location(%q) = %+v", s, loc)
		}
	})
}
