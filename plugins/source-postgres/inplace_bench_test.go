// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

var benchScale = flag.Int("pgbench-scale", 10, "pgbench -i scale of BenchmarkInPlaceRestore's database (10 = 1,000,000 rows, ~150 MiB)")

// BenchmarkInPlaceRestore measures, side by side in one run on the same
// dump, an in-place database restore the way it was done before (one
// `pg_restore --clean --if-exists --single-transaction` into the live
// database) and the way it is done now (restore into a staging database,
// swap by renaming; the previous database kept as the undo database), in
// alternating order, and reports the medians, their ratio and the disk
// the new way keeps (the undo database) until the next backup:
//
//	go test -run '^$' -bench InPlaceRestore -benchtime 1x ./plugins/source-postgres/ [-args -pgbench-scale 10]
func BenchmarkInPlaceRestore(b *testing.B) {
	pg := testenv.StartPostgres(b)
	const db = "bench"
	pg.CreateDB(b, db)
	testenv.SeedTimeTiles(b, pg, db)
	cmd := fmt.Sprintf("%s/pgbench", pg.BinDir)
	if out, err := exec.Command(cmd, "-i", "-q", "-s", strconv.Itoa(*benchScale), "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", "postgres", db).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v %s", err, out)
	}
	vals := map[string]string{"PGHOST": "127.0.0.1", "PGPORT": strconv.Itoa(pg.Port), "PGUSER": "postgres", "PGDATABASE": db, "BACKUP_PG_BIN_DIR": pg.BinDir}
	s := &Source{}
	if err := s.Configure(context.Background(), sdk.Config{Values: vals, APIVersion: sdk.APIVersion}); err != nil {
		b.Fatal(err)
	}
	dump := &memStream{}
	if err := s.Backup(context.Background(), sdk.BackupRequest{Component: "db"}, dump); err != nil {
		b.Fatal(err)
	}
	dbSize := pg.Psql(b, "postgres", "SELECT pg_database_size('bench')")
	want := testenv.TableDigests(b, pg, db)
	damage := "DELETE FROM pgbench_accounts WHERE aid % 100 = 0; CREATE TABLE IF NOT EXISTS after_backup AS SELECT 1 AS x;"

	old := func() error {
		args := append(s.connArgs(db), "-Fc", "--clean", "--if-exists", "--single-transaction", "--exit-on-error")
		return s.feed(context.Background(), "pg_restore", args, bytes.NewReader(dump.buf.Bytes()), "", "", nil, nil)
	}
	cur := func() error { return restore(s, bytes.NewReader(dump.buf.Bytes()), "") }
	var olds, news []time.Duration
	var undo string
	for i := 0; i < max(b.N, 3); i++ {
		sides := []struct {
			name string
			f    func() error
			out  *[]time.Duration
		}{{"before", old, &olds}, {"now", cur, &news}}
		if i%2 == 1 {
			slices.Reverse(sides)
		}
		for _, side := range sides {
			pg.Psql(b, db, damage)
			// The new way's undo database goes with the next backup; here
			// it is dropped so that every repetition starts alike.
			for _, n := range databasesNamed(b, pg, "bench_before_restore_") {
				pg.DropDB(b, n)
			}
			pg.Psql(b, "postgres", "CHECKPOINT")
			start := time.Now()
			if err := side.f(); err != nil {
				b.Fatalf("%s: %v", side.name, err)
			}
			*side.out = append(*side.out, time.Since(start))
			if side.name == "now" {
				undo = pg.Psql(b, "postgres", "SELECT coalesce(string_agg(pg_size_pretty(pg_database_size(datname)), ','), '') FROM pg_database WHERE starts_with(datname, 'bench_before_restore_')")
			}
		}
	}
	if got := testenv.TableDigests(b, pg, db); fmt.Sprint(got) != fmt.Sprint(want) {
		b.Fatalf("the restored database differs from the dump")
	}
	mo, mn := median(olds), median(news)
	b.ReportMetric(mo.Seconds(), "before-s")
	b.ReportMetric(mn.Seconds(), "now-s")
	b.ReportMetric(mn.Seconds()/mo.Seconds(), "now/before")
	size, _ := strconv.ParseFloat(dbSize, 64)
	b.ReportMetric(size/(1<<20), "db-MiB")
	b.Logf("in-place restore of a %.0f MiB database (dump %d MiB), medians of %d: before %.2f s, now %.2f s, ratio %.3f; undo database kept: %s",
		size/(1<<20), dump.buf.Len()>>20, len(olds), mo.Seconds(), mn.Seconds(), mn.Seconds()/mo.Seconds(), undo)
}

func databasesNamed(b *testing.B, pg *testenv.Postgres, prefix string) []string {
	out := pg.Psql(b, "postgres", fmt.Sprintf("SELECT datname FROM pg_database WHERE starts_with(datname, '%s')", prefix))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
