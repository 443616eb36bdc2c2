// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/retention"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// The offsite catch-up. Tonight's run reaches the offsite repository
// through the fan-out (one read of each source feeding both repositories,
// the cheaper way: docs/offsite.md). A night the offsite repository was
// down, or a run made without --offsite (e.g. an hourly `backup db`), is
// missing there; after a successful `backup --offsite` the host copies
// every such run the retention policy keeps from the local repository with
// the target's Copy (restic copy), so an outage heals itself the next
// night.
//
// A run is copied whole: its component snapshots (restic copy keeps their
// time, host and tags, so the run tag groups them into the same run), then
// a manifest written last, which makes the run complete offsite. The
// manifest is not copied but written again: it names the run's snapshots
// by ID, and the copies have their own IDs in the offsite repository
// (`backup verify --offsite` checks them); it records where it was copied
// from (CopiedFrom).

// CatchUpReport is what a catch-up did.
type CatchUpReport struct {
	// Copied are the runs now complete offsite, oldest first.
	Copied []string
	// Missing counts the runs that were missing before.
	Missing int
	// Warning, when set, is the target's (e.g. different chunker
	// parameters: copies do not deduplicate).
	Warning  string
	Duration time.Duration
	// Skipped says why no catch-up was tried (e.g. the target cannot copy).
	Skipped string
}

// CatchUp copies the runs the offsite repository lacks (retention.MissingRuns) from
// local into offsite. skip is tonight's run. An error leaves every run
// copied so far complete; the next night goes on from there.
func (r *Runner) CatchUp(ctx context.Context, local, offsite *plugin.Plugin, skip string) (*CatchUpReport, error) {
	start := time.Now()
	rep := &CatchUpReport{}
	defer func() { rep.Duration = time.Since(start) }()
	keep, err := retention.PolicyFrom(r.Cfg)
	if err != nil {
		return rep, err
	}
	var localSnaps, offSnaps []sdk.Snapshot
	var localErr error
	done := make(chan struct{})
	go func() { defer close(done); localSnaps, localErr = listWith(ctx, local, Local) }()
	offSnaps, err = listWith(ctx, offsite, Offsite)
	<-done
	if localErr != nil {
		return rep, localErr
	}
	if err != nil {
		return rep, err
	}
	missing := retention.MissingRuns(localSnaps, offSnaps, r.Hostname(), keep, skip)
	rep.Missing = len(missing)
	if len(missing) == 0 {
		return rep, nil
	}
	log := r.Log.With("runs", len(missing))
	log.Info("offsite catch-up: copying runs the offsite repository lacks")

	// Read the local manifests (sizes, checksums) and collect the snapshots
	// to copy; one Copy call copies them all (restic opens both
	// repositories once).
	manifests := make([]*runs.Manifest, len(missing))
	var ids []string
	for i, m := range missing {
		man, err := ReadManifest(ctx, local, m.Run)
		if err != nil {
			return rep, err
		}
		manifests[i] = man
		for c, s := range m.Run.Components {
			if _, ok := m.Have[c]; !ok {
				ids = append(ids, s.ID)
			}
		}
	}
	copied := map[string]sdk.Snapshot{}
	if len(ids) > 0 {
		res, err := offsite.Target().Copy(ctx, sdk.CopyRequest{FromInstance: Local, SnapshotIDs: ids})
		if err != nil {
			if errors.Is(err, sdk.ErrUnimplemented) {
				rep.Skipped = fmt.Sprintf("the target plugin %s cannot copy runs between repositories: %d run(s) stay missing offsite", offsite.Name, len(missing))
				return rep, nil
			}
			return rep, fmt.Errorf("copying %d snapshot(s) of %d run(s): %w", len(ids), len(missing), err)
		}
		rep.Warning = res.Warning
		copied = res.Copied
	}
	for i, m := range missing {
		man := *manifests[i]
		man.Components = map[string]runs.ManifestComponent{}
		man.CopiedFrom = Local
		for c, s := range m.Run.Components {
			mc, ok := manifests[i].Components[c]
			if !ok {
				return rep, fmt.Errorf("run %s: the manifest does not record component %s", m.Run.ID, c)
			}
			dst, ok := m.Have[c]
			if !ok {
				if dst, ok = copied[s.ID]; !ok {
					return rep, fmt.Errorf("run %s: snapshot %s (%s) was not copied", m.Run.ID, s.ID, c)
				}
			}
			mc.Snapshot = dst.ID
			man.Components[c] = mc
		}
		if _, err := writeManifest(ctx, offsite.Endpoint(), &man); err != nil {
			return rep, fmt.Errorf("run %s: writing its manifest offsite: %w", m.Run.ID, err)
		}
		rep.Copied = append(rep.Copied, m.Run.ID)
		log.Info("offsite catch-up: run copied", "run", m.Run.ID)
	}
	return rep, nil
}

// The nightly check costs two listings (a key derivation each); it is
// skipped when nothing can be missing: a small state file (in the state
// directory, per local and offsite repository) records the last run
// written to the local repository and the last run after which the
// offsite repository was known to hold every run it should. When they are
// the same run — no run was made since, locally only or with a failed
// offsite side — there is nothing to copy. At least once every
// catchUpRecheck the repositories are compared anyway (an offsite
// repository emptied or pruned by hand).
const catchUpRecheck = 7 * 24 * time.Hour

type catchUpState struct {
	LocalLastRun     string    `json:"local_last_run"`
	OffsiteSyncedRun string    `json:"offsite_synced_run"`
	Checked          time.Time `json:"checked"`
}

func (r *Runner) catchUpStatePath() string {
	target := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	key := strings.Join([]string{target, r.Cfg.Get("RESTIC_REPOSITORY"), r.Cfg.Get("RESTIC_OFFSITE_REPOSITORY"), r.Cfg.Get("AWS_ENDPOINT_URL")}, "\x00")
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(r.StateDir(), "offsite-sync-"+hex.EncodeToString(sum[:8])+".json")
}

func (r *Runner) readCatchUpState() catchUpState {
	var st catchUpState
	if b, err := os.ReadFile(r.catchUpStatePath()); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// writeCatchUpState replaces the state file atomically; it is only written
// where the state directory exists (the run lock creates it).
func (r *Runner) writeCatchUpState(st catchUpState) {
	path := r.catchUpStatePath()
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return
	}
	b, _ := json.Marshal(st)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		r.Log.Debug("cannot write the offsite catch-up state", "error", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
	}
}

// catchUpNeeded says whether the offsite repository may lack runs, given
// the state before tonight's run.
func (st catchUpState) catchUpNeeded(now time.Time) bool {
	return st.LocalLastRun == "" || st.OffsiteSyncedRun != st.LocalLastRun || now.Sub(st.Checked) > catchUpRecheck || now.Before(st.Checked)
}
