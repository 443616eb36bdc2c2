// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/retention"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/sdk"
)

// backup: source → targets for every component, then the run manifest
// that makes the run complete (Runner.Backup), and the offsite catch-up
// after it (catchup.go). The CLI sends the alerts (notify.go).

// BackupOptions selects what a backup run does.
type BackupOptions struct {
	Components []string
	Offsite    bool
	// Time overrides the snapshot time (tests, imports); zero means now.
	Time time.Time
	// Tags are added to every snapshot of the run, e.g. SafetyTag. Each
	// holds a ":" so it is never read as a component name.
	Tags []string
	// Progress, when set, receives the targets' progress reports (from
	// another goroutine).
	Progress func(ProgressEvent)
}

// ComponentReport is one component's outcome in a run.
type ComponentReport struct {
	Component string
	Plugin    string
	Result    *stream.Result
}

// BackupReport is the outcome of a backup run.
type BackupReport struct {
	RunID      string
	Time       time.Time
	Components []ComponentReport
	// Manifests by target instance; missing where the run is incomplete.
	Manifests map[string]string
	LocalErr  error
	// OffsiteErr is a warning: the local backup stands.
	OffsiteErr error
	// CatchUp is what the offsite catch-up did (nil when it did not run:
	// no --offsite, or tonight's offsite side failed); CatchUpErr is a
	// warning like OffsiteErr: tonight's run is complete offsite, earlier
	// ones are still missing there.
	CatchUp    *CatchUpReport
	CatchUpErr error
}

// Backup runs one backup: every component streamed into the local target
// and, with Offsite, the offsite target at the same time.
func (r *Runner) Backup(ctx context.Context, opts BackupOptions) (*BackupReport, error) {
	comps, sources, err := r.Components(opts.Components)
	if err != nil {
		return nil, err
	}
	algo, err := r.ChecksumAlgorithm()
	if err != nil {
		return nil, err
	}
	stall, err := r.duration("BACKUP_OFFSITE_STALL_TIMEOUT", 5*time.Minute)
	if err != nil {
		return nil, err
	}
	if opts.Offsite {
		if _, err := retention.PolicyFrom(r.Cfg); err != nil { // the catch-up applies it
			return nil, err
		}
	}
	now := opts.Time
	if now.IsZero() {
		now = time.Now()
	}
	rep := &BackupReport{RunID: runs.NewRunID(now), Time: now, Manifests: map[string]string{}}
	log := r.Log.With("run", rep.RunID)

	// The sources start meanwhile; a missing one still fails the run
	// before any stream starts.
	starting := r.startSources(ctx, comps, sources)
	defer starting.wait() // none is left starting when Backup returns
	targetName := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	local, err := r.Start(ctx, targetName, Local)
	if err != nil {
		return nil, err
	}
	var off *plugin.Plugin
	var offErr error
	if opts.Offsite {
		// Configured before anything is written: an offsite configuration
		// error (no RESTIC_OFFSITE_REPOSITORY) stops the run before even
		// the local repository is created.
		if off, offErr = r.Start(ctx, targetName, Offsite); errors.Is(offErr, config.ErrConfig) {
			return nil, offErr
		}
	}
	if _, err := r.initTarget(ctx, local); err != nil {
		rep.LocalErr = fmt.Errorf("local repository: %w", err)
		return rep, rep.LocalErr
	}
	sinks := []stream.Sink{{Name: Local, Target: local.Endpoint()}}
	targets := map[string]*plugin.Plugin{Local: local}
	if opts.Offsite {
		err := offErr
		if err == nil {
			// An unreachable offsite backend must not hold up the local
			// backup: restic itself retries for 15 minutes.
			ictx, cancel := withTimeout(ctx, stall)
			_, err = r.initTarget(ictx, off)
			if err != nil && ictx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("no answer within %s (BACKUP_OFFSITE_STALL_TIMEOUT): %w", stall, err)
			}
			cancel()
		}
		if err != nil {
			if errors.Is(err, config.ErrConfig) {
				return nil, err
			}
			rep.OffsiteErr = fmt.Errorf("offsite repository: %w", err)
			log.Warn("offsite backup skipped", "error", rep.OffsiteErr)
		} else {
			sinks = append(sinks, stream.Sink{Name: Offsite, Target: off.Endpoint(), StallTimeout: stall})
			targets[Offsite] = off
		}
	}
	if opts.Progress != nil {
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		for _, s := range sinks {
			watchProgress(pctx, targets[s.Name], s.Name, opts.Progress)
		}
	}
	srcs, err := starting.wait()
	if err != nil {
		return nil, err
	}
	// A component declared BackupFirst (a database) is dumped before the
	// directories its rows refer to are snapshotted.
	comps = orderComponents(comps, srcs)
	host := r.Hostname()
	// Every target starts on the run manifest now, while the components
	// stream, and stores it only when it is committed at the end
	// (runmanifest.go): the manifest adds no restic start-up to the run.
	manifests := r.beginManifests(ctx, sinks, runs.Manifest{Tool: runs.ToolTag, Version: Version, RunID: rep.RunID, Host: host, Time: now, Tags: opts.Tags})
	defer manifests.abort(ctx, "", errors.New("the backup run did not complete"))
	for _, c := range comps {
		if err := ctx.Err(); err != nil {
			rep.LocalErr = fmt.Errorf("interrupted: %w", err)
			return rep, rep.LocalErr
		}
		live := manifests.live()
		log.Info("backing up", "component", c, "source", sources[c], "targets", len(live))
		res := stream.Backup(ctx, srcs[c].Endpoint(), live, stream.Spec{
			Component: c, RunID: rep.RunID, Host: host, Time: now, Checksum: algo,
			Tags:         append([]string{runs.ToolTag, c, runs.RunTagPrefix + rep.RunID}, opts.Tags...),
			SourceFailed: func(err error) { go manifests.abort(ctx, "", err) },
		})
		rep.Components = append(rep.Components, ComponentReport{Component: c, Plugin: sources[c], Result: res})
		reportDone(opts.Progress, rep.RunID, res)
		for _, s := range live {
			err := res.Err(s.Name)
			if err != nil {
				manifests.fail(s.Name, c, err)
				log.Error("component failed", "component", c, "target", s.Name, "error", err)
				continue
			}
			mc := manifests.add(s.Name, c, sources[c], res)
			log.Info("component stored", "component", c, "target", s.Name, "snapshot", mc.Snapshot,
				"bytes", mc.Size, "added", mc.BytesAdded, "transport", res.Transport)
		}
		if res.SourceErr != nil {
			// A failed source fails the run everywhere: stop here.
			break
		}
	}
	ids, errs := manifests.end(ctx)
	for _, s := range sinks {
		if id, ok := ids[s.Name]; ok {
			rep.Manifests[s.Name] = id
		}
		err := errs[s.Name]
		if err == nil {
			continue
		}
		if s.Name == Local {
			rep.LocalErr = err
		} else {
			rep.OffsiteErr = fmt.Errorf("offsite: %w", err)
		}
	}
	if rep.LocalErr != nil {
		return rep, rep.LocalErr
	}
	state := r.readCatchUpState()
	synced := false
	switch {
	case len(sinks) < 2 || rep.OffsiteErr != nil || rep.Manifests[Offsite] == "":
	case !state.catchUpNeeded(time.Now()):
		// No run since the offsite repository was last known complete.
		synced = true
		log.Debug("offsite catch-up: nothing can be missing", "synced_run", state.OffsiteSyncedRun)
	default:
		rep.CatchUp, rep.CatchUpErr = r.CatchUp(ctx, local, targets[Offsite], rep.RunID)
		if rep.CatchUpErr != nil {
			log.Warn("offsite catch-up failed", "error", rep.CatchUpErr)
		} else if rep.CatchUp.Skipped == "" {
			synced = true
			state.Checked = time.Now()
		}
	}
	state.LocalLastRun = rep.RunID
	if synced {
		state.OffsiteSyncedRun = rep.RunID
	}
	r.writeCatchUpState(state)
	return rep, nil
}

func (r *Runner) initTarget(ctx context.Context, t *plugin.Plugin) (bool, error) {
	return InitRepository(ctx, r.Log, t, true)
}

// InitRepository creates the repository of a target instance when it does
// not exist. The offsite repository is created with the local one's
// storage parameters (restic: its chunker parameters), so runs the
// catch-up copies deduplicate with the others; opensNext as in
// InitRequest.
func InitRepository(ctx context.Context, log hclog.Logger, t *plugin.Plugin, opensNext bool) (bool, error) {
	if opensNext {
		ctx = sdk.WithInitOpensNext(ctx)
	}
	if t.Instance == Offsite {
		ctx = sdk.WithInitParamsFrom(ctx, Local)
	}
	created, err := t.Target().Init(ctx)
	if err != nil {
		return false, err
	}
	if created {
		log.Info("repository created", "target", t.Name, "instance", t.Instance)
	}
	return created, nil
}
