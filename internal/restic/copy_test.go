// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// Probe tells a missing from an existing repository without a password;
// CreateLike creates one that chunks like another; Copy copies snapshots
// whole (time, host, tags; Original set) with the source's password only in
// restic's environment — on both supported restic versions.
func TestCopyBetweenRepositories(t *testing.T) {
	for _, b := range resticBinaries(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			dir := t.TempDir()
			src, logs := newTestRepo(t, b.path, filepath.Join(dir, "src"))
			src.Password = "QWERTY-991-source-password"
			dst, dlogs := newTestRepo(t, b.path, filepath.Join(dir, "dst"))
			var mu sync.Mutex
			var argv []string
			dst.startHook = func(c *exec.Cmd) { mu.Lock(); argv = append(argv, strings.Join(c.Args, " ")); mu.Unlock() }

			if _, err := src.Init(ctx); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
			sum, err := src.BackupStdin(ctx, BackupOptions{Filename: "db.dump", Tags: []string{"db", "run:r1"}, Host: "h1", Time: at}, bytes.NewReader(bytes.Repeat([]byte("timetiles "), 300000)))
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := dst.Probe(ctx); err != nil || ok {
				t.Fatalf("Probe of a missing repository: %v, %v", ok, err)
			}
			if ok, err := src.Probe(ctx); err != nil || !ok {
				t.Fatalf("Probe of an existing repository: %v, %v", ok, err)
			}
			if created, err := dst.CreateLike(ctx, src); err != nil || !created {
				t.Fatalf("CreateLike: %v, %v", created, err)
			}
			sc, err := src.Config(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dc, err := dst.Config(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sc.ChunkerPolynomial == "" || sc.ChunkerPolynomial != dc.ChunkerPolynomial || sc.ID == dc.ID {
				t.Fatalf("configs: source %+v, copy %+v", sc, dc)
			}
			for i := 0; i < 2; i++ { // the second copy finds it copied
				if err := dst.Copy(ctx, src, []string{sum.SnapshotID}); err != nil {
					t.Fatalf("copy %d: %v", i, err)
				}
			}
			snaps, err := dst.Snapshots(ctx, SnapshotFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(snaps) != 1 {
				t.Fatalf("%d snapshots after copying one twice", len(snaps))
			}
			got, err := CopiesOf(snaps, []string{sum.SnapshotID})
			if err != nil {
				t.Fatal(err)
			}
			c := got[sum.SnapshotID]
			if c.ID == sum.SnapshotID || !c.Time.Equal(at) || c.Hostname != "h1" || strings.Join(c.Tags, ",") != "db,run:r1" {
				t.Errorf("copy %+v does not keep the snapshot's time, host and tags", c)
			}
			var out bytes.Buffer
			if err := dst.Dump(ctx, c.ID, "/db.dump", &out); err != nil || out.Len() != 3000000 {
				t.Errorf("dump of the copy: %d bytes, %v", out.Len(), err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range argv {
				if strings.Contains(a, src.Password) || strings.Contains(a, "src") && strings.Contains(a, "copy") {
					t.Errorf("the source repository or its password is on restic's command line: %s", a)
				}
			}
			assertNoSecrets(t, "logs", logs.String()+dlogs.String())
		})
	}
}

// TestProbeGivesUpOnRetries: a wrong S3 secret key is an error restic
// retries (SignatureDoesNotMatch is not one of its permanent errors) for up
// to 15 minutes. Probe, a quick check, stops restic at its first retry and
// says so (ErrRetrying) instead of holding the nightly run.
func TestProbeGivesUpOnRetries(t *testing.T) {
	g := testenv.StartVersityGW(t)
	g.CreateBucket(t, "probe", false)
	ak, sk := g.CreateUser(t, "probe", "repo", testenv.S3FullAccess)
	bin := resticBinaries(t)[0].path
	repo := func(secret string) *Repo {
		return &Repo{Binary: bin, Repository: "s3:" + g.Endpoint + "/probe/repo", Password: testPassword,
			Env: []string{"AWS_ACCESS_KEY_ID=" + ak, "AWS_SECRET_ACCESS_KEY=" + secret, "RESTIC_CACHE_DIR=" + t.TempDir()}}
	}
	// A bound on a hang, not a measurement: restic's retries would outlast it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := repo(sk).Init(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := repo(sk).Probe(ctx); err != nil || !ok {
		t.Fatalf("Probe with the right key: %v, %v; want true", ok, err)
	}
	ok, err := repo("Wrong-" + sk).Probe(ctx)
	if !errors.Is(err, ErrRetrying) {
		t.Fatalf("Probe with a wrong secret key: %v, %v; want ErrRetrying", ok, err)
	}
	if strings.Contains(err.Error(), sk) {
		t.Errorf("the error shows the secret key: %v", err)
	}
}
