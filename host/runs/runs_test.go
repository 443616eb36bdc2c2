// SPDX-License-Identifier: Apache-2.0

package runs

import (
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// Two runs started in the same second (`backup database` then `backup
// full` from a script): the later one is the latest, whatever their IDs'
// random suffixes say. Snapshot times keep the fraction of the second
// (internal/restic formatTime; TestRealRestic checks restic keeps it).
func TestRunsInOneSecondKeepTheirOrder(t *testing.T) {
	sec := time.Date(2026, 12, 5, 6, 57, 6, 0, time.UTC)
	first, second := sec.Add(100*time.Millisecond), sec.Add(900*time.Millisecond)
	snap := func(id, run, comp string, at time.Time) sdk.Snapshot {
		return sdk.Snapshot{ID: id, RunID: run, Component: comp, Time: at, Host: "h"}
	}
	// The earlier run has the greater ID: an order by ID would be wrong.
	snaps := []sdk.Snapshot{
		snap("a1", "20261205T065706Z-fe0d", "db", first), snap("a2", "20261205T065706Z-fe0d", ManifestName, first),
		snap("b1", "20261205T065706Z-2d45", "db", second), snap("b2", "20261205T065706Z-2d45", "uploads", second),
		snap("b3", "20261205T065706Z-2d45", ManifestName, second),
	}
	all := GroupRuns(snaps)
	if len(all) != 2 || all[0].ID != "20261205T065706Z-2d45" {
		t.Fatalf("runs %v, want the later run (2d45) first", []string{all[0].ID, all[1].ID})
	}
	latest, err := SelectRun(all, "latest", []string{"db"})
	if err != nil || latest.ID != "20261205T065706Z-2d45" {
		t.Fatalf("latest = %v, %v; want the later run", latest, err)
	}
}
