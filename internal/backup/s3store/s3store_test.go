package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/backup/backuptest"
	"github.com/rampart-dev/rampart/internal/backup/s3store"
)

const (
	accessKey = "rampart-test"
	secretKey = "rampart-test-secret-key"
	bucket    = "backups"
)

var (
	endpoint   string // host:port of the test S3 server; empty when skipped
	skipReason string
	prefixes   atomic.Int64
)

// TestMain starts one SeaweedFS server (master, volume, filer and S3
// gateway in one process) on loopback ports for the whole package. Without
// the weed binary the tests skip, except under CI=true, where they fail:
// scripts/test-deps.sh installs it.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func weedPath() string {
	if p := os.Getenv("RAMPART_WEED"); p != "" {
		return p
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "weed")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

func run(m *testing.M) int {
	weed := weedPath()
	if weed == "" {
		msg := "s3store: no weed (SeaweedFS) binary in $RAMPART_WEED, $PATH or $GOPATH/bin; run scripts/test-deps.sh"
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, msg)
			return 1
		}
		skipReason = msg
		return m.Run()
	}
	stop, err := startWeed(weed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3store: starting SeaweedFS:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// freePort returns a loopback port that is free, and whose +10000 gRPC
// twin (SeaweedFS's default) is free too.
func freePort() (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port pair found")
}

func startWeed(weed string) (stop func(), err error) {
	dir, err := os.MkdirTemp("", "rampart-weed-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	var ports [4]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			cleanup()
			return nil, err
		}
	}
	master, volume, filer, s3 := ports[0], ports[1], ports[2], ports[3]
	cfg := filepath.Join(dir, "s3.json")
	identities := fmt.Sprintf(`{"identities":[{"name":"rampart","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`, accessKey, secretKey)
	if err := os.WriteFile(cfg, []byte(identities), 0o600); err != nil {
		cleanup()
		return nil, err
	}
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	logPath := filepath.Join(dir, "weed.log")
	logf, err := os.Create(logPath)
	if err != nil {
		cleanup()
		return nil, err
	}
	cmd := exec.Command(weed, "server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir="+data,
		"-master.port="+strconv.Itoa(master),
		"-master.volumeSizeLimitMB=64",
		"-volume.port="+strconv.Itoa(volume),
		"-volume.max=100",
		"-filer",
		"-filer.port="+strconv.Itoa(filer),
		"-s3",
		"-s3.port="+strconv.Itoa(s3),
		"-s3.config="+cfg,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the test binary, even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		cleanup()
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		cleanup()
	}
	endpoint = "127.0.0.1:" + strconv.Itoa(s3)
	s, err := s3store.NewS3(s3store.Config{Endpoint: endpoint, Bucket: bucket, AccessKey: accessKey, SecretKey: secretKey})
	if err != nil {
		stop()
		return nil, err
	}
	// Ready when the bucket can be created and an object written: the
	// S3 gateway answers before the volume server has joined.
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	var lastErr error
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			stop()
			return nil, fmt.Errorf("weed exited early:\n%s", tail(log))
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			stop()
			return nil, fmt.Errorf("not ready after 90s (last error: %v):\n%s", lastErr, tail(log))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lastErr = s.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
		if lastErr != nil && minio.ToErrorResponse(lastErr).Code == "BucketAlreadyOwnedByYou" {
			lastErr = nil
		}
		if lastErr == nil {
			_, lastErr = s.Put(ctx, "ready/probe", strings.NewReader("ok"))
		}
		cancel()
		if lastErr == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.Delete(context.Background(), "ready/probe")
	fmt.Fprintf(os.Stderr, "s3store: SeaweedFS S3 on %s ready in %v\n", endpoint, time.Since(start).Round(time.Millisecond))
	return stop, nil
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// newStore returns a store on the shared bucket under a prefix of its own,
// so that the conformance cases never see each other's objects.
func newStore(t *testing.T) backup.Store {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	s, err := s3store.NewS3(s3store.Config{
		Endpoint:  endpoint,
		Bucket:    bucket,
		Prefix:    fmt.Sprintf("t%d/", prefixes.Add(1)),
		AccessKey: accessKey,
		SecretKey: secretKey,
		PartSize:  5 << 20, // the minimum, so the failing-reader case has uploaded a part
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	backuptest.TestStore(t, newStore)
}

func TestFailedMultipartIsAborted(t *testing.T) {
	s := newStore(t).(*s3store.S3)
	ctx := context.Background()
	r := io.MultiReader(bytes.NewReader(make([]byte, 12<<20)), iotestErr{})
	if _, err := s.Put(ctx, "m/broken", r); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	for u := range s.Client().ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err != nil {
			t.Logf("ListIncompleteUploads: %v", u.Err)
			break
		}
		if strings.HasSuffix(u.Key, "m/broken") {
			t.Errorf("multipart upload %s of %s left behind", u.UploadID, u.Key)
		}
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("source failed") }

func TestRoundTripArchive(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "f"), bytes.Repeat([]byte("abc"), 4<<20), 0o644)
	pr, pw := io.Pipe()
	var sum backup.Sum
	go func() {
		_, s, err := backup.Write(ctx, pw, dir, []byte(`{}`), backup.Info{Service: "s", ServiceID: 1, Kind: "manual", CreatedAt: time.Now()})
		sum = s
		pw.CloseWithError(err)
	}()
	if _, err := s.Put(ctx, "svc-1/a.tar.zst", pr); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, "svc-1/a.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, _, err := backup.Extract(ctx, rc, filepath.Join(t.TempDir(), "r"), sum); err != nil {
		t.Fatal(err)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []s3store.Config{{}, {Endpoint: "http://x:1", Bucket: "b"}, {Endpoint: "x:1", Bucket: "b", Prefix: "../up"}, {Endpoint: "x:1", Bucket: "b", PartSize: 1 << 20}} {
		if _, err := s3store.NewS3(c); err == nil {
			t.Errorf("NewS3(%+v) accepted", c)
		}
	}
}
