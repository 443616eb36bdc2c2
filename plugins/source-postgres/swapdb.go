// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
	"golang.org/x/sys/unix"
)

// Replacing an existing database (an in-place restore, or --to-database of
// a database that exists) must give exactly the backed-up state — nothing
// the dump does not contain survives — and must be all-or-nothing:
//
//   - When the role may create databases and owns the target (or is a
//     superuser), the dump is restored into a fresh staging database
//     "<db>_restore_<stamp>" created like the target (owner, encoding,
//     locale). Only when that restore committed are the two swapped, in one
//     transaction on the maintenance database: the target's sessions are
//     terminated, the target is renamed to "<db>_before_restore_<stamp>"
//     (the undo database) and the staging database to the target's name.
//     Renaming is instant whatever the size; a failure anywhere before the
//     COMMIT leaves the target untouched and the staging database is
//     dropped. The undo database stays until the next successful dump of
//     the configured database (Backup drops it), or until the operator
//     drops it; rolling back is two renames (docs/operator-guide.md).
//   - Otherwise everything happens in one transaction in the target: every
//     schema (with all it holds), every extension the role may drop and
//     every large object is dropped, and the dump is restored, then COMMIT.
//     Any failure rolls the whole transaction back.
const (
	stagingInfix = "_restore_"
	undoInfix    = "_before_restore_"
	stampLayout  = "20060102150405"
)

// stampedName is base+infix+stamp, base shortened so that the whole fits
// PostgreSQL's 63-byte identifiers.
func stampedName(base, infix, stamp string) string {
	if max := 63 - len(infix) - len(stamp); len(base) > max {
		base = base[:max]
	}
	return base + infix + stamp
}

// stampedNames matches the databases stampedName(db, infix, ·) made.
func stampedNames(db, infix string) *regexp.Regexp {
	prefix := strings.TrimSuffix(stampedName(db, infix, strings.Repeat("0", len(stampLayout))), strings.Repeat("0", len(stampLayout)))
	return regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + "[0-9]{14}$")
}

// listDatabasesSQL lists every database's name.
const listDatabasesSQL = "SELECT datname FROM pg_catalog.pg_database ORDER BY datname;\n"

// dropStamped drops the databases stampedName(db, infix, ·) made for each
// infix given (with what it says in the log): staging databases left by
// interrupted restores, undo databases.
func (s *Source) dropStamped(ctx context.Context, db string, infixes map[string]string) {
	out, err := s.psqlOn(ctx, maintenanceDB, listDatabasesSQL)
	if err != nil {
		sdk.Logger.Warn("could not list the databases to find leftovers of earlier restores", "error", err)
		return
	}
	for infix, what := range infixes {
		re := stampedNames(db, infix)
		for _, n := range strings.Split(strings.TrimSpace(out), "\n") {
			if !re.MatchString(n) {
				continue
			}
			if _, err := s.psqlMaintenance(ctx, n, `DROP DATABASE IF EXISTS :"db" WITH (FORCE);`+"\n"); err != nil {
				sdk.Logger.Warn("could not drop "+what, "database", n, "error", err)
				continue
			}
			sdk.Logger.Info("dropped "+what, "database", n)
		}
	}
}

const (
	whatStaging = "a staging database left by an interrupted restore"
	whatUndo    = "the undo database kept by an earlier in-place restore (the restored state is dumped now)"
)

// canSwapSQL prints t when the role can create databases and rename
// :'db' (CREATEDB and membership in its owner, or superuser), f otherwise,
// and nothing when :'db' does not exist.
const canSwapSQL = `SELECT r.rolsuper OR (r.rolcreatedb AND pg_catalog.pg_has_role(r.oid, d.datdba, 'MEMBER'))
FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
WHERE r.rolname = current_user AND d.datname = :'db';
`

// createLikeSQL creates :"staging" with the owner, encoding and locale of :'db'
// (to_jsonb reads the locale-provider columns where the server has them).
const createLikeSQL = `SELECT format('CREATE DATABASE %I WITH TEMPLATE template0 OWNER %I ENCODING %L LC_COLLATE %L LC_CTYPE %L',
         :'staging', pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype)
    || CASE WHEN to_jsonb(d)->>'datlocprovider' = 'i'
            THEN format(' LOCALE_PROVIDER icu ICU_LOCALE %L', coalesce(to_jsonb(d)->>'daticulocale', to_jsonb(d)->>'datlocale'))
            ELSE '' END
FROM pg_catalog.pg_database d WHERE d.datname = :'db' \gexec
`

// swapSQL gives :"staging" the database-level properties of :"db" that a
// dump without --create does not hold (privileges, settings, connection
// limit, comment) and swaps the two by renaming, in one transaction. The
// sessions of both databases are terminated first (the services were
// stopped; what is left would block the rename, which waits up to 5 s for
// terminated sessions to go).
const swapSQL = `BEGIN;
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'staging')
FROM pg_catalog.pg_database WHERE datname = :'db' AND datacl IS NOT NULL \gexec
SELECT format('GRANT %s ON DATABASE %I TO %s', a.privilege_type, :'staging',
              CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END)
FROM pg_catalog.pg_database d, aclexplode(d.datacl) a WHERE d.datname = :'db' \gexec
SELECT format('ALTER DATABASE %I SET %I = %s', :'staging', split_part(c, '=', 1),
              CASE WHEN substr(c, strpos(c, '=') + 1) ~ '^[A-Za-z0-9_$", .-]+$' AND strpos(c, ',') > 0
                   THEN substr(c, strpos(c, '=') + 1) ELSE quote_literal(substr(c, strpos(c, '=') + 1)) END)
FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c
WHERE d.datname = :'db' AND s.setrole = 0 \gexec
SELECT format('ALTER DATABASE %I CONNECTION LIMIT %s', :'staging', datconnlimit)
FROM pg_catalog.pg_database WHERE datname = :'db' AND datconnlimit <> -1 \gexec
SELECT format('COMMENT ON DATABASE %I IS %L', :'staging', pg_catalog.shobj_description(oid, 'pg_database'))
FROM pg_catalog.pg_database WHERE datname = :'db' AND pg_catalog.shobj_description(oid, 'pg_database') IS NOT NULL \gexec
SELECT count(pg_catalog.pg_terminate_backend(pid)) AS terminated FROM pg_catalog.pg_stat_activity
WHERE datname IN (:'db', :'staging') AND pid <> pg_catalog.pg_backend_pid();
ALTER DATABASE :"db" RENAME TO :"undo";
ALTER DATABASE :"staging" RENAME TO :"db";
COMMIT;
`

// restoreReplacing replaces the existing database db with the dump in r:
// through a staging database and a rename when the role may, else in one
// transaction (see the comment at the top of this file).
func (s *Source) restoreReplacing(ctx context.Context, db string, r io.Reader, format string) (err error) {
	out, err := s.psqlMaintenance(ctx, db, canSwapSQL)
	if err != nil {
		return fmt.Errorf("checking the role's rights on database %s: %w", db, err)
	}
	if strings.TrimSpace(out) != "t" || db == maintenanceDB {
		// (The maintenance database, where the swap runs, cannot rename
		// itself.)
		sdk.Logger.Info("the role may not create databases or rename this one: restoring in one transaction that first drops what the database holds",
			"database", db)
		return s.restoreOneTransaction(ctx, db, r, format)
	}
	// A staging database left by an interrupted restore is garbage.
	s.dropStamped(ctx, db, map[string]string{stagingInfix: whatStaging})

	stamp := time.Now().UTC().Format(stampLayout)
	staging, undo := stampedName(db, stagingInfix, stamp), stampedName(db, undoInfix, stamp)
	if _, err := s.psqlOn(ctx, maintenanceDB, createLikeSQL, "db="+db, "staging="+staging); err != nil {
		return fmt.Errorf("creating the staging database %s: %w; database %s was not changed", staging, err, db)
	}
	swapped := false
	defer func() {
		if !swapped {
			s.dropCreated(ctx, staging)
		}
	}()
	sdk.Logger.Info("restoring into a staging database", "database", db, "staging", staging, "format", format)
	if err := s.restoreInto(ctx, staging, r, format); err != nil {
		return fmt.Errorf("%w (database %s was not changed)", err, db)
	}
	if err := s.runVerifyQuery(ctx, staging); err != nil {
		return fmt.Errorf("%w (database %s was not changed)", err, db)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("restore interrupted before the swap: %w (database %s was not changed)", err, db)
	}
	var serr error
	for attempt := 1; attempt <= 3; attempt++ {
		_, serr = s.psqlOn(ctx, maintenanceDB, swapSQL, "db="+db, "staging="+staging, "undo="+undo)
		if serr == nil || !strings.Contains(serr.Error(), "is being accessed by other users") || ctx.Err() != nil {
			break
		}
		sdk.Logger.Warn("sessions reconnected to the database during the swap; trying again", "database", db, "attempt", attempt)
	}
	if serr != nil {
		return fmt.Errorf("swapping the restored database in: %w; database %s was not changed (stop the services that connect to it and try again)", serr, db)
	}
	swapped = true
	sdk.Logger.Info("database restored; the previous database is kept as an undo until the next successful backup",
		"database", db, "undo_database", undo,
		"undo", fmt.Sprintf(`ALTER DATABASE %s RENAME TO <any name>; ALTER DATABASE %s RENAME TO %s;`, quoteIdent(db), quoteIdent(undo), quoteIdent(db)),
		"drop", fmt.Sprintf(`DROP DATABASE %s;`, quoteIdent(undo)))
	// The operator reads it in the restore's summary, not only in the log.
	sdk.RestoreNote(ctx, fmt.Sprintf("undo database: the previous database %s is kept as %s until the next successful backup drops it; "+
		"to free its disk sooner: DROP DATABASE %s; (psql, TimeTiles stopped or not); to go back to it: ALTER DATABASE %s RENAME TO <any name>; ALTER DATABASE %s RENAME TO %s;",
		db, undo, quoteIdent(undo), quoteIdent(db), quoteIdent(undo), quoteIdent(db)))
	return nil
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// restoreInto restores the dump into db, an empty database just created.
func (s *Source) restoreInto(ctx context.Context, db string, r io.Reader, format string) error {
	if format == FormatCustom {
		// Ownership is kept (no --no-owner): TimeTiles restores as the user
		// that owns its objects.
		args := append(s.connArgs(db), "-Fc", "--single-transaction", "--exit-on-error")
		return s.feed(ctx, "pg_restore", args, r, "", "", nil, nil)
	}
	args := append(s.connArgs(db), "-X", "-v", "ON_ERROR_STOP=1")
	return s.feed(ctx, "psql", args, r, plainPrefix, plainSuffix, checkCommitted, nil)
}

// runVerifyQuery runs BACKUP_PG_VERIFY_QUERY, when set, in db.
func (s *Source) runVerifyQuery(ctx context.Context, db string) error {
	q := strings.TrimSpace(s.verifyQuery)
	if q == "" {
		return nil
	}
	if !strings.HasSuffix(q, ";") {
		q += ";"
	}
	res, err := s.psqlOn(ctx, db, q+"\n")
	if err != nil {
		return fmt.Errorf("BACKUP_PG_VERIFY_QUERY failed in the restored database: %w", err)
	}
	sdk.Logger.Info("verify query", "result", truncateLine(res, 200))
	return nil
}

// wipeSQL drops, inside the restore's transaction, what the database holds,
// so that after the dump it holds exactly the dump: every extension the
// role may drop (all for a superuser; plpgsql stays), every schema but
// PostgreSQL's own with everything in it — except a schema holding an
// extension that stays, where each table, view, sequence, routine and type
// outside the extension is dropped — and every large object. Schema public
// is created again as a new database has it (the dump assumes it exists).
const wipeSQL = `DO $wipe$
DECLARE
  r record;
  superuser boolean := (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
BEGIN
  FOR r IN SELECT e.extname FROM pg_catalog.pg_extension e
           WHERE e.extname <> 'plpgsql' AND (superuser OR pg_catalog.pg_has_role(e.extowner, 'MEMBER')) LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)' LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extnamespace = r.oid) THEN
      EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
      CONTINUE;
    END IF;
    -- A schema holding an extension that stays: its other objects go one by one.
    DECLARE o record;
    BEGIN
      FOR o IN SELECT format('DROP %s IF EXISTS %I.%I CASCADE',
                             CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                                            WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.nspname, c.relname) AS stmt
               FROM pg_catalog.pg_class c
               WHERE c.relnamespace = r.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
               ORDER BY c.relkind = 'S' LOOP
        EXECUTE o.stmt;
      END LOOP;
      FOR o IN SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure) AS stmt
               FROM pg_catalog.pg_proc p
               WHERE p.pronamespace = r.oid
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') LOOP
        EXECUTE o.stmt;
      END LOOP;
      FOR o IN SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.nspname, t.typname) AS stmt
               FROM pg_catalog.pg_type t
               WHERE t.typnamespace = r.oid AND t.typtype IN ('c', 'd', 'e', 'r')
                 AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c')
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e') LOOP
        EXECUTE o.stmt;
      END LOOP;
    END;
  END LOOP;
  PERFORM pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'public') THEN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pg_database_owner') THEN
      CREATE SCHEMA public AUTHORIZATION pg_database_owner;
      GRANT USAGE ON SCHEMA public TO PUBLIC;
    ELSE
      CREATE SCHEMA public;
      GRANT ALL ON SCHEMA public TO PUBLIC;
    END IF;
    COMMENT ON SCHEMA public IS 'standard public schema';
  END IF;
END
$wipe$;
`

// restoreOneTransaction replaces db's contents with the dump in one
// transaction: psql runs BEGIN, wipeSQL, the dump as SQL (a custom archive
// is turned into SQL by pg_restore -f -) and, only after the whole stream
// arrived intact, COMMIT.
func (s *Source) restoreOneTransaction(ctx context.Context, db string, r io.Reader, format string) error {
	prefix := plainPrefix + wipeSQL
	psqlArgs := append(s.connArgs(db), "-X", "-v", "ON_ERROR_STOP=1")
	if format != FormatCustom {
		return s.feed(ctx, "psql", psqlArgs, r, prefix, plainSuffix, checkCommitted, nil)
	}
	p, err := s.startPiped(ctx, "psql", psqlArgs, nil)
	if err != nil {
		return err
	}
	psql, pw, stdout, stderr, waited := p.cmd, p.stdin, p.stdout, p.stderr, p.waited
	// psql is killed, and waited for, before its stdin is closed, unless
	// the whole archive was turned into SQL: then COMMIT follows.
	abort := func(cause error) error {
		select {
		case werr := <-waited: // psql failed by itself: its message is the cause
			pw.Close()
			if werr != nil {
				return fmt.Errorf("%w; nothing was committed", s.childError("psql", werr, stderr))
			}
		default:
			if readerGone(pw) {
				// psql closed its stdin: it is exiting on an error of its
				// own (ON_ERROR_STOP), and pg_restore died writing to it
				// (SIGPIPE). psql's message is the cause: wait for it.
				werr := waitOrKill(ctx, psql, waited)
				pw.Close()
				if werr != nil && ctx.Err() == nil {
					return fmt.Errorf("%w; nothing was committed", s.childError("psql", werr, stderr))
				}
				return cause
			}
			_ = psql.Process.Kill()
			<-waited
			pw.Close()
		}
		return cause
	}
	if _, err := io.WriteString(pw, prefix); err != nil {
		return abort(fmt.Errorf("writing to psql: %w", err))
	}
	args := append([]string{"-f", "-"}, "--exit-on-error")
	if ferr := s.feed(ctx, "pg_restore", args, r, "", "", nil, pw); ferr != nil {
		return abort(ferr)
	}
	if _, err := io.WriteString(pw, plainSuffix); err != nil {
		return abort(fmt.Errorf("writing to psql: %w", err))
	}
	pw.Close()
	werr := waitOrKill(ctx, psql, waited)
	if ctx.Err() != nil {
		return fmt.Errorf("restore interrupted while psql finished: %w", ctx.Err())
	}
	if werr != nil {
		return s.childError("psql", werr, stderr)
	}
	if err := s.checkOutput(checkCommitted, stdout); err != nil {
		return err
	}
	sdk.Logger.Info("database restored in one transaction", "database", db)
	return nil
}

// readerGone reports whether pipe w has no reader left (poll's POLLERR on
// a write end): the process reading it closed it or exited.
func readerGone(w *os.File) bool {
	rc, err := w.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			gone = fds[0].Revents&unix.POLLERR != 0
		}
	})
	return gone
}
