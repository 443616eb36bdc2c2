// SPDX-License-Identifier: Apache-2.0

package retention

import (
	"sort"

	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Which runs the offsite catch-up (host/catchup.go) copies: the runs the
// policy keeps in the local repository that are not complete offsite.

// CatchUpRun is one local run the offsite repository lacks.
type CatchUpRun struct {
	Run *runs.Run
	// Have are the run's components already in the offsite repository (a
	// run whose offsite side failed after some components were stored, or
	// a catch-up interrupted before its manifest): they are not copied
	// again.
	Have map[string]sdk.Snapshot
}

// MissingRuns returns, oldest first, the complete runs of host in the local
// snapshots that are not complete in the offsite snapshots and that the
// retention policy keeps. Runs with a purpose tag (the safety backup a
// restore takes) and the shell tool's legacy snapshots are not copied, nor
// is run skip (tonight's, which the fan-out wrote).
func MissingRuns(local, offsite []sdk.Snapshot, host string, keep sdk.KeepPolicy, skip string) []CatchUpRun {
	offRuns := map[string]*runs.Run{}
	for _, r := range runs.GroupRuns(offsite) {
		if !r.Legacy && r.Host == host {
			offRuns[r.ID] = r
		}
	}
	var out []CatchUpRun
	for _, d := range Decide(local, host, keep, nil).Kept() {
		r := d.Run
		if !r.Regular() || r.Manifest == nil || r.ID == skip { // safety and drill runs stay local
			continue
		}
		cu := CatchUpRun{Run: r, Have: map[string]sdk.Snapshot{}}
		if o, ok := offRuns[r.ID]; ok {
			if o.Complete {
				continue
			}
			for c, s := range o.Components {
				if _, want := r.Components[c]; want {
					cu.Have[c] = s
				}
			}
		}
		out = append(out, cu)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Run.Time.Before(out[j].Run.Time) })
	return out
}
