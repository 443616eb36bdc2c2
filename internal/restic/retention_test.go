// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// CanDelete, CheckWith(NoLock), ForgetSnapshots and Prune against a real S3
// server with IAM users, on both supported restic versions: the probe reads
// restic's own words about its lock, which must hold on 0.16 and 0.18.
func TestWriteOnlyKeysOnS3(t *testing.T) {
	g := testenv.StartVersityGW(t)
	g.CreateBucket(t, "bkt", true)
	for _, rb := range resticBinaries(t) {
		t.Run(rb.name, func(t *testing.T) {
			// Parallel: restic 0.16 spends about a minute (sleeping)
			// retrying the refused lock delete of the no-delete probe.
			t.Parallel()
			ctx := context.Background()
			prefix := "repo-" + strings.ReplaceAll(rb.name, ".", "")
			cache := filepath.Join(t.TempDir(), "cache")
			repo := func(access testenv.S3Access) *Repo {
				ak, sk := g.CreateUser(t, "bkt", prefix, access)
				return &Repo{Binary: rb.path, Repository: "s3:" + g.Endpoint + "/bkt/" + prefix, Password: testPassword,
					Env: []string{"AWS_ACCESS_KEY_ID=" + ak, "AWS_SECRET_ACCESS_KEY=" + sk, "RESTIC_CACHE_DIR=" + cache}}
			}
			full, nodel, putOnly := repo(testenv.S3FullAccess), repo(testenv.S3NoDelete), repo(testenv.S3PutOnly)
			if _, err := full.Init(ctx); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, s := range []string{"one", "two"} {
				sum, err := full.BackupStdin(ctx, BackupOptions{Filename: "f", Host: "h"}, strings.NewReader(s))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, sum.SnapshotID)
			}

			if ok, err := full.CanDelete(ctx); err != nil || !ok {
				t.Errorf("full access: CanDelete = %v, %v; want true", ok, err)
			}
			start := time.Now()
			if ok, err := nodel.CanDelete(ctx); err != nil || ok {
				t.Errorf("no-delete key: CanDelete = %v, %v; want false", ok, err)
			}
			t.Logf("restic %s: CanDelete under a no-delete key took %s", rb.name, time.Since(start).Round(time.Millisecond))
			if _, err := putOnly.CanDelete(ctx); !IsPermissionDenied(err) {
				t.Errorf("put-only key: CanDelete error %v, want permission denied", err)
			}

			// A check without a lock under the no-delete key leaves no lock.
			before := g.ObjectCount(t, "bkt", prefix+"/locks/")
			if err := nodel.CheckWith(ctx, CheckOptions{ReadDataSubset: "100%", NoLock: true}); err != nil {
				t.Errorf("check --no-lock with a no-delete key: %v", err)
			}
			if after := g.ObjectCount(t, "bkt", prefix+"/locks/"); after != before {
				t.Errorf("check --no-lock left %d new locks", after-before)
			}

			// The no-delete probe left its shared lock behind: an exclusive
			// lock (forget) now needs restic's unlock first, as target-restic
			// does before pruning.
			if err := full.ForgetSnapshots(ctx, ids[:1]); !IsLocked(err) {
				t.Errorf("forget next to a stale lock: %v, want locked", err)
			}
			if err := full.Unlock(ctx, false); err != nil {
				t.Fatal(err)
			}
			// Forget exactly one snapshot, then prune its data.
			if err := full.ForgetSnapshots(ctx, ids[:1]); err != nil {
				t.Fatal(err)
			}
			if err := full.Prune(ctx); err != nil {
				t.Fatal(err)
			}
			left, err := full.Snapshots(ctx, SnapshotFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 1 || left[0].ID != ids[1] {
				t.Fatalf("after forgetting %s: %d snapshots left", ids[0], len(left))
			}
			if err := full.CheckWith(ctx, CheckOptions{ReadDataSubset: "100%"}); err != nil {
				t.Errorf("check after prune: %v", err)
			}
			if err := full.ForgetSnapshots(ctx, []string{"--prune"}); err == nil {
				t.Error("an option passed as a snapshot ID was accepted")
			}
		})
	}
}
