// SPDX-License-Identifier: Apache-2.0

package retention

import (
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Which runs the offsite catch-up copies: complete runs of this host that
// retention keeps and the offsite lacks (or holds incomplete, then without
// the components it already has), oldest first; never tonight's run,
// safety backups, incomplete runs, other hosts' runs or legacy snapshots.
func TestMissingRunsSelection(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.Local) }
	var local, off fixture
	local.run("h", "r1", day(1, 2), true, "db", "uploads")  // offsite complete
	local.run("h", "r2", day(2, 2), true, "db", "uploads")  // missing offsite
	local.run("h", "r3", day(3, 2), true, "db", "uploads")  // offsite has db only
	local.run("h", "r4a", day(4, 2), true, "db")            // same day as r4b: retention drops it
	local.run("h", "r4b", day(4, 9), true, "db")            // missing
	local.run("h", "r5", day(5, 2), false, "db", "uploads") // incomplete locally
	local.run("other", "x1", day(5, 3), true, "db")         // another host
	local.add("h", day(5, 4), runs.ToolTag, "db", runs.RunTagPrefix+"s1", runs.SafetyTag)
	local.add("h", day(5, 4), runs.ToolTag, runs.ManifestTag, runs.RunTagPrefix+"s1", runs.SafetyTag)
	local.add("h", day(1, 1), "db") // the shell tool's
	local.run("h", "tonight", day(6, 2), true, "db", "uploads")

	off.run("h", "r1", day(1, 2), true, "db", "uploads")
	off.run("h", "r3", day(3, 2), false, "db")
	off.run("h", "tonight", day(6, 2), true, "db", "uploads")

	got := MissingRuns(local.snaps, off.snaps, "h", sdk.KeepPolicy{Daily: 7}, "tonight")
	var ids []string
	for _, m := range got {
		ids = append(ids, m.Run.ID)
	}
	want := []string{"r2", "r3", "r4b"}
	if len(ids) != len(want) {
		t.Fatalf("missing runs %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("missing runs %v, want %v (oldest first)", ids, want)
		}
	}
	if h := got[1].Have; len(h) != 1 || h["db"].ID == "" {
		t.Errorf("r3: offsite already has %v, want its db snapshot only", h)
	}
	if len(got[0].Have) != 0 {
		t.Errorf("r2: offsite has %v, want nothing", got[0].Have)
	}
	// With a tighter policy fewer runs are copied; the policy counts on
	// the local repository as prune does (tonight's included; the safety
	// run is ranked apart and takes no backup's slot): db keeps tonight
	// and r4b, uploads tonight and r3.
	if got := MissingRuns(local.snaps, off.snaps, "h", sdk.KeepPolicy{Daily: 2}, "tonight"); len(got) != 2 || got[0].Run.ID != "r3" || got[1].Run.ID != "r4b" {
		for _, m := range got {
			t.Logf("copied %s", m.Run.ID)
		}
		t.Errorf("keep daily 2: %d runs", len(got))
	}
}
