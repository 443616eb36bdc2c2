// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/timetiles/timetiles-backup/sdk"
)

// A restore --to-database writes beside production, never over anything
// unasked: the production database (same server — the plugin knows only
// the one it is configured for — and same name, direct or container mode)
// is refused with a pointer to the in-place form, as are the maintenance
// and template databases; an existing database that holds anything is
// refused unless the operator passed --replace-database, which drops it and
// restores it anew.

// userObjectsSQL counts what a database holds beyond an empty one: tables,
// views, sequences, indexes, functions, schemas and extensions (plpgsql
// comes with every database).
const userObjectsSQL = `SELECT
 (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%')
 + (SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
 + (SELECT count(*) FROM pg_catalog.pg_namespace
   WHERE nspname NOT IN ('public', 'pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp%')
 + (SELECT count(*) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql');
`

// checkRestoreTarget decides whether a restore may write into database db
// (req.ToDatabase). With replace, an existing non-empty db is dropped here
// (the restore then creates it anew).
func (s *Source) checkRestoreTarget(ctx context.Context, db string, replace bool) error {
	switch db {
	case s.database:
		where := ""
		if s.container != "" {
			where = " in container " + s.container
		}
		return fmt.Errorf("--to-database %s is the production database (the one backed up%s): --to-database restores beside production into another database; "+
			"to restore production in place (with confirmation, hooks and a safety backup) leave --to-database out: timetiles-backup restore RUN-ID --component db: %w",
			db, where, sdk.ErrInvalidConfig)
	case maintenanceDB, "template0", "template1":
		return fmt.Errorf("--to-database %s is a PostgreSQL system database: choose another name, e.g. --to-database timetiles_restore: %w", db, sdk.ErrInvalidConfig)
	}
	out, err := s.psqlOn(ctx, maintenanceDB, `SELECT count(*) FROM pg_catalog.pg_database WHERE datname = :'db';`+"\n", "db="+db)
	if err != nil {
		return fmt.Errorf("checking whether database %s exists: %w", db, err)
	}
	if strings.TrimSpace(out) == "0" {
		return nil // created by the restore
	}
	out, err = s.psqlOn(ctx, db, userObjectsSQL)
	if err != nil {
		return fmt.Errorf("checking whether database %s is empty: %w", db, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	if n == 0 {
		return nil
	}
	if !replace {
		return fmt.Errorf("--to-database %s exists and is not empty (%d objects): it is left as it is; restore into a new name (e.g. --to-database %s_restore), drop it first, or pass --replace-database to replace it: %w",
			db, n, db, sdk.ErrInvalidConfig)
	}
	sdk.Logger.Warn("replacing the existing database (--replace-database)", "database", db, "objects", n)
	if _, err := s.psqlOn(ctx, maintenanceDB, `DROP DATABASE :"db" WITH (FORCE);`+"\n", "db="+db); err != nil {
		return fmt.Errorf("dropping database %s to replace it (--replace-database): %w", db, err)
	}
	return nil
}
