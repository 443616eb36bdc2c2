// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"fmt"

	"github.com/timetiles/timetiles-backup/host/runs"
)

// Listing a target's runs (grouped by host/runs) and reading a run's
// manifest.

// ListRuns lists the restore points of a target instance, newest first.
func (r *Runner) ListRuns(ctx context.Context, instance string) ([]*runs.Run, *Plugin, error) {
	snaps, t, err := r.listSnapshots(ctx, instance)
	if err != nil {
		return nil, t, err
	}
	return runs.GroupRuns(snaps), t, nil
}

// ReadManifest fetches and decodes a run's manifest.
func ReadManifest(ctx context.Context, t *Plugin, run *runs.Run) (*runs.Manifest, error) {
	if run.Manifest == nil {
		return nil, nil
	}
	b, err := ReadBytes(ctx, t, run.Manifest.ID, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("reading manifest of run %s: %w", run.ID, err)
	}
	return runs.ParseManifest(b)
}
