// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// VersityGW is a real S3 server (versitygw, the pinned version from
// scripts/tools.sh, posix backend) with IAM and bucket policies, listening on
// loopback only. Buckets are created by the root user; other users get
// access through bucket policies, exactly as on AWS.
//
// Bucket policies and versioning go through the S3 API with minio-go (a
// maintained S3 client), users through versitygw's own admin CLI.
type VersityGW struct {
	// Endpoint is the S3 endpoint, e.g. http://127.0.0.1:41234 (what an
	// operator puts into AWS_ENDPOINT_URL).
	Endpoint string
	// AdminEndpoint is versitygw's admin API.
	AdminEndpoint string
	// RootAccessKey and RootSecretKey are the root user's credentials.
	RootAccessKey, RootSecretKey string
	// Dir holds data/, iam/, versions/ and the server log.
	Dir string

	bin      string
	s3Addr   string
	admAddr  string
	mu       sync.Mutex
	policyMu sync.Mutex
	cmd      *exec.Cmd
	waited   chan struct{}
	policies map[string][]policyStatement
	users    int
}

// S3Access is what a test user may do in a bucket.
type S3Access int

const (
	// S3FullAccess: every S3 action on the bucket and its objects.
	S3FullAccess S3Access = iota
	// S3NoDelete: GetObject, PutObject, ListBucket (and GetBucketLocation) —
	// the usual "write-only" backup key. restic works but cannot remove
	// its lock files.
	S3NoDelete
	// S3PutOnly: PutObject only. restic cannot even open a repository.
	S3PutOnly
	// S3NoDeleteButLocks: S3NoDelete plus DeleteObject on <prefix>/locks/*
	// — the recommended recipe (docs/offsite.md).
	S3NoDeleteButLocks
)

type policyStatement struct {
	Effect    string              `json:"Effect"`
	Principal map[string][]string `json:"Principal"`
	Action    []string            `json:"Action"`
	Resource  []string            `json:"Resource"`
}

// StartVersityGW starts versitygw with IAM and bucket versioning support on
// free loopback ports. It is stopped when the test ends.
func StartVersityGW(t testing.TB) *VersityGW {
	t.Helper()
	g := &VersityGW{
		bin:           Tool(t, "versitygw"),
		Dir:           t.TempDir(),
		RootAccessKey: "rootak" + strconv.Itoa(os.Getpid()),
		RootSecretKey: "rootSecret-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		policies:      map[string][]policyStatement{},
	}
	for _, d := range []string{"data", "iam", "versions"} {
		if err := os.MkdirAll(filepath.Join(g.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p1, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	g.s3Addr = "127.0.0.1:" + strconv.Itoa(p1)
	g.admAddr = "127.0.0.1:" + strconv.Itoa(p2)
	g.Endpoint = "http://" + g.s3Addr
	g.AdminEndpoint = "http://" + g.admAddr
	t.Cleanup(func() { g.Stop() })
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	return g
}

// Start (re)starts the server on the same ports and data.
func (g *VersityGW) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(g.Dir, "versitygw.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(g.bin, "--port", g.s3Addr, "--admin-port", g.admAddr,
		"--iam-dir", filepath.Join(g.Dir, "iam"),
		"posix", "--versioning-dir", filepath.Join(g.Dir, "versions"), filepath.Join(g.Dir, "data"))
	// Root credentials travel in the environment, not argv.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.RootAccessKey, "ROOT_SECRET_KEY="+g.RootSecretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting versitygw: %w", err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	g.cmd, g.waited = cmd, waited
	if err := waitListening(g.s3Addr, waited, Patience); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		g.cmd = nil
		log, _ := os.ReadFile(filepath.Join(g.Dir, "versitygw.log"))
		return fmt.Errorf("versitygw: %v\n%s", err, tailBytes(log, 2000))
	}
	if err := waitListening(g.admAddr, waited, Patience); err != nil {
		return fmt.Errorf("versitygw admin port: %v", err)
	}
	return nil
}

// Stop kills the server (SIGKILL: an outage, not a clean shutdown) and waits
// until its ports are closed. Start brings it back with the same data.
func (g *VersityGW) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return
	}
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	<-g.waited
	g.cmd = nil
}

// Running reports whether the server process runs.
func (g *VersityGW) Running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cmd != nil
}

// Client returns an S3 client with the given credentials.
func (g *VersityGW) Client(t testing.TB, accessKey, secretKey string) *minio.Client {
	t.Helper()
	c, err := minio.New(g.s3Addr, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure: false,
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Root returns an S3 client of the root user.
func (g *VersityGW) Root(t testing.TB) *minio.Client {
	return g.Client(t, g.RootAccessKey, g.RootSecretKey)
}

// CreateBucket creates a bucket owned by root; versioned turns on bucket
// versioning (overwritten and deleted objects keep their old versions).
func (g *VersityGW) CreateBucket(t testing.TB, bucket string, versioned bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := g.Root(t)
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("versitygw: creating bucket %s: %v", bucket, err)
	}
	if versioned {
		if err := c.EnableVersioning(ctx, bucket); err != nil {
			t.Fatalf("versitygw: enabling versioning on %s: %v", bucket, err)
		}
		v, err := c.GetBucketVersioning(ctx, bucket)
		if err != nil || !v.Enabled() {
			t.Fatalf("versitygw: versioning of %s not enabled (%+v, %v)", bucket, v, err)
		}
	}
}

// CreateUser creates an IAM user (role "user") with fresh credentials and
// grants it access to bucket through the bucket policy. prefix is the
// repository's path inside the bucket (used by S3NoDeleteButLocks).
func (g *VersityGW) CreateUser(t testing.TB, bucket, prefix string, access S3Access) (accessKey, secretKey string) {
	t.Helper()
	g.mu.Lock()
	g.users++
	n := g.users
	g.mu.Unlock()
	accessKey = fmt.Sprintf("user%d", n)
	secretKey = fmt.Sprintf("userSecret%d-%d", n, time.Now().UnixNano())
	cmd := exec.Command(g.bin, "admin", "--er", g.AdminEndpoint, "create-user", "-a", accessKey, "-s", secretKey, "-r", "user")
	cmd.Env = append(os.Environ(), "ADMIN_ACCESS_KEY="+g.RootAccessKey, "ADMIN_SECRET_KEY="+g.RootSecretKey)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("versitygw admin create-user: %v\n%s", err, out)
	}
	g.Grant(t, bucket, prefix, accessKey, access)
	return accessKey, secretKey
}

// Grant adds statements for user to bucket's policy and stores the policy.
func (g *VersityGW) Grant(t testing.TB, bucket, prefix, user string, access S3Access) {
	t.Helper()
	who := map[string][]string{"AWS": {user}}
	bucketARN := "arn:aws:s3:::" + bucket
	objects := bucketARN + "/*"
	var st []policyStatement
	switch access {
	case S3FullAccess:
		st = append(st, policyStatement{"Allow", who, []string{"s3:*"}, []string{bucketARN, objects}})
	case S3NoDelete, S3NoDeleteButLocks:
		st = append(st,
			policyStatement{"Allow", who, []string{"s3:ListBucket", "s3:GetBucketLocation"}, []string{bucketARN}},
			policyStatement{"Allow", who, []string{"s3:GetObject", "s3:PutObject"}, []string{objects}})
		if access == S3NoDeleteButLocks {
			locks := bucketARN + "/locks/*"
			if prefix != "" {
				locks = bucketARN + "/" + prefix + "/locks/*"
			}
			st = append(st, policyStatement{"Allow", who, []string{"s3:DeleteObject"}, []string{locks}})
		}
	case S3PutOnly:
		st = append(st, policyStatement{"Allow", who, []string{"s3:PutObject"}, []string{objects}})
	default:
		t.Fatalf("testenv: unknown S3 access %d", access)
	}
	root := g.Root(t)
	// One policy document per bucket: read, extend and store it under one
	// lock, so concurrent grants never store an older document last.
	g.policyMu.Lock()
	defer g.policyMu.Unlock()
	g.policies[bucket] = append(g.policies[bucket], st...)
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": g.policies[bucket]})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := root.SetBucketPolicy(ctx, bucket, string(doc)); err != nil {
		t.Fatalf("versitygw: setting the policy of %s: %v\n%s", bucket, err, doc)
	}
}

// Repository returns the restic repository setting for bucket/prefix as an
// operator writes it next to AWS_ENDPOINT_URL=g.Endpoint.
func (g *VersityGW) Repository(bucket, prefix string) string {
	return "s3:" + bucket + "/" + prefix
}

// ObjectCount returns the number of objects (latest versions) under prefix.
func (g *VersityGW) ObjectCount(t testing.TB, bucket, prefix string) int {
	t.Helper()
	n := 0
	for range g.Objects(t, bucket, prefix) {
		n++
	}
	return n
}

// Objects lists the objects (latest versions) under prefix with their sizes.
func (g *VersityGW) Objects(t testing.TB, bucket, prefix string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]int64{}
	for o := range g.Root(t).ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("versitygw: listing %s/%s: %v", bucket, prefix, o.Err)
		}
		out[o.Key] = o.Size
	}
	return out
}

// BucketBytes is the total size of the objects (latest versions) under prefix.
func (g *VersityGW) BucketBytes(t testing.TB, bucket, prefix string) int64 {
	var n int64
	for _, s := range g.Objects(t, bucket, prefix) {
		n += s
	}
	return n
}

// RestServer is restic's rest-server (pinned) on a free loopback port,
// without authentication.
type RestServer struct {
	// URL is the repository location for restic, e.g. rest:http://127.0.0.1:PORT/repo
	URL string
	// Dir is the data directory.
	Dir string
}

// StartRestServer starts rest-server, with --append-only if asked (restic
// can then add data but not delete or overwrite it). It stops when the test
// ends.
func StartRestServer(t testing.TB, appendOnly bool) *RestServer {
	t.Helper()
	bin := Tool(t, "rest-server")
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"--listen", addr, "--path", dir, "--no-auth"}
	if appendOnly {
		args = append(args, "--append-only")
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "rest-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(waited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
	})
	if err := waitListening(addr, waited, Patience); err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("rest-server: %v\n%s", err, tailBytes(log, 2000))
	}
	u := url.URL{Scheme: "http", Host: addr, Path: "/repo"}
	return &RestServer{URL: "rest:" + u.String(), Dir: dir}
}

// waitListening waits until addr accepts TCP connections, failing early if
// the process exits.
func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
