// SPDX-License-Identifier: Apache-2.0

package dockere2e

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// tableDigests keeps a digest's data part (tables and sequences), without
// the object lists.
func tableDigests(all map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range all {
		if !strings.HasPrefix(k, "objects:") {
			out[k] = v
		}
	}
	return out
}

// mutate changes the database and the uploads after a backup, the ways a
// restore must undo: rows updated, deleted and added, a table dropped, a
// table and a function created, a sequence advanced; files changed, added
// and removed.
func (s *site) mutate(t *testing.T, uploads string) {
	t.Helper()
	s.pg.Psql(t, dbName, `
UPDATE events SET title = 'changed' WHERE id % 10 = 0;
DELETE FROM events WHERE id % 7 = 0;
INSERT INTO catalogs (name, created_at) VALUES ('after the backup', now());
DROP TABLE payload_migrations;
CREATE TABLE leftover_after_backup (id int);
CREATE FUNCTION leftover_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT setval('import_job_seq', 5000);`)
	if err := os.WriteFile(filepath.Join(uploads, "added-after-backup.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	var victim string
	_ = filepath.WalkDir(uploads, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && victim == "" && !strings.HasSuffix(p, "added-after-backup.txt") {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatal("no file in the uploads tree")
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
}

// TestTimeTilesSite is TimeTiles' production shape end to end: init (which
// generates RESTIC_PASSWORD into .env.production), a backup into the local
// and the offsite repository (versitygw S3), list, an in-place restore
// around the documented compose hooks with the app holding connections, a
// restore into a scratch database and directory, and disaster recovery onto
// a fresh container and fresh volume from the offsite repository (with the
// password kept from init) and from the local one. No secret appears in
// any process's argv, on the host or in the containers, during any of it.
func TestTimeTilesSite(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	uploads := filepath.Join(s.dir, "uploads")

	// The env file is what TimeTiles' deploy scripts can source, and
	// bash, compose (which initialised the database from it) and the CLI
	// read the same password from it.
	v := s.sourced("DB_PASSWORD", "DB_USER", "DB_NAME", "SITE_TITLE", "BACKUP_PRE_RESTORE_COMMAND")
	if v["DB_PASSWORD"] != dbPassword || v["DB_USER"] != dbUser || v["SITE_TITLE"] != `Time Tiles # O'Reilly's $5 maps` {
		t.Fatalf("bash sourced %q", v)
	}

	g := testenv.StartVersityGW(t)
	g.CreateBucket(t, "backups", false)
	ak, sk := g.CreateUser(t, "backups", "timetiles", testenv.S3FullAccess)
	s.setEnv("RESTIC_OFFSITE_REPOSITORY", g.Repository("backups", "timetiles"))
	s.setEnv("AWS_ENDPOINT_URL", g.Endpoint)
	s.setEnv("AWS_ACCESS_KEY_ID", ak)
	s.setEnv("AWS_SECRET_ACCESS_KEY", sk)

	w := watchArgv(s.d, func() []string {
		return []string{s.project + "-postgres", s.project + "-web-1", s.project + "-worker-1"}
	})
	w.addSecret(dbPassword)
	w.addSecret(sk)
	defer w.finish(t, "pg_dump", "pg_restore", "restic", "docker-compose")

	s.must(0, "init")
	resticPassword := s.sourced("RESTIC_PASSWORD")["RESTIC_PASSWORD"]
	if len(resticPassword) < 20 {
		t.Fatalf("init did not generate RESTIC_PASSWORD into .env.production (got %d characters)", len(resticPassword))
	}
	w.addSecret(resticPassword)

	wantAll := s.pg.Digests(t, dbName)
	want := tableDigests(wantAll)
	wantUploads := filepath.Join(t.TempDir(), "uploads")
	copyTree(t, uploads, wantUploads)

	var runID string
	t.Run("backup", func(t *testing.T) {
		s.must(0, "backup", "--offsite")
		if got := components(snapshots(t, s.repo())); got != "db,uploads" {
			t.Fatalf("components in the local repository: %q, want db,uploads", got)
		}
		off := s.repo()
		off.Repository = "s3:" + g.Endpoint + "/backups/timetiles"
		off.Env = append(off.Env, "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk)
		if got := components(snapshots(t, off)); got != "db,uploads" {
			t.Errorf("components in the offsite repository: %q, want db,uploads", got)
		}
	})
	t.Run("list", func(t *testing.T) {
		runs := s.listRuns()
		if len(runs) != 1 || !runs[0].Complete || runs[0].Components["db"] == "" || runs[0].Components["uploads"] == "" {
			t.Fatalf("backup list --json = %+v, want one complete run with db and uploads", runs)
		}
		runID = runs[0].RunID
	})

	s.mutate(t, uploads)
	webStarted := s.startedAt("web")
	t.Run("in-place restore", func(t *testing.T) {
		// web and worker hold transactions that read events: the restore
		// can only finish because the documented pre-restore hook
		// (docker compose … stop web worker) stopped them.
		if n := s.appConnections(); n != 2 {
			t.Fatalf("%d app connections before the restore, want 2", n)
		}
		r := s.must(0, "restore", "latest", "--yes")
		if !strings.Contains(r.stdout+r.stderr, "Running BACKUP_PRE_RESTORE_COMMAND: docker compose -f docker-compose.prod.yml --env-file .env.production stop web worker") {
			t.Errorf("the documented pre-restore command did not run:\n%s", r)
		}
		if got := s.startedAt("web"); got == webStarted {
			t.Errorf("web was not restarted by the hooks (started at %s before and after)", got)
		}
		s.waitApp() // the post-restore hook started web and worker: they reconnect
		got := s.pg.Digests(t, dbName)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s after the restore: %q, backed up: %q", k, got[k], v)
			}
		}
		testenv.CompareTrees(t, wantUploads, uploads)
		// Exactness beyond the data: nothing created after the backup
		// (leftover_after_backup, leftover_fn) survives the restore.
		t.Run("no leftover objects", func(t *testing.T) {
			var diffs []string
			for k, v := range got {
				if _, backedUp := wantAll[k]; !backedUp {
					diffs = append(diffs, "left over: "+k)
				} else if strings.HasPrefix(k, "objects:") && v != wantAll[k] {
					diffs = append(diffs, k+" differs: "+objectDiff(wantAll[k], v))
				}
			}
			if len(diffs) > 0 {
				t.Errorf("the restored database is not exactly the backed-up state: %s", strings.Join(diffs, "; "))
			}
		})
		if runs := s.listRuns(); len(runs) != 2 || !(runs[0].Safety || runs[1].Safety) {
			t.Errorf("want the backup and one safety backup listed, got %+v", runs)
		}
	})

	t.Run("restore into a scratch database and directory", func(t *testing.T) {
		before := s.pg.Digests(t, dbName)
		scratch := filepath.Join(t.TempDir(), "uploads-drill")
		s.must(0, "restore", runIDOr(runID, "latest"), "--yes", "--to-database", "restore_drill", "--to", scratch)
		if got := tableDigests(s.pg.Digests(t, "restore_drill")); !maps.Equal(got, want) {
			t.Errorf("restore_drill differs from the backup:\n got %v\nwant %v", got, want)
		}
		testenv.CompareTrees(t, wantUploads, scratch)
		if after := s.pg.Digests(t, dbName); !maps.Equal(after, before) {
			t.Errorf("a restore into a scratch database changed production")
		}
	})

	// Disaster recovery: the containers, the database volume and the
	// uploads are gone; a fresh postgres is initialised from the same env
	// file (TimeTiles' bootstrap), and the backup comes back.
	disaster := func(t *testing.T) {
		t.Helper()
		s.composeRun("down", "-v", "-t", "1")
		if err := os.RemoveAll(uploads); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(uploads, 0o755); err != nil {
			t.Fatal(err)
		}
		s.up()
		if got := s.pg.Psql(t, dbName, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); got != "0" {
			t.Fatalf("the fresh database has %s tables", got)
		}
	}
	t.Run("disaster recovery from the offsite repository", func(t *testing.T) {
		disaster(t)
		if err := os.RemoveAll(filepath.Join(s.dir, "backups")); err != nil { // the local repository went with the server
			t.Fatal(err)
		}
		s.must(0, "restore", "latest", "--offsite", "--yes", "--no-safety-backup")
		if got := tableDigests(s.pg.Digests(t, dbName)); !maps.Equal(got, want) {
			t.Errorf("database after disaster recovery differs:\n got %v\nwant %v", got, want)
		}
		testenv.CompareTrees(t, wantUploads, uploads)
		s.composeRun("up", "-d", "web", "worker")
		s.waitApp()
	})
	t.Run("disaster recovery from the local repository", func(t *testing.T) {
		s.must(0, "init") // recreates the local repository, RESTIC_PASSWORD kept
		if got := s.sourced("RESTIC_PASSWORD")["RESTIC_PASSWORD"]; got != resticPassword {
			t.Fatalf("init changed RESTIC_PASSWORD")
		}
		s.must(0, "backup")
		disaster(t)
		s.must(0, "restore", "latest", "--yes", "--no-safety-backup")
		if got := tableDigests(s.pg.Digests(t, dbName)); !maps.Equal(got, want) {
			t.Errorf("database after disaster recovery differs:\n got %v\nwant %v", got, want)
		}
		testenv.CompareTrees(t, wantUploads, uploads)
	})
}

// components lists the components of a repository's snapshots (sorted,
// comma-separated; the run manifest is not a component).
func components(snaps []restic.Snapshot) string {
	var out []string
	for _, sn := range snaps {
		for _, tag := range sn.Tags {
			if tag == "db" || tag == "uploads" {
				out = append(out, tag)
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// objectDiff names the entries of two space-separated object lists that
// only one of them has.
func objectDiff(want, got string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, f := range strings.Fields(want) {
		w[f] = true
	}
	for _, f := range strings.Fields(got) {
		g[f] = true
	}
	var out []string
	for f := range g {
		if !w[f] {
			out = append(out, "+"+f)
		}
	}
	for f := range w {
		if !g[f] {
			out = append(out, "-"+f)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func runIDOr(id, def string) string {
	if id != "" {
		return id
	}
	return def
}
