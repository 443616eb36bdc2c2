// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/retention"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Prune (`backup prune`) applies the retention policy — which runs to keep
// is decided in host/retention — and asks the target to forget the
// snapshots of the runs removed.

// PruneOptions select what `backup prune` does.
type PruneOptions struct {
	DryRun  bool
	Offsite bool
}

// PruneReport is the outcome of retention in one repository.
type PruneReport struct {
	Instance string
	Plan     *retention.Plan
	// Forgotten counts the snapshots removed (0 with DryRun).
	Forgotten int
	// Skipped explains why this repository was left alone: its key may
	// not delete (write-only offsite). Not an error, never alerted.
	Skipped string
	Err     error
}

// Prune applies the retention policy to the local repository and, with
// Offsite, to the offsite one. The returned error is the local failure (or
// a configuration error); offsite outcomes are in the reports.
func (r *Runner) Prune(ctx context.Context, opts PruneOptions) ([]*PruneReport, error) {
	keep, err := retention.PolicyFrom(r.Cfg)
	if err != nil {
		return nil, err
	}
	insts := []string{Local}
	if opts.Offsite {
		insts = append(insts, Offsite)
	}
	// Start every target first: a configuration error (e.g. --offsite
	// without RESTIC_OFFSITE_REPOSITORY) stops before anything is removed.
	targets := map[string]*plugin.Plugin{}
	startErrs := map[string]error{}
	for _, inst := range insts {
		t, err := r.Start(ctx, r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget), inst)
		if err != nil && (errors.Is(err, config.ErrConfig) || errors.Is(err, sdk.ErrInvalidConfig)) {
			return nil, fmt.Errorf("%s repository: %w", inst, err)
		}
		targets[inst], startErrs[inst] = t, err
	}
	var reps []*PruneReport
	var localErr error
	for _, inst := range insts {
		var rep *PruneReport
		if err := startErrs[inst]; err != nil {
			rep = &PruneReport{Instance: inst, Err: err}
		} else {
			rep = r.pruneOne(ctx, inst, targets[inst], keep, opts.DryRun)
		}
		reps = append(reps, rep)
		if rep.Err != nil && inst == Local {
			localErr = rep.Err
		}
		if ctx.Err() != nil {
			return reps, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	return reps, localErr
}

func (r *Runner) pruneOne(ctx context.Context, inst string, t *plugin.Plugin, keep sdk.KeepPolicy, dryRun bool) *PruneReport {
	rep := &PruneReport{Instance: inst}
	snaps, err := listWith(ctx, t, inst)
	if err != nil {
		if inst == Offsite && IsPermission(err) {
			rep.Skipped = "the offsite key may not list snapshots (write-only key): offsite retention skipped; prune it with full-access credentials or let S3 lifecycle rules handle it"
			return rep
		}
		rep.Err = err
		return rep
	}
	host := r.Hostname()
	rep.Plan = retention.Decide(snaps, host, keep, nil)
	ids := rep.Plan.ForgetIDs()
	if dryRun || len(ids) == 0 {
		return rep
	}
	r.Log.Info("pruning", "repository", inst, "runs", len(rep.Plan.Removed()), "snapshots", len(ids))
	_, err = t.Target().Prune(ctx, sdk.PruneRequest{Keep: keep, Host: host, Tags: []string{runs.ToolTag}, Forget: ids})
	if err != nil {
		if inst == Offsite && IsPermission(err) {
			rep.Skipped = "the offsite key may not delete (write-only key): nothing removed offsite; prune it with full-access credentials or let S3 lifecycle rules handle it"
			return rep
		}
		rep.Err = fmt.Errorf("pruning the %s repository: %w", inst, err)
		return rep
	}
	rep.Forgotten = len(ids)
	return rep
}

// listSnapshots starts the target instance and lists its snapshots.
func (r *Runner) listSnapshots(ctx context.Context, instance string) ([]sdk.Snapshot, *plugin.Plugin, error) {
	t, err := r.Start(ctx, r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget), instance)
	if err != nil {
		return nil, nil, err
	}
	snaps, err := listWith(ctx, t, instance)
	return snaps, t, err
}

// listWith lists the snapshots of a started target instance.
func listWith(ctx context.Context, t *plugin.Plugin, instance string) ([]sdk.Snapshot, error) {
	snaps, err := t.Target().List(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("listing %s snapshots: %w", instance, err)
	}
	return snaps, nil
}
