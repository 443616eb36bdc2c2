// SPDX-License-Identifier: Apache-2.0

// Command ttbench measures timetiles-backup against what it replaces and
// against restic alone, side by side, on a realistic dataset it builds
// itself: the targets P1–P8 of docs/performance.md.
//
//	go run ./bench/cmd/ttbench                 # full size (~1 GiB dump, ~1 GiB uploads), 5 reps
//	go run ./bench/cmd/ttbench -scale 5 -reps 5 -pairs P1,P3
//
// (bench/run.sh wraps it.) Every pair runs interleaved — the order rotates
// each repetition — after one untimed warm-up of each side, and the report
// gives medians, their ratio, and CPU-seconds per GiB (user+sys of every
// process of the side: host, plugins, restic, pg_dump; not the PostgreSQL
// server or the S3 server, which serve both sides alike) beside every
// throughput figure.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/timetiles/timetiles-backup/bench"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

var (
	flagScale   = flag.Int("scale", 50, "dataset scale: pgbench scale factor; 50 ≈ 1 GiB dump and 10,000 upload files ≈ 1 GiB")
	flagReps    = flag.Int("reps", 5, "timed repetitions of every side (after one warm-up)")
	flagPairs   = flag.String("pairs", "P1,P2,P3,P4,P5,P6,P7,P8", "pairs to run")
	flagWork    = flag.String("work", "", "work directory (repositories, uploads tree; default: a new one under /tmp, removed at exit); an uploads tree there is reused")
	flagOut     = flag.String("out", "", "also write the report (markdown) to this file")
	flagP3Size  = flag.String("p3-size", "1GiB", "bytes per transport run (P3)")
	flagP4Sizes = flag.String("p4-sizes", "1GiB,4GiB", "stream sizes compared for peak memory (P4)")
	flagP4Reps  = flag.Int("p4-reps", 2, "runs per size and path (P4)")
	flagCompare = flag.String("compare-bin", "", "directory with the CLI and plugins of another version (bench/run.sh --compare REV builds one): its runs join P1, P2, P5–P8 as a third side, for before/after figures from one interleaved run")
	flagLabel   = flag.String("compare-label", "before", "name of the -compare-bin version in the report")
)

func main() {
	if role := os.Getenv(pipeRoleEnv); role != "" {
		pipeChild(role) // the raw pipe floor of P3 re-executes this program
		return
	}
	flag.Parse()
	log.SetFlags(log.Ltime)
	tb := &runTB{}
	code := 0
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		log.Print("interrupted: cleaning up")
		tb.cleanup()
		os.Exit(130)
	}()
	func() {
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(fatal)
				if !ok {
					tb.cleanup()
					panic(r)
				}
				log.Printf("FATAL: %s", f.msg)
				code = 1
			}
		}()
		run(tb)
	}()
	tb.cleanup()
	os.Exit(code)
}

func run(tb *runTB) {
	want := map[string]bool{}
	for _, p := range strings.Split(*flagPairs, ",") {
		want[strings.ToUpper(strings.TrimSpace(p))] = true
	}
	rep := &report{started: time.Now(), args: os.Args[1:]}
	rep.machine = machine()
	log.Printf("machine: %s", rep.machine)
	w := setup(tb, want)
	rep.dataset = w.describe()
	log.Printf("dataset: %s", rep.dataset)
	for _, p := range pairs {
		if !want[p.id] {
			continue
		}
		log.Printf("== %s: %s", p.id, p.measure)
		start := time.Now()
		rows := p.run(w)
		rep.rows = append(rep.rows, rows...)
		for _, r := range rows {
			log.Printf("%s %s: ours %s | baseline %s | %s (target %s) %s", r.id, r.measure, r.ours, r.base, r.value, r.target, r.verdict())
		}
		log.Printf("== %s done in %s", p.id, time.Since(start).Round(time.Second))
	}
	rep.finished = time.Now()
	rep.loadEnd = loadAvg()
	md := rep.markdown()
	fmt.Println(md)
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(md), 0o644); err != nil {
			tb.Fatalf("%v", err)
		}
	}
}

// world is everything the pairs run against.
type world struct {
	tb          *runTB
	root        string // repository checkout
	bin         string // the CLI, the plugins and the test plugins
	dir         string // work directory
	home        string // HOME of every command: one restic cache for both sides
	tmp         string // TMPDIR of every command, watched for P2
	restic      string
	repo        string
	password    string
	pg          *testenv.Postgres
	db          string
	uploads     string
	uploadBytes int64
	dumpBytes   int64
	vars        map[string]string // the env file
	envFile     string
	s3Repo      string
	s3Env       []string
	scale       int
	cmpBin      string // -compare-bin
}

const pgBin = "/usr/lib/postgresql/15/bin"

func setup(tb *runTB, want map[string]bool) *world {
	w := &world{tb: tb, root: testenv.RepoRoot(), password: "ttbench-password", scale: *flagScale, db: "timetiles"}
	w.dir = *flagWork
	if w.dir == "" {
		w.dir = tb.TempDir()
	}
	for _, d := range []string{"home", "tmp"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o700); err != nil {
			tb.Fatalf("%v", err)
		}
	}
	w.home, w.tmp = filepath.Join(w.dir, "home"), filepath.Join(w.dir, "tmp")
	w.repo = filepath.Join(w.dir, "repo")
	for _, d := range []string{w.repo, filepath.Join(w.dir, "p4-local"), filepath.Join(w.dir, "p4-offsite")} {
		os.RemoveAll(d) // every run starts from empty repositories
	}
	log.Print("building binaries and pinned tools")
	w.bin = testenv.BuildBinaries(tb)
	tb.Cleanup(func() { os.RemoveAll(w.bin) })
	w.cmpBin = *flagCompare
	w.restic = testenv.Tool(tb, "restic")
	w.vars = map[string]string{
		"RESTIC_PASSWORD":   w.password,
		"RESTIC_REPOSITORY": w.repo,
		"BACKUP_RESTIC_BIN": w.restic,
		"BACKUP_PG_BIN_DIR": pgBin,
		"BACKUP_HOSTNAME":   "ttbench",
		"BACKUP_ALERT_LOG":  filepath.Join(w.dir, "alerts.log"),
	}
	needDB := want["P1"] || want["P2"] || want["P6"] || want["P7"] || want["P8"]
	if needDB {
		log.Print("starting PostgreSQL and building the database")
		w.pg = testenv.StartPostgres(tb)
		makeDatabase(tb, w.pg, w.db, w.scale)
		w.vars["BACKUP_DATABASE_URL"] = w.pg.DSN(w.db)
		w.dumpBytes = w.measureDump()
	}
	if want["P5"] || want["P8"] || want["P6"] {
		log.Print("building the uploads tree")
		w.uploads = filepath.Join(w.dir, "uploads")
		n, err := makeUploads(w.uploads, w.scale)
		if err != nil {
			tb.Fatalf("uploads tree: %v", err)
		}
		w.uploadBytes = n
		w.vars["UPLOAD_HOST_DIR"] = w.uploads
	}
	if want["P6"] {
		w.startS3()
	}
	w.writeEnvFile()
	// Both sides of every pair find the repository existing.
	if out, err := w.resticCmd(w.repo, nil, "init", "--repository-version", "2").CombinedOutput(); err != nil {
		tb.Fatalf("restic init: %v\n%s", err, out)
	}
	return w
}

func (w *world) describe() string {
	s := fmt.Sprintf("scale %d", w.scale)
	if w.dumpBytes > 0 {
		s += fmt.Sprintf("; pg_dump -Fc -Z0 = %.0f MiB (pgbench -s %d + %d PostGIS rows)", float64(w.dumpBytes)/bench.MiB, w.scale, geoRowsPerScale*w.scale)
	}
	if w.uploadBytes > 0 {
		s += fmt.Sprintf("; uploads %d files, %.0f MiB", 200*w.scale, float64(w.uploadBytes)/bench.MiB)
	}
	return s
}

func (w *world) writeEnvFile() {
	var b strings.Builder
	for k, v := range w.vars {
		fmt.Fprintf(&b, "%s=%q\n", k, v)
	}
	w.envFile = filepath.Join(w.dir, "env.production")
	if err := os.WriteFile(w.envFile, []byte(b.String()), 0o600); err != nil {
		w.tb.Fatalf("%v", err)
	}
}

// measureDump runs pg_dump once to learn the dump's size.
func (w *world) measureDump() int64 {
	cmd := exec.Command(filepath.Join(pgBin, "pg_dump"), "-Fc", "-Z0", "-d", w.pg.DSN(w.db))
	out, err := cmd.StdoutPipe()
	if err != nil {
		w.tb.Fatalf("%v", err)
	}
	if err := cmd.Start(); err != nil {
		w.tb.Fatalf("%v", err)
	}
	n, _ := io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		w.tb.Fatalf("pg_dump: %v", err)
	}
	return n
}

// cli is the timetiles-backup command as an operator runs it: the env file
// holds the configuration; the environment holds only what a shell has.
func (w *world) cli(env []string, args ...string) *exec.Cmd { return w.cliIn(w.bin, env, args...) }

// cliIn runs the CLI (and its plugins) found in bin.
func (w *world) cliIn(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bin, "timetiles-backup"), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.home, "TMPDIR=" + w.tmp,
		"TIMETILES_ENV_FILE=" + w.envFile, "TIMETILES_BACKUP_PLUGIN_DIR=" + bin}, env...)
	return cmd
}

// resticCmd runs restic alone on repo.
func (w *world) resticCmd(repo string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(w.restic, args...)
	cmd.Env = append([]string{"PATH=" + pgBin + ":" + os.Getenv("PATH"), "HOME=" + w.home, "TMPDIR=" + w.tmp,
		"RESTIC_PASSWORD=" + w.password, "RESTIC_REPOSITORY=" + repo}, env...)
	return cmd
}

// shell runs a bash script with the same environment as resticCmd.
func (w *world) shell(script string, env ...string) *exec.Cmd {
	cmd := exec.Command("bash", "-o", "pipefail", "-ec", script)
	cmd.Env = append([]string{"PATH=" + pgBin + ":" + filepath.Dir(w.restic) + ":" + os.Getenv("PATH"), "HOME=" + w.home,
		"TMPDIR=" + w.tmp, "RESTIC_PASSWORD=" + w.password, "RESTIC_REPOSITORY=" + w.repo}, env...)
	return cmd
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			var kb int64
			fmt.Sscan(f[1], &kb)
			mem = fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d CPUs (%s), %s, Linux %s, %s, load average at start %s",
		runtime.NumCPU(), model, mem, strings.TrimSpace(string(kernel)), runtime.Version(), loadAvg())
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

var _ = context.Background
