package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// The dataset, scaled by -scale (the pgbench scale factor): at 50 about a
// 1 GiB dump (pgbench's 5M accounts plus 4M PostGIS events) and an uploads
// tree of 10,000 files, about 1 GiB.

// geoRowsPerScale makes the PostGIS table about as large as pgbench's.
const geoRowsPerScale = 80_000

// geoSQL is a TimeTiles-like events table: points with a GiST index.
const geoSQL = `
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  dataset_id int NOT NULL,
  happened_at timestamptz NOT NULL,
  location geometry(Point, 4326),
  title text NOT NULL
);
INSERT INTO events (dataset_id, happened_at, location, title)
SELECT 1 + i % 50,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 seconds',
       ST_SetSRID(ST_MakePoint(-180 + ((i * 7919) % 36000) / 100.0, -85 + ((i * 104729) % 17000) / 100.0), 4326),
       'Event ' || i
FROM generate_series(1::bigint, ROWS) AS i;
CREATE INDEX events_location_gist ON events USING gist (location);
CREATE INDEX events_happened_at_idx ON events (happened_at);
ANALYZE;
CHECKPOINT;
`

// makeDatabase fills database db with pgbench tables and the events table.
func makeDatabase(tb *runTB, pg *testenv.Postgres, db string, scale int) {
	start := time.Now()
	pg.CreateDB(tb, db)
	cmd := exec.Command(filepath.Join(pg.BinDir, "pgbench"), "-i", "-q", "-s", strconv.Itoa(scale), db)
	cmd.Env = append(os.Environ(), pg.Env(db)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	pg.Psql(tb, db, strings.Replace(geoSQL, "ROWS", strconv.Itoa(geoRowsPerScale*scale), 1))
	tb.Logf("database %s: pgbench -s %d + %d PostGIS events in %s", db, scale, geoRowsPerScale*scale, time.Since(start).Round(time.Second))
}

// uploadSize spreads file sizes like a media folder: 70 % small (1–32 KiB),
// 25 % medium (64–256 KiB), 5 % large (0.5–1.5 MiB); about 103 KiB mean.
func uploadSize(i int, r *rand.Rand) int {
	switch {
	case i%20 == 0:
		return 512<<10 + r.IntN(1<<20)
	case i%4 == 1:
		return 64<<10 + r.IntN(192<<10)
	default:
		return 1<<10 + r.IntN(31<<10)
	}
}

// makeUploads writes 200×scale files of incompressible bytes (photos) in
// directories of 100, and returns the total size. A finished tree is
// marked and reused by later runs with the same scale.
func makeUploads(dir string, scale int) (int64, error) {
	mark := dir + ".ttbench-complete" // beside the tree, not in it
	if b, err := os.ReadFile(mark); err == nil {
		var s int
		var n int64
		if _, err := fmt.Sscanf(string(b), "%d %d", &s, &n); err == nil && s == scale {
			return n, nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return 0, err
	}
	os.Remove(mark)
	files := 200 * scale
	sizes := rand.New(rand.NewPCG(7, 11))
	var total int64
	buf := make([]byte, 2<<20)
	for i := 0; i < files; i++ {
		d := filepath.Join(dir, "media", fmt.Sprintf("%04d", 2020+i/2400), fmt.Sprintf("%02d", 1+i/100%24))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return 0, err
			}
		}
		n := uploadSize(i, sizes)
		var seed [32]byte
		binaryPut(seed[:], uint64(i))
		if _, err := io.ReadFull(rand.NewChaCha8(seed), buf[:n]); err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("upload-%06d.jpg", i)), buf[:n], 0o644); err != nil {
			return 0, err
		}
		total += int64(n)
	}
	return total, os.WriteFile(mark, []byte(fmt.Sprintf("%d %d", scale, total)), 0o644)
}

func binaryPut(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
