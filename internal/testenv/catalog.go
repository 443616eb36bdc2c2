// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"strings"
	"testing"
)

// catalogSQL lists, one per line and sorted, what a database holds outside
// PostgreSQL's own schemas: schemas, extensions, relations (tables, views,
// sequences, indexes… with their kind), routines with their arguments,
// types, triggers, and the number of large objects. Objects belonging to an
// extension are left out (the extension line stands for them).
const catalogSQL = `WITH ext AS (
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
), ns AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp_|toast_temp_)'
)
SELECT line FROM (
  SELECT 'schema ' || nspname AS line FROM ns
  UNION ALL
  SELECT 'extension ' || extname FROM pg_extension
  UNION ALL
  SELECT 'relation ' || c.relkind::text || ' ' || ns.nspname || '.' || c.relname
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid)
    AND NOT (c.relkind = 'i' AND EXISTS (SELECT 1 FROM pg_index i JOIN ext ON ext.classid = 'pg_class'::regclass AND ext.objid = i.indrelid WHERE i.indexrelid = c.oid))
  UNION ALL
  SELECT 'routine ' || p.oid::regprocedure::text
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
  UNION ALL
  SELECT 'type ' || t.typtype::text || ' ' || ns.nspname || '.' || t.typname
  FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
  WHERE t.typtype IN ('d', 'e', 'r')
    AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_type'::regclass AND ext.objid = t.oid)
  UNION ALL
  SELECT 'trigger ' || tg.tgname || ' on ' || tg.tgrelid::regclass::text FROM pg_trigger tg WHERE NOT tg.tgisinternal
  UNION ALL
  SELECT 'large objects ' || count(*) FROM pg_largeobject_metadata
) x ORDER BY line`

// Catalog returns what database db holds (see catalogSQL), one entry per
// object, sorted: two databases with the same Catalog and TableDigests hold
// the same objects and rows.
func Catalog(t testing.TB, pg *Postgres, db string) []string {
	t.Helper()
	out := pg.Psql(t, db, catalogSQL)
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}
