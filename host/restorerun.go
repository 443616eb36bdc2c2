// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/sdk"
)

// restore: choosing the restore point (ResolveRestore) and bringing its
// components back (Runner.Restore); the bytes travel as restore.go says.

// RestoreOptions selects what a restore does.
type RestoreOptions struct {
	Selector   string
	Components []string
	Instance   string
	ToDatabase string
	ToDir      string
	// ReplaceDatabase lets a restore into ToDatabase replace an existing
	// database that is not empty (--replace-database).
	ReplaceDatabase bool
}

// RestoreReport says what was restored.
type RestoreReport struct {
	Run      *runs.Run
	Restored []string
	// Notes: what the operator must know or do after the restore, from
	// the sources (sdk.RestoreNote), each "component: note".
	Notes []string
}

// ResolveRestore finds the run a restore selects. The returned error wraps
// sdk.ErrNotFound when nothing matches.
func (r *Runner) ResolveRestore(ctx context.Context, opts RestoreOptions) (*runs.Run, []*runs.Run, *plugin.Plugin, error) {
	order, _, err := r.SourceMap()
	if err != nil {
		return nil, nil, nil, err
	}
	all, t, err := r.ListRuns(ctx, opts.Instance)
	if err != nil {
		return nil, nil, nil, err
	}
	want := opts.Components
	if len(want) == 0 && (opts.Selector == "" || opts.Selector == "latest") {
		want = order
	}
	run, err := runs.SelectRun(all, opts.Selector, want)
	return run, all, t, err
}

// Restore restores the components of a run.
func (r *Runner) Restore(ctx context.Context, run *runs.Run, t *plugin.Plugin, opts RestoreOptions) (*RestoreReport, error) {
	_, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	// The manifest (one more restic start: a key derivation, ~0.9 s) is
	// read while the first component already streams: it is needed only
	// to check the stream's size and checksum at its end, before the
	// source sees end of file (docs/performance.md, P7).
	manifest := sync.OnceValues(func() (*runs.Manifest, error) { return ReadManifest(ctx, t, run) })
	ready := make(chan struct{})
	go func() { defer close(ready); _, _ = manifest() }()
	defer func() { <-ready }()
	comps := run.ComponentNames()
	if len(opts.Components) > 0 {
		for _, c := range opts.Components {
			if _, ok := run.Components[c]; !ok {
				return nil, fmt.Errorf("%w: run %s has no component %q (it has %s)", sdk.ErrNotFound, run.ID, c, strings.Join(comps, ", "))
			}
		}
		comps = opts.Components
	}
	rep := &RestoreReport{Run: run}
	for _, c := range comps {
		if _, ok := sources[c]; !ok {
			return rep, config.Configf("no source plugin for component %q in BACKUP_SOURCES", c)
		}
	}
	// Every source starts (and declares its components) before the first
	// byte is restored; the declared order is the backup's.
	srcs, err := r.startSources(ctx, comps, sources).wait()
	if err != nil {
		return rep, err
	}
	comps = orderComponents(comps, srcs)
	for _, c := range comps {
		src := srcs[c]
		component := func() (*runs.ManifestComponent, error) {
			man, err := manifest()
			if err != nil || man == nil {
				return nil, err
			}
			if m, ok := man.Components[c]; ok {
				return &m, nil
			}
			return nil, nil
		}
		snap := run.Components[c]
		r.Log.Info("restoring", "component", c, "snapshot", snap.ID, "run", run.ID)
		ctx, notes := withRestoreNotes(ctx)
		ropts := stream.RestoreOptions{Component: c, ToDatabase: opts.ToDatabase, ToDirectory: opts.ToDir, ReplaceDatabase: opts.ReplaceDatabase}
		if bothRestorePaths(t, src) {
			// The manifest says which way the backup took: read it first.
			mc, merr := component()
			if merr != nil {
				return rep, merr
			}
			err = StreamRestore(ctx, t, src, snap, mc, ropts)
		} else {
			// Guess the default algorithm; a backup that recorded another
			// one is read again (the source rolled the first attempt back).
			err = restoreStream(ctx, t, src, snap, sdk.DefaultChecksum, component, ropts)
			var guess stream.ChecksumGuessError
			if errors.As(err, &guess) {
				r.Log.Info("reading again with the backup's checksum algorithm", "component", c, "algorithm", guess.Algorithm)
				err = restoreStream(ctx, t, src, snap, guess.Algorithm, component, ropts)
			}
		}
		if err != nil {
			return rep, fmt.Errorf("restoring %s from snapshot %s: %w", c, snap.ID, err)
		}
		rep.Restored = append(rep.Restored, c)
		for _, n := range *notes {
			rep.Notes = append(rep.Notes, c+": "+n)
		}
	}
	return rep, nil
}
