package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	p := filepath.Join(e.dir, "env.production")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) command(ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	envFile := e.writeEnvFile()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "timetiles-backup"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir, "TIMETILES_ENV_FILE=" + envFile,
		"TIMETILES_BACKUP_PLUGIN_DIR=" + e.bin, "TMPDIR=" + os.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func (e *env) runCtx(ctx context.Context, during func(pid int), args ...string) result {
	e.t.Helper()
	cmd, stdout, stderr := e.command(ctx, args...)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	if during != nil {
		during(cmd.Process.Pid)
	}
	err := cmd.Wait()
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
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &runs) != nil || len(runs) != 1 {
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
	got := testenv.TableDigests(t, e.pg, "timetiles")
	for k, v := range wantDB {
		if got[k] != v {
			t.Errorf("table %s differs after restore", k)
		}
	}
	testenv.CompareTrees(t, wantUploads, e.uploads)
}

func TestRestoreIntoScratchLeavesProductionAlone(t *testing.T) {
	e := newEnv(t, true)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	want := testenv.TableDigests(t, e.pg, "timetiles")
	e.pg.Psql(t, "timetiles", "DELETE FROM events WHERE id < 100")
	changed := testenv.TableDigests(t, e.pg, "timetiles")
	scratch := filepath.Join(e.dir, "scratch-uploads")
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
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("%d snapshots after pg_dump was killed, want 0", n)
	}
	alerts, _ := os.ReadFile(e.vars["BACKUP_ALERT_LOG"])
	if !strings.Contains(string(alerts), "Backup Failed") {
		t.Errorf("no alert logged; alerts.log = %q", alerts)
	}
}

func TestSourceFailingHalfwayLeavesNoSnapshot(t *testing.T) {
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
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPluginKilledMidStream(t *testing.T) {
	for _, victim := range []string{"timetiles-backup-source-synthetic", "timetiles-backup-target-restic"} {
		t.Run(victim, func(t *testing.T) {
			e := newEnv(t, false)
			e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
			e.vars["SYNTH_SIZE"] = "64000000"
			e.vars["SYNTH_FAIL_AFTER"] = "4000000"
			e.vars["SYNTH_MODE"] = "hang" // half-way through, then the plugin is killed
			if r := e.run("backup", "uploads"); r.code != 2 {
				// "uploads" is not a component of this configuration.
				t.Fatalf("unknown component: exit %d, want 2", r.code)
			}
			var hostPID int
			r := e.runCtx(context.Background(), func(pid int) {
				hostPID = pid
				waitFor(t, "restic to run", func() bool { return findProcess(pid, "restic") != 0 && findProcess(pid, "source-synthetic") != 0 })
				time.Sleep(500 * time.Millisecond)
				victimPID := findProcess(pid, victim)
				if victimPID == 0 {
					t.Errorf("no %s process", victim)
					return
				}
				syscall.Kill(victimPID, syscall.SIGKILL)
			}, "backup")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
			}
			if n := len(e.snapshots()); n != 0 {
				t.Fatalf("%d snapshots, want 0", n)
			}
			_ = hostPID
			testenv.WaitNoLeftoverProcesses(t, 10*time.Second, "restic", "timetiles-backup")
		})
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
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
	e := newEnv(t, false)
	if r := e.run("backup", "uploads"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	r := e.run("restore", "deadbeef", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "Available restore points") || !strings.Contains(r.stderr, "uploads=") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestSecretsNeverInArgvOrOutput(t *testing.T) {
	e := newEnv(t, true)
	seen := map[string]bool{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, c := range testenv.Cmdlines() {
				if strings.Contains(c, e.password) {
					seen[c] = true
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	r := e.run("backup", "--log-level", "debug")
	close(stop)
	<-done
	if r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	for c := range seen {
		t.Errorf("password in a process's argv: %s", c)
	}
	if strings.Contains(r.stdout+r.stderr, e.password) {
		t.Errorf("password in the output")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
