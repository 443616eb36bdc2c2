// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

func TestHostKilledMidStreamTakesEverythingDown(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "64000000"
	e.vars["SYNTH_FAIL_AFTER"] = "4000000"
	e.vars["SYNTH_MODE"] = "hang"
	r := e.runCtx(context.Background(), func(pid int) {
		// Mid-stream: restic has read what the source sent before it hung.
		waitFor(t, "restic to read the stream", func() bool { return streamRead(pid) >= 4000000 })
		syscall.Kill(pid, syscall.SIGKILL)
	}, "backup")
	if r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want death by SIGKILL", r.code)
	}
	// Plugins get SIGTERM when the host dies (Pdeathsig) and stop restic
	// before exiting: nothing survives and nothing was committed.
	testenv.WaitNoLeftoverProcesses(t, 20*time.Second, "restic", "timetiles-backup")
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("%d snapshots after the host was killed, want 0", n)
	}
}

func TestLegacyShellToolSnapshotsRestore(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, true)
	want := testenv.TableDigests(t, e.pg, "timetiles")
	// What TimeTiles' shell tool stored: a plain SQL dump tagged db, and a
	// directory snapshot of the uploads tagged uploads.
	rp := e.restic()
	if _, err := rp.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	dump := exec.Command(pgBin+"/pg_dump", "--clean", "--if-exists", "-d", e.pg.DSN("timetiles"))
	restic := exec.Command(e.vars["BACKUP_RESTIC_BIN"], "backup", "--stdin", "--stdin-filename", "database.sql", "--tag", "db", "-q")
	restic.Env = []string{"RESTIC_REPOSITORY=" + e.repo, "RESTIC_PASSWORD=" + e.password, "HOME=" + e.dir}
	pipe, _ := dump.StdoutPipe()
	restic.Stdin = pipe
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := restic.CombinedOutput(); err != nil {
		t.Fatalf("legacy db snapshot: %v %s", err, out)
	}
	dump.Wait()
	up := exec.Command(e.vars["BACKUP_RESTIC_BIN"], "backup", "--tag", "uploads", "-q", e.uploads)
	up.Env = restic.Env
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("legacy uploads snapshot: %v %s", err, out)
	}
	r := e.run("backup", "list")
	if r.code != 0 || strings.Count(r.stdout, "legacy") != 2 {
		t.Fatalf("list: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The shell tool's runs are listed with short IDs like every snapshot
	// ID, and every time in UTC, saying so, as the run IDs are.
	legacyLine := regexp.MustCompile(`(?m)^[0-9a-f]{8} +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +\S+ +legacy `)
	if n := len(legacyLine.FindAllString(r.stdout, -1)); n != 2 {
		t.Errorf("%d legacy runs listed with a short ID and a UTC time, want 2:\n%s", n, r.stdout)
	}
	mustRun(t, e.run("backup", "uploads"), 0, "backup uploads")
	r = mustRun(t, e.run("backup", "list"), 0, "backup list")
	m := regexp.MustCompile(`(?m)^(\d{8})T(\d{6})Z-[0-9a-f]{4} +(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC `).FindStringSubmatch(r.stdout)
	if m == nil || m[1] != m[3]+m[4]+m[5] || m[2] != m[6]+m[7]+m[8] {
		t.Errorf("a run's listed time is not its run ID's (UTC): %q\n%s", m, r.stdout)
	}
	scratch := filepath.Join(t.TempDir(), "restored-uploads") // outside the env file's directory
	r = e.run("restore", "latest", "--yes", "--to-database", "from_legacy", "--to", scratch)
	if r.code != 0 {
		t.Fatalf("restore of legacy snapshots: %d\n%s", r.code, r.stderr)
	}
	got := testenv.TableDigests(t, e.pg, "from_legacy")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("table %s differs after restoring the shell tool's dump", k)
		}
	}
	testenv.CompareTrees(t, e.uploads, scratch)
}

func TestPluginsCommandAndDiscovery(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	r := e.run("plugins")
	if r.code != 0 {
		t.Fatalf("plugins: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"source-postgres", "source-volume", "target-restic", "notify-alert"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plugins output lacks %s:\n%s", want, r.stdout)
		}
	}
	// An incompatible plugin in a directory searched earlier is skipped with
	// the reason, and shadows nothing compatible silently.
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main
import ("context";"io";"github.com/timetiles/timetiles-backup/sdk")
type s struct{}
func (s) Info() sdk.Info { return sdk.Info{Name: "source-future", Version: "9.0.0", APIVersions: []uint32{7}} }
func (s) Configure(context.Context, sdk.Config) error { return nil }
func (s) Backup(context.Context, sdk.BackupRequest, sdk.BackupStream) error { return nil }
func (s) Restore(context.Context, sdk.RestoreRequest, io.Reader) error { return nil }
func main() { sdk.ServeSource(s{}) }
`), 0o644)
	pdir := filepath.Join(dir, "plugins")
	os.Mkdir(pdir, 0o755)
	build := exec.Command("go", "build", "-o", filepath.Join(pdir, "timetiles-backup-source-future"), src)
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	// Used by this configuration, so `plugins` starts it (it runs no other).
	e.vars["BACKUP_SOURCES"] = "db=source-postgres,uploads=source-volume,future=source-future"
	r = e.run("plugins", "--plugin-dir", pdir)
	if r.code != 1 {
		t.Fatalf("plugins with an incompatible one: exit %d, want 1", r.code)
	}
	line := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "source-future") {
			line = l
		}
	}
	if !strings.Contains(line, "skipped") || !strings.Contains(line, "[7]") || !strings.Contains(line, pdir) {
		t.Fatalf("incompatible plugin line = %q\n%s", line, r.stdout)
	}
	if !strings.Contains(r.stdout, "target-restic") {
		t.Fatalf("bundled plugins no longer found next to the executable:\n%s", r.stdout)
	}
}

// TestVersionAndPluginsAgree: the CLI and every bundled plugin carry the
// version of the checkout they were built from (scripts/version.sh, built in
// by testenv as by make and scripts/package.sh).
func TestVersionAndPluginsAgree(t *testing.T) {
	e := newEnv(t, false)
	want := testenv.Version()
	r := e.run("version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "timetiles-backup "+want+" ") {
		t.Fatalf("version: %d %q, want timetiles-backup %s", r.code, r.stdout, want)
	}
	r = e.run("plugins")
	if r.code != 0 {
		t.Fatalf("plugins: %d %s", r.code, r.stderr)
	}
	for _, p := range []string{"source-postgres", "source-volume", "target-restic", "notify-alert"} {
		re := regexp.MustCompile(`(?m)^` + p + ` +\w+ +(\S+) `)
		m := re.FindStringSubmatch(r.stdout)
		if m == nil || m[1] != want {
			t.Errorf("plugin %s reports %v, the CLI %s:\n%s", p, m, want, r.stdout)
		}
	}
	t.Logf("version %s", want)
}
