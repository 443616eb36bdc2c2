// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"

	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/runs"
)

// Listing a target's runs (grouped by host/runs); a run's manifest is read
// by runmanifest.go.

// ListRuns lists the restore points of a target instance, newest first.
func (r *Runner) ListRuns(ctx context.Context, instance string) ([]*runs.Run, *plugin.Plugin, error) {
	snaps, t, err := r.listSnapshots(ctx, instance)
	if err != nil {
		return nil, t, err
	}
	return runs.GroupRuns(snaps), t, nil
}
