// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"testing"
	"time"
)

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
