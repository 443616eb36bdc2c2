// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// seedSQL builds a deterministic, TimeTiles-like schema: catalogs → datasets
// → events (PostGIS points, jsonb, arrays) → media, a sequence, a view, a
// trigger function and GiST/GIN/btree indexes, with unicode and awkward text.
const seedSQL = `
BEGIN;
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE catalogs (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL
);
INSERT INTO catalogs (name, created_at)
SELECT 'Catalog ' || i || (ARRAY[' — Zürich', ' 東京', ' São Paulo'])[1 + i % 3],
       timestamptz '2023-01-01 00:00:00+00' + i * interval '1 day 3 hours'
FROM generate_series(1, 5) AS i;

CREATE TABLE datasets (
  id serial PRIMARY KEY,
  catalog_id int NOT NULL REFERENCES catalogs (id),
  slug text NOT NULL UNIQUE,
  title text NOT NULL,
  is_public boolean NOT NULL,
  field_schema jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
INSERT INTO datasets (catalog_id, slug, title, is_public, field_schema, created_at, updated_at)
SELECT 1 + i % 5,
       'dataset-' || lpad(i::text, 3, '0'),
       format('Datensatz %s: Ereignisse „%s“', i, (ARRAY['Kultur', 'Verkehr', 'Wetter', 'Ñandú', '日本'])[1 + i % 5]),
       i % 4 <> 0,
       jsonb_build_object('fields', jsonb_build_array('title', 'date', 'lat', 'lon'), 'version', i % 3),
       timestamptz '2023-06-01 12:00:00+00' + i * interval '1 hour',
       timestamptz '2024-06-01 12:00:00+00' + i * interval '1 minute'
FROM generate_series(1, 50) AS i;

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER datasets_updated_at BEFORE UPDATE ON datasets
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE events (
  id bigserial PRIMARY KEY,
  dataset_id int NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  title text NOT NULL,
  happened_at timestamptz NOT NULL,
  location geometry(Point, 4326),
  payload jsonb NOT NULL,
  score numeric(10, 3),
  tags text[]
);
INSERT INTO events (dataset_id, title, happened_at, location, payload, score, tags)
SELECT 1 + i % 50,
       format('Event %s — %s', i, (ARRAY['Zürich café', '東京タワー', 'Ñandú sighting', 'Größe „Test“', 'fête 🎉 party'])[1 + i % 5]),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes 3 seconds',
       CASE WHEN i % 97 = 0 THEN NULL
            ELSE ST_SetSRID(ST_MakePoint(-180 + ((i * 7919) % 36000) / 100.0, -85 + ((i * 104729) % 17000) / 100.0), 4326) END,
       jsonb_build_object('seq', i, 'source', 'import-' || i % 7,
                          'labels', jsonb_build_array('a' || i % 3, 'b' || i % 11),
                          'note', E'line one\nline two\t"quoted" \\ backslash'),
       (i * 37 % 100000) / 1000.0,
       ARRAY['t' || i % 4, 'ü' || i % 2]
FROM generate_series(1, 5000) AS i;
CREATE INDEX events_location_gist ON events USING gist (location);
CREATE INDEX events_happened_at_idx ON events (happened_at);
CREATE INDEX events_payload_gin ON events USING gin (payload);
COMMENT ON TABLE events IS 'Zeitliche Ereignisse mit Ort';

CREATE TABLE media (
  id serial PRIMARY KEY,
  event_id bigint REFERENCES events (id) ON DELETE SET NULL,
  filename text NOT NULL,
  mime_type text NOT NULL,
  filesize int NOT NULL,
  checksum bytea NOT NULL
);
INSERT INTO media (event_id, filename, mime_type, filesize, checksum)
SELECT i * 23, format('Zürich café/photo %s.jpg', i), 'image/jpeg', i * 1031,
       sha256(convert_to('media-' || i, 'UTF8'))
FROM generate_series(1, 200) AS i;

CREATE TABLE payload_migrations (
  id serial PRIMARY KEY,
  name text NOT NULL,
  batch int NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO payload_migrations (name, batch, created_at)
SELECT format('2024%s_migration_%s', lpad(i::text, 4, '0'), i), 1 + i / 4,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 week'
FROM generate_series(1, 12) AS i;

CREATE SEQUENCE import_job_seq START 1000;
SELECT setval('import_job_seq', 1042);

CREATE VIEW dataset_event_counts AS
SELECT d.id, d.slug, count(e.id) AS events, ST_Extent(e.location)::text AS extent
FROM datasets d LEFT JOIN events e ON e.dataset_id = d.id
GROUP BY d.id, d.slug;
COMMIT;
ANALYZE;
`

// SeedTimeTiles creates the PostGIS extension and a deterministic TimeTiles-like
// schema with data in database db (which must exist and be empty): tables
// catalogs (5 rows), datasets (50), events (5000, with geometry and jsonb),
// media (200), payload_migrations (12); sequence import_job_seq; view
// dataset_event_counts; GiST/GIN/btree indexes; a trigger.
func SeedTimeTiles(t testing.TB, pg *Postgres, db string) {
	t.Helper()
	pg.Psql(t, db, seedSQL)
}

// digestSettings make COPY output independent of the server's and client's
// defaults, so digests from different clusters compare.
const digestSettings = `SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
SET extra_float_digits = 1; SET bytea_output = 'hex';
`

// TableDigests returns, for every ordinary table in schema public that is not
// part of an extension (so not PostGIS's spatial_ref_sys), "rows=N sha256=HEX"
// over its COPY text output with rows sorted (row order is not content). Each
// sequence in public is included as "sequence:NAME" → its last value (or
// "unset"). Compare two results with maps.Equal / reflect.DeepEqual.
func TableDigests(t testing.TB, pg *Postgres, db string) map[string]string {
	t.Helper()
	list := pg.Psql(t, db, `
SELECT concat_ws(E'\t', c.relkind, c.relname, format('%I', c.relname),
                 CASE c.relkind WHEN 'S' THEN coalesce(pg_sequence_last_value(c.oid)::text, 'unset') END)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S') AND c.relname <> 'spatial_ref_sys'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname`)
	digests := map[string]string{}
	if list == "" {
		return digests
	}
	for _, line := range strings.Split(list, "\n") {
		f := strings.Split(line, "\t") // kind, name, quoted name[, sequence value]
		if len(f) < 3 {
			t.Fatalf("testenv: unexpected catalog line %q", line)
		}
		if f[0] == "S" {
			digests["sequence:"+f[1]] = f[len(f)-1]
			continue
		}
		out, err := pg.psql(db, digestSettings+"COPY (SELECT * FROM "+f[2]+") TO STDOUT;\n")
		if err != nil {
			t.Fatalf("testenv: digest of %s.%s: %v", db, f[1], err)
		}
		rows := strings.Split(string(out), "\n")
		rows = rows[:len(rows)-1] // COPY ends every row with \n
		sort.Strings(rows)
		h := sha256.New()
		for _, r := range rows {
			h.Write([]byte(r))
			h.Write([]byte{'\n'})
		}
		digests[f[1]] = fmt.Sprintf("rows=%d sha256=%s", len(rows), hex.EncodeToString(h.Sum(nil)))
	}
	return digests
}
