// Package s3store keeps backups in an S3-compatible bucket (AWS S3,
// SeaweedFS, Garage, Ceph RGW, ...) through minio-go.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rampart-dev/rampart/internal/backup"
)

// DefaultPartSize is the multipart part size: an upload of unknown length
// buffers one part in memory, and S3 allows 10,000 parts, so 16 MiB parts
// allow archives up to about 160 GB.
const DefaultPartSize = 16 << 20

// Config says where the bucket is and how to sign in.
type Config struct {
	Endpoint  string // host[:port], no scheme
	Bucket    string
	Prefix    string // optional key prefix inside the bucket, e.g. "rampart/"
	AccessKey string
	SecretKey string
	Region    string // optional; some servers need it for signing
	UseTLS    bool
	// PartSize overrides DefaultPartSize (at least 5 MiB, S3's minimum).
	PartSize uint64
}

// S3 is a backup.Store in an S3 bucket. A Put is one multipart upload,
// which the server makes visible only when it completes and which is
// aborted when the reader fails, so readers never see a partial archive.
type S3 struct {
	c        *minio.Client
	bucket   string
	prefix   string
	partSize uint64
}

var _ backup.Store = (*S3)(nil)

// NewS3 returns a store for cfg. It does not contact the server; the first
// call does, and reports a wrong endpoint or key then.
func NewS3(cfg Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3store: endpoint and bucket are required")
	}
	if strings.Contains(cfg.Endpoint, "://") {
		return nil, fmt.Errorf("s3store: endpoint %q: give host[:port] without a scheme, and set UseTLS for https", cfg.Endpoint)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := backup.ValidKey(prefix); err != nil {
			return nil, fmt.Errorf("s3store: prefix: %w", err)
		}
		prefix += "/"
	}
	part := cfg.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	if part < 5<<20 {
		return nil, fmt.Errorf("s3store: part size %d is under S3's 5 MiB minimum", part)
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.UseTLS,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath, // works with every server, needs no DNS
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	return &S3{c: c, bucket: cfg.Bucket, prefix: prefix, partSize: part}, nil
}

// Client returns the underlying minio client, for setup such as creating
// the bucket.
func (s *S3) Client() *minio.Client { return s.c }

func (s *S3) name(key string) (string, error) {
	if err := backup.ValidKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// Put implements backup.Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	name, err := s.name(key)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	info, err := s.c.PutObject(ctx, s.bucket, name, r, -1, minio.PutObjectOptions{
		ContentType: "application/zstd",
		PartSize:    s.partSize,
	})
	if err != nil {
		return 0, fmt.Errorf("s3store: storing %s in bucket %s: %w", key, s.bucket, err)
	}
	return info.Size, nil
}

func notFound(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket"
}

// Get implements backup.Store.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.name(key)
	if err != nil {
		return nil, err
	}
	obj, err := s.c.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy; Stat makes a missing key show now.
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		if notFound(err) {
			return nil, fmt.Errorf("%w: %s", backup.ErrNotFound, key)
		}
		return nil, fmt.Errorf("s3store: reading %s from bucket %s: %w", key, s.bucket, err)
	}
	return obj, nil
}

// List implements backup.Store.
func (s *S3) List(ctx context.Context, prefix string) ([]backup.Object, error) {
	if err := backup.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	var out []backup.Object
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("s3store: listing %q in bucket %s: %w", prefix, s.bucket, o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.prefix)
		if backup.ValidKey(key) != nil {
			continue // not written by a Store: ignore rather than fail
		}
		out = append(out, backup.Object{Key: key, Size: o.Size, ModTime: o.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements backup.Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	name, err := s.name(key)
	if err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("s3store: deleting %s from bucket %s: %w", key, s.bucket, err)
	}
	return nil
}
