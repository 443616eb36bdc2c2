// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// The IAM users the offsite tests rely on really have the permissions they
// are named after, enforced by versitygw's bucket policies; versioning keeps
// overwritten objects; Stop/Start is an outage the data survives.
func TestVersityGWUsersAndPolicies(t *testing.T) {
	g := StartVersityGW(t)
	g.CreateBucket(t, "bkt", true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	put := func(c *minio.Client, key, body string) error {
		_, err := c.PutObject(ctx, "bkt", key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		return err
	}
	get := func(c *minio.Client, key string) (string, error) {
		o, err := c.GetObject(ctx, "bkt", key, minio.GetObjectOptions{})
		if err != nil {
			return "", err
		}
		defer o.Close()
		b, err := io.ReadAll(o)
		return string(b), err
	}
	list := func(c *minio.Client) error {
		for o := range c.ListObjects(ctx, "bkt", minio.ListObjectsOptions{Prefix: "repo/", Recursive: true}) {
			if o.Err != nil {
				return o.Err
			}
		}
		return nil
	}
	del := func(c *minio.Client, key string) error {
		return c.RemoveObject(ctx, "bkt", key, minio.RemoveObjectOptions{})
	}
	denied := func(err error) bool {
		return err != nil && minio.ToErrorResponse(err).Code == "AccessDenied"
	}

	fa, fs := g.CreateUser(t, "bkt", "repo", S3FullAccess)
	full := g.Client(t, fa, fs)
	if err := put(full, "repo/data/x", "one"); err != nil {
		t.Fatalf("full access put: %v", err)
	}
	if err := put(full, "repo/locks/l1", "lock"); err != nil {
		t.Fatal(err)
	}

	na, ns := g.CreateUser(t, "bkt", "repo", S3NoDelete)
	nodel := g.Client(t, na, ns)
	if err := put(nodel, "repo/data/y", "two"); err != nil {
		t.Errorf("no-delete put: %v", err)
	}
	if b, err := get(nodel, "repo/data/x"); err != nil || b != "one" {
		t.Errorf("no-delete get: %q %v", b, err)
	}
	if err := list(nodel); err != nil {
		t.Errorf("no-delete list: %v", err)
	}
	if err := del(nodel, "repo/data/x"); !denied(err) {
		t.Errorf("no-delete delete: %v, want AccessDenied", err)
	}
	if err := del(nodel, "repo/locks/l1"); !denied(err) {
		t.Errorf("no-delete delete of a lock: %v, want AccessDenied", err)
	}

	pa, ps := g.CreateUser(t, "bkt", "repo", S3PutOnly)
	putOnly := g.Client(t, pa, ps)
	if err := put(putOnly, "repo/data/z", "three"); err != nil {
		t.Errorf("put-only put: %v", err)
	}
	if _, err := get(putOnly, "repo/data/x"); !denied(err) {
		t.Errorf("put-only get: %v, want AccessDenied", err)
	}
	if err := list(putOnly); !denied(err) {
		t.Errorf("put-only list: %v, want AccessDenied", err)
	}

	la, ls := g.CreateUser(t, "bkt", "repo", S3NoDeleteButLocks)
	locksOnly := g.Client(t, la, ls)
	if err := del(locksOnly, "repo/data/x"); !denied(err) {
		t.Errorf("locks-only delete of data: %v, want AccessDenied", err)
	}
	if err := del(locksOnly, "repo/locks/l1"); err != nil {
		t.Errorf("locks-only delete of a lock: %v", err)
	}

	// Versioning: an overwrite keeps the old version.
	if err := put(nodel, "repo/data/x", "overwritten"); err != nil {
		t.Fatal(err)
	}
	versions := 0
	for o := range g.Root(t).ListObjects(ctx, "bkt", minio.ListObjectsOptions{Prefix: "repo/data/x", WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		versions++
	}
	if versions < 2 {
		t.Errorf("%d versions of an overwritten object, want 2", versions)
	}

	// An outage and a restart keep the data.
	g.Stop()
	if err := put(full, "repo/data/w", "down"); err == nil {
		t.Error("put succeeded while the server was stopped")
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	if b, err := get(full, "repo/data/y"); err != nil || b != "two" {
		t.Errorf("after restart: %q %v", b, err)
	}
	if n := g.ObjectCount(t, "bkt", "repo/data/"); n != 3 {
		t.Errorf("%d objects under repo/data/, want 3 (x, y, z)", n)
	}
}

// rest-server --append-only refuses deletes of repository data.
func TestRestServerAppendOnly(t *testing.T) {
	rs := StartRestServer(t, true)
	base := strings.TrimPrefix(rs.URL, "rest:")
	req, _ := http.NewRequest(http.MethodPost, base+"/?create=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create repo: %s", resp.Status)
	}
	// rest-server checks that a file's name is the SHA-256 of its content.
	body := []byte("x")
	sum := sha256.Sum256(body)
	id := hex.EncodeToString(sum[:])
	req, _ = http.NewRequest(http.MethodPost, base+"/snapshots/"+id, bytes.NewReader(body))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("append: %s", resp.Status)
	}
	req, _ = http.NewRequest(http.MethodDelete, base+"/snapshots/"+id, nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("delete in append-only mode: %s, want 403", resp.Status)
	}
}
