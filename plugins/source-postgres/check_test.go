// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// checkFindings configures a source with vals and returns its findings
// by name.
func checkFindings(t *testing.T, vals map[string]string) map[string]sdk.Finding {
	t.Helper()
	s := mustConfigure(t, vals)
	fs, err := s.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	out := map[string]sdk.Finding{}
	for _, f := range fs {
		t.Logf("%s", f)
		if f.Severity == sdk.SeverityError && f.Fix == "" {
			t.Errorf("error finding %q has no fix", f.Name)
		}
		out[f.Name] = f
	}
	return out
}

func wantOK(t *testing.T, fs map[string]sdk.Finding, name, detail string) {
	t.Helper()
	f, ok := fs[name]
	if !ok || f.Severity != sdk.SeverityOK || !strings.Contains(f.Detail, detail) {
		t.Errorf("finding %q = %v (present %v), want ok saying %q", name, f, ok, detail)
	}
}

func wantProblem(t *testing.T, fs map[string]sdk.Finding, name, problem, fix string) {
	t.Helper()
	f, ok := fs[name]
	if !ok || f.Severity != sdk.SeverityError || !strings.Contains(f.Problem, problem) || !strings.Contains(f.Fix, fix) {
		t.Errorf("finding %q = %v (present %v), want an error saying %q, fixed by %q", name, f, ok, problem, fix)
	}
}

// TestCheck: the source checks itself against a real PostgreSQL 15 —
// tools, connection, versions and privileges verified for a good
// configuration; each broken one reported with its fix — in direct and in
// container mode (docker exec emulated by a script running the tools of
// the cluster).
func TestCheck(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.CreateDB(t, "timetiles")
	pg.Psql(t, "timetiles", `CREATE TABLE events (id int); CREATE TABLE secrets (id int);
CREATE ROLE reader LOGIN; GRANT SELECT ON events TO reader;
CREATE ROLE pwcheck LOGIN PASSWORD 'right-password';`)
	hba := filepath.Join(pg.Dir, "data", "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("host all pwcheck 127.0.0.1/32 scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	pg.Psql(t, "postgres", "SELECT pg_reload_conf()")
	direct := func(kv ...string) map[string]string {
		vals := map[string]string{"PGHOST": "127.0.0.1", "PGPORT": strconv.Itoa(pg.Port), "PGUSER": "postgres",
			"PGDATABASE": "timetiles", "BACKUP_PG_BIN_DIR": pg.BinDir}
		for i := 0; i+1 < len(kv); i += 2 {
			vals[kv[i]] = kv[i+1]
		}
		return vals
	}

	t.Run("Direct", func(t *testing.T) {
		fs := checkFindings(t, direct())
		wantOK(t, fs, "client tools", "direct connection; "+pg.BinDir+"/pg_dump")
		wantOK(t, fs, "pg_dump", "pg_dump (PostgreSQL) 15.")
		wantOK(t, fs, "connection", "reaches database timetiles as user postgres (PostgreSQL 15.")
		wantOK(t, fs, "versions", "pg_dump 15 dumps a PostgreSQL 15 server")
		wantOK(t, fs, "privileges", "user postgres may read every table and create databases")
	})
	t.Run("MissingDatabase", func(t *testing.T) {
		fs := checkFindings(t, direct("PGDATABASE", "no_such_db"))
		wantProblem(t, fs, "database", "database no_such_db does not exist", "set DB_NAME")
	})
	t.Run("WrongPassword", func(t *testing.T) {
		fs := checkFindings(t, direct("PGUSER", "pwcheck", "PGPASSWORD", "wrong-password"))
		wantProblem(t, fs, "connection", `password authentication failed for user "pwcheck"`, "set DB_USER and DB_PASSWORD")
		if strings.Contains(fs["connection"].Problem, "wrong-password") {
			t.Errorf("the problem shows the password: %s", fs["connection"].Problem)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		fs := checkFindings(t, direct("PGPORT", "1"))
		wantProblem(t, fs, "connection", "database timetiles as user postgres", "check that PostgreSQL runs and that PGHOST/PGPORT")
	})
	t.Run("UnreadableTable", func(t *testing.T) {
		fs := checkFindings(t, direct("PGUSER", "reader"))
		wantProblem(t, fs, "privileges", "user reader may not read 1 table(s) of database timetiles, e.g. public.secrets", "GRANT SELECT")
	})
	t.Run("PgDumpOlderThanServer", func(t *testing.T) {
		bin := t.TempDir()
		for _, n := range []string{"pg_restore", "psql"} {
			if err := os.Symlink(filepath.Join(pg.BinDir, n), filepath.Join(bin, n)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.16'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		fs := checkFindings(t, direct("BACKUP_PG_BIN_DIR", bin))
		wantProblem(t, fs, "versions", "pg_dump (PostgreSQL) 13.16 cannot dump a PostgreSQL 15 server", "install the PostgreSQL 15 client tools")
	})

	docker := checkDocker(t, pg, "ttproj-postgres")
	container := func(kv ...string) map[string]string {
		vals := map[string]string{"COMPOSE_PROJECT_NAME": "ttproj", "DB_NAME": "timetiles", "DB_USER": "postgres", "BACKUP_DOCKER": docker}
		for i := 0; i+1 < len(kv); i += 2 {
			vals[kv[i]] = kv[i+1]
		}
		return vals
	}
	t.Run("Container", func(t *testing.T) {
		fs := checkFindings(t, container())
		wantOK(t, fs, "container", "container ttproj-postgres is running")
		wantOK(t, fs, "pg_dump", "pg_dump (PostgreSQL) 15.")
		wantOK(t, fs, "pg_dump", "in container ttproj-postgres")
		wantOK(t, fs, "connection", "reaches database timetiles as user postgres")
		wantOK(t, fs, "privileges", "may read every table")
	})
	t.Run("ContainerMissing", func(t *testing.T) {
		fs := checkFindings(t, container("COMPOSE_PROJECT_NAME", "other"))
		wantProblem(t, fs, "container", "container other-postgres: Error: No such object: other-postgres", "set BACKUP_DB_CONTAINER")
		wantProblem(t, fs, "container", "", "running PostgreSQL containers: ttproj-postgres (postgis/postgis:15)")
		if _, ok := fs["connection"]; ok {
			t.Errorf("without its container the source still checked the connection")
		}
	})
	t.Run("NoDockerCLI", func(t *testing.T) {
		fs := checkFindings(t, container("BACKUP_DOCKER", "/nonexistent/docker"))
		wantProblem(t, fs, "container", `docker CLI "/nonexistent/docker" not found`, "set BACKUP_DOCKER")
	})
}

// checkDocker writes a docker CLI stand-in that knows one running
// container, ctr: inspect says it runs, ps lists it, exec runs the
// cluster's tools against the cluster.
func checkDocker(t *testing.T, pg *testenv.Postgres, ctr string) string {
	t.Helper()
	docker := filepath.Join(t.TempDir(), "docker")
	script := fmt.Sprintf(`#!/bin/bash
case "$1" in
inspect) last="${@: -1}"; [ "$last" = %[1]s ] && { echo true; exit 0; }; echo "Error: No such object: $last" >&2; exit 1 ;;
ps) printf '%%s\t%%s\n' %[1]s postgis/postgis:15; exit 0 ;;
exec) shift ;;
*) echo "stand-in docker: $1 is not emulated" >&2; exit 125 ;;
esac
while [[ $1 == -* ]]; do [ "$1" = -e ] && shift; shift; done
[ "$1" = %[1]s ] || { echo "Error response from daemon: No such container: $1" >&2; exit 1; }
shift
export PATH=%[2]s:/usr/bin:/bin PGHOST=127.0.0.1 PGPORT=%[3]d
exec "$@"
`, ctr, pg.BinDir, pg.Port)
	if err := os.WriteFile(docker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return docker
}
