// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// backup prune keeps exactly the runs the policy keeps — whole runs, db and
// uploads ranked independently — and removes exactly the others, with
// snapshots made at controlled times (the hidden backup --time).
func TestPruneKeepsExactlyThePolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	tiny := filepath.Join(e.dir, "tiny-uploads")
	os.MkdirAll(filepath.Join(tiny, "a"), 0o755)
	os.WriteFile(filepath.Join(tiny, "a", "f.txt"), []byte("upload"), 0o644)
	e.vars["UPLOAD_HOST_DIR"] = tiny
	e.vars["BACKUP_SOURCES"] = "db=source-synthetic,uploads=source-volume"
	e.vars["SYNTH_SIZE"] = "2000"
	e.vars["BACKUP_KEEP_DAILY"], e.vars["BACKUP_KEEP_WEEKLY"], e.vars["BACKUP_KEEP_MONTHLY"] = "2", "1", "2"

	// Full runs (db + uploads) and db-only runs. 2026-03-09 is a Monday:
	// 03-08 falls in the ISO week before.
	runs := map[string]string{}
	for _, b := range []struct{ name, at, comp string }{
		{"F0", "2025-12-01 02:00:00", ""},
		{"F1", "2026-01-15 02:00:00", ""},
		{"F2", "2026-02-20 02:00:00", ""},
		{"D0", "2026-03-08 14:00:00", "db"},
		{"F3", "2026-03-09 02:00:00", ""},
		{"D1", "2026-03-09 14:00:00", "db"},
		{"F4", "2026-03-10 02:00:00", ""},
		{"D2", "2026-03-10 14:00:00", "db"},
	} {
		args := []string{"backup", "--json", "--time", b.at}
		if b.comp != "" {
			args = append(args, b.comp)
		}
		r := mustRun(t, e.run(args...), 0, strings.Join(args, " "))
		var out backupJSON
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.RunID == "" {
			t.Fatalf("backup --json: %v %s", err, r.stdout)
		}
		runs[b.name] = out.RunID
	}
	// db, newest first: D2 (daily, weekly, monthly Mar), D1 (daily), F2
	// (monthly Feb). uploads: F4 (daily, weekly, monthly), F3 (daily), F2
	// (monthly). A run is kept whole when any of its components is kept.
	wantKept := []string{runs["D1"], runs["D2"], runs["F2"], runs["F3"], runs["F4"]}
	wantRemoved := []string{runs["D0"], runs["F0"], runs["F1"]}
	sort.Strings(wantKept)
	sort.Strings(wantRemoved)

	before := e.snapshots()
	var wantLeft []string
	for _, s := range before {
		for _, id := range wantKept {
			if slices.Contains(s.Tags, "run:"+id) {
				wantLeft = append(wantLeft, s.ID)
			}
		}
	}
	sort.Strings(wantLeft)
	if len(before) != 5*3+3*2 || len(wantLeft) != 3*3+2*2 {
		t.Fatalf("%d snapshots (%d to keep): fixture broken", len(before), len(wantLeft))
	}

	r := mustRun(t, e.run("backup", "prune", "--dry-run", "--json"), 0, "prune --dry-run")
	var plan pruneJSON
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || len(plan.Repositories) != 1 {
		t.Fatalf("prune --dry-run --json: %v %s", err, r.stdout)
	}
	ids := func(rs []pruneRunJSON) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.RunID)
		}
		sort.Strings(out)
		return out
	}
	if got := ids(plan.Repositories[0].Kept); !slices.Equal(got, wantKept) {
		t.Errorf("dry run keeps %v, want %v", got, wantKept)
	}
	if got := ids(plan.Repositories[0].Removed); !slices.Equal(got, wantRemoved) {
		t.Errorf("dry run removes %v, want %v", got, wantRemoved)
	}
	if n := len(e.snapshots()); n != len(before) {
		t.Fatalf("dry run changed the repository: %d snapshots, want %d", n, len(before))
	}

	r = mustRun(t, e.run("backup", "prune"), 0, "prune")
	if !strings.Contains(r.stdout, "removing 3 (8 snapshots)") {
		t.Errorf("prune output:\n%s", r.stdout)
	}
	var left []string
	for _, s := range e.snapshots() {
		left = append(left, s.ID)
	}
	sort.Strings(left)
	if !slices.Equal(left, wantLeft) {
		t.Fatalf("after prune %d snapshots %v\nwant %d %v", len(left), left, len(wantLeft), wantLeft)
	}
	if err := e.restic().Check(t.Context(), ""); err != nil {
		t.Fatalf("restic check after prune: %v", err)
	}
	// The newest full run is whole: restore latest still restores both.
	r = mustRun(t, e.run("backup", "list", "--json"), 0, "list")
	var listed []runJSON
	if err := unmarshalRuns(r.stdout, &listed); err != nil {
		t.Fatal(err)
	}
	for _, run := range listed {
		if !run.Complete {
			t.Errorf("run %s incomplete after prune", run.RunID)
		}
		if run.RunID == runs["F4"] && (run.Components["db"] == "" || run.Components["uploads"] == "") {
			t.Errorf("full run F4 lost a component: %v", run.Components)
		}
	}

	// --offsite without an offsite repository: a configuration error
	// before anything is removed.
	r = mustRun(t, e.run("backup", "prune", "--offsite"), 2, "prune --offsite without RESTIC_OFFSITE_REPOSITORY")
	if !strings.Contains(r.stderr, "RESTIC_OFFSITE_REPOSITORY") {
		t.Errorf("the error does not name the variable:\n%s", r.stderr)
	}

	e.vars["BACKUP_KEEP_WEEKLY"] = "four"
	r = mustRun(t, e.run("backup", "prune"), 2, "prune with an invalid keep value")
	if !strings.Contains(r.stderr, "BACKUP_KEEP_WEEKLY") {
		t.Errorf("the error does not name the variable:\n%s", r.stderr)
	}
}
