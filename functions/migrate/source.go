package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing/fstest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// The S3 calls the migrate function makes (the SDK's own paginator takes
// s3.ListObjectsV2APIClient).
type (
	objectGetter interface {
		GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	}
	s3API interface {
		s3.ListObjectsV2APIClient
		objectGetter
	}
)

var _ s3API = (*s3.Client)(nil)

// DefaultMaxBytes bounds the total size of the migrations read from S3.
const DefaultMaxBytes = 16 << 20

// migrationExt is the extension of the files read; goose reads nothing else
// from the file system it is given.
const migrationExt = ".sql"

// loadMigrations reads the *.sql objects directly under loc (not those in
// "subfolders") into an in-memory file system, at most maxBytes in total:
// the sizes the listing reports are checked before anything is downloaded,
// and each download is cut off where the limit would be crossed. Errors are
// the named types of shared/taskerr; an empty result is not an error here.
//
// The file system is testing/fstest's MapFS: the standard library's
// in-memory fs.FS (it does not import package testing).
func loadMigrations(ctx context.Context, client s3API, loc payload.S3Location, maxBytes int64) (fstest.MapFS, error) {
	type object struct {
		key, name string
		size      int64
	}
	var objects []object
	var total int64
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{
		Bucket:    aws.String(loc.Bucket),
		Prefix:    aws.String(loc.Prefix),
		Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s3Error(err, loc, fmt.Sprintf("failed to list %s", loc))
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			name, ok := migrationName(key, loc.Prefix)
			if !ok {
				continue
			}
			total += aws.ToInt64(o.Size)
			if total > maxBytes {
				return nil, &taskerr.MigrationsTooLarge{Location: loc.String(), Limit: maxBytes}
			}
			objects = append(objects, object{key: key, name: name, size: aws.ToInt64(o.Size)})
		}
	}
	files := fstest.MapFS{}
	remaining := maxBytes
	for _, o := range objects {
		data, err := getObject(ctx, client, loc, o.key, remaining, maxBytes)
		if err != nil {
			return nil, err
		}
		remaining -= int64(len(data))
		files[o.name] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	return files, nil
}

// migrationName returns the file name of key under prefix when it is a
// migration file directly under it: NAME.sql, a valid fs.FS name without '/'.
func migrationName(key, prefix string) (string, bool) {
	name, ok := strings.CutPrefix(key, prefix)
	if !ok || strings.Contains(name, "/") || !strings.HasSuffix(name, migrationExt) || len(name) == len(migrationExt) {
		return "", false
	}
	return name, fs.ValidPath(name)
}

// getObject reads one object, refusing more than the remaining bytes of
// maxBytes (the object may have grown since it was listed).
func getObject(ctx context.Context, client objectGetter, loc payload.S3Location, key string, remaining, maxBytes int64) ([]byte, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, s3Error(err, loc, fmt.Sprintf("failed to get s3://%s/%s", loc.Bucket, key))
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, remaining+1))
	if err != nil {
		return nil, &taskerr.S3CallFailed{Reason: fmt.Sprintf("failed to read s3://%s/%s: %v", loc.Bucket, key, err)}
	}
	if int64(len(data)) > remaining {
		return nil, &taskerr.MigrationsTooLarge{Location: loc.String(), Limit: maxBytes}
	}
	return data, nil
}

// s3Error names an S3 failure: a missing bucket means the build wrote
// nothing there; anything else is a failed (retriable) call.
func s3Error(err error, loc payload.S3Location, attempt string) error {
	var noBucket *s3types.NoSuchBucket
	var apiErr smithy.APIError
	if errors.As(err, &noBucket) || (errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket") {
		return &taskerr.MigrationsNotFound{Location: loc.String(), Reason: "the bucket does not exist"}
	}
	return &taskerr.S3CallFailed{Reason: fmt.Sprintf("%s: %v; the database was not touched", attempt, err)}
}
