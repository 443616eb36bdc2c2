// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// env is one operator's world for end-to-end tests: real binaries, a real
// restic, a throwaway PostgreSQL with PostGIS data, a real uploads tree.
type env struct {
	t        *testing.T
	bin      string
	dir      string
	repo     string
	password string
	pg       *testenv.Postgres
	uploads  string
	vars     map[string]string
	// envPath, when set, is where the env file is written (default
	// DIR/env.production); extraEnv is added to the process environment.
	envPath  string
	extraEnv []string
	// productInit makes the first backup create the local repository (a
	// test of that); otherwise the test creates it just before the first
	// plain backup (see prepareRepo).
	productInit bool
}

const pgBin = "/usr/lib/postgresql/15/bin"

func newEnv(t *testing.T, withDB bool) *env {
	t.Helper()
	e := &env{t: t, bin: testenv.BuildBinaries(t), dir: t.TempDir(), password: "e2e-Secret-" + strconv.Itoa(os.Getpid())}
	e.repo = filepath.Join(e.dir, "repo")
	e.uploads = filepath.Join(e.dir, "uploads")
	testenv.MakeUploadsTree(t, e.uploads)
	e.vars = map[string]string{
		"RESTIC_PASSWORD":   e.password,
		"RESTIC_REPOSITORY": e.repo,
		"BACKUP_RESTIC_BIN": testenv.Tool(t, "restic"),
		"UPLOAD_HOST_DIR":   e.uploads,
		"BACKUP_PG_BIN_DIR": pgBin,
		"BACKUP_ALERT_LOG":  filepath.Join(e.dir, "alerts.log"),
		"BACKUP_HOSTNAME":   "e2e-host",
		"BACKUP_STATE_DIR":  filepath.Join(e.dir, "state"), // run lock files
	}
	if withDB {
		e.pg = testenv.StartPostgres(t)
		e.pg.CreateDB(t, "timetiles")
		testenv.SeedTimeTiles(t, e.pg, "timetiles")
		e.vars["BACKUP_DATABASE_URL"] = e.pg.DSN("timetiles")
	}
	return e
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI with the env file written from e.vars; the process
// environment carries no secrets.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runCtx(context.Background(), nil, args...)
}

func (e *env) writeEnvFile() string {
	var b strings.Builder
	for k, v := range e.vars {
		fmt.Fprintf(&b, "%s=%q\n", k, v)
	}
	p := e.envPath
	if p == "" {
		p = filepath.Join(e.dir, "env.production")
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// outBuf collects a process's output; safe to read while it is written.
type outBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *outBuf) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

func (e *env) command(ctx context.Context, args ...string) (*exec.Cmd, *outBuf, *outBuf) {
	envFile := e.writeEnvFile()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "timetiles-backup"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir, "TIMETILES_ENV_FILE=" + envFile,
		"TIMETILES_BACKUP_PLUGIN_DIR=" + e.bin, "TMPDIR=" + os.TempDir()}
	cmd.Env = append(cmd.Env, e.extraEnv...)
	var stdout, stderr outBuf
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// running is a CLI process a test watches while it runs.
type running struct {
	pid    int
	stderr *outBuf
	exited chan struct{}
}

// gone reports whether the process has exited.
func (p *running) gone() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitStderr waits until the process's stderr matches re; the test fails
// if the process exits first.
func (p *running) waitStderr(t *testing.T, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	testenv.WaitForWhile(t, fmt.Sprintf("%q on stderr", re), func() bool { return rx.MatchString(p.stderr.String()) }, p.gone)
}

func (e *env) runCtx(ctx context.Context, during func(pid int), args ...string) result {
	e.t.Helper()
	var f func(*running)
	if during != nil {
		f = func(p *running) { during(p.pid) }
	}
	return e.runWatched(ctx, f, args...)
}

// runWatched runs the CLI like run, and calls during while it runs.
func (e *env) runWatched(ctx context.Context, during func(*running), args ...string) result {
	e.t.Helper()
	e.prepareRepo(args)
	cmd, stdout, stderr := e.command(ctx, args...)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &running{pid: cmd.Process.Pid, stderr: stderr, exited: make(chan struct{})}
	var err error
	go func() { err = cmd.Wait(); close(p.exited) }()
	if during != nil {
		func() {
			// A check in during that stops the test (t.Fatal) must not
			// leave the process behind.
			returned := false
			defer func() {
				if !returned {
					cmd.Process.Kill()
					e.t.Logf("$ timetiles-backup %s (killed: the test stopped)\n%s%s", strings.Join(args, " "), stdout, stderr)
				}
			}()
			during(p)
			returned = true
		}()
	}
	<-p.exited
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		e.t.Fatal(err)
	}
	if testing.Verbose() {
		e.t.Logf("$ timetiles-backup %s → %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return result{code, stdout.String(), stderr.String()}
}

// prepareRepo creates the local repository with testenv.NewRepo (a key
// restic opens without a costly key derivation) just before the first
// `backup` (of every component or some) of a test whose repository is a
// local path that does not exist yet, with the password of the env file.
// Only a backup: `backup list|prune|verify|auto` and a dry run are not.
// The product's backup then finds the repository as a second backup does;
// everything it runs is the real restic. Tests of the product creating the
// repository set productInit; tests of other commands on a missing
// repository run before any backup and are not affected.
func (e *env) prepareRepo(args []string) {
	e.t.Helper()
	if e.productInit || len(args) == 0 || args[0] != "backup" {
		return
	}
	if len(args) > 1 && contains([]string{"list", "prune", "verify", "auto"}, args[1]) {
		return // a subcommand, not a backup
	}
	if contains(args, "--dry-run") {
		return
	}
	repo, password := e.vars["RESTIC_REPOSITORY"], e.vars["RESTIC_PASSWORD"]
	if !filepath.IsAbs(repo) || password == "" {
		return
	}
	if _, err := os.Stat(repo); err == nil || !errors.Is(err, os.ErrNotExist) {
		return
	}
	testenv.NewRepo(e.t, repo, password)
}

func (e *env) restic() *restic.Repo {
	return &restic.Repo{Binary: e.vars["BACKUP_RESTIC_BIN"], Repository: e.repo, Password: e.password}
}

// snapshots lists the repository's snapshots with restic itself.
func (e *env) snapshots() []restic.Snapshot {
	e.t.Helper()
	if _, err := os.Stat(filepath.Join(e.repo, "config")); err != nil {
		return nil
	}
	s, err := e.restic().Snapshots(context.Background(), restic.SnapshotFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, true)
	wantDB := testenv.TableDigests(t, e.pg, "timetiles")
	wantUploads := filepath.Join(e.dir, "uploads-before")
	copyTree(t, e.uploads, wantUploads)

	r := e.run("backup")
	if r.code != 0 {
		t.Fatalf("backup exit %d\n%s", r.code, r.stderr)
	}
	snaps := e.snapshots()
	if len(snaps) != 3 { // db, uploads, manifest
		t.Fatalf("%d snapshots, want 3 (db, uploads, manifest)", len(snaps))
	}
	for _, s := range snaps {
		if s.Hostname != "e2e-host" || !contains(s.Tags, "timetiles-backup") {
			t.Errorf("snapshot %s: host %q tags %v", s.ShortID, s.Hostname, s.Tags)
		}
	}

	r = e.run("backup", "list", "--json")
	var runs []runJSON
	if r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 1 {
		t.Fatalf("backup list --json: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if !runs[0].Complete || runs[0].Components["db"] == "" || runs[0].Components["uploads"] == "" {
		t.Fatalf("run = %+v", runs[0])
	}

	// Damage production: rows, a table, files, modes, links.
	e.pg.Psql(t, "timetiles", "DELETE FROM events WHERE id % 3 = 0; UPDATE datasets SET title = 'broken'; CREATE TABLE junk(x int);")
	os.RemoveAll(filepath.Join(e.uploads, "2024"))
	os.WriteFile(filepath.Join(e.uploads, "new-junk.txt"), []byte("junk"), 0o644)

	r = e.run("restore", "latest", "--yes")
	if r.code != 0 {
		t.Fatalf("restore exit %d\n%s", r.code, r.stderr)
	}
	// The summary names the undo database the swap kept, which exists,
	// and how to drop it.
	undo := regexp.MustCompile(`db: undo database: the previous database timetiles is kept as (timetiles_before_restore_\d+) until the next successful backup drops it; to free its disk sooner: DROP DATABASE "(timetiles_before_restore_\d+)";`).FindStringSubmatch(r.stdout)
	if undo == nil || undo[1] != undo[2] {
		t.Errorf("the restore summary does not name the undo database and how to drop it:\n%s", r.stdout)
	} else if n := strings.TrimSpace(e.pg.Psql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+undo[1]+"'")); n != "1" {
		t.Errorf("the undo database %s named in the summary does not exist (%s)", undo[1], n)
	}
	got := testenv.TableDigests(t, e.pg, "timetiles")
	for k, v := range wantDB {
		if got[k] != v {
			t.Errorf("table %s differs after restore", k)
		}
	}
	testenv.CompareTrees(t, wantUploads, e.uploads)
}

func TestRestoreIntoScratchLeavesProductionAlone(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, true)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	want := testenv.TableDigests(t, e.pg, "timetiles")
	e.pg.Psql(t, "timetiles", "DELETE FROM events WHERE id < 100")
	changed := testenv.TableDigests(t, e.pg, "timetiles")
	scratch := filepath.Join(t.TempDir(), "scratch-uploads") // outside the env file's directory
	r := e.run("restore", "latest", "--yes", "--to-database", "inspect", "--to", scratch)
	if r.code != 0 {
		t.Fatalf("restore: %s", r.stderr)
	}
	if got := testenv.TableDigests(t, e.pg, "inspect"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scratch database differs from the backup")
	}
	if got := testenv.TableDigests(t, e.pg, "timetiles"); fmt.Sprint(got) != fmt.Sprint(changed) {
		t.Errorf("production database was touched")
	}
	testenv.CompareTrees(t, e.uploads, scratch)
}

func TestPgDumpKilledMidStreamLeavesNoSnapshot(t *testing.T) {
	e := newEnv(t, true)
	alerts := e.alertScript()
	if r := e.run("backup", "db"); r.code != 0 {
		t.Fatalf("baseline: %d %s", r.code, r.stderr)
	}
	before := e.snapshots()
	// A pg_dump that emits part of a real dump and is then SIGKILLed.
	wrap := filepath.Join(e.dir, "pgbin")
	os.Mkdir(wrap, 0o755)
	for _, n := range []string{"pg_restore", "psql"} {
		os.Symlink(filepath.Join(pgBin, n), filepath.Join(wrap, n))
	}
	script := "#!/bin/bash\n" + pgBin + "/pg_dump \"$@\" | head -c 200000\nkill -KILL $$\n"
	os.WriteFile(filepath.Join(wrap, "pg_dump"), []byte(script), 0o755)
	e.vars["BACKUP_PG_BIN_DIR"] = wrap
	r := e.run("backup", "db")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	// No partial snapshot, the earlier ones intact, check clean.
	e.assertRepo(e.restic(), before)
	assertAlert(t, alerts(), 1, "Backup Failed", "pg_dump")
	testenv.WaitNoLeftoverProcesses(t, 30*time.Second, leftoverNames...)
}

func TestSourceFailingHalfwayLeavesNoSnapshot(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	for _, transport := range []string{"", "grpc"} {
		t.Run("transport="+transport, func(t *testing.T) {
			e := newEnv(t, false)
			e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
			e.vars["SYNTH_SIZE"] = "16000000"
			e.vars["SYNTH_FAIL_AFTER"] = "8000000"
			e.vars["TIMETILES_BACKUP_TRANSPORT"] = transport
			r := e.run("backup")
			if r.code != 1 || !strings.Contains(r.stderr, "synthetic failure after 8000000 bytes") {
				t.Fatalf("exit %d, want 1 naming the source failure\n%s", r.code, r.stderr)
			}
			if n := len(e.snapshots()); n != 0 {
				t.Fatalf("%d snapshots, want 0", n)
			}
		})
	}
}

// findProcess returns the pid of a descendant of root whose command line
// contains name.
func findProcess(root int, name string) int {
	for _, pid := range testenv.ChildProcesses(root) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(b), name) {
			return pid
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, f)
}

// Each plugin SIGKILLed in the middle of its work: a source or the target
// mid-stream fails the run (exit 1, alerted) and stores nothing partial; the
// earlier snapshots stay and check clean; no child (restic, pg_dump, the
// alert script) survives its plugin. source-volume hands the directory to
// restic and is done (restic reads the files itself): killed after that,
// the run completes. notify-alert killed while delivering leaves the exit
// code and the error of the failed run as they were.
func TestPluginKilledMidStream(t *testing.T) {
	synthetic := func(e *env) (args []string, ready func(pid int) bool) {
		e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
		e.vars["SYNTH_SIZE"] = "2000000"
		if r := e.run("backup"); r.code != 0 {
			e.t.Fatalf("baseline: %d %s", r.code, r.stderr)
		}
		e.vars["SYNTH_SIZE"] = "64000000"
		e.vars["SYNTH_FAIL_AFTER"] = "4000000"
		e.vars["SYNTH_MODE"] = "hang" // half-way through, then the plugin is killed
		if r := e.run("backup", "uploads"); r.code != 2 {
			// "uploads" is not a component of this configuration.
			e.t.Fatalf("unknown component: exit %d, want 2", r.code)
		}
		return []string{"backup"}, func(pid int) bool {
			// Mid-stream: restic has read what the source sent before it
			// hung, and the source is still there.
			return findProcess(pid, "source-synthetic") != 0 && streamRead(pid) >= 4000000
		}
	}
	for _, tc := range []struct {
		victim   string
		db       bool
		setup    func(e *env) ([]string, func(pid int) bool)
		wantCode int
		added    int // snapshots the run adds
	}{
		{"timetiles-backup-source-synthetic", false, synthetic, 1, 0},
		{"timetiles-backup-target-restic", false, synthetic, 1, 0},
		{"timetiles-backup-source-postgres", true, func(e *env) ([]string, func(int) bool) {
			if r := e.run("backup", "db"); r.code != 0 {
				e.t.Fatalf("baseline: %d %s", r.code, r.stderr)
			}
			lockTable(e.t, e.pg, "timetiles", "events") // pg_dump runs, waiting for its locks
			return []string{"backup", "db"}, func(pid int) bool {
				return findProcess(pid, "pg_dump") != 0 && findProcess(pid, "restic") != 0
			}
		}, 1, 0},
		{"timetiles-backup-source-volume", false, func(e *env) ([]string, func(int) bool) {
			if r := e.run("backup", "uploads"); r.code != 0 {
				e.t.Fatalf("baseline: %d %s", r.code, r.stderr)
			}
			// A restic that takes its time over the directory: the source
			// is killed while restic still has to read it.
			slow := filepath.Join(e.dir, "restic-slow")
			os.WriteFile(slow, []byte("#!/bin/sh\ncase \" $* \" in *\" --stdin \"*) ;; *\" backup \"*) sleep 3 ;; esac\nexec "+e.vars["BACKUP_RESTIC_BIN"]+" \"$@\"\n"), 0o755)
			e.vars["BACKUP_RESTIC_BIN"] = slow
			return []string{"backup", "uploads"}, func(pid int) bool {
				return findProcess(pid, "sleep") != 0
			}
		}, 0, 2},
		{"timetiles-backup-notify-alert", false, func(e *env) ([]string, func(int) bool) {
			e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
			e.vars["SYNTH_FAIL_AFTER"] = "1000" // the run fails: an alert is due
			script := filepath.Join(e.dir, "slow-alert.sh")
			os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755)
			e.vars["TIMETILES_ALERT_SCRIPT"] = script
			return []string{"backup"}, func(pid int) bool {
				return findProcess(pid, "sleep") != 0
			}
		}, 1, 0},
	} {
		t.Run(tc.victim, func(t *testing.T) {
			e := newEnv(t, tc.db)
			alerts := e.alertScript()
			args, ready := tc.setup(e)
			before, alertsBefore := e.snapshots(), len(alerts())
			r := e.runCtx(context.Background(), func(pid int) {
				waitFor(t, "the plugin at work", func() bool { return ready(pid) })
				victimPID := findProcess(pid, tc.victim)
				if victimPID == 0 {
					t.Errorf("no %s process", tc.victim)
					return
				}
				syscall.Kill(victimPID, syscall.SIGKILL)
			}, args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.wantCode, r.stderr)
			}
			testenv.WaitNoLeftoverProcesses(t, 30*time.Second, append(leftoverNames, "sleep")...) // well before the alert script's sleep 60 would end
			switch {
			case tc.victim == "timetiles-backup-notify-alert":
				// The alert was lost with its plugin; the run's own error
				// stands and the notifier's failure is logged.
				if !strings.Contains(r.stderr, "synthetic failure after 1000 bytes") || !strings.Contains(r.stderr, "notifier failed") {
					t.Errorf("the original error or the notifier failure is missing:\n%s", r.stderr)
				}
				e.assertRepo(e.restic(), nil)
			case tc.added > 0:
				after := e.snapshots()
				if len(after) != len(before)+tc.added {
					t.Fatalf("%d snapshots, want %d", len(after), len(before)+tc.added)
				}
				e.assertRepo(e.restic(), after)
				if len(alerts()) != alertsBefore {
					t.Errorf("a completed run alerted: %+v", alerts())
				}
			default:
				e.assertRepo(e.restic(), before)
				assertAlert(t, alerts(), alertsBefore+1, "Backup Failed")
				// The error names the dead plugin, not gRPC's "EOF".
				if !strings.Contains(r.stderr, "plugin "+tc.victim+" exited unexpectedly") {
					t.Errorf("the error does not say that %s died:\n%s", tc.victim, r.stderr)
				}
				if tc.victim == "timetiles-backup-target-restic" {
					// The dead target is the cause, not the source the host
					// then stopped.
					if !strings.Contains(r.stderr, "Error: synthetic: target local") || strings.Contains(r.stderr, "Error: synthetic: source") {
						t.Errorf("the run's error is not the dead target:\n%s", r.stderr)
					}
				}
			}
		})
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"restore"}, 2, "stdin is not a terminal: pass `latest` or a run or snapshot ID"},
		{[]string{"backup", "--nonsense"}, 2, "flag provided but not defined"},
		{[]string{"backup", "list", "extra"}, 2, "takes no arguments"},
		{[]string{"frobnicate"}, 2, ""},
		{[]string{"restore", "latest"}, 2, "pass --yes"},
	} {
		r := e.run(tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr+r.stdout, tc.want) {
			t.Errorf("%v: exit %d (want %d), output %q does not contain %q", tc.args, r.code, tc.code, r.stderr, tc.want)
		}
	}
	delete(e.vars, "RESTIC_PASSWORD")
	r := e.run("backup", "uploads")
	if r.code != 2 || !strings.Contains(r.stderr, "RESTIC_PASSWORD is empty") {
		t.Errorf("missing password: exit %d, %s", r.code, r.stderr)
	}
}

func TestRestoreUnknownSnapshotListsAvailable(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	if r := e.run("backup", "uploads"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	alerts := e.alertScript()
	r := e.run("restore", "deadbeef", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "Available restore points") || !strings.Contains(r.stderr, "uploads=") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// The error names the selector, the repository and where restore
	// points are listed; a typo is no failure to alert on.
	for _, want := range []string{`no run or snapshot "deadbeef" in the local repository`, "`timetiles-backup backup list` shows"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if got := alerts(); len(got) != 0 {
		t.Errorf("a selector matching nothing alerted: %+v", got)
	}
}

// The secrets — the repository password, the offsite S3 secret key and the
// database password — appear in no process's argv while the tool runs
// (/proc/*/cmdline sampled every 20 ms), nor in its output or logs, nor in
// the alerts it sends, also when things fail.
func TestSecretsNeverInArgvOrOutput(t *testing.T) {
	e := newEnv(t, true)
	alerts := e.alertScript()
	dbSecret := "Db-Pa55-" + strconv.Itoa(os.Getpid())
	e.vars["BACKUP_DATABASE_URL"] = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/timetiles?sslmode=disable", dbSecret, e.pg.Port)
	g := testenv.StartVersityGW(t)
	g.CreateBucket(t, offsiteBucket, false)
	ak, sk := g.CreateUser(t, offsiteBucket, "secrets", testenv.S3FullAccess)
	e.useS3(g, "secrets", ak, sk)
	wrongSK := "Wrong-" + sk
	secrets := []string{e.password, dbSecret, sk, wrongSK}

	var outputs []string
	seen := map[string]bool{}
	sampled := 0
	run := func(want int, args ...string) {
		t.Helper()
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, c := range testenv.Cmdlines() {
					for _, sec := range secrets {
						if strings.Contains(c, sec) {
							seen[c] = true
						}
					}
				}
				sampled++
				time.Sleep(20 * time.Millisecond)
			}
		}()
		r := e.run(args...)
		close(stop)
		<-done
		if r.code != want {
			t.Fatalf("%v: exit %d, want %d\n%s", args, r.code, want, r.stderr)
		}
		outputs = append(outputs, r.stdout, r.stderr)
	}
	run(0, "backup", "--offsite", "--log-level", "debug")
	// Failures whose errors could carry a secret: a refused offsite key
	// (alerted as an offsite failure) and a database that does not exist.
	e.vars["AWS_SECRET_ACCESS_KEY"] = wrongSK
	run(0, "backup", "--offsite", "--log-level", "debug")
	e.vars["AWS_SECRET_ACCESS_KEY"] = sk
	e.vars["BACKUP_DATABASE_URL"] = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/nosuchdb?sslmode=disable", dbSecret, e.pg.Port)
	run(1, "backup", "db", "--log-level", "debug")
	run(0, "restore", "latest", "--yes", "--to-database", "scratch", "--offsite", "--log-level", "debug")

	for c := range seen {
		t.Errorf("a secret in a process's argv: %s", c)
	}
	got := alerts()
	if len(got) < 2 {
		t.Errorf("%d alerts, want the offsite and the backup failure at least", len(got))
	}
	logged, _ := os.ReadFile(e.vars["BACKUP_ALERT_LOG"])
	all := strings.Join(outputs, "\n") + fmt.Sprint(got) + string(logged)
	for _, sec := range secrets {
		if strings.Contains(all, sec) {
			t.Errorf("secret %.6s… in the output, logs or alerts", sec)
		}
	}
	t.Logf("%d samples of every process's argv; %d alerts checked", sampled, len(got))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
