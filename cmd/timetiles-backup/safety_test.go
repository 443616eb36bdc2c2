// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// Restores that must never destroy, never pick the wrong run, and
// mistakes that must never alert (issue 11).

// noAlerts fails the test when notify-alert (the real plugin, with an alert
// script installed by alertScript) received anything, or wrote its log.
func (e *env) noAlerts(what string, alerts func() []recordedAlert) {
	e.t.Helper()
	if a := alerts(); len(a) != 0 {
		e.t.Errorf("%s: %d alerts sent, want none: %+v", what, len(a), a)
	}
	if b, err := os.ReadFile(e.vars["BACKUP_ALERT_LOG"]); err == nil {
		e.t.Errorf("%s: alert log written:\n%s", what, b)
	}
}

// TestUsageErrorsExit2AndNeverAlert: a typo is not a failed backup. An
// unknown command, component or flag exits 2 with the fix and sends no
// alert; a real failure afterwards does alert, so the receiver works.
func TestUsageErrorsExit2AndNeverAlert(t *testing.T) {
	e := newEnv(t, false)
	alerts := e.alertScript()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "lst"}, `unknown component "lst": the components are db, uploads`},
		{[]string{"backup", "uploads", "dbb"}, `unknown component "dbb"`},
		{[]string{"backup", "--dry-run", "lst"}, `unknown component "lst"`},
		{[]string{"restore", "latest", "--yes", "--component", "upload"}, `unknown component "upload"`},
		{[]string{"frobnicate"}, "Usage: timetiles-backup"},
		{[]string{"backup", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"restore", "latest", "--yes", "--to-dir", "/tmp/x"}, "flag provided but not defined: -to-dir"},
		{[]string{"backup", "list", "--frob"}, "flag provided but not defined: -frob"},
	} {
		r := e.run(tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want 2 and %q\n%s%s", strings.Join(tc.args, " "), r.code, tc.want, r.stdout, r.stderr)
		}
		e.noAlerts(strings.Join(tc.args, " "), alerts)
	}
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("%d snapshots after usage errors, want none", n)
	}

	// A real failure alerts through the same notifier.
	e.vars["UPLOAD_HOST_DIR"] = filepath.Join(e.dir, "no-such-uploads")
	if r := e.run("backup", "uploads"); r.code == 0 || len(alerts()) != 1 || !strings.Contains(alerts()[0].Subject, "Backup Failed") {
		t.Fatalf("a real failure: exit %d, alerts %+v\n%s", r.code, alerts(), r.stderr)
	}
}

// TestRestoreToNeverDestroys: `restore --to DIR` writes only into a new or
// empty directory, and never into, around or inside the production
// uploads, the repository, the state directory or the env file's
// directory (symlinks resolved). Every refusal is exit 2 with the fix,
// deletes nothing and alerts nobody; a new or empty directory works.
func TestRestoreToNeverDestroys(t *testing.T) {
	e := newEnv(t, false)
	alerts := e.alertScript()
	// Each protected directory apart from the others (and from the env
	// file's directory, e.dir), so each refusal names its own reason.
	uploads := filepath.Join(t.TempDir(), "uploads")
	if err := os.Rename(e.uploads, uploads); err != nil {
		t.Fatal(err)
	}
	e.uploads, e.vars["UPLOAD_HOST_DIR"] = uploads, uploads
	repoParent := t.TempDir()
	e.repo = filepath.Join(repoParent, "repo")
	e.vars["RESTIC_REPOSITORY"] = e.repo
	state := t.TempDir()
	e.vars["BACKUP_STATE_DIR"] = state
	if r := e.run("backup", "uploads"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	wantUploads := filepath.Join(t.TempDir(), "before")
	copyTree(t, uploads, wantUploads)
	repoBefore, err := testenv.TreeManifest(e.repo)
	if err != nil {
		t.Fatal(err)
	}

	scratch := t.TempDir()
	full := filepath.Join(scratch, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("operator's file"), 0o644)
	file := filepath.Join(scratch, "a-file")
	os.WriteFile(file, []byte("x"), 0o644)
	link := filepath.Join(scratch, "link-to-uploads")
	os.Symlink(uploads, link)
	linkParent := filepath.Join(scratch, "link-to-uploads-parent")
	os.Symlink(filepath.Dir(uploads), linkParent)

	for _, tc := range []struct{ to, want string }{
		{full, "is not empty"},
		{file, "exists and is not a directory"},
		{uploads, "is the production uploads directory (UPLOAD_HOST_DIR): --to restores beside production into a new directory; to restore the uploads in place (with confirmation, hooks and a safety backup) leave --to out: timetiles-backup restore latest --component uploads"},
		{link, "is the production uploads directory"},
		{filepath.Join(uploads, "sub"), "lies inside the production uploads directory"},
		{filepath.Join(linkParent, "uploads", "2024"), "lies inside the production uploads directory"},
		{filepath.Dir(uploads), "contains the production uploads directory"},
		{filepath.Join(e.repo, "restore"), "lies inside the local restic repository (RESTIC_REPOSITORY)"},
		{repoParent, "contains the local restic repository"},
		{filepath.Join(state, "x"), "lies inside the state directory (BACKUP_STATE_DIR)"},
		{filepath.Join(e.dir, "uploads-restore"), "lies inside the directory of the env file " + filepath.Join(e.dir, "env.production")},
		{e.dir, "is the directory of the env file"},
	} {
		r := e.run("restore", "latest", "--yes", "--component", "uploads", "--to", tc.to)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--to") {
			t.Errorf("--to %s: exit %d, want 2 and %q\n%s%s", tc.to, r.code, tc.want, r.stdout, r.stderr)
		}
		e.noAlerts("--to "+tc.to, alerts)
	}
	// Nothing was touched.
	if b, err := os.ReadFile(filepath.Join(full, "keep.txt")); err != nil || string(b) != "operator's file" {
		t.Errorf("the non-empty --to lost its file: %v", err)
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the non-empty --to holds %d entries, want 1", len(entries))
	}
	testenv.CompareTrees(t, wantUploads, uploads)
	if _, err := os.Stat(filepath.Join(uploads, "sub")); err == nil {
		t.Error("a refused --to inside the uploads was created")
	}
	repoAfter, err := testenv.TreeManifest(e.repo)
	if err != nil || len(repoAfter) != len(repoBefore) {
		t.Errorf("the repository changed: %d entries before, %d after (%v)", len(repoBefore), len(repoAfter), err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "env.production")); err != nil {
		t.Errorf("env file: %v", err)
	}

	// A new directory, and an empty one (through a symlink), work.
	fresh := filepath.Join(scratch, "new", "uploads")
	if r := e.run("restore", "latest", "--yes", "--component", "uploads", "--to", fresh); r.code != 0 {
		t.Fatalf("--to a new directory: exit %d\n%s", r.code, r.stderr)
	}
	testenv.CompareTrees(t, wantUploads, fresh)
	empty := filepath.Join(scratch, "empty")
	os.Mkdir(empty, 0o755)
	emptyLink := filepath.Join(scratch, "empty-link")
	os.Symlink(empty, emptyLink)
	if r := e.run("restore", "latest", "--yes", "--component", "uploads", "--to", emptyLink); r.code != 0 {
		t.Fatalf("--to an empty directory: exit %d\n%s", r.code, r.stderr)
	}
	testenv.CompareTrees(t, wantUploads, empty)
	testenv.CompareTrees(t, wantUploads, uploads)
}

// TestLatestIsTheNewestRealBackup: safety runs (taken by in-place
// restores) and drill runs are never chosen by `restore latest` or by the
// picker's default; `backup list` marks them; they restore by ID; every
// restore names the run it restored and when it was taken.
func TestLatestIsTheNewestRealBackup(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "200000"
	e.vars["SYNTH_RESTORE_TO"] = filepath.Join(e.dir, "restored.bin")
	if r := e.run("backup", "--time", "2026-01-10 02:00:00"); r.code != 0 {
		t.Fatalf("backup A: %s", r.stderr)
	}
	if r := e.run("backup", "--time", "2026-01-11 02:00:00"); r.code != 0 {
		t.Fatalf("backup B: %s", r.stderr)
	}
	var runs []runJSON
	if r := e.run("backup", "list", "--json"); r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 2 {
		t.Fatalf("list: %s", r.stdout)
	}
	runB, runA := runs[0].RunID, runs[1].RunID
	// B becomes a restore drill's run (what a drill tags its runs with).
	tag := exec.Command(e.vars["BACKUP_RESTIC_BIN"], "tag", "--add", "purpose:drill", "--tag", "run:"+runB)
	tag.Env = []string{"RESTIC_REPOSITORY=" + e.repo, "RESTIC_PASSWORD=" + e.password, "HOME=" + e.dir}
	if out, err := tag.CombinedOutput(); err != nil {
		t.Fatalf("restic tag: %v %s", err, out)
	}

	// In place: latest is A (not the drill run B); a safety run S is taken.
	r := e.run("restore", "latest", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "Restored synthetic from run "+runA+" (taken 2026-01-10 02:00:00") {
		t.Fatalf("restore latest with a newer drill run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`Safety backup: run (\S+) `).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no safety run:\n%s", r.stdout)
	}
	runS := m[1]
	// Again: the newest run is now the safety run; latest is still A.
	r = e.run("restore", "latest", "--yes", "--no-safety-backup")
	if r.code != 0 || !strings.Contains(r.stdout, "Restoring run "+runA+" (taken 2026-01-10 02:00:00") || !strings.Contains(r.stdout, "Restored synthetic from run "+runA) {
		t.Fatalf("restore latest after a safety run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Listed and marked.
	if r := e.run("backup", "list", "--json"); r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 3 {
		t.Fatalf("list: %s", r.stdout)
	}
	purpose := map[string]string{}
	for _, rj := range runs {
		purpose[rj.RunID] = rj.Purpose
	}
	if purpose[runS] != "safety" || purpose[runB] != "drill" || purpose[runA] != "" || !runs[0].Safety {
		t.Fatalf("purposes %v, want %s safety, %s drill, %s none", purpose, runS, runB, runA)
	}
	r = e.run("backup", "list")
	for id, state := range map[string]string{runS: "complete (safety)", runB: "complete (drill)"} {
		if !regexp.MustCompile(regexp.QuoteMeta(id) + `.*` + regexp.QuoteMeta(state)).MatchString(r.stdout) {
			t.Errorf("backup list does not mark %s %q:\n%s", id, state, r.stdout)
		}
	}

	// Restorable by ID, and the output says what it was.
	r = e.run("restore", runB, "--yes", "--no-safety-backup")
	if r.code != 0 || !strings.Contains(r.stdout, "Restored synthetic from drill run "+runB+" (taken 2026-01-11 02:00:00") {
		t.Fatalf("restore the drill run by ID: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The picker lists all three, and its default (enter) is A.
	s := e.startPTY("restore", "--no-safety-backup")
	s.waitFor(`Choose a restore point`)
	s.waitFor(regexp.QuoteMeta(runS) + `.*\(safety run\)`)
	s.waitFor(regexp.QuoteMeta(runB) + `.*\(drill run\)`)
	s.send("\r")
	s.waitFor(`Restore run ` + regexp.QuoteMeta(runA))
	s.send("y")
	if code := s.wait(); code != 0 || !strings.Contains(s.screen(), "Restored synthetic from run "+runA) {
		t.Fatalf("picker default: exit %d\n%s", code, s.screen())
	}
}

// TestRestoreToDatabaseNeverDestroys: --to-database NAME restores beside
// production. The production database's own name and the system databases
// are refused with the in-place form; an existing database that holds
// anything is refused unless --replace-database, which gives exactly the
// backup; an empty one is used. A refusal touches nothing: not the
// database, not the uploads restored in place in the same run (no hook ran,
// no safety backup was taken).
func TestRestoreToDatabaseNeverDestroys(t *testing.T) {
	e := newEnv(t, true)
	alerts := e.alertScript()
	hooks := writeHook(t, e)
	e.vars["BACKUP_PRE_RESTORE_COMMAND"] = "sh hook.sh pre"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	wantDB := testenv.TableDigests(t, e.pg, "timetiles")
	e.pg.Psql(t, "timetiles", "CREATE TABLE after_backup(x int); INSERT INTO after_backup VALUES (1);")
	prod := testenv.TableDigests(t, e.pg, "timetiles")
	e.pg.CreateDB(t, "inspect")
	e.pg.Psql(t, "inspect", "CREATE TABLE operators_table(x int); INSERT INTO operators_table VALUES (7);")
	kept := testenv.TableDigests(t, e.pg, "inspect")
	n := len(e.snapshots())

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--component", "db", "--to-database", "timetiles"}, "--to-database timetiles is the production database (the one backed up): --to-database restores beside production into another database; to restore production in place (with confirmation, hooks and a safety backup) leave --to-database out"},
		{[]string{"--component", "db", "--to-database", "postgres"}, "is a PostgreSQL system database"},
		{[]string{"--component", "db", "--to-database", "inspect"}, "--to-database inspect exists and is not empty"},
		{[]string{"--to-database", "inspect"}, "--replace-database"}, // uploads in place: no hook, no safety backup
		{[]string{"--component", "db", "--replace-database"}, "--replace-database replaces the database named by --to-database"},
	} {
		r := e.run(append([]string{"restore", "latest", "--yes"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("restore %s: exit %d, want 2 and %q\n%s%s", strings.Join(tc.args, " "), r.code, tc.want, r.stdout, r.stderr)
		}
		e.noAlerts("restore "+strings.Join(tc.args, " "), alerts)
	}
	if got := testenv.TableDigests(t, e.pg, "timetiles"); !equalDigests(got, prod) {
		t.Error("a refused restore changed the production database")
	}
	if got := testenv.TableDigests(t, e.pg, "inspect"); !equalDigests(got, kept) {
		t.Error("a refused restore changed the existing database")
	}
	if _, err := os.Stat(hooks); err == nil {
		t.Error("the pre-restore hook ran for a refused restore")
	}
	if got := len(e.snapshots()); got != n {
		t.Errorf("%d snapshots after refused restores, want %d (no safety backup)", got, n)
	}

	// Asked for: replaced, and exactly the backup (the operator's table is gone).
	r := e.run("restore", "latest", "--yes", "--component", "db", "--to-database", "inspect", "--replace-database")
	if r.code != 0 {
		t.Fatalf("--replace-database: exit %d\n%s", r.code, r.stderr)
	}
	if got := testenv.TableDigests(t, e.pg, "inspect"); !equalDigests(got, wantDB) {
		t.Errorf("the replaced database is not the backup:\n got %v\nwant %v", got, wantDB)
	}
	// An existing empty database is used as it is.
	e.pg.CreateDB(t, "empty_one")
	if r := e.run("restore", "latest", "--yes", "--component", "db", "--to-database", "empty_one"); r.code != 0 {
		t.Fatalf("into an empty database: exit %d\n%s", r.code, r.stderr)
	}
	if got := testenv.TableDigests(t, e.pg, "empty_one"); !equalDigests(got, wantDB) {
		t.Error("the empty database did not receive the backup")
	}
	if got := testenv.TableDigests(t, e.pg, "timetiles"); !equalDigests(got, prod) {
		t.Error("a restore beside production changed the production database")
	}
}
