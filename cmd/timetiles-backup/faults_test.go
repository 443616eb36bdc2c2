// SPDX-License-Identifier: Apache-2.0

package main

// Fault injection with real processes. Every case asserts what the operator
// relies on: the exit code, the repository (no partial snapshot, earlier
// snapshots intact, `restic check` clean), the alert a real channel
// received (the alert script, an SMTP server, an HTTP endpoint), and that
// no child process survives. Cases that predate this file live in
// e2e_test.go (pg_dump killed, plugins SIGKILLed, secrets) and were
// extended there with the same assertions.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// faultEnv is newEnv with the recording alert script.
func faultEnv(t *testing.T, withDB bool) (*env, func() []recordedAlert) {
	t.Helper()
	e := newEnv(t, withDB)
	return e, e.alertScript()
}

// leftoverNames are the processes a run starts; none may outlive it.
var leftoverNames = []string{"restic", "timetiles-backup", "pg_dump", "pg_restore"}

func snapshotIDs(s []restic.Snapshot) []string {
	var ids []string
	for _, x := range s {
		ids = append(ids, x.ID)
	}
	slices.Sort(ids)
	return ids
}

// assertRepo checks that the repository holds exactly the snapshots want
// (nothing partial added, nothing lost) and that `restic check` is clean.
// It checks without a lock: a run killed mid-stream may leave a dead
// restic lock behind, handled by the next run (see TestFaultHostSIGTERM).
func (e *env) assertRepo(repo *restic.Repo, want []restic.Snapshot) {
	e.t.Helper()
	ctx := context.Background()
	got, err := repo.Snapshots(ctx, restic.SnapshotFilter{})
	if err != nil {
		e.t.Fatalf("listing snapshots of %s: %v", repo.Repository, err)
	}
	if !slices.Equal(snapshotIDs(got), snapshotIDs(want)) {
		e.t.Errorf("%s holds snapshots %v, want exactly the earlier %v", repo.Repository, snapshotIDs(got), snapshotIDs(want))
	}
	if err := repo.CheckWith(ctx, restic.CheckOptions{NoLock: true}); err != nil {
		e.t.Errorf("restic check of %s: %v", repo.Repository, err)
	}
}

// assertAlert checks that the newest received alert has the subject and
// mentions every text, and that there are want alerts in all.
func assertAlert(t *testing.T, got []recordedAlert, want int, subject string, texts ...string) {
	t.Helper()
	if len(got) != want {
		t.Errorf("%d alerts received, want %d: %+v", len(got), want, got)
		if len(got) == 0 {
			return
		}
	}
	a := got[len(got)-1]
	if !strings.Contains(a.Subject, subject) {
		t.Errorf("alert subject %q, want %q", a.Subject, subject)
	}
	for _, x := range texts {
		if !strings.Contains(a.Body, x) {
			t.Errorf("alert body lacks %q:\n%s", x, a.Body)
		}
	}
}

// lockTable holds an ACCESS EXCLUSIVE lock on a table in an open
// transaction, so that pg_dump (which locks every table first) waits: a
// real pg_dump that is running but produces nothing yet. The session ends
// when the test does, or when release is called.
func lockTable(t *testing.T, pg *testenv.Postgres, db, table string) (release func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, testenv.PsqlPath(), "-X", "-q", "-d", pg.DSN(db), "-c",
		// The server notices the client is gone only with a check interval.
		"SET client_connection_check_interval = 100; BEGIN; LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	release = func() { cancel(); _ = cmd.Wait() }
	t.Cleanup(release)
	waitFor(t, "the table lock", func() bool {
		out, _ := exec.Command(testenv.PsqlPath(), "-X", "-qAt", "-d", pg.DSN(db), "-c",
			"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '"+table+"' AND l.mode = 'AccessExclusiveLock' AND l.granted").Output()
		return strings.TrimSpace(string(out)) == "1"
	})
	return release
}

// SIGTERM to the CLI in the middle of a backup with a real pg_dump and
// restic running: both are gone within seconds, nothing is committed,
// exit 130, the interruption is alerted, and nothing locked stays behind —
// the run lock is free at once, and the dead restic lock the killed stdin
// backup leaves (restic ≥ 0.17 only stops reading stdin when killed) is
// removed by the next run.
func TestFaultHostSIGTERMMidBackup(t *testing.T) {
	e, alerts := faultEnv(t, true)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("baseline backup: %d %s", r.code, r.stderr)
	}
	before := e.snapshots()
	release := lockTable(t, e.pg, "timetiles", "events")

	var signalled time.Time
	var hostPID int
	r := e.runCtx(context.Background(), func(pid int) {
		hostPID = pid
		waitFor(t, "pg_dump and restic to run", func() bool {
			return findProcess(pid, "pg_dump") != 0 && findProcess(pid, "restic") != 0
		})
		// restic has locked the repository: a killed stdin backup leaves
		// that lock behind.
		waitFor(t, "restic's repository lock", func() bool {
			ents, _ := os.ReadDir(filepath.Join(e.repo, "locks"))
			return len(ents) > 0
		})
		signalled = time.Now()
		syscall.Kill(pid, syscall.SIGTERM)
	}, "backup")
	exited := time.Since(signalled)
	if r.code != ExitInterrupted {
		t.Fatalf("exit %d after SIGTERM, want 130\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Interrupted: nothing was committed") {
		t.Errorf("stderr does not say nothing was committed:\n%s", r.stderr)
	}
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
	t.Logf("SIGTERM → exit in %v; every child gone within %v of the signal", exited.Round(time.Millisecond), time.Since(signalled).Round(time.Millisecond))
	if exited > 15*time.Second {
		t.Errorf("the CLI took %v to exit after SIGTERM", exited)
	}
	e.assertRepo(e.restic(), before)
	assertAlert(t, alerts(), 1, "Backup Failed", "interrupted by a signal", "nothing of this run was committed")

	// The run lock went with the process.
	lockFile := host.NewRunner(config.NewConfig(map[string]string{config.EnvStateDir: e.vars[config.EnvStateDir], "RESTIC_REPOSITORY": e.repo}), nil, "").LockPath()
	if b, _ := os.ReadFile(lockFile); strings.Contains(string(b), strconv.Itoa(hostPID)) {
		t.Errorf("the lock file still names the interrupted run: %s", b)
	}
	// restic's own lock of the killed backup, if any, is ours and dead (its
	// process may take a moment to be reaped on a loaded machine).
	hostname, _ := os.Hostname()
	var locks []restic.LockInfo
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		locks, err = e.restic().Locks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, l := range locks {
			if !l.DeadOnHost(hostname) {
				live++
				if time.Now().After(deadline) {
					t.Errorf("a live or foreign restic lock after the run: %+v", l)
				}
			}
		}
		if live == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%d dead restic lock(s) left by the killed backup", len(locks))

	// The next run takes the lock and removes the dead restic lock.
	release()
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup after the interrupted one: %d %s", r.code, r.stderr)
	}
	if locks, err := e.restic().Locks(context.Background()); err != nil || len(locks) != 0 {
		t.Errorf("restic locks after the next run: %+v %v", locks, err)
	}
	if n := len(e.snapshots()); n != len(before)+3 {
		t.Errorf("%d snapshots after the next run, want %d", n, len(before)+3)
	}
}

var pidRE = regexp.MustCompile(`pid (\d+)`)

// A second run while one holds the lock fails at once, naming the holder;
// it alerts once per holder, not on every retry. Restore, verify and prune
// are refused the same way. When the holder is SIGKILLed, its lock is taken
// over.
func TestFaultSecondConcurrentRun(t *testing.T) {
	e, alerts := faultEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "2000000"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("baseline: %d %s", r.code, r.stderr)
	}
	before := e.snapshots()

	// The holder: a backup that hangs half-way.
	e.vars["SYNTH_SIZE"], e.vars["SYNTH_FAIL_AFTER"], e.vars["SYNTH_MODE"] = "64000000", "4000000", "hang"
	holder, _, _ := e.command(context.Background(), "backup")
	startedMin := time.Now()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	holderDone := make(chan struct{})
	go func() { _ = holder.Wait(); close(holderDone) }()
	t.Cleanup(func() { holder.Process.Kill(); <-holderDone })
	waitFor(t, "the holder's restic", func() bool { return findProcess(holder.Process.Pid, "restic") != 0 })
	startedMax := time.Now()

	delete(e.vars, "SYNTH_FAIL_AFTER")
	delete(e.vars, "SYNTH_MODE")
	e.vars["SYNTH_SIZE"] = "2000000"
	t0 := time.Now()
	r := e.run("backup")
	took := time.Since(t0)
	if r.code != 1 {
		t.Fatalf("second run: exit %d, want 1\n%s", r.code, r.stderr)
	}
	m := pidRE.FindStringSubmatch(r.stderr)
	startedOK := false
	for at := startedMin.Truncate(time.Second); !at.After(startedMax); at = at.Add(time.Second) {
		startedOK = startedOK || strings.Contains(r.stderr, "started "+at.Local().Format("2006-01-02 15:04:05"))
	}
	if m == nil || m[1] != strconv.Itoa(holder.Process.Pid) || !startedOK || !strings.Contains(r.stderr, "another timetiles-backup run holds the lock") {
		t.Errorf("the refusal does not name the holder (pid %d, started %s–%s):\n%s", holder.Process.Pid, startedMin.Format("15:04:05"), startedMax.Format("15:04:05"), r.stderr)
	}
	// A run that waited for the lock would wait until the holder ends
	// (never: it hangs) or restic's 2-minute lock retry: a minute tells
	// failing fast from waiting even on a loaded machine (5 s did not).
	if took > time.Minute {
		t.Errorf("the second run took %v to give up, want fail-fast", took)
	}
	assertAlert(t, alerts(), 1, "Backup Failed", "another timetiles-backup run holds the lock", "pid "+strconv.Itoa(holder.Process.Pid))
	// A retry (an hourly cron job) does not alert again for the same holder.
	if r := e.run("backup"); r.code != 1 || len(alerts()) != 1 {
		t.Errorf("retry: exit %d, %d alerts (want 1: no storm)", r.code, len(alerts()))
	}
	for _, args := range [][]string{{"restore", "latest", "--yes"}, {"backup", "verify"}, {"backup", "prune"}} {
		if r := e.run(args...); r.code != 1 || !strings.Contains(r.stderr, "pid "+strconv.Itoa(holder.Process.Pid)) {
			t.Errorf("%v while a backup runs: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	e.assertRepo(e.restic(), before)

	// SIGKILL the holder: no cleanup of its own, its lock file still names
	// it, yet the lock is free (the kernel released it).
	holder.Process.Kill()
	<-holderDone
	testenv.WaitNoLeftoverProcesses(t, 15*time.Second, leftoverNames...)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup after the holder was SIGKILLed: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(e.snapshots()); n != len(before)+2 {
		t.Errorf("%d snapshots, want %d (the earlier run and the new one)", n, len(before)+2)
	}
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
}

// A wrong password: exit 1 with the variable to fix, "Backup Failed"
// delivered to an HTTP endpoint (webhook), nothing written, the password
// nowhere in the output or the alert.
func TestFaultWrongPassword(t *testing.T) {
	e, alerts := faultEnv(t, false)
	hook := startWebhook(t)
	e.vars["BACKUP_ALERT_WEBHOOK_URL"] = hook.URL + "/alert"
	if r := e.run("backup", "uploads"); r.code != 0 {
		t.Fatalf("baseline: %d %s", r.code, r.stderr)
	}
	before := e.snapshots()
	e.vars["RESTIC_PASSWORD"] = "Wrong-Pass-31337"
	r := e.run("backup", "uploads")
	if r.code != 1 || !strings.Contains(r.stderr, "RESTIC_PASSWORD does not open "+e.repo+": set the password this repository was created with") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	assertAlert(t, alerts(), 1, "Backup Failed", "RESTIC_PASSWORD does not open")
	got := hook.received()
	if len(got) != 1 || !strings.Contains(fmt.Sprint(got[0]["text"]), "Backup Failed") || !strings.Contains(fmt.Sprint(got[0]), "RESTIC_PASSWORD does not open") {
		t.Errorf("webhook received %v", got)
	}
	if all := r.stdout + r.stderr + fmt.Sprint(got) + fmt.Sprint(alerts()); strings.Contains(all, "Wrong-Pass-31337") || strings.Contains(all, e.password) {
		t.Errorf("a password leaked into the output or an alert")
	}
	e.assertRepo(e.restic(), before)
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
}

// No repository where RESTIC_REPOSITORY points: list and restore say so and
// what to do; a restore alerts. A corrupted repository (its config
// overwritten): the backup fails and alerts; once repaired, the earlier
// snapshots are all there and check is clean.
func TestFaultMissingAndCorruptedRepository(t *testing.T) {
	e, alerts := faultEnv(t, false)
	want := "no repository at " + e.repo + ": run `timetiles-backup backup` (creates it) or check RESTIC_REPOSITORY"
	if r := e.run("backup", "list"); r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("list without a repository: exit %d\n%s", r.code, r.stderr)
	}
	r := e.run("restore", "latest", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("restore without a repository: exit %d\n%s", r.code, r.stderr)
	}
	assertAlert(t, alerts(), 1, "Restore Failed", want)
	if _, err := os.Stat(e.repo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("list or restore created the repository: %v", err)
	}

	if r := e.run("backup", "uploads"); r.code != 0 {
		t.Fatalf("first backup: %d %s", r.code, r.stderr)
	}
	before := e.snapshots()
	cfg := filepath.Join(e.repo, "config")
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(good)
	for i := 40; i < len(bad) && i < 80; i++ {
		bad[i] ^= 0xff
	}
	os.Chmod(cfg, 0o600)
	if err := os.WriteFile(cfg, bad, 0o400); err != nil {
		t.Fatal(err)
	}
	r = e.run("backup", "uploads")
	if r.code != 1 || !strings.Contains(r.stderr, "repository "+e.repo+" is damaged") {
		t.Errorf("backup into a corrupted repository: exit %d\n%s", r.code, r.stderr)
	}
	assertAlert(t, alerts(), 2, "Backup Failed", "is damaged")
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
	os.Chmod(cfg, 0o600)
	if err := os.WriteFile(cfg, good, 0o400); err != nil {
		t.Fatal(err)
	}
	e.assertRepo(e.restic(), before)
}

// The disk holding the repository fills up during a backup (a real 8 MiB
// tmpfs): exit 1, alert, the earlier snapshot intact and check clean.
func TestFaultDiskFull(t *testing.T) {
	e, alerts := faultEnv(t, false)
	mnt := filepath.Join(e.dir, "small-disk")
	os.Mkdir(mnt, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a size-limited tmpfs here (needs root and CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	e.repo = filepath.Join(mnt, "repo")
	e.vars["RESTIC_REPOSITORY"] = e.repo
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "1000000"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("baseline: %d %s", r.code, r.stderr)
	}
	before := e.snapshots()
	// Random bytes, 25× the disk: restic fails long before the end of the
	// stream, and the source must not stay blocked on the pipe.
	e.vars["SYNTH_SIZE"] = "200000000"
	start := time.Now()
	r := e.run("backup")
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("backup onto a full disk: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("the full disk failed the run after %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(r.stderr, "the disk holding "+e.repo+" is full") {
		t.Errorf("the message does not name the full disk:\n%s", r.stderr)
	}
	assertAlert(t, alerts(), 1, "Backup Failed", "no space left on device")
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
	e.assertRepo(e.restic(), before)
}

// pg_restore fails half-way through a real restore: the database is left
// exactly as it was before the restore (one transaction), exit 1, "Restore
// Failed" alerted.
func TestFaultRestoreFailsHalfwayLeavesDatabase(t *testing.T) {
	e, alerts := faultEnv(t, true)
	r := e.run("backup", "db", "--json")
	if r.code != 0 {
		t.Fatalf("backup: %d %s", r.code, r.stderr)
	}
	size := 0
	if m := regexp.MustCompile(`"bytes": (\d+)`).FindStringSubmatch(r.stdout); m != nil {
		size, _ = strconv.Atoi(m[1])
	}
	if size < 10000 {
		t.Fatalf("dump size %d from %s", size, r.stdout)
	}
	before := e.snapshots()
	// The state to keep: production after some damage.
	e.pg.Psql(t, "timetiles", "DELETE FROM events WHERE id % 4 = 0; UPDATE datasets SET title = 'edited after the backup'")
	want := testenv.TableDigests(t, e.pg, "timetiles")

	// pg_restore that gets only the first half of the dump: it runs the
	// statements it has (drops, creates, some data) and then fails.
	wrap := filepath.Join(e.dir, "pgbin")
	os.Mkdir(wrap, 0o755)
	for _, n := range []string{"pg_dump", "psql"} {
		os.Symlink(filepath.Join(pgBin, n), filepath.Join(wrap, n))
	}
	os.WriteFile(filepath.Join(wrap, "pg_restore"), []byte(fmt.Sprintf("#!/bin/bash\nhead -c %d | %s/pg_restore \"$@\"\n", size/2, pgBin)), 0o755)
	e.vars["BACKUP_PG_BIN_DIR"] = wrap

	r = e.run("restore", "latest", "--yes", "--component", "db")
	if r.code != 1 {
		t.Fatalf("restore with a failing pg_restore: exit %d\n%s", r.code, r.stderr)
	}
	if got := testenv.TableDigests(t, e.pg, "timetiles"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the failed restore changed the database:\n got %v\nwant %v", got, want)
	}
	assertAlert(t, alerts(), 1, "Restore Failed", "db")
	// The restore took a safety backup of the database first (a complete
	// run tagged safety); everything else is as before.
	var safety []restic.Snapshot
	for _, s := range e.snapshots() {
		if slices.Contains(s.Tags, runs.SafetyTag) {
			safety = append(safety, s)
		}
	}
	if len(safety) != 2 {
		t.Errorf("%d safety-backup snapshots, want 2 (db and manifest)", len(safety))
	}
	e.assertRepo(e.restic(), append(before, safety...))
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
}

// The offsite server fails in the middle of the upload (rest-server's quota
// answers 507 once the first pack is in): the local run is complete, the
// command warns and exits 0, "Offsite Backup Failed" arrives by email
// (a real SMTP server), the offsite repository keeps its earlier snapshots
// and checks clean.
func TestFaultOffsiteFailsMidUpload(t *testing.T) {
	e, alerts := faultEnv(t, false)
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	e.vars["EMAIL_SMTP_HOST"], e.vars["EMAIL_SMTP_PORT"], e.vars["EMAIL_SMTP_TLS"] = smtp.Host, smtp.Port, "none"
	e.vars["EMAIL_FROM"], e.vars["ALERT_EMAIL"] = "backup@tt.example.org", "ops@tt.example.org"
	dir := filepath.Join(e.dir, "offsite-data")
	os.Mkdir(dir, 0o700)
	port := freeTCPPort(t)
	srv := exec.Command(testenv.Tool(t, "rest-server"), "--listen", "127.0.0.1:"+port, "--path", dir, "--no-auth", "--max-size", "8000000")
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	offURL := "rest:http://127.0.0.1:" + port + "/repo"
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = offURL
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "3000000"
	waitFor(t, "rest-server", func() bool { return exec.Command("bash", "-c", "echo > /dev/tcp/127.0.0.1/"+port).Run() == nil })
	if r := e.run("backup", "--offsite"); r.code != 0 {
		t.Fatalf("baseline: %d %s", r.code, r.stderr)
	}
	off := &restic.Repo{Binary: e.vars["BACKUP_RESTIC_BIN"], Repository: offURL, Password: e.password}
	offBefore, err := off.Snapshots(context.Background(), restic.SnapshotFilter{})
	if err != nil || len(offBefore) != 2 {
		t.Fatalf("offsite after the baseline: %d snapshots, %v", len(offBefore), err)
	}
	localBefore := e.snapshots()

	// Over the offsite quota: restic fails at its first 16 MiB pack, long
	// before the end of the stream; the local side must go on at once.
	e.vars["SYNTH_SIZE"] = "150000000"
	e.vars["BACKUP_OFFSITE_STALL_TIMEOUT"] = "10m" // the stall timeout must not be what ends it
	start := time.Now()
	r := e.run("backup", "--offsite")
	t.Logf("backup with the offsite failing mid-upload took %v", time.Since(start).Round(time.Millisecond))
	if r.code != 0 || !strings.Contains(r.stderr, "offsite backup failed; the local backup is complete") || !strings.Contains(r.stderr, "507") {
		t.Fatalf("exit %d (want 0 with a warning naming the 507)\n%s", r.code, r.stderr)
	}
	assertAlert(t, alerts(), 1, "Offsite Backup Failed", "507")
	mails := smtp.Mails()
	if len(mails) != 1 || !strings.Contains(string(mails[0].Data), "Offsite Backup Failed") {
		t.Errorf("SMTP server received %d mails", len(mails))
	}
	localAfter := e.snapshots()
	if len(localAfter) != len(localBefore)+2 {
		t.Errorf("local: %d snapshots, want %d (a complete run)", len(localAfter), len(localBefore)+2)
	}
	e.assertRepo(e.restic(), localAfter)
	e.assertRepo(off, offBefore)
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return port
}
