// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// minidbRows reads the rows of a source-minidb database file.
func minidbRows(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// A third-party source (internal/testplugins/source-minidb, nothing in
// host/ or cmd/ names it or its component "ledger") declares its component
// a database that is backed up first. Listed after the uploads in
// BACKUP_SOURCES, it is still dumped before the uploads are snapshotted
// (every file a row names is in the run); it is listed, restored beside
// production by --to-database like the PostgreSQL database (no hooks, no
// safety backup), to scratch destinations with --to-database and --to, and
// in place.
func TestThirdPartyDatabaseComponent(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, repository
	e := newEnv(t, false)
	dbDir := filepath.Join(e.dir, "minidb")
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	prod := filepath.Join(dbDir, "app.db")
	if err := os.WriteFile(prod, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hookLog := filepath.Join(e.dir, "hooks.log")
	e.vars["BACKUP_SOURCES"] = "uploads=source-volume,ledger=source-minidb"
	e.vars["BACKUP_NOTIFIERS"] = "none"
	e.vars["MINIDB_DIR"] = dbDir
	e.vars["MINIDB_APP_UPLOADS"] = e.uploads
	e.vars["BACKUP_PRE_RESTORE_COMMAND"] = "echo pre >> " + hookLog

	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: exit %d\n%s", r.code, r.stderr)
	}
	rows := minidbRows(t, prod)
	if len(rows) != 1 {
		t.Fatalf("production ledger holds %q after one backup, want the one row the application wrote", rows)
	}
	r := e.run("backup", "list", "--json")
	var runs []runJSON
	if r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 1 || !runs[0].Complete ||
		runs[0].Components["ledger"] == "" || runs[0].Components["uploads"] == "" {
		t.Fatalf("backup list --json: exit %d, want one complete run with ledger and uploads\n%s%s", r.code, r.stdout, r.stderr)
	}
	runID := runs[0].RunID
	wantUploads := filepath.Join(e.dir, "uploads-after-backup")
	copyTree(t, e.uploads, wantUploads)
	wantDB, err := os.ReadFile(prod)
	if err != nil {
		t.Fatal(err)
	}

	// --to-database alone applies to the ledger as to any declared
	// database: restored beside production, nothing in place, so no hook
	// and no safety backup.
	r = e.run("restore", "--yes", "--component", "ledger", "--to-database", "copy1", runID)
	if r.code != 0 {
		t.Fatalf("restore --to-database copy1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := minidbRows(t, filepath.Join(dbDir, "copy1.db")); !slices.Equal(got, rows) {
		t.Fatalf("copy1 holds %q, want the backed-up rows %q", got, rows)
	}
	if _, err := os.Stat(hookLog); err == nil || strings.Contains(r.stdout, "safety backup") {
		t.Fatalf("a restore beside production ran the pre-restore hook or took a safety backup:\n%s", r.stdout)
	}

	// backup --dry-run shows the order the backup streams in.
	r = e.run("backup", "--dry-run")
	if i, j := strings.Index(r.stdout, "ledger   from"), strings.Index(r.stdout, "uploads  from"); r.code != 0 || i < 0 || j < 0 || i > j {
		t.Fatalf("backup --dry-run: exit %d, want ledger listed before uploads\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Both scratch destinations: every row of the restored ledger names a
	// file of the restored uploads, because the ledger was dumped first.
	scratch := filepath.Join(t.TempDir(), "scratch-uploads")
	r = e.run("restore", "--yes", "--to-database", "copy2", "--to", scratch, runID)
	if r.code != 0 {
		t.Fatalf("restore --to-database copy2 --to: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, row := range minidbRows(t, filepath.Join(dbDir, "copy2.db")) {
		if _, err := os.Stat(filepath.Join(scratch, row)); err != nil {
			t.Errorf("the run's ledger names %s, which its uploads snapshot lacks (the uploads were snapshotted before the ledger was dumped): %v", row, err)
		}
	}
	if b, _ := os.ReadFile(prod); string(b) != string(wantDB) {
		t.Fatalf("the production ledger changed in a scratch restore: %q", b)
	}
	testenv.CompareTrees(t, wantUploads, e.uploads)

	// In place: the production ledger and uploads come back as backed up.
	if err := os.WriteFile(prod, []byte("row-written-later\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(e.uploads, "2024"))
	r = e.run("restore", "--yes", runID)
	if r.code != 0 || !strings.Contains(r.stdout, "Safety backup: run ") {
		t.Fatalf("restore in place: exit %d, want 0 after a safety backup\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := minidbRows(t, prod); !slices.Equal(got, rows) {
		t.Fatalf("production ledger holds %q after the in-place restore, want %q", got, rows)
	}
	testenv.CompareTrees(t, wantUploads, e.uploads)
	if b, _ := os.ReadFile(hookLog); string(b) != "pre\n" {
		t.Fatalf("the in-place restore ran the pre-restore hook %q times, want once", b)
	}
}
