// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// blockingWrapper writes an executable that runs real with its arguments
// and stdin and, when one of its arguments is trigger, then creates mark and
// blocks (reading a FIFO nobody writes) instead of exiting: the work is done
// but the tool has not returned, the deterministic point at which the tests
// below interrupt the host.
func blockingWrapper(t *testing.T, dir, name, real, trigger, mark string) string {
	t.Helper()
	fifo := filepath.Join(dir, name+".fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	script := fmt.Sprintf(`#!/bin/bash
for a in "$@"; do
  if [ "$a" = %q ]; then
    %q "$@"
    touch %q
    read -r _ < %q
    exit 1
  fi
done
exec %q "$@"
`, trigger, real, mark, fifo, real)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// onlyRunID returns the ID of the repository's only run.
func onlyRunID(t *testing.T, e *env) string {
	t.Helper()
	r := e.run("backup", "list", "--json")
	var runs []runJSON
	if r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 1 {
		t.Fatalf("backup list --json: %d %s %s", r.code, r.stdout, r.stderr)
	}
	return runs[0].RunID
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// siblings lists the entries beside dir whose name starts with "."+base(dir).
func siblings(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+filepath.Base(dir)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestInPlaceUploadsRestoreInterrupted: the host is interrupted (SIGINT,
// SIGTERM) or killed (SIGKILL) while an in-place uploads restore has
// restored every file but not yet returned: the uploads directory is
// exactly as it was before the restore — the restore went into a staging
// directory that was never swapped in. After SIGKILL the staging directory
// stays until the next run, which removes it; a restore that completes
// gives exactly the backed-up tree.
func TestInPlaceUploadsRestoreInterrupted(t *testing.T) {
	e := newEnv(t, false)
	backedUp := filepath.Join(e.dir, "uploads-backed-up")
	copyTree(t, e.uploads, backedUp)
	if r := e.run("backup", "uploads"); r.code != 0 {
		t.Fatalf("backup: %d %s", r.code, r.stderr)
	}
	run := onlyRunID(t, e)
	// Production moves on: files added, changed and removed.
	os.WriteFile(filepath.Join(e.uploads, "after-backup.txt"), []byte("new since the backup"), 0o644)
	os.RemoveAll(filepath.Join(e.uploads, "2024"))
	before := filepath.Join(e.dir, "uploads-before-restore")
	copyTree(t, e.uploads, before)
	real := e.vars["BACKUP_RESTIC_BIN"]

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			os.RemoveAll(e.uploads)
			copyTree(t, before, e.uploads)
			mark := filepath.Join(e.dir, "restored.mark."+sig.String())
			e.vars["BACKUP_RESTIC_BIN"] = blockingWrapper(t, e.dir, "restic-wrapper-"+strings.ReplaceAll(sig.String(), " ", "-"), real, "restore", mark)
			r := e.runCtx(context.Background(), func(pid int) {
				waitFor(t, "restic restore to finish writing", func() bool { return fileExists(mark) })
				syscall.Kill(pid, sig)
			}, "restore", run, "--yes", "--component", "uploads")
			if r.code == 0 {
				t.Fatalf("interrupted restore exited 0\n%s", r.stderr)
			}
			testenv.CompareTrees(t, before, e.uploads)
			if sig != syscall.SIGKILL && !strings.Contains(r.stderr, "was not changed") {
				t.Errorf("the output does not say that the uploads were not changed:\n%s", r.stderr)
			}
			if sig != syscall.SIGKILL {
				if got := siblings(t, e.uploads); len(got) != 0 {
					t.Errorf("left beside the uploads after %s: %v", sig, got)
				}
			}
			testenv.WaitNoLeftoverProcesses(t, 10*time.Second, "restic-wrapper")

			// The next run puts right what a killed one left, and a
			// restore that completes gives exactly the backup.
			e.vars["BACKUP_RESTIC_BIN"] = real
			if r := e.run("restore", run, "--yes", "--component", "uploads"); r.code != 0 {
				t.Fatalf("restore: %d %s", r.code, r.stderr)
			}
			testenv.CompareTrees(t, backedUp, e.uploads)
			if got := siblings(t, e.uploads); len(got) != 0 {
				t.Errorf("left beside the uploads: %v", got)
			}
		})
	}
}

// TestInPlaceDatabaseRestoreInterrupted: the host is interrupted (SIGINT,
// SIGTERM) or killed (SIGKILL) while pg_restore has restored the whole dump
// into the staging database but not yet returned: the production database
// is exactly as it was (catalog and rows). After SIGINT/SIGTERM the staging
// database is dropped at once, after SIGKILL by the next backup.
func TestInPlaceDatabaseRestoreInterrupted(t *testing.T) {
	e := newEnv(t, true)
	if r := e.run("backup", "db"); r.code != 0 {
		t.Fatalf("backup: %d %s", r.code, r.stderr)
	}
	run := onlyRunID(t, e)
	e.pg.Psql(t, "timetiles", "DELETE FROM events WHERE id % 4 = 0; CREATE TABLE after_backup (x int); INSERT INTO after_backup VALUES (1);")
	wantCatalog := testenv.Catalog(t, e.pg, "timetiles")
	want := testenv.TableDigests(t, e.pg, "timetiles")
	staging := func() string {
		return e.pg.Psql(t, "postgres", "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'timetiles\\_restore\\_%'")
	}

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			wrap := filepath.Join(e.dir, "pgbin-"+strings.ReplaceAll(sig.String(), " ", "-"))
			os.Mkdir(wrap, 0o755)
			for _, n := range []string{"pg_dump", "psql"} {
				os.Symlink(filepath.Join(pgBin, n), filepath.Join(wrap, n))
			}
			mark := filepath.Join(wrap, "restored.mark")
			blockingWrapper(t, wrap, "pg_restore", filepath.Join(pgBin, "pg_restore"), "--exit-on-error", mark)
			e.vars["BACKUP_PG_BIN_DIR"] = wrap
			r := e.runCtx(context.Background(), func(pid int) {
				waitFor(t, "pg_restore to finish", func() bool { return fileExists(mark) })
				syscall.Kill(pid, sig)
			}, "restore", run, "--yes", "--component", "db")
			if r.code == 0 {
				t.Fatalf("interrupted restore exited 0\n%s", r.stderr)
			}
			if got := testenv.Catalog(t, e.pg, "timetiles"); !slices.Equal(got, wantCatalog) {
				t.Errorf("the interrupted restore changed the catalog:\n got %v\nwant %v", got, wantCatalog)
			}
			if got := testenv.TableDigests(t, e.pg, "timetiles"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("the interrupted restore changed the rows:\n got %v\nwant %v", got, want)
			}
			testenv.WaitNoLeftoverProcesses(t, 10*time.Second, "pg_restore")
			if sig != syscall.SIGKILL {
				if s := staging(); s != "" {
					t.Errorf("staging databases left after %s: %s", sig, s)
				}
			}
			e.vars["BACKUP_PG_BIN_DIR"] = pgBin
			if r := e.run("backup", "db"); r.code != 0 {
				t.Fatalf("backup: %d %s", r.code, r.stderr)
			}
			if s := staging(); s != "" {
				t.Errorf("staging databases left after the next backup: %s", s)
			}
		})
	}
}
