// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// The offsite catch-up, end to end against a real S3 server with a
// write-only (no-delete) key: the offsite is down for a night (local run
// complete, exit 0, alert), a local-only run follows, and the next
// `backup --offsite` copies both missing runs: every run is complete
// offsite, restorable from there byte for byte, verify --offsite passes,
// and the offsite repository (created by the first backup) chunks like the
// local one.
func TestOffsiteCatchUpAfterAnOutage(t *testing.T) {
	t.Parallel()
	e, g, admin := s3Env(t, "catchup", testenv.S3NoDelete, false, "3000000")
	e.vars["BACKUP_KEEP_DAILY"] = "7"

	// Night 1 creates the offsite repository (two key derivations and an
	// init: longer than the short stall timeout of the outage nights on a
	// loaded machine).
	mustRun(t, e.run("backup", "--offsite", "--time", "2026-03-01 02:00:00"), 0, "night 1: backup --offsite")
	e.vars["BACKUP_OFFSITE_STALL_TIMEOUT"] = "3s"
	lc, err := e.restic().Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	oc, err := admin.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lc.ChunkerPolynomial == "" || lc.ChunkerPolynomial != oc.ChunkerPolynomial {
		t.Fatalf("the offsite repository created by the first backup chunks with %q, the local one with %q", oc.ChunkerPolynomial, lc.ChunkerPolynomial)
	}

	// Night 2: the offsite server is down.
	g.Stop()
	e.vars["SYNTH_SIZE"] = "3100000"
	r := mustRun(t, e.run("backup", "--offsite", "--time", "2026-03-02 02:00:00"), 0, "night 2: backup --offsite (offsite down)")
	if !strings.Contains(r.stderr, "offsite backup failed") || !strings.Contains(e.alerts(), "Offsite Backup Failed") {
		t.Fatalf("offsite down: no warning or no alert\nstderr:\n%s\nalerts: %q", r.stderr, e.alerts())
	}
	// An extra local-only run the next day (a run without --offsite).
	// Retention decides what is caught up: it keeps one run a day.
	e.vars["SYNTH_SIZE"] = "3200000"
	mustRun(t, e.run("backup", "--time", "2026-03-03 14:00:00"), 0, "local-only backup")
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	if n := completeRuns(runsOf(t, admin)); n != 1 {
		t.Fatalf("%d complete offsite runs before the catch-up, want 1", n)
	}

	// Night 3: the offsite is back; the two missing runs are copied.
	e.vars["SYNTH_SIZE"] = "3300000"
	r = mustRun(t, e.run("backup", "--offsite", "--time", "2026-03-04 02:00:00"), 0, "night 3: backup --offsite")
	if !strings.Contains(r.stdout, "offsite caught up: 2 earlier run(s) copied") {
		t.Errorf("no catch-up report:\n%s\n%s", r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "chunks differently") || strings.Contains(r.stderr, "catch-up failed") {
		t.Errorf("unexpected warning:\n%s", r.stderr)
	}
	local, off := runsOf(t, e.restic()), runsOf(t, admin)
	if completeRuns(local) != 4 || completeRuns(off) != 4 {
		t.Fatalf("complete runs: local %d, offsite %d, want 4 and 4", completeRuns(local), completeRuns(off))
	}
	offByID := map[string]*runs.Run{}
	for _, o := range off {
		offByID[o.ID] = o
	}
	for _, l := range local {
		o := offByID[l.ID]
		if o == nil || !o.Complete {
			t.Fatalf("run %s is not complete offsite", l.ID)
		}
		om := manifestOf(t, admin, o)
		lm := manifestOf(t, e.restic(), l)
		if om.Components["synthetic"].Snapshot != o.Components["synthetic"].ID || om.Components["synthetic"].Checksum != lm.Components["synthetic"].Checksum {
			t.Errorf("run %s: offsite manifest %+v does not name the offsite snapshot %s with the local checksum %s",
				l.ID, om.Components["synthetic"], o.Components["synthetic"].ID, lm.Components["synthetic"].Checksum)
		}
		if !o.Time.Equal(l.Time) || o.Host != l.Host {
			t.Errorf("run %s: offsite time/host %s %s, local %s %s", l.ID, o.Time, o.Host, l.Time, l.Host)
		}
	}

	// The run of the night the offsite was down restores from offsite.
	night2 := local[2] // newest first: night 3, local-only, night 2, night 1
	want, n := dumpSum(t, e.restic(), night2.Components["synthetic"])
	if n != 3100000 {
		t.Fatalf("picked the wrong run: %d bytes", n)
	}
	mustRun(t, e.run("restore", night2.ID, "--offsite", "--yes"), 0, "restore night 2 --offsite")
	got, err := os.ReadFile(e.vars["SYNTH_RESTORE_TO"])
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != want {
		t.Errorf("restored from offsite: %d bytes that differ from the local run's", len(got))
	}
	mustRun(t, e.run("backup", "verify", "--offsite", "--read-data-subset", "100%"), 0, "verify --offsite")

	// The next night copies nothing more.
	e.vars["SYNTH_SIZE"] = "3400000"
	r = mustRun(t, e.run("backup", "--offsite", "--time", "2026-03-05 02:00:00"), 0, "night 4")
	if strings.Contains(r.stdout, "caught up") {
		t.Errorf("night 4 copied again:\n%s", r.stdout)
	}
	if n := completeRuns(runsOf(t, admin)); n != 5 {
		t.Errorf("%d complete offsite runs, want 5", n)
	}
	if a := e.alerts(); strings.Count(a, "] Offsite Backup Failed") != 1 {
		t.Errorf("want exactly the outage's alert:\n%s", a)
	}
}

// An offsite repository that existed before with its own chunker
// parameters keeps working: the catch-up copies the missing run, warns
// once that copies do not deduplicate, and the run restores from offsite.
func TestOffsiteCatchUpOtherChunkerParams(t *testing.T) {
	t.Parallel()
	e, _, admin := s3Env(t, "otherparams", testenv.S3FullAccess, false, "1000000")
	e.vars["BACKUP_KEEP_DAILY"] = "7"
	if _, err := admin.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e.run("backup", "--time", "2026-03-01 02:00:00"), 0, "local-only backup")
	e.vars["SYNTH_SIZE"] = "1100000"
	r := mustRun(t, e.run("backup", "--offsite", "--time", "2026-03-02 02:00:00"), 0, "backup --offsite")
	if c := strings.Count(r.stderr, "chunks differently"); c != 1 {
		t.Errorf("want one warning about the chunker parameters, got %d:\n%s", c, r.stderr)
	}
	if !strings.Contains(r.stdout, "offsite caught up: 1 earlier run(s) copied") {
		t.Errorf("no catch-up:\n%s\n%s", r.stdout, r.stderr)
	}
	lc, _ := e.restic().Config(context.Background())
	oc, _ := admin.Config(context.Background())
	if lc == nil || oc == nil || lc.ChunkerPolynomial == oc.ChunkerPolynomial {
		t.Fatalf("the test needs repositories that chunk differently")
	}
	if n := completeRuns(runsOf(t, admin)); n != 2 {
		t.Fatalf("%d complete offsite runs, want 2", n)
	}
	if a := e.alerts(); a != "" {
		t.Errorf("alerts: %s", a)
	}
	oldest := runsOf(t, e.restic())[1]
	mustRun(t, e.run("restore", oldest.ID, "--offsite", "--yes"), 0, "restore --offsite")
	if b, err := os.ReadFile(e.vars["SYNTH_RESTORE_TO"]); err != nil || len(b) != 1000000 {
		t.Errorf("restored %d bytes from offsite (%v), want 1000000", len(b), err)
	}
}
