// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Init creates the repository when, and only when, it does not exist.
func (t *Target) Init(ctx context.Context) (bool, error) {
	init := t.repo.Init
	if sdk.InitOpensNext(ctx) {
		init = t.repo.Create // the backup that follows opens it (and says so if the password is wrong)
	}
	if from := sdk.InitParamsFrom(ctx); from != "" {
		opensNext := sdk.InitOpensNext(ctx)
		init = func(ctx context.Context) (bool, error) { return t.initLike(ctx, from, opensNext) }
	}
	created, err := init(ctx)
	if err == nil && !created {
		if t.instance == "offsite" {
			t.clearStaleOffsiteLocks(ctx)
		} else {
			t.clearDeadLocks(ctx) // before every backup: see clearDeadLocks
		}
	}
	return created, t.sdkErr(err)
}

// initLike creates a missing repository with the chunker parameters of
// instance from's repository (restic init --copy-chunker-params), so runs
// copied from there (Copy) deduplicate with the ones backed up here. An
// existing repository is found without a key derivation (Probe) and left
// as it is; Copy tells when its parameters differ.
func (t *Target) initLike(ctx context.Context, from string, opensNext bool) (bool, error) {
	exists, err := t.repo.Probe(ctx)
	if errors.Is(err, restic.ErrRetrying) {
		// The repository keeps answering with an error restic retries (a
		// wrong key, a server in trouble): the probe cannot tell, and waiting out
		// restic's retries would hold the run for minutes. Decide as
		// without the probe: a plain init fails at once with the server's
		// error, or creates the repository (without the local chunker
		// parameters: Copy warns then).
		if opensNext {
			return t.repo.Create(ctx)
		}
		return t.repo.Init(ctx)
	}
	if err != nil {
		return false, err
	}
	if exists {
		if opensNext {
			return false, nil
		}
		_, err := t.repo.Exists(ctx) // the password opens it
		return false, err
	}
	src, err := t.peer(from)
	if err != nil {
		return false, err
	}
	created, err := t.repo.CreateLike(ctx, src)
	if err != nil {
		return false, fmt.Errorf("creating the repository with the chunker parameters of the %s repository: %w", from, err)
	}
	return created, nil
}

// Copy copies snapshots of another instance's repository into this one
// (restic copy; the source's password reaches restic in its environment).
// When the two repositories chunk differently (one was not created with
// the other's chunker parameters), the copies work but do not deduplicate
// with the snapshots backed up here: the result says so (docs/offsite.md
// has the migration).
func (t *Target) Copy(ctx context.Context, req sdk.CopyRequest) (sdk.CopyResult, error) {
	var res sdk.CopyResult
	src, err := t.peer(req.FromInstance)
	if err != nil {
		return res, err
	}
	if len(req.SnapshotIDs) == 0 {
		return res, nil
	}
	var srcCfg, dstCfg *restic.Config
	var srcErr, dstErr error
	done := make(chan struct{})
	go func() { defer close(done); srcCfg, srcErr = src.Config(ctx) }()
	dstCfg, dstErr = t.repo.Config(ctx)
	<-done
	switch {
	case srcErr != nil:
		return res, fmt.Errorf("reading the %s repository: %w", req.FromInstance, t.sdkErr(srcErr))
	case dstErr != nil:
		return res, t.sdkErr(dstErr)
	case srcCfg.ChunkerPolynomial != dstCfg.ChunkerPolynomial:
		res.Warning = fmt.Sprintf("the %s repository chunks differently from the %s repository (it was not created with its chunker parameters): copied runs do not deduplicate with the runs backed up here; docs/offsite.md (\"Chunker parameters\") shows how to migrate", t.instance, req.FromInstance)
	}
	if err := t.repo.Copy(ctx, src, req.SnapshotIDs); err != nil {
		return res, t.sdkErr(err)
	}
	snaps, err := t.repo.Snapshots(ctx, restic.SnapshotFilter{})
	if err != nil {
		return res, t.sdkErr(err)
	}
	t.known.remember(snaps)
	copies, err := restic.CopiesOf(snaps, req.SnapshotIDs)
	if err != nil {
		return res, err
	}
	res.Copied = map[string]sdk.Snapshot{}
	for id, s := range copies {
		res.Copied[id] = toSDK(s)
	}
	return res, nil
}

// clearStaleOffsiteLocks is clearDeadLocks for the offsite repository, which
// may be written with a key that may not delete: there every run leaves its
// lock behind, so the locks only ever grow, and reading each of them (what
// UnlockDead does: one restic run of ~0.8 s CPU per lock) would make every
// backup slower than the last. One `restic unlock` (restic's own stale
// rule: locks of dead processes of this host, locks not refreshed for 30
// minutes) costs the same whatever their number; a key that may not delete
// makes it fail, which is expected and harmless: backups take shared locks,
// and stale shared locks never block them.
func (t *Target) clearStaleOffsiteLocks(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := t.repo.Unlock(ctx, false); err != nil {
		if restic.IsPermissionDenied(err) {
			sdk.Logger.Debug("the offsite key may not delete lock files (write-only key): stale shared locks stay; they do not block backups")
			return
		}
		sdk.Logger.Warn("cannot remove stale locks of the offsite repository", "repository", redactURL(t.repo.Repository), "error", err)
	}
}
