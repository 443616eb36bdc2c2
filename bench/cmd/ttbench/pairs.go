// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/bench"
	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
)

type pair struct {
	id, measure string
	run         func(w *world) []row
}

var pairs = []pair{
	{"P1", "backup db ÷ restic --stdin-from-command -- pg_dump", p1},
	{"P2", "shell tool's way (pg_dump to a temp file, restic --stdin) ÷ ours", p2},
	{"P3", "transport only: synthetic source → host → discarding target", p3},
	{"P4", "peak RSS of host and each plugin, 4 GiB vs 1 GiB stream", p4},
	{"P5", "re-backup of an unchanged uploads tree ÷ native restic backup DIR", p5},
	{"P6", "backup db --offsite (local + S3 on loopback) ÷ the slower single-repo backup", p6},
	{"P7", "restore db ÷ restic dump | pg_restore", p7},
	{"P8", "plugin start-up: backup list minus restic's own time; four plugins launched", p8},
}

func ratioRow(id, measure string, a, b stats, ratio float64, target string, ok bool) row {
	return row{id: id, measure: measure, ours: a.String(), base: b.String(),
		value: fmt.Sprintf("%.3f (%+.2f s)", ratio, a.wall-b.wall), target: target, met: yes(ok)}
}

// versions returns an ours side for this build and, with -compare-bin, for
// the other version too (named after -compare-label).
func (w *world) versions(name string, opts bench.RunOptions, prep func(), env []string, args ...string) []side {
	mk := func(label, bin string) side {
		return side{name: label + ": " + name, opts: opts, prep: prep, cmd: func() *exec.Cmd { return w.cliIn(bin, env, args...) }}
	}
	out := []side{mk("ours", w.bin)}
	if w.cmpBin != "" {
		out = append(out, mk(*flagLabel, w.cmpBin))
	}
	return out
}

// versionRows adds the -compare-bin version's row beside ours.
func versionRows(rw row, res [][]bench.Sample, idx int, bytes int64, base stats, ratio func(v stats) float64, ok func(r float64) bool) []row {
	rows := []row{rw}
	if idx < len(res) && len(res[idx]) > 0 {
		v := statsOf(res[idx], bytes)
		r := ratio(v)
		b := rw
		b.measure += " — " + *flagLabel
		b.ours, b.value, b.met, b.note = v.String(), fmt.Sprintf("%.3f (%+.2f s)", r, v.wall-base.wall), yes(ok(r)), ""
		rows = append(rows, b)
	}
	return rows
}

func (w *world) pgDump() string { return filepath.Join(pgBin, "pg_dump") }

func p1(w *world) []row {
	native := side{name: "restic --stdin-from-command", cmd: func() *exec.Cmd {
		return w.resticCmd(w.repo, nil, "backup", "--host", "ttbench-native", "--tag", "native-db",
			"--stdin-filename", "timetiles.pgdump", "--stdin-from-command", "--", w.pgDump(), "-Fc", "-Z0", "-d", w.pg.DSN(w.db))
	}}
	res := w.measure(*flagReps, append([]side{native}, w.versions("backup db", bench.RunOptions{}, nil, nil, "backup", "db")...)...)
	a, b := statsOf(res[1], w.dumpBytes), statsOf(res[0], w.dumpBytes)
	r := a.wall / b.wall
	ok := func(r float64) bool { return r <= 1.03 }
	return versionRows(ratioRow("P1", "backup db ÷ restic --stdin-from-command pg_dump (unchanged DB, warm repo)", a, b, r, "≤ 1.03", ok(r)),
		res, 2, w.dumpBytes, b, func(v stats) float64 { return v.wall / b.wall }, ok)
}

func p2(w *world) []row {
	watch := bench.RunOptions{TempDir: w.tmp}
	shellWay := side{name: "shell: pg_dump > tmp; restic < tmp", opts: watch, cmd: func() *exec.Cmd {
		return w.shell(`f="$TMPDIR/timetiles-db.dump"; trap 'rm -f "$f"' EXIT
pg_dump -Fc -Z0 -d "$DSN" -f "$f"
restic backup --host ttbench-shell --tag native-db --stdin --stdin-filename timetiles.pgdump < "$f"`, "DSN="+w.pg.DSN(w.db))
	}}
	res := w.measure(*flagReps, append([]side{shellWay}, w.versions("backup db", watch, nil, nil, "backup", "db")...)...)
	a, b := statsOf(res[1], w.dumpBytes), statsOf(res[0], w.dumpBytes)
	peak := func(ss []bench.Sample) (n int64) {
		for _, s := range ss {
			n = max(n, s.TempPeak)
		}
		return n
	}
	oursTemp, shellTemp := peak(res[1]), peak(res[0])
	r := b.wall / a.wall
	rows := []row{{id: "P2", measure: "shell tool's way ÷ ours; peak bytes in TMPDIR", ours: fmt.Sprintf("%s; temp files %d B", a, oursTemp),
		base:  fmt.Sprintf("%s; temp files %.0f MiB", b, float64(shellTemp)/bench.MiB),
		value: fmt.Sprintf("%.3f (%+.2f s); ours %d temp bytes", r, b.wall-a.wall, oursTemp), target: "≥ 1.3, 0 temp bytes",
		met: yes(r >= 1.3 && oursTemp == 0)}}
	if len(res) > 2 {
		v := statsOf(res[2], w.dumpBytes)
		rv := b.wall / v.wall
		rows = append(rows, row{id: "P2", measure: "shell tool's way ÷ ours — " + *flagLabel, ours: fmt.Sprintf("%s; temp files %d B", v, peak(res[2])),
			base: rows[0].base, value: fmt.Sprintf("%.3f (%+.2f s)", rv, b.wall-v.wall), target: rows[0].target, met: yes(rv >= 1.3 && peak(res[2]) == 0)})
	}
	return rows
}

func parseSize(s string) int64 {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GIB", bench.GiB}, {"MIB", bench.MiB}, {"G", bench.GiB}, {"M", bench.MiB}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		log.Fatalf("bad size %q", s)
	}
	return int64(f * float64(mult))
}

func p3(w *world) []row {
	size := parseSize(*flagP3Size)
	ctx := context.Background()
	var rigs []*bench.TransportRig
	for _, p := range bench.Paths {
		rig, err := bench.StartTransport(ctx, w.bin, p, size)
		if err != nil {
			w.tb.Fatalf("P3 %s: %v", p.Name, err)
		}
		defer rig.Close()
		if err := rig.Stream(ctx); err != nil { // warm-up
			w.tb.Fatalf("P3 %s: %v", p.Name, err)
		}
		rigs = append(rigs, rig)
	}
	n := len(rigs) + 1 // + the raw pipe floor
	walls := make([][]time.Duration, n)
	cpus := make([][]time.Duration, n)
	usage := make([][]bench.Usage, n)
	if _, _, err := pipeFloor(size); err != nil {
		w.tb.Fatalf("P3 floor: %v", err)
	}
	for r := 0; r < *flagReps; r++ {
		for k := 0; k < n; k++ {
			i := (k + r) % n
			if i == len(rigs) {
				wall, cpu, err := pipeFloor(size)
				if err != nil {
					w.tb.Fatalf("P3 floor: %v", err)
				}
				walls[i], cpus[i] = append(walls[i], wall), append(cpus[i], cpu)
				continue
			}
			before := rigs[i].Sample()
			t0 := time.Now()
			if err := rigs[i].Stream(ctx); err != nil {
				w.tb.Fatalf("P3 %s: %v", rigs[i].Path.Name, err)
			}
			wall := time.Since(t0)
			u := rigs[i].Sample().Sub(before)
			walls[i], cpus[i], usage[i] = append(walls[i], wall), append(cpus[i], u.Total()), append(usage[i], u)
			log.Printf("  rep %d %-12s %6.0f MB/s  %.3f CPU-s/GiB", r+1, rigs[i].Path.Name, float64(size)/1e6/wall.Seconds(), bench.PerGiB(u.Total(), size))
		}
	}
	floor := durStats(walls[len(rigs)], cpus[len(rigs)], size)
	var rows []row
	for i, rig := range rigs {
		s := durStats(walls[i], cpus[i], size)
		var host, src, tgt []float64
		var hwmS, hwmT uint64
		for _, u := range usage[i] {
			host = append(host, bench.PerGiB(u.Host, size))
			src = append(src, bench.PerGiB(u.Source, size))
			tgt = append(tgt, bench.PerGiB(u.TargetCPU(), size))
			hwmS, hwmT = max(hwmS, u.SourceHWM), max(hwmT, u.TargetHWM)
		}
		rw := row{id: "P3", measure: "transport " + rig.Path.Name, ours: s.String(), base: "raw pipe: " + floor.String(),
			value: fmt.Sprintf("%.2f GB/s, %.2f CPU-s/GiB", s.mbps()/1000, s.cpuPerGiB()),
			note: fmt.Sprintf("%s: CPU-s/GiB host %.3f, source %.3f, target(s) %.3f; peak RSS source %.0f MiB, target %.0f MiB",
				rig.Path.Name, bench.Median(host), bench.Median(src), bench.Median(tgt), float64(hwmS)/bench.MiB, float64(hwmT)/bench.MiB)}
		if rig.Path.Name == "pipe" {
			rw.target = "≥ 1.5 GB/s, ≤ 0.5 CPU-s/GiB"
			rw.met = yes(s.mbps() >= 1500 && s.cpuPerGiB() <= 0.5)
		} else {
			rw.target = "(informational)"
		}
		rows = append(rows, rw)
	}
	return rows
}

// roleOf names the processes of a timetiles-backup run.
func roleOf(name string) string {
	switch {
	case name == "timetiles-backup":
		return "host"
	case strings.HasPrefix(name, plugin.BinaryPrefix+"source-"):
		return "source"
	case strings.HasPrefix(name, plugin.BinaryPrefix+"target-"):
		return "target"
	case strings.HasPrefix(name, plugin.BinaryPrefix+"notify-"):
		return "notifier"
	case name == "restic":
		return "restic"
	}
	return ""
}

func p4(w *world) []row {
	var sizes []int64
	for _, s := range strings.Split(*flagP4Sizes, ",") {
		sizes = append(sizes, parseSize(s))
	}
	paths := []struct {
		name string
		env  []string
		args []string
	}{
		{"pipe", nil, nil},
		{"pipe-fanout", nil, []string{"--offsite"}},
		{"grpc", []string{"TIMETILES_BACKUP_TRANSPORT=grpc"}, nil},
	}
	base := []string{"BACKUP_SOURCES=synthetic=source-synthetic", "BACKUP_TARGET=target-restic", "SYNTH_PATTERN=repeat",
		"RESTIC_REPOSITORY=" + filepath.Join(w.dir, "p4-local"), "RESTIC_OFFSITE_REPOSITORY=" + filepath.Join(w.dir, "p4-offsite")}
	roles := []string{"host", "source", "target", "restic"}
	var rows []row
	for _, p := range paths {
		peaks := make([]map[string]uint64, len(sizes))
		st := make([]stats, len(sizes))
		for i, size := range sizes {
			peaks[i] = map[string]uint64{}
			var samples []bench.Sample
			for r := 0; r < *flagP4Reps; r++ {
				env := append(append([]string{"SYNTH_SIZE=" + strconv.FormatInt(size, 10)}, base...), p.env...)
				sm, err := bench.Run(w.cli(env, append([]string{"backup"}, p.args...)...), bench.RunOptions{SampleEvery: 100 * time.Millisecond})
				if err != nil {
					w.tb.Fatalf("P4 %s %d: %v", p.name, size, err)
				}
				for k, v := range bench.Peaks(sm.Procs, roleOf) {
					peaks[i][k] = max(peaks[i][k], v)
				}
				samples = append(samples, sm)
				log.Printf("  %s %s: %.2f s, peaks %s", p.name, fmtSize(size), sm.Wall.Seconds(), fmtPeaks(peaks[i], roles))
			}
			st[i] = statsOf(samples, size)
		}
		last := len(sizes) - 1
		ok := true
		for _, role := range []string{"host", "source", "target"} {
			hi, lo := peaks[last][role], peaks[0][role]
			if hi > 64*bench.MiB || hi > lo+8*bench.MiB || hi == 0 {
				ok = false
			}
		}
		rows = append(rows, row{id: "P4", measure: "peak RSS, " + p.name,
			ours:   fmt.Sprintf("%s: %s (%s)", fmtSize(sizes[last]), fmtPeaks(peaks[last], roles), st[last]),
			base:   fmt.Sprintf("%s: %s (%s)", fmtSize(sizes[0]), fmtPeaks(peaks[0], roles), st[0]),
			value:  fmt.Sprintf("largest of host/source/target %.0f MiB", float64(max(peaks[last]["host"], peaks[last]["source"], peaks[last]["target"]))/bench.MiB),
			target: "≤ 64 MiB each, flat (+≤ 8 MiB)", met: yes(ok)})
	}
	return rows
}

func fmtSize(n int64) string {
	if n >= bench.GiB {
		return fmt.Sprintf("%.4g GiB", float64(n)/bench.GiB)
	}
	return fmt.Sprintf("%.4g MiB", float64(n)/bench.MiB)
}

func fmtPeaks(p map[string]uint64, roles []string) string {
	var parts []string
	for _, r := range roles {
		parts = append(parts, fmt.Sprintf("%s %.0f", r, float64(p[r])/bench.MiB))
	}
	return strings.Join(parts, " / ") + " MiB"
}

func p5(w *world) []row {
	native := side{name: "restic backup DIR", cmd: func() *exec.Cmd {
		return w.resticCmd(w.repo, nil, "backup", "--host", "ttbench-native", "--tag", "native-uploads", w.uploads)
	}}
	res := w.measure(*flagReps, append([]side{native}, w.versions("backup uploads", bench.RunOptions{}, nil, nil, "backup", "uploads")...)...)
	a, b := statsOf(res[1], w.uploadBytes), statsOf(res[0], w.uploadBytes)
	r := a.wall / b.wall
	ok := func(r float64) bool { return r <= 1.2 }
	return versionRows(ratioRow("P5", "backup uploads ÷ restic backup DIR, unchanged tree, with parent", a, b, r, "≤ 1.2", ok(r)),
		res, 2, w.uploadBytes, b, func(v stats) float64 { return v.wall / b.wall }, ok)
}

func (w *world) startS3() {
	gw := freePort(w.tb)
	data := filepath.Join(w.dir, "s3")
	w.s3Repo = startVersityGW(w.tb, data, gw)
	w.s3Env = []string{"AWS_ACCESS_KEY_ID=" + s3Key, "AWS_SECRET_ACCESS_KEY=" + s3Secret}
	w.vars["RESTIC_OFFSITE_REPOSITORY"] = w.s3Repo
	w.vars["AWS_ACCESS_KEY_ID"] = s3Key
	w.vars["AWS_SECRET_ACCESS_KEY"] = s3Secret
}

func p6(w *world) []row {
	// The local-only side has a repository of its own: runs it made in
	// the --offsite side's repository would be runs the offsite lacks,
	// and every --offsite run would then compare the repositories (the
	// catch-up check), which a nightly --offsite run does not.
	localRepo := filepath.Join(w.dir, "p6-local")
	if out, err := w.resticCmd(localRepo, nil, "init", "--repository-version", "2").CombinedOutput(); err != nil {
		w.tb.Fatalf("restic init: %v\n%s", err, out)
	}
	local := side{name: "ours: backup db (local)", cmd: func() *exec.Cmd { return w.cli([]string{"RESTIC_REPOSITORY=" + localRepo}, "backup", "db") }}
	s3 := side{name: "ours: backup db (S3 only)", cmd: func() *exec.Cmd { return w.cli([]string{"RESTIC_REPOSITORY=" + w.s3Repo}, "backup", "db") }}
	offs := w.versions("backup db --offsite", bench.RunOptions{}, nil, nil, "backup", "db", "--offsite")
	res := w.measure(*flagReps, append([]side{local, s3}, offs...)...)
	l, s, a := statsOf(res[0], w.dumpBytes), statsOf(res[1], w.dumpBytes), statsOf(res[2], w.dumpBytes)
	// Every --offsite run must have reached S3 (an offsite failure is only
	// a warning with exit code 0).
	if want := (len(offs) + 1) * (*flagReps + 1); w.countSnapshots(w.s3Repo, w.s3Env, "db") < want {
		w.tb.Fatalf("P6: the S3 repository holds fewer than %d db snapshots: offsite runs failed", want)
	}
	slower, which := l, "local"
	if s.wall > l.wall {
		slower, which = s, "S3"
	}
	r := a.wall / slower.wall
	ok := func(r float64) bool { return r <= 1.15 }
	rw := ratioRow("P6", "backup db --offsite ÷ slower single-repo backup ("+which+")", a, slower, r, "≤ 1.15", ok(r))
	rw.base = fmt.Sprintf("local %s; S3 %s", l, s)
	// Bytes one more nightly --offsite run uploads to S3.
	s3dir := filepath.Join(w.dir, "s3", "ttbench", "offsite")
	before := dirSize(s3dir)
	if out, err := w.cli(nil, "backup", "db", "--offsite").CombinedOutput(); err != nil {
		w.tb.Fatalf("P6: %v\n%s", err, out)
	}
	rw.note = fmt.Sprintf("S3 bytes uploaded by a nightly --offsite run: %s", fmtSize(dirSize(s3dir)-before))
	rows := versionRows(rw, res, 3, w.dumpBytes, slower, func(v stats) float64 { return v.wall / slower.wall }, ok)
	return append(rows, p6more(w)...)
}

func (w *world) countSnapshots(repo string, env []string, tag string) int {
	out, err := w.resticCmd(repo, env, "snapshots", "--json", "--no-lock", "--tag", tag).Output()
	if err != nil {
		w.tb.Fatalf("restic snapshots: %v", err)
	}
	var snaps []json.RawMessage
	if err := json.Unmarshal(out, &snaps); err != nil {
		w.tb.Fatalf("restic snapshots: %v", err)
	}
	return len(snaps)
}

// latestSnapshot is the newest snapshot carrying all tags.
func (w *world) latestSnapshot(tags string) string {
	out, err := w.resticCmd(w.repo, nil, "snapshots", "--json", "--no-lock", "--tag", tags).Output()
	if err != nil {
		w.tb.Fatalf("restic snapshots: %v", err)
	}
	var snaps []struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(out, &snaps); err != nil || len(snaps) == 0 {
		w.tb.Fatalf("no snapshot tagged %s (%v)", tags, err)
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.After(snaps[j].Time) })
	return snaps[0].ID
}

func p7(w *world) []row {
	// The newest db backup is the restore point of both sides.
	if _, err := bench.Run(w.cli(nil, "backup", "db"), bench.RunOptions{}); err != nil {
		w.tb.Fatalf("P7 backup: %v", err)
	}
	snap := w.latestSnapshot("timetiles-backup,db")
	const scratch = "restore_bench"
	prep := func() {
		w.pg.DropDB(w.tb, scratch)
		w.pg.CreateDB(w.tb, scratch)
	}
	native := side{name: "restic dump | pg_restore", prep: prep, cmd: func() *exec.Cmd {
		return w.shell(`restic dump --no-lock "$SNAP" /timetiles.pgdump | pg_restore -d "$DSN" -Fc --clean --if-exists --single-transaction --exit-on-error`,
			"SNAP="+snap, "DSN="+w.pg.DSN(scratch))
	}}
	res := w.measure(*flagReps, append([]side{native}, w.versions("restore db --to-database", bench.RunOptions{}, prep, nil,
		"restore", "latest", "--component", "db", "--to-database", scratch, "--yes")...)...)
	if got, want := w.pg.Psql(w.tb, scratch, "SELECT count(*) FROM pgbench_accounts"), strconv.Itoa(100000*w.scale); got != want {
		w.tb.Fatalf("P7: restored pgbench_accounts has %s rows, want %s", got, want)
	}
	a, b := statsOf(res[1], w.dumpBytes), statsOf(res[0], w.dumpBytes)
	r := a.wall / b.wall
	ok := func(r float64) bool { return r <= 1.05 }
	return versionRows(ratioRow("P7", "restore db ÷ restic dump | pg_restore", a, b, r, "≤ 1.05", ok(r)),
		res, 2, w.dumpBytes, b, func(v stats) float64 { return v.wall / b.wall }, ok)
}

func p8(w *world) []row {
	if w.countSnapshotsOK() == 0 {
		if _, err := bench.Run(w.cli(nil, "backup"), bench.RunOptions{}); err != nil {
			w.tb.Fatalf("P8 backup: %v", err)
		}
	}
	reps := max(*flagReps, 10)
	snaps := side{name: "restic snapshots --json", cmd: func() *exec.Cmd { return w.resticCmd(w.repo, nil, "snapshots", "--json") }}
	version := side{name: "restic version", cmd: func() *exec.Cmd { return w.resticCmd(w.repo, nil, "version") }}
	res := w.measure(reps, append([]side{snaps, version}, w.versions("backup list", bench.RunOptions{}, nil, nil, "backup", "list")...)...)
	b, v, a := statsOf(res[0], 0), statsOf(res[1], 0), statsOf(res[2], 0)
	d := a.wall - b.wall
	rows := []row{{id: "P8", measure: "backup list minus restic snapshots", ours: a.String(), base: b.String(),
		value: fmt.Sprintf("%+.0f ms", d*1000), target: "≤ 150 ms", met: yes(d <= 0.150),
		note: fmt.Sprintf("backup list runs restic twice (version at Configure, %.0f ms alone; snapshots); CPU %.3f s vs %.3f s", v.wall*1000, a.cpu, b.cpu)}}
	if len(res) > 3 {
		c := statsOf(res[3], 0)
		rows = append(rows, row{id: "P8", measure: "backup list minus restic snapshots — " + *flagLabel, ours: c.String(), base: b.String(),
			value: fmt.Sprintf("%+.0f ms", (c.wall-b.wall)*1000), target: "≤ 150 ms", met: yes(c.wall-b.wall <= 0.150)})
	}

	// Four plugins launched and configured in one process, as a backup
	// with its notifier does: the host's side of start-up.
	names := [][2]string{{"source-postgres", "db"}, {"source-volume", "uploads"}, {"target-restic", host.Local}, {"notify-alert", "alert"}}
	cfg := config.NewConfig(w.vars)
	per := map[string][]float64{}
	var totals []float64
	for r := 0; r < reps+1; r++ {
		runner := host.NewRunner(cfg, hclog.NewNullLogger(), w.bin)
		t0 := time.Now()
		for _, n := range names {
			t1 := time.Now()
			if _, err := runner.Start(context.Background(), n[0], n[1]); err != nil {
				w.tb.Fatalf("P8 start %s: %v", n[0], err)
			}
			if r > 0 {
				per[n[0]] = append(per[n[0]], time.Since(t1).Seconds())
			}
		}
		if r > 0 {
			totals = append(totals, time.Since(t0).Seconds())
		}
		runner.Close()
	}
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f ms", n[0], bench.Median(per[n[0]])*1000))
	}
	total := bench.Median(totals)
	// The same four at once, as Runner.Backup starts its sources while the
	// target starts.
	var together []float64
	for r := 0; r < reps; r++ {
		runner := host.NewRunner(cfg, hclog.NewNullLogger(), w.bin)
		runner.Candidates()
		t0 := time.Now()
		errs := make(chan error, len(names))
		for _, n := range names {
			go func() { _, err := runner.Start(context.Background(), n[0], n[1]); errs <- err }()
		}
		for range names {
			if err := <-errs; err != nil {
				w.tb.Fatalf("P8 start: %v", err)
			}
		}
		together = append(together, time.Since(t0).Seconds())
		runner.Close()
	}
	conc := bench.Median(together)
	rows = append(rows, row{id: "P8", measure: "launch + configure four plugins one after another, minus restic version",
		ours: fmt.Sprintf("%.0f ms (%s)", total*1000, strings.Join(parts, ", ")), base: fmt.Sprintf("restic version %.0f ms", v.wall*1000),
		value: fmt.Sprintf("%.0f ms", (total-v.wall)*1000), target: "≤ 150 ms", met: yes(total-v.wall <= 0.150)})
	rows = append(rows, row{id: "P8", measure: "launch + configure four plugins at once, minus restic version",
		ours: fmt.Sprintf("%.0f ms", conc*1000), base: fmt.Sprintf("restic version %.0f ms", v.wall*1000),
		value: fmt.Sprintf("%.0f ms", (conc-v.wall)*1000), target: "≤ 150 ms", met: yes(conc-v.wall <= 0.150)})
	return rows
}

func (w *world) countSnapshotsOK() int {
	out, err := w.resticCmd(w.repo, nil, "snapshots", "--json", "--no-lock").Output()
	if err != nil {
		return 0
	}
	var snaps []json.RawMessage
	_ = json.Unmarshal(out, &snaps)
	return len(snaps)
}
