// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// UnlockDead removes the repository locks left behind by restic processes
// of this machine that no longer run — a backup killed mid-stream (restic ≥
// 0.17 reading stdin only stops when killed), a crashed prune — and only
// those: it lists the locks first and runs `restic unlock` only when at
// least one is known to be ours and dead (LockInfo.DeadOnHost with
// os.Hostname, which is what restic writes into its locks). Locks of live
// processes and of other machines are never the reason for an unlock.
// (`restic unlock` without --remove-all removes what restic itself calls
// stale: dead processes of this host, and locks not refreshed for 30
// minutes — restic refreshes a live lock every 5 minutes.)
//
// It returns the dead locks it removed. For a local repository whose locks
// directory is empty it runs no restic at all (each restic run costs about
// 0.8 s of key derivation).
func (r *Repo) UnlockDead(ctx context.Context) ([]LockInfo, error) {
	if dir, ok := localPath(r.Repository); ok {
		ents, err := os.ReadDir(filepath.Join(dir, "locks"))
		if err == nil && len(ents) == 0 {
			return nil, nil
		}
	}
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	var dead []LockInfo
	for _, l := range locks {
		if l.DeadOnHost(host) {
			dead = append(dead, l)
		}
	}
	if len(dead) == 0 {
		return nil, nil
	}
	r.log().Info("removing repository locks of dead processes of this host", "count", len(dead))
	if err := r.Unlock(ctx, false); err != nil {
		return nil, err
	}
	return dead, nil
}

// localPath returns the directory of a local repository location ("/path"
// or "local:/path"); other backends (s3:, rest:, sftp:, …) are not local.
func localPath(repo string) (string, bool) {
	if p, ok := strings.CutPrefix(repo, "local:"); ok {
		return p, true
	}
	if i := strings.Index(repo, ":"); i > 0 && !strings.ContainsAny(repo[:i], `/\`) {
		return "", false // a backend prefix such as s3:, rest:, sftp:
	}
	return repo, repo != ""
}
