// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
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

// The nightly catch-up check (two listings) runs only when a run may be
// missing offsite: the first time, after a run made without the offsite
// (or with its offsite side failed); not when every run since the last
// check reached the offsite. A target without Copy (target-files) makes
// the catch-up say it was skipped, and the check runs again next time.
func TestCatchUpCheckOnlyWhenARunMayBeMissing(t *testing.T) {
	local, off, state := t.TempDir(), t.TempDir(), t.TempDir()
	r := newTestRunner(t, map[string]string{
		"TARGET_DIR_LOCAL": local, "TARGET_DIR_OFFSITE": off, "SYNTH_SIZE": "100000", "BACKUP_STATE_DIR": state,
	})
	ctx := context.Background()
	backup := func(offsite bool, at time.Time) *BackupReport {
		t.Helper()
		rep, err := r.Backup(ctx, BackupOptions{Offsite: offsite, Time: at})
		if err != nil || rep.OffsiteErr != nil || rep.CatchUpErr != nil {
			t.Fatalf("backup: %v / %v / %v", err, rep.OffsiteErr, rep.CatchUpErr)
		}
		return rep
	}
	day := func(d int) time.Time { return time.Date(2026, 3, d, 2, 0, 0, 0, time.Local) }
	if rep := backup(true, day(1)); rep.CatchUp == nil || rep.CatchUp.Missing != 0 {
		t.Fatalf("first offsite run: catch-up %+v, want a check finding nothing", rep.CatchUp)
	}
	if rep := backup(true, day(2)); rep.CatchUp != nil {
		t.Fatalf("in sync: the check ran anyway: %+v", rep.CatchUp)
	}
	backup(false, day(3))
	rep := backup(true, day(4))
	if rep.CatchUp == nil || rep.CatchUp.Missing != 1 || rep.CatchUp.Skipped == "" || len(rep.CatchUp.Copied) != 0 {
		t.Fatalf("after a local-only run: catch-up %+v, want 1 missing run, skipped (target-files cannot copy)", rep.CatchUp)
	}
	if rep := backup(true, day(5)); rep.CatchUp == nil || rep.CatchUp.Missing != 1 {
		t.Fatalf("the missing run is looked for again: %+v", rep.CatchUp)
	}
}
