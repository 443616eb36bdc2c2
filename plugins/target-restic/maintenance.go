// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Prune applies the retention policy. The host sends the snapshots to
// remove (req.Forget), chosen per backup run so that a run's components and
// manifest go together: they are forgotten (`restic forget ID…`) and then,
// only if that fully succeeded, the unreferenced data is pruned. Without a
// list it applies req.Keep with forget --prune, grouped by host and tags.
//
// On the offsite instance, which may run with write-only keys, nothing
// that takes an exclusive lock runs before CanDelete said the key may
// delete: an exclusive lock a key cannot remove again would block every
// later backup.
func (t *Target) Prune(ctx context.Context, req sdk.PruneRequest) (sdk.PruneResult, error) {
	if len(req.Forget) > 0 {
		return t.forget(ctx, req)
	}
	if !req.DryRun {
		t.clearDeadLocks(ctx)
	}
	res, err := t.repo.Forget(ctx, restic.ForgetOptions{
		KeepDaily: req.Keep.Daily, KeepWeekly: req.Keep.Weekly, KeepMonthly: req.Keep.Monthly,
		GroupBy: "host,tags", Host: req.Host, Tags: req.Tags, Prune: !req.DryRun, DryRun: req.DryRun,
	})
	if err != nil {
		return sdk.PruneResult{}, t.sdkErr(err)
	}
	var out sdk.PruneResult
	for _, g := range res.Groups {
		for _, s := range g.Keep {
			out.Kept = append(out.Kept, sdk.Snapshot{ID: s.ID, Time: s.Time, Host: s.Hostname, Tags: s.Tags, Paths: s.Paths})
		}
		for _, s := range g.Remove {
			out.Removed = append(out.Removed, sdk.Snapshot{ID: s.ID, Time: s.Time, Host: s.Hostname, Tags: s.Tags, Paths: s.Paths})
		}
	}
	return out, nil
}

func (t *Target) forget(ctx context.Context, req sdk.PruneRequest) (sdk.PruneResult, error) {
	var out sdk.PruneResult
	for _, id := range req.Forget {
		out.Removed = append(out.Removed, sdk.Snapshot{ID: id})
	}
	if req.DryRun {
		return out, nil
	}
	lockable, err := t.exclusiveLockable(ctx)
	if err != nil {
		return sdk.PruneResult{}, err
	}
	if !lockable {
		return sdk.PruneResult{}, fmt.Errorf("the %s repository's key may not delete files (write-only key): nothing removed; prune it with a key that may delete, or let S3 lifecycle rules expire old versions: %w", t.instance, sdk.ErrPermissionDenied)
	}
	if err := t.repo.ForgetSnapshots(ctx, req.Forget); err != nil {
		return sdk.PruneResult{}, t.sdkErr(err)
	}
	if err := t.repo.Prune(ctx); err != nil {
		return sdk.PruneResult{}, fmt.Errorf("snapshots forgotten, but removing their data failed (the next prune retries): %w", t.sdkErr(err))
	}
	return out, nil
}

// exclusiveLockable says whether an exclusive lock may be taken: always on
// the local repository; on the offsite one only when the key may delete
// (restic.Repo.CanDelete), and then after removing the stale locks earlier
// runs under write-only keys left behind (restic.Repo.UnlockDead: only
// when locks of dead processes of this host are there), which would
// otherwise make the exclusive lock fail as "already locked". The local
// repository is cleared of its dead locks the same way.
func (t *Target) exclusiveLockable(ctx context.Context) (bool, error) {
	if t.instance != "offsite" {
		t.clearDeadLocks(ctx)
		return true, nil
	}
	ok, err := t.repo.CanDelete(ctx)
	if err != nil || !ok {
		return false, t.sdkErr(err)
	}
	if _, err := t.repo.UnlockDead(ctx); err != nil {
		return false, t.sdkErr(err)
	}
	return true, nil
}

// Verify checks the repository's integrity, reading a sample of the data.
// Where an exclusive lock could not be removed again (an offsite key that
// may not delete) it checks without a lock: check only reads.
func (t *Target) Verify(ctx context.Context, req sdk.VerifyRequest) (string, error) {
	lockable, err := t.exclusiveLockable(ctx)
	if err != nil {
		return "", err
	}
	opts := restic.CheckOptions{ReadDataSubset: req.ReadDataSubset, NoLock: !lockable}
	if err := t.repo.CheckWith(ctx, opts); err != nil {
		return "", t.sdkErr(err)
	}
	s := "repository structure ok"
	if req.ReadDataSubset != "" {
		s += ", data subset " + req.ReadDataSubset + " read and ok"
	}
	if !lockable {
		s += " (checked without a lock: the key may not delete, and an exclusive lock would stay behind)"
	}
	return s, nil
}
