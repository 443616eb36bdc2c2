// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// Check is what `timetiles-backup init` shows for the database (sdk.Checker):
// the client tools (on this host, or in the container), that they reach
// the configured database as the configured user, that pg_dump is not
// older than the server, and that the user may read every table. It
// changes nothing.
func (s *Source) Check(ctx context.Context) ([]sdk.Finding, error) {
	ctx, cancel := context.WithTimeout(ctx, 25*time.Second)
	defer cancel()
	var fs []sdk.Finding
	if s.container != "" {
		f, ok := s.checkContainer(ctx)
		fs = append(fs, f)
		if !ok {
			return fs, nil
		}
	} else {
		f, ok := s.checkTools()
		fs = append(fs, f)
		if !ok {
			return fs, nil
		}
	}
	v, err := s.dumpVersion(ctx)
	if err != nil {
		return append(fs, sdk.Problem("pg_dump", s.redact(err.Error()), s.toolsFix())), nil
	}
	fs = append(fs, sdk.Verified("pg_dump", s.whereDetail(v)))
	return append(fs, s.checkDatabase(ctx, v)...), nil
}

func (s *Source) toolsFix() string {
	if s.container != "" {
		return "use a PostgreSQL image that ships the client tools, or set BACKUP_DATABASE_URL to connect directly"
	}
	return "install the PostgreSQL client tools matching the server's major version, or set BACKUP_PG_BIN_DIR to their directory"
}

func (s *Source) whereDetail(v string) string {
	if s.container != "" {
		return v + " in container " + s.container
	}
	p, _ := s.toolPath("pg_dump")
	return v + " (" + p + ")"
}

// checkContainer checks container mode: the docker CLI and that the
// container runs.
func (s *Source) checkContainer(ctx context.Context) (sdk.Finding, bool) {
	const name = "container"
	fix := "start TimeTiles (docker compose up -d), or set BACKUP_DB_CONTAINER to the PostgreSQL container, or BACKUP_DATABASE_URL to connect directly"
	docker, err := exec.LookPath(s.docker)
	if err != nil {
		return sdk.Problem(name, fmt.Sprintf("container %s: docker CLI %q not found", s.container, s.docker),
			"install Docker or set BACKUP_DOCKER to its path; or set BACKUP_DATABASE_URL to connect directly"), false
	}
	cmd := exec.CommandContext(ctx, docker, "inspect", "--format", "{{.State.Running}}", "--", s.container)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the plugin
	cmd.WaitDelay = waitDelay
	stderr := newTail(stderrTail)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		if names, lerr := s.runningPostgresContainers(); lerr == nil {
			if len(names) == 0 {
				fix += " (no PostgreSQL container is running)"
			} else {
				fix += " (running PostgreSQL containers: " + strings.Join(names, ", ") + ")"
			}
		}
		return sdk.Problem(name, fmt.Sprintf("container %s: %s", s.container, msg), fix), false
	}
	if strings.TrimSpace(string(out)) != "true" {
		return sdk.Problem(name, fmt.Sprintf("container %s is not running", s.container), "start it (docker compose up -d)"), false
	}
	return sdk.Verified(name, "container "+s.container+" is running; the tools run inside it (docker exec)"), true
}

// checkTools checks direct mode's client tools.
func (s *Source) checkTools() (sdk.Finding, bool) {
	const name = "client tools"
	var found []string
	for _, tool := range []string{"pg_dump", "pg_restore", "psql"} {
		p, err := s.toolPath(tool)
		if err == nil && !isExecutable(p) {
			err = fmt.Errorf("not executable")
		}
		if err != nil {
			where := "searched $PATH"
			if s.binDir != "" {
				where = "in BACKUP_PG_BIN_DIR=" + s.binDir
			}
			return sdk.Problem(name, fmt.Sprintf("%s not found (%s)", tool, where),
				"install the PostgreSQL client tools matching the server's major version, or set BACKUP_PG_BIN_DIR"), false
		}
		found = append(found, p)
	}
	return sdk.Verified(name, "direct connection; "+strings.Join(found, ", ")), true
}

// checkSQL reports, one value a line: the server's version number and
// version, the user, whether it may create databases, how many relations it
// may not read and the first few of them. Relations of extensions (PostGIS'
// spatial_ref_sys, topology) are left out: pg_dump dumps the extension, not
// their contents.
const checkSQL = `SELECT current_setting('server_version_num');
SELECT current_setting('server_version');
SELECT current_user;
SELECT rolcreatedb OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
WITH r AS (SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'S', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_toast%' AND NOT has_table_privilege(c.oid, 'SELECT')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
SELECT count(*) || ' ' || coalesce((SELECT string_agg(name, ', ') FROM (SELECT name FROM r ORDER BY 1 LIMIT 5) f), '') FROM r;
`

var majorRe = regexp.MustCompile(`\)\s+(\d+)`)

// checkDatabase connects as the backup will and reports the connection,
// the versions and the privileges.
func (s *Source) checkDatabase(ctx context.Context, dump string) []sdk.Finding {
	out, err := s.psqlOn(ctx, s.database, checkSQL)
	target := fmt.Sprintf("database %s as user %s", s.database, s.user)
	if err != nil {
		msg := s.redact(err.Error())
		switch {
		case strings.Contains(msg, "database \""+s.database+"\" does not exist"):
			return []sdk.Finding{sdk.Problem("database", fmt.Sprintf("%s: database %s does not exist", target, s.database),
				"set DB_NAME (or PGDATABASE, or the path of BACKUP_DATABASE_URL) to TimeTiles' database")}
		case strings.Contains(msg, "password authentication failed"), strings.Contains(msg, "no password supplied"),
			strings.Contains(msg, "authentication failed for user"), strings.Contains(msg, "role \""+s.user+"\" does not exist"):
			return []sdk.Finding{sdk.Problem("connection", fmt.Sprintf("%s: %s", target, msg),
				"set DB_USER and DB_PASSWORD (or PGUSER and PGPASSWORD, or BACKUP_DATABASE_URL) to TimeTiles' database user")}
		}
		fix := "check that PostgreSQL runs and that PGHOST/PGPORT (or BACKUP_DATABASE_URL) point at it"
		if s.container != "" {
			fix = "check that PostgreSQL in container " + s.container + " is ready (docker logs " + s.container + ")"
		}
		return []sdk.Finding{sdk.Problem("connection", fmt.Sprintf("%s: %s", target, msg), fix)}
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 5 {
		return []sdk.Finding{sdk.Problem("connection", fmt.Sprintf("%s: unexpected answer from psql: %q", target, truncateLine(out, 200)),
			"check that the server is PostgreSQL (12 or newer)")}
	}
	num, _ := strconv.Atoi(lines[0])
	serverMajor := num / 10000
	createdb := lines[3] == "t"
	fs := []sdk.Finding{sdk.Verified("connection", fmt.Sprintf("reaches database %s as user %s (PostgreSQL %s)", s.database, lines[2], lines[1]))}
	if m := majorRe.FindStringSubmatch(dump); m != nil {
		dumpMajor, _ := strconv.Atoi(m[1])
		if dumpMajor < serverMajor {
			fs = append(fs, sdk.Problem("versions", fmt.Sprintf("%s cannot dump a PostgreSQL %d server", dump, serverMajor),
				fmt.Sprintf("install the PostgreSQL %d client tools (e.g. postgresql-client-%d) and set BACKUP_PG_BIN_DIR to their directory", serverMajor, serverMajor)))
		} else {
			fs = append(fs, sdk.Verified("versions", fmt.Sprintf("pg_dump %d dumps a PostgreSQL %d server", dumpMajor, serverMajor)))
		}
	}
	count, names, _ := strings.Cut(lines[4], " ")
	if n, _ := strconv.Atoi(count); n > 0 {
		fs = append(fs, sdk.Problem("privileges", fmt.Sprintf("user %s may not read %d table(s) of database %s, e.g. %s: pg_dump would fail", lines[2], n, s.database, names),
			fmt.Sprintf("back up as the owner of the database (DB_USER), or GRANT SELECT on them to %s", lines[2])))
	} else {
		what := "may read every table"
		if createdb {
			what += " and create databases (an in-place restore swaps in a staging database)"
		} else {
			what += "; may not create databases (an in-place restore then runs in one transaction)"
		}
		fs = append(fs, sdk.Verified("privileges", "user "+lines[2]+" "+what))
	}
	return fs
}
