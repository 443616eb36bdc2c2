// SPDX-License-Identifier: Apache-2.0

package dockere2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// dbSnapshots counts the db snapshots in the local repository (0 when it
// does not exist yet).
func (s *site) dbSnapshots(t testing.TB) int {
	t.Helper()
	if _, err := os.Stat(filepath.Join(s.dir, "backups", "restic-repo", "config")); err != nil {
		return 0
	}
	n := 0
	for _, sn := range snapshots(t, s.repo()) {
		for _, tag := range sn.Tags {
			if tag == "db" {
				n++
			}
		}
	}
	return n
}

// port is the loopback port compose published the database on.
func (s *site) port(t testing.TB) string {
	t.Helper()
	out := strings.TrimSpace(s.d.Run(t, "port", s.project+"-postgres", "5432/tcp"))
	out = strings.SplitN(out, "\n", 2)[0]
	i := strings.LastIndexByte(out, ':')
	if i < 0 || !strings.HasPrefix(out, "127.0.0.1:") {
		t.Fatalf("docker port: %q, want 127.0.0.1:PORT", out)
	}
	return out[i+1:]
}

// TestDumpInterrupted stops, and kills, the database container while
// pg_dump is in the middle of a dump: the backup exits 1, leaves no db
// snapshot, and alerts. The middle is made deterministic, not timed: the
// repository side (restic) is paused, so pg_dump's output backs up until
// the server waits to write to pg_dump (ClientWrite) with pg_dump running
// in the container; then the container goes, and restic is resumed.
func TestDumpInterrupted(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	s.setEnv("RESTIC_PASSWORD", "interrupted-"+strconv.Itoa(os.Getpid()))
	s.must(0, "init")
	// ~65 MB more than the pipes between pg_dump and restic hold.
	s.pg.Psql(t, dbName, "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 8) AS pad FROM generate_series(1, 250000) AS i")

	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) {
			alertsBefore := s.alerts()
			var paused []int
			r := s.cli(func(pid int) {
				testenv.WaitFor(t, "restic backup to start", func() bool {
					paused = descendantsNamed(pid, "restic", "backup")
					return len(paused) > 0
				})
				for _, p := range paused {
					_ = syscall.Kill(p, syscall.SIGSTOP)
				}
				defer func() {
					for _, p := range paused {
						_ = syscall.Kill(p, syscall.SIGCONT)
					}
				}()
				testenv.WaitFor(t, "pg_dump in the container, blocked on its full output", func() bool {
					if !strings.Contains(strings.Join(s.d.Top(s.project+"-postgres"), "\n"), "pg_dump") {
						return false
					}
					out, err := s.pg.PsqlErr("postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event = 'ClientWrite'")
					return err == nil && out == "1"
				})
				s.d.Run(t, how, s.project+"-postgres")
			}, "backup", "db")
			if r.code != 1 {
				t.Errorf("backup with the database container %sed mid-dump: want exit 1, got %s", how, r)
			}
			if !strings.Contains(r.stderr, "pg_dump") {
				t.Errorf("the error does not name pg_dump:\n%s", r.stderr)
			}
			if n := s.dbSnapshots(t); n != 0 {
				t.Errorf("%d db snapshots after an interrupted dump, want none", n)
			}
			if got := s.alerts(); len(got) <= len(alertsBefore) {
				t.Errorf("no alert for the failed backup (alerts log: %q)", got)
			}
			s.d.Run(t, "start", s.project+"-postgres")
			s.pg.WaitReady(t)
		})
	}
	// And the database is backed up again once the container is back.
	s.must(0, "backup", "db")
	if n := s.dbSnapshots(t); n != 1 {
		t.Errorf("%d db snapshots after a good backup, want 1", n)
	}
}

// TestDockerFailures: the daemon down, the container missing and a wrong
// database password each fail the backup with exit 1, a message that says
// what is wrong and what to do, no snapshot and an alert, and never show
// the password.
func TestDockerFailures(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	s.setEnv("RESTIC_PASSWORD", "failures-"+strconv.Itoa(os.Getpid()))
	s.must(0, "init")

	check := func(t *testing.T, r result, alertsBefore string, wants ...string) {
		t.Helper()
		if r.code != 1 {
			t.Errorf("want exit 1, got %s", r)
		}
		for _, w := range wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("the error does not say %q:\n%s", w, r.stderr)
			}
		}
		if strings.Contains(r.stdout+r.stderr+s.alerts(), dbPassword) {
			t.Errorf("the database password in the output or the alert")
		}
		if n := s.dbSnapshots(t); n != 0 {
			t.Errorf("%d db snapshots after a failed backup", n)
		}
		if got := s.alerts(); len(got) <= len(alertsBefore) {
			t.Errorf("no alert for the failed backup")
		}
	}

	t.Run("docker daemon down", func(t *testing.T) {
		// DOCKER_HOST names a socket no daemon listens on (stopping the
		// machine's daemon would stop every test's containers): what the
		// docker CLI in the plugin sees when dockerd is down. It also shows
		// the operator's DOCKER_HOST (rootless Docker) reaches the plugin.
		before := s.alerts()
		r := s.cliEnv([]string{"DOCKER_HOST=unix://" + t.TempDir() + "/docker.sock"}, nil, "backup", "db")
		check(t, r, before, "Cannot connect to the Docker daemon")
	})

	t.Run("container missing", func(t *testing.T) {
		missing := s.project + "-postgres-old"
		s.setEnv("BACKUP_DB_CONTAINER", missing)
		defer s.setEnv("BACKUP_DB_CONTAINER", "")
		before := s.alerts()
		r := s.cli(nil, "backup", "db")
		check(t, r, before, missing, "BACKUP_DB_CONTAINER", "running PostgreSQL containers: ", s.project+"-postgres ("+testenv.PostGISImage+")")
	})

	t.Run("wrong database password", func(t *testing.T) {
		// Direct mode against the published port: scram over TCP checks
		// the password (inside the container the official image trusts
		// local socket connections, so container mode never sends it).
		s.setEnv("PGHOST", "127.0.0.1")
		s.setEnv("PGPORT", s.port(t))
		s.setEnv("BACKUP_PG_BIN_DIR", "/usr/lib/postgresql/15/bin")
		s.setEnv("DB_PASSWORD", "not the password")
		defer func() {
			for _, k := range []string{"PGHOST", "PGPORT", "BACKUP_PG_BIN_DIR"} {
				s.setEnv(k, "")
			}
			s.restoreDBPassword()
		}()
		before := s.alerts()
		r := s.cli(nil, "backup", "db")
		check(t, r, before, "password authentication failed")
	})

	// With the settings back, the same site backs up.
	s.must(0, "backup", "db")
	if n := s.dbSnapshots(t); n != 1 {
		t.Errorf("%d db snapshots, want 1", n)
	}
}

// restoreDBPassword puts the original DB_PASSWORD line back.
func (s *site) restoreDBPassword() {
	s.t.Helper()
	lines := strings.Split(strings.TrimRight(s.readEnv(), "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "DB_PASSWORD=") {
			lines[i] = dbPasswordLine
		}
	}
	if err := os.WriteFile(s.envFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
}
