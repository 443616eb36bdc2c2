// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// afterBackupSQL adds, after the backup, one of each kind of object a
// restore must remove (table, view, function, schema, extension), and
// rows, changes and deletions in tables the backup has.
const afterBackupSQL = `
CREATE TABLE after_backup (id int PRIMARY KEY, note text);
INSERT INTO after_backup VALUES (1, 'created after the backup');
CREATE VIEW after_view AS SELECT * FROM after_backup;
CREATE FUNCTION after_fn() RETURNS int LANGUAGE sql AS 'SELECT 42';
CREATE SCHEMA after_schema;
CREATE TABLE after_schema.t (x int);
INSERT INTO after_schema.t VALUES (1), (2);
CREATE EXTENSION hstore;
CREATE TYPE after_mood AS ENUM ('ok', 'not ok');
`

// seedRowsSQL changes rows of the seeded tables.
const seedRowsSQL = `
INSERT INTO payload_migrations (name, batch, created_at) VALUES ('after the backup', 99, now());
DELETE FROM media WHERE id % 2 = 0;
UPDATE catalogs SET name = name || ' (changed)';
`

// databasesLike lists the databases whose names start with prefix.
func (e *pgTest) databasesLike(t *testing.T, prefix string) []string {
	t.Helper()
	out := e.pg.Psql(t, "postgres", fmt.Sprintf("SELECT datname FROM pg_database WHERE starts_with(datname, '%s') ORDER BY 1", prefix))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func assertCatalog(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		var extra, missing []string
		for _, g := range got {
			if !slices.Contains(want, g) {
				extra = append(extra, g)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing = append(missing, w)
			}
		}
		t.Fatalf("%s: catalogs differ\nextra:   %q\nmissing: %q", what, extra, missing)
	}
}

// testExactStateSwap: an in-place restore (role may create databases) gives
// exactly the backed-up database — whatever was created or changed after
// the backup is gone — and keeps the previous database as the undo
// database; a leftover staging database of an interrupted restore is
// dropped.
func (e *pgTest) testExactStateSwap(t *testing.T) {
	seedCatalog := testenv.Catalog(t, e.pg, "seed")
	for _, m := range []*memStream{e.custom, e.plain} {
		format := m.header.Metadata["format"]
		t.Run(format, func(t *testing.T) {
			db := "exact_" + format
			e.newDB(t, db, "seed")
			e.pg.Psql(t, db, afterBackupSQL+seedRowsSQL)
			// Database-level properties a dump without --create lacks: the
			// restored database keeps them.
			e.pg.Psql(t, "postgres", fmt.Sprintf(`DROP ROLE IF EXISTS reader_%[1]s; CREATE ROLE reader_%[1]s;
REVOKE ALL ON DATABASE %[2]s FROM PUBLIC; GRANT CONNECT ON DATABASE %[2]s TO reader_%[1]s;
ALTER DATABASE %[2]s SET timezone TO 'Europe/Berlin'; ALTER DATABASE %[2]s SET search_path TO "$user", public, extra;
ALTER DATABASE %[2]s CONNECTION LIMIT 42; COMMENT ON DATABASE %[2]s IS 'TimeTiles'' production';`, format, db))
			props := func() string {
				return e.pg.Psql(t, "postgres", fmt.Sprintf(`SELECT datacl::text, datconnlimit, shobj_description(d.oid, 'pg_database'),
  (SELECT array_agg(c ORDER BY c)::text FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE s.setdatabase = d.oid AND s.setrole = 0)
FROM pg_database d WHERE datname = '%s'`, db))
			}
			wantProps := props()
			if slices.Equal(testenv.Catalog(t, e.pg, db), seedCatalog) {
				t.Fatal("the changes after the backup changed no catalog entry")
			}
			leftover := db + "_restore_20200101000000"
			e.pg.DropDB(t, leftover)
			e.pg.CreateDB(t, leftover)
			for _, u := range e.databasesLike(t, db+"_before_restore_") {
				e.pg.DropDB(t, u)
			}

			s := e.direct(t, db, "BACKUP_PG_FORMAT", format)
			if err := restore(s, bytes.NewReader(m.buf.Bytes()), ""); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			assertCatalog(t, db, testenv.Catalog(t, e.pg, db), seedCatalog)
			e.assertSeed(t, db)
			if got := props(); got != wantProps {
				t.Errorf("database-level properties after the restore:\n got %s\nwant %s", got, wantProps)
			}
			if got := e.databasesLike(t, db+"_restore_"); len(got) != 0 {
				t.Errorf("staging databases left: %v", got)
			}
			undo := e.databasesLike(t, db+"_before_restore_")
			if len(undo) != 1 {
				t.Fatalf("undo databases = %v, want one", undo)
			}
			if got := e.pg.Psql(t, undo[0], "SELECT note FROM after_backup"); got != "created after the backup" {
				t.Errorf("the undo database %s does not hold the pre-restore state: %q", undo[0], got)
			}
			// The next successful backup drops the undo database.
			mustBackup(t, s)
			if got := e.databasesLike(t, db+"_before_restore_"); len(got) != 0 {
				t.Errorf("undo databases after the next backup: %v", got)
			}
		})
	}
}

// testFailedSwapLeavesOld: a dump that fails half-way (an SQL error, a
// stream cut short) leaves the database exactly as it was — catalog and
// rows — and no staging or undo database behind.
func (e *pgTest) testFailedSwapLeavesOld(t *testing.T) {
	const db = "fail_swap"
	e.newDB(t, db, "damaged")
	e.pg.Psql(t, db, afterBackupSQL)
	before := testenv.Catalog(t, e.pg, db)
	beforeDigests := testenv.TableDigests(t, e.pg, db)
	s := e.direct(t, db)
	data := e.custom.buf.Bytes()
	if err := restore(s, failingReader(data[:len(data)/2], errCut), ""); !errors.Is(err, errCut) || !strings.Contains(err.Error(), "was not changed") {
		t.Errorf("Restore of a cut stream = %v, want the stream's error saying the database was not changed", err)
	}
	plain := e.plain.buf.Bytes()
	at := bytes.Index(plain, []byte("\n\\.\n")) + 4
	bad := append(append(append([]byte{}, plain[:at]...), "SELECT 1/0 AS broken_in_the_middle;\n"...), plain[at:]...)
	if err := restore(s, bytes.NewReader(bad), ""); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("Restore of a dump failing half-way = %v, want psql's error", err)
	}
	assertCatalog(t, db, testenv.Catalog(t, e.pg, db), before)
	assertDigests(t, db, testenv.TableDigests(t, e.pg, db), beforeDigests)
	if got := e.databasesLike(t, db+"_"); len(got) != 0 {
		t.Errorf("databases left behind: %v", got)
	}
}

// testExactStateOneTransaction: a role that owns its database but may not
// create databases restores in one transaction that drops what the dump
// does not hold; a failure rolls all of it back.
func (e *pgTest) testExactStateOneTransaction(t *testing.T) {
	const db, role = "one_tx", "owner_only"
	e.pg.DropDB(t, db)
	e.pg.Psql(t, "postgres", fmt.Sprintf(`DROP ROLE IF EXISTS %[1]s; CREATE ROLE %[1]s LOGIN NOCREATEDB NOSUPERUSER;
CREATE DATABASE %[2]s OWNER %[1]s;`, role, db))
	// pg_trgm is a trusted extension: the database owner may create it.
	e.pg.Psql(t, db, "SET ROLE "+role+`;
CREATE EXTENSION pg_trgm;
CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
INSERT INTO notes (body) SELECT 'note ' || i FROM generate_series(1, 500) i;
CREATE INDEX notes_trgm ON notes USING gin (body gin_trgm_ops);
CREATE VIEW short_notes AS SELECT * FROM notes WHERE length(body) < 8;
CREATE SCHEMA app;
CREATE TABLE app.settings (k text PRIMARY KEY, v text);
INSERT INTO app.settings VALUES ('a', '1');`)
	wantCatalog := testenv.Catalog(t, e.pg, db)
	wantDigests := testenv.TableDigests(t, e.pg, db)
	for _, format := range []string{FormatCustom, FormatPlain} {
		t.Run(format, func(t *testing.T) {
			s := e.direct(t, db, "PGUSER", role, "BACKUP_PG_FORMAT", format)
			dump := mustBackupSmall(t, s)
			e.pg.Psql(t, db, "SET ROLE "+role+";"+afterBackupSQL+"INSERT INTO notes (body) VALUES ('after'); DELETE FROM app.settings;")
			changed := testenv.Catalog(t, e.pg, db)
			changedDigests := testenv.TableDigests(t, e.pg, db)

			// A stream cut short: everything stays as it was.
			data := dump.buf.Bytes()
			if err := restore(s, failingReader(data[:len(data)*3/4], errCut), ""); !errors.Is(err, errCut) {
				t.Fatalf("Restore of a cut stream = %v, want the stream's error", err)
			}
			assertCatalog(t, db+" after a failed restore", testenv.Catalog(t, e.pg, db), changed)
			assertDigests(t, db+" after a failed restore", testenv.TableDigests(t, e.pg, db), changedDigests)

			if err := restore(s, bytes.NewReader(data), ""); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			assertCatalog(t, db, testenv.Catalog(t, e.pg, db), wantCatalog)
			assertDigests(t, db, testenv.TableDigests(t, e.pg, db), wantDigests)
			if got := e.databasesLike(t, db+"_"); len(got) != 0 {
				t.Errorf("databases made by a role that may not: %v", got)
			}
		})
	}
}

func mustBackupSmall(t *testing.T, s *Source) *memStream {
	t.Helper()
	m, err := backup(t, s)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if m.buf.Len() == 0 {
		t.Fatal("empty dump")
	}
	return m
}
