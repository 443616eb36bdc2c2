// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// userTablesSQL counts the tables outside PostgreSQL's own schemas: a
// restored TimeTiles database has dozens, an empty or failed one none.
const userTablesSQL = `SELECT count(*) FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%';
`

// dbExistsSQL prints 1 when database :'db' exists.
const dbExistsSQL = `SELECT 1 FROM pg_catalog.pg_database WHERE datname = :'db';
`

// restoreTest is a restore test (sdk.RestoreRequest.Scratch, `backup verify
// --restore-test`): restore the stream into req.ToDatabase — which must not
// exist, so that nothing of anyone's is overwritten or dropped — check that
// the result holds tables and that BACKUP_PG_VERIFY_QUERY (when set) runs,
// and drop the database again whatever happened.
func (s *Source) restoreTest(ctx context.Context, req sdk.RestoreRequest, r io.Reader) (err error) {
	db := req.ToDatabase
	if db == "" {
		return invalid("a restore test needs the name of a scratch database")
	}
	if err := checkDBName(db); err != nil {
		return invalid("restore test database: %v", err)
	}
	if db == s.database || db == maintenanceDB {
		return invalid("restore test database %q is the configured (or maintenance) database: refusing to use it as scratch", db)
	}
	out, err := s.psqlMaintenance(ctx, db, dbExistsSQL)
	if err != nil {
		return fmt.Errorf("restore test: looking for database %s: %w", db, err)
	}
	if strings.TrimSpace(out) == "1" {
		return invalid("restore test database %q already exists: refusing to overwrite or drop it; drop it yourself or choose another name", db)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		if _, derr := s.psqlMaintenance(dctx, db, `DROP DATABASE IF EXISTS :"db" WITH (FORCE);`+"\n"); derr != nil && err == nil {
			err = fmt.Errorf("restore test passed, but dropping the scratch database %s failed: %w", db, derr)
		}
	}()
	inner := req
	inner.Scratch = false
	if err := s.Restore(ctx, inner, r); err != nil {
		return fmt.Errorf("restore test: restoring into %s: %w", db, err)
	}
	out, err = s.psqlOn(ctx, db, userTablesSQL)
	if err != nil {
		return fmt.Errorf("restore test: sanity query in %s: %w", db, err)
	}
	n, perr := strconv.Atoi(strings.TrimSpace(out))
	if perr != nil || n == 0 {
		return fmt.Errorf("restore test: the restored database %s holds no tables (%q): the dump is empty or not the application's: %w", db, strings.TrimSpace(out), sdk.ErrAborted)
	}
	if q := strings.TrimSpace(s.verifyQuery); q != "" {
		if !strings.HasSuffix(q, ";") {
			q += ";"
		}
		res, err := s.psqlOn(ctx, db, q+"\n")
		if err != nil {
			return fmt.Errorf("restore test: BACKUP_PG_VERIFY_QUERY failed in the restored database: %w", err)
		}
		sdk.Logger.Info("restore test query", "result", truncateLine(res, 200))
	}
	sdk.Logger.Info("restore test passed", "database", db, "tables", n)
	return nil
}

// psqlOn runs sql in database db (psql -X -At, ON_ERROR_STOP) with psql
// variables vars ("name=value") and returns its output.
func (s *Source) psqlOn(ctx context.Context, db, sql string, vars ...string) (string, error) {
	args := append(s.connArgs(db), "-X", "-At", "-v", "ON_ERROR_STOP=1")
	for _, v := range vars {
		args = append(args, "-v", v)
	}
	cmd, err := s.command(ctx, "psql", args...)
	if err != nil {
		return "", err
	}
	stdout, stderr := newTail(stderrTail), newTail(stderrTail)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(sql), stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", s.childError("psql", err, stderr)
	}
	return stdout.String(), nil
}

func truncateLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
