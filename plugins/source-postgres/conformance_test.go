// SPDX-License-Identifier: Apache-2.0

package main

import (
	"maps"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

// The built plugin passes the third-party conformance kit against a
// throwaway PostgreSQL with TimeTiles-like PostGIS data: pg_dump streams are
// well-framed, a missing database fails in the trailer, cancelling stops
// pg_dump, and restores bring the damaged database back (and leave it
// alone when aborted).
func TestConformance(t *testing.T) {
	bin := conformance.Build(t, ".", "source-postgres")
	pg := testenv.StartPostgres(t)
	pg.CreateDB(t, "timetiles")
	testenv.SeedTimeTiles(t, pg, "timetiles")
	want := testenv.TableDigests(t, pg, "timetiles")
	config := func(db string) map[string]string {
		return map[string]string{"BACKUP_DATABASE_URL": pg.DSN(db), "BACKUP_PG_BIN_DIR": pg.BinDir}
	}
	conformance.RunSource(t, conformance.SourceFixture{
		Binary:        bin,
		Config:        func(*testing.T) map[string]string { return config("timetiles") },
		FailingConfig: func(*testing.T) map[string]string { return config("no_such_database") },
		Children:      []string{"pg_dump"},
		Disturb:       func(t *testing.T) { pg.Psql(t, "timetiles", damageSQL) },
		CheckRestored: func(t *testing.T, _ sdk.RestoreRequest) {
			if got := testenv.TableDigests(t, pg, "timetiles"); !maps.Equal(got, want) {
				t.Errorf("the database after the restore differs from the backup:\n got %v\nwant %v", got, want)
			}
		},
	})
}
