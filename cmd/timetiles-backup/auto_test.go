// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// cronLine is one job line of a cron table.
type cronLine struct {
	schedule, user, command string
}

// cronLines returns the job lines of a cron.d file (a user field after the
// five schedule fields).
func cronLines(t *testing.T, content string) []cronLine {
	t.Helper()
	var out []cronLine
	for _, l := range strings.Split(content, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || regexp.MustCompile(`^[A-Z_]+=`).MatchString(l) {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 7 {
			t.Fatalf("cron line %q", l)
		}
		out = append(out, cronLine{strings.Join(f[:5], " "), f[5], strings.Join(f[6:], " ")})
	}
	return out
}

// cronRuns parses a schedule with a cron-expression library and returns
// its next three runs after from.
func cronRuns(t *testing.T, spec string, from time.Time) []time.Time {
	t.Helper()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatalf("schedule %q: %v", spec, err)
	}
	var out []time.Time
	for n := from; len(out) < 3; {
		n = s.Next(n)
		out = append(out, n)
	}
	return out
}

// autoEnv is an operator's world for the scheduling tests: a synthetic
// source into a real restic repository, a log file.
func autoEnv(t *testing.T) (*env, string) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "200000"
	log := filepath.Join(e.dir, "log", "backup.log")
	e.vars["BACKUP_LOG_FILE"] = log
	return e, log
}

// TestAutoCronScheduleAndCommand: the routine in a cron.d file, parsed
// back (schedules by a cron-expression library, commands run by /bin/sh as
// cron would): backup daily, prune weekly on Sunday, verify weekly on
// Wednesday, a restore test monthly on the 1st, each pinging the health
// check; the offsite repository joins when configured; one job at a time.
func TestAutoCronScheduleAndCommand(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e, log := autoEnv(t)
	cronFile := filepath.Join(e.dir, "cron.d", "timetiles-backup")
	os.MkdirAll(filepath.Dir(cronFile), 0o755)
	units := filepath.Join(e.dir, "units")
	os.MkdirAll(units, 0o755)

	r := e.run("backup", "auto", "--cron-file", cronFile, "--unit-dir", units)
	if r.code != 0 || !strings.Contains(r.stdout, "Installed in "+cronFile) {
		t.Fatalf("backup auto: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(cronFile)
	content := string(b)
	fi, _ := os.Stat(cronFile)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("cron file mode %o, want 0644 (cron ignores group/other-writable files)", fi.Mode().Perm())
	}
	lines := cronLines(t, content)
	if len(lines) != 4 {
		t.Fatalf("%d job lines, want 4:\n%s", len(lines), content)
	}
	// The schedules, parsed by a cron-expression library, from Saturday
	// 2026-03-07 13:05 local time.
	from := time.Date(2026, 3, 7, 13, 5, 0, 0, time.Local)
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, time.Local) }
	wantRuns := [][]time.Time{
		{at(8, 2, 0), at(9, 2, 0), at(10, 2, 0)},   // daily
		{at(8, 3, 0), at(15, 3, 0), at(22, 3, 0)},  // Sundays
		{at(11, 3, 0), at(18, 3, 0), at(25, 3, 0)}, // Wednesdays
		{time.Date(2026, 4, 1, 4, 0, 0, 0, time.Local), time.Date(2026, 5, 1, 4, 0, 0, 0, time.Local), time.Date(2026, 6, 1, 4, 0, 0, 0, time.Local)},
	}
	wantCmds := []string{"backup", "backup prune", "backup verify", "backup verify --restore-test"}
	envFile := filepath.Join(e.dir, "env.production")
	lockFile := filepath.Join(e.vars["BACKUP_STATE_DIR"], "schedule.lock")
	for i, l := range lines {
		if got := cronRuns(t, l.schedule, from); fmt.Sprint(got) != fmt.Sprint(wantRuns[i]) {
			t.Errorf("job %d (%s): runs %v, want %v", i, l.command, got, wantRuns[i])
		}
		if l.user != "root" {
			t.Errorf("user field %q", l.user)
		}
		// One job at a time (flock on one lock file), the env file named,
		// no secret, the output appended to the log.
		if !strings.Contains(l.command, " -w 21600 "+lockFile+" ") || !strings.Contains(l.command, "--env-file "+envFile) ||
			strings.Contains(l.command, e.password) || !strings.HasSuffix(l.command, " >>"+log+" 2>&1") {
			t.Errorf("job %d command line: %s", i, l.command)
		}
		if got := strings.Join(jobCommands(l.command), ";"); got != wantCmds[i] {
			t.Errorf("job %d runs %q, want %q", i, got, wantCmds[i])
		}
	}

	// Idempotent: same options, same bytes, file untouched.
	before := fi.ModTime()
	time.Sleep(10 * time.Millisecond)
	r = e.run("backup", "auto", "--cron-file", cronFile, "--unit-dir", units)
	if r.code != 0 || !strings.Contains(r.stdout, "Unchanged") {
		t.Fatalf("second backup auto: %d %s", r.code, r.stdout)
	}
	if fi2, _ := os.Stat(cronFile); !fi2.ModTime().Equal(before) {
		t.Error("the cron file was rewritten")
	}
	// A configured offsite repository joins backup, prune and verify (the
	// restore test reads the local one); --at moves the routine.
	srv := newPingServer(t, http.StatusOK)
	e.vars["BACKUP_HEALTHCHECK_URL"] = srv.URL + "/ping/check"
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = filepath.Join(e.dir, "offsite")
	e.writeEnvFile()
	r = e.run("backup", "auto", "--cron-file", cronFile, "--unit-dir", units, "--at", "3:30")
	b, _ = os.ReadFile(cronFile)
	lines = cronLines(t, string(b))
	var specs, cmds []string
	for _, l := range lines {
		specs = append(specs, l.schedule)
		cmds = append(cmds, strings.Join(jobCommands(l.command), ";"))
	}
	if r.code != 0 || strings.Join(specs, ",") != "30 3 * * *,30 4 * * 0,30 4 * * 3,30 5 1 * *" ||
		strings.Join(cmds, ",") != "backup --offsite,backup prune --offsite,backup verify --offsite,backup verify --restore-test" {
		t.Fatalf("with an offsite repository and --at 3:30: %d %q %q\n%s", r.code, specs, cmds, r.stderr)
	}

	// Each command line, run by /bin/sh as cron would (with "%" unescaped):
	// it does its job and pings the health check (start, then success).
	run := func(l cronLine) string {
		os.Remove(log)
		cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(l.command, `\%`, "%"))
		cmd.Env = []string{"HOME=" + e.dir, "LOGNAME=root", "SHELL=/bin/sh"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("job exit: %v %s", err, out)
		}
		b, _ := os.ReadFile(log)
		return string(b)
	}
	wantLog := []string{"Backup run ", "Retention:", "Verify passed.", "restore"}
	for i, l := range lines {
		out := run(l)
		if !strings.Contains(out, wantLog[i]) {
			t.Errorf("job %q: log lacks %q:\n%s", cmds[i], wantLog[i], out)
		}
		p := srv.take()
		if len(p) != 2 || p[0].path != "/ping/check/start" || (p[1].path != "/ping/check" && p[1].path != "/ping/check/fail") {
			t.Errorf("job %q: health check pings %+v, want start then the outcome", cmds[i], p)
		}
		if i < 3 && (len(p) != 2 || p[1].path != "/ping/check") {
			t.Errorf("job %q did not succeed: pings %+v\n%s", cmds[i], p, out)
		}
	}
	if n := len(e.snapshots()); n != 2 { // synthetic + manifest, kept by prune
		t.Errorf("%d snapshots after the jobs, want 2", n)
	}

	// --disable removes it; again changes nothing.
	r = e.run("backup", "auto", "--disable", "--cron-file", cronFile, "--unit-dir", units)
	if _, err := os.Stat(cronFile); r.code != 0 || err == nil {
		t.Fatalf("--disable: %d %s, file still there: %v", r.code, r.stdout, err == nil)
	}
	r = e.run("backup", "auto", "--disable", "--cron-file", cronFile, "--unit-dir", units)
	if r.code != 0 || !strings.Contains(r.stdout, "Unchanged") {
		t.Fatalf("second --disable: %d %s", r.code, r.stdout)
	}
	r = e.run("backup", "auto", "--cron-file", cronFile, "--at", "24:00")
	if r.code != 2 || !strings.Contains(r.stderr, "HH:MM") {
		t.Fatalf("--at 24:00: %d %s", r.code, r.stderr)
	}
}

// listenSyslog receives what the daemons log through syslog(3). Where no
// syslog daemon runs it listens on /dev/log itself (dev is ""); where one
// does (a systemd machine: journald), it listens on a socket of its own,
// dev, which the daemon under test gets bind-mounted over /dev/log in a
// mount namespace of its own.
func listenSyslog(t *testing.T) (ch <-chan string, dev string) {
	t.Helper()
	addr := "/dev/log"
	if _, err := os.Lstat("/dev/log"); err == nil {
		dir, err := os.MkdirTemp("", "ttb-syslog-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr, dev = filepath.Join(dir, "log"), filepath.Join(dir, "log")
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close(); os.Remove(addr) })
	out := make(chan string, 100)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(out)
				return
			}
			out <- string(buf[:n])
		}
	}()
	return out, dev
}

// TestAutoRunsUnderRealCron installs the job into a cron.d directory for
// the next minute and lets Debian's cron daemon load and run it: the syntax
// of every job line is accepted (a broken control file in the same run is
// rejected, so the check can fail) and the daily job backs up. The daemon
// runs in a mount namespace of its own where that directory is /etc/cron.d
// (and, on a machine with a syslog daemon, the test's socket is /dev/log): a
// cron service of the machine never sees the job, and the test sees every
// message of the daemon it started.
func TestAutoRunsUnderRealCron(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: cron reads /etc/cron.d")
	}
	cronBin, err := exec.LookPath("cron")
	if err != nil {
		t.Fatal("cron is not installed: scripts/install-deps.sh installs it (apt install cron)")
	}
	t.Parallel()
	e, log := autoEnv(t)
	syslog, devLog := listenSyslog(t)
	name := "timetiles-backup-test-" + strconv.Itoa(os.Getpid())
	cronD := filepath.Join(e.dir, "cron.d")
	if err := os.Mkdir(cronD, 0o755); err != nil {
		t.Fatal(err)
	}
	cronFile := filepath.Join(cronD, name)
	bad := cronFile + "-broken"
	if err := os.WriteFile(bad, []byte("61 2 * * * root true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute)
	if time.Now().Second() > 40 {
		at = at.Add(time.Minute)
	}
	r := e.run("backup", "auto", "--cron-file", cronFile, "--at", at.Format("15:04"))
	if r.code != 0 {
		t.Fatalf("backup auto: %s", r.stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`set -e; mount --bind "$1" /etc/cron.d; [ -z "$2" ] || mount --bind "$2" /dev/log; exec "$3" -f -L 15`,
		"sh", cronD, devLog, cronBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // cron and its job, by our process group
		_ = cmd.Wait()
	}()
	// Wait for the job to have run and for cron's report of the broken
	// file (logged when cron loads the files, before the job runs).
	var logged []string
	brokenReported := func() bool {
		return strings.Contains(strings.Join(logged, "\n"), "("+"*system*"+filepath.Base(bad)+") ERROR")
	}
	deadline := time.After(time.Until(at) + testenv.Patience)
	for jobDone := false; !jobDone || !brokenReported(); {
		select {
		case m := <-syslog:
			logged = append(logged, m)
		case <-time.After(time.Second):
			if b, _ := os.ReadFile(log); strings.Contains(string(b), "run complete in local repository") {
				jobDone = true
			}
		case <-deadline:
			b, _ := os.ReadFile(log)
			t.Fatalf("by %s + %s: job done %v, broken control file reported %v (is cron's log captured?); syslog:\n%s\nlog:\n%s",
				at.Format("15:04"), testenv.Patience, jobDone, brokenReported(), strings.Join(logged, "\n"), b)
		}
	}
	for len(syslog) > 0 {
		logged = append(logged, <-syslog)
	}
	all := strings.Join(logged, "\n")
	if strings.Contains(all, "*system*"+name+")") {
		t.Errorf("cron complained about the installed file:\n%s", all)
	}
	if n := len(e.snapshots()); n != 2 {
		t.Errorf("%d snapshots after cron ran the job, want 2", n)
	}
	t.Logf("cron ran the job at %s", at.Format("15:04"))
}

// TestAutoSystemdUnits: the routine as four systemd services and timers,
// accepted by systemd-analyze verify (a broken timer is refused, so the
// check can fail), their calendars read by systemd-analyze calendar, their
// commands logging to the journal; --systemd replaces the cron jobs and
// the reverse, --disable removes every unit.
func TestAutoSystemdUnits(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	e, log := autoEnv(t)
	units := filepath.Join(e.dir, "units")
	os.MkdirAll(units, 0o755)
	cronFile := filepath.Join(e.dir, "cron.d", "timetiles-backup")
	os.MkdirAll(filepath.Dir(cronFile), 0o755)
	where := []string{"--unit-dir", units, "--cron-file", cronFile}
	auto := func(args ...string) result {
		return e.run(append(append([]string{"backup", "auto"}, where...), args...)...)
	}

	// A cron schedule first: --systemd replaces it.
	if r := auto(); r.code != 0 {
		t.Fatalf("backup auto: %d %s", r.code, r.stderr)
	}
	r := auto("--systemd", "--offsite")
	if r.code != 0 || !strings.Contains(r.stdout, "systemctl daemon-reload && systemctl enable --now timetiles-backup.timer timetiles-backup-prune.timer timetiles-backup-verify.timer timetiles-backup-restore-test.timer") {
		t.Fatalf("backup auto --systemd: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(cronFile); err == nil || !strings.Contains(r.stdout, "Removed "+cronFile) {
		t.Fatalf("--systemd left the cron jobs in place (a double schedule):\n%s", r.stdout)
	}
	names := []string{"timetiles-backup", "timetiles-backup-prune", "timetiles-backup-verify", "timetiles-backup-restore-test"}
	var files []string
	for _, n := range names {
		files = append(files, filepath.Join(units, n+".service"), filepath.Join(units, n+".timer"))
	}
	verify := func() (string, error) {
		cmd := exec.Command(analyze, append([]string{"verify"}, files...)...)
		cmd.Dir = units
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	exe := filepath.Join(e.bin, "timetiles-backup")
	envFile := filepath.Join(e.dir, "env.production")
	flock, _ := exec.LookPath("flock")
	lock := filepath.Join(e.vars["BACKUP_STATE_DIR"], "schedule.lock")
	want := []struct{ next, exec string }{
		// systemd-analyze calendar from Saturday 2026-03-07 13:05 UTC.
		{"Sun 2026-03-08 02:00:00", "backup --env-file " + envFile + " --offsite"},
		{"Sun 2026-03-08 03:00:00", "backup prune --env-file " + envFile + " --offsite"},
		{"Wed 2026-03-11 03:00:00", "backup verify --env-file " + envFile + " --offsite"},
		{"Wed 2026-04-01 04:00:00", "backup verify --env-file " + envFile + " --restore-test"},
	}
	for i, n := range names {
		tb, _ := os.ReadFile(filepath.Join(units, n+".timer"))
		sb, _ := os.ReadFile(filepath.Join(units, n+".service"))
		cal := regexp.MustCompile(`(?m)^OnCalendar=(.*)$`).FindStringSubmatch(string(tb))
		if cal == nil {
			t.Fatalf("%s: no OnCalendar:\n%s", n, tb)
		}
		cmd := exec.Command(analyze, "calendar", "--iterations=1", "--base-time=2026-03-07 13:05:00 UTC", cal[1])
		cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Next elapse: "+want[i].next) {
			t.Errorf("%s: systemd-analyze calendar %q: %v\n%s(want %s)", n, cal[1], err, out, want[i].next)
		}
		var execs []string
		sc := bufio.NewScanner(strings.NewReader(string(sb)))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
				execs = append(execs, v)
			}
		}
		wantExec := fmt.Sprintf("%s -w 21600 %s %s %s", flock, lock, exe, want[i].exec)
		if len(execs) != 1 || execs[0] != wantExec || !strings.Contains(string(sb), "Type=oneshot") ||
			!strings.Contains(string(sb), "\nStandardOutput=journal\nStandardError=journal\n") {
			t.Errorf("%s: ExecStart %q, want %q; journal logging:\n%s", n, execs, wantExec, sb)
		}
		if strings.Contains(string(sb)+string(tb), e.password) {
			t.Errorf("%s: a secret is in the units", n)
		}
	}
	if _, err := os.Stat(log); err == nil {
		t.Errorf("the systemd jobs write to the journal, yet %s was created", log)
	}
	r = auto("--systemd", "--offsite")
	if !strings.Contains(r.stdout, "Unchanged") {
		t.Errorf("second run: %s", r.stdout)
	}
	// The check can fail: a broken timer is refused.
	tb, _ := os.ReadFile(files[1])
	os.WriteFile(files[1], []byte(strings.Replace(string(tb), "02:00:00", "25:00:00", 1)), 0o644)
	if out, err := verify(); err == nil {
		t.Fatalf("systemd-analyze verify accepted a broken timer:\n%s", out)
	}
	// Back to cron: the units go.
	r = auto()
	if left := ourUnits(units); r.code != 0 || len(left) != 0 || !strings.Contains(r.stdout, "Removed the systemd timers") {
		t.Fatalf("cron after systemd: %d %s; units left: %v", r.code, r.stdout, left)
	}
	if _, err := os.Stat(cronFile); err != nil {
		t.Fatal(err)
	}
	// --disable removes every unit and the cron file.
	auto("--systemd")
	r = auto("--disable")
	if left := ourUnits(units); r.code != 0 || len(left) != 0 || !strings.Contains(r.stdout, "Removed the systemd timers") {
		t.Fatalf("--disable: %d %s; units left: %v", r.code, r.stdout, left)
	}
	if entries, _ := os.ReadDir(units); len(entries) != 0 {
		t.Errorf("unit directory not empty after --disable: %v", entries)
	}
	if _, err := os.Stat(cronFile); err == nil {
		t.Error("the cron file survived --disable")
	}
}

// TestAutoUserCrontab installs the job as a non-root user with the real
// crontab(1): the user's other lines stay, the block appears once.
func TestAutoUserCrontab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	if _, err := exec.LookPath("crontab"); err != nil {
		t.Fatal("crontab is not installed: scripts/install-deps.sh installs cron")
	}
	const uid, user = 65534, "nobody"
	e, _ := autoEnv(t)
	// A world-readable copy of the binaries and a home for the user.
	home, err := os.MkdirTemp("", "ttb-crontab-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	bin := filepath.Join(home, "bin")
	copyTree(t, e.bin, bin)
	os.Chown(home, uid, uid)
	envFile := filepath.Join(home, "env")
	os.WriteFile(envFile, []byte("RESTIC_PASSWORD=user-crontab-pw\nRESTIC_REPOSITORY="+filepath.Join(home, "repo")+"\n"), 0o600)
	os.Chown(envFile, uid, uid)
	crontabAs := func(stdin string, args ...string) string {
		cmd := exec.Command("crontab", append([]string{"-u", user}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	crontabAs("", "-r")
	t.Cleanup(func() { crontabAs("", "-r") })
	crontabAs("MAILTO=\"\"\n17 3 * * * echo keep-me\n", "-")
	runAs := func(args ...string) result {
		cmd := exec.Command(filepath.Join(bin, "timetiles-backup"), append(args, "--env-file", envFile)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{code, so.String(), se.String()}
	}
	r := runAs("backup", "auto")
	if r.code != 0 || !strings.Contains(r.stdout, "in the crontab of this user") {
		t.Fatalf("backup auto as %s: %d\n%s%s", user, r.code, r.stdout, r.stderr)
	}
	tab := crontabAs("", "-l")
	if !strings.HasPrefix(tab, "MAILTO=\"\"\n17 3 * * * echo keep-me\n") || strings.Count(tab, cronBegin) != 1 || strings.Count(tab, cronEnd) != 1 {
		t.Fatalf("crontab:\n%s", tab)
	}
	var job string
	for _, l := range strings.Split(tab, "\n") {
		if strings.HasPrefix(l, "0 2 * * * ") {
			job = l
		}
	}
	if job == "" || !strings.Contains(job, ">>"+filepath.Join(home, ".local/state/timetiles-backup/backup.log")) {
		t.Fatalf("no 02:00 job logging into the user's state directory:\n%s", tab)
	}
	if _, err := cron.ParseStandard(strings.Join(strings.Fields(job)[:5], " ")); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(tab, " >>"+filepath.Join(home, ".local/state/timetiles-backup/backup.log")+" 2>&1\n"); n != 4 {
		t.Errorf("%d jobs in the block, want 4:\n%s", n, tab)
	}
	if r := runAs("backup", "auto"); !strings.Contains(r.stdout, "Unchanged") || crontabAs("", "-l") != tab {
		t.Fatalf("second run changed the crontab: %s", r.stdout)
	}
	runAs("backup", "auto", "--offsite")
	if tab2 := crontabAs("", "-l"); strings.Count(tab2, cronBegin) != 1 || !strings.Contains(tab2, "--offsite") {
		t.Fatalf("after --offsite:\n%s", tab2)
	}
	if r := runAs("backup", "auto", "--disable"); r.code != 0 || crontabAs("", "-l") != "MAILTO=\"\"\n17 3 * * * echo keep-me\n" {
		t.Fatalf("after --disable (%s):\n%s", r.stdout, crontabAs("", "-l"))
	}
}

// openedBy reports whether a descendant of pid has path open.
func openedBy(pid int, path string) bool {
	parent := map[int]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces: read after ")".
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if len(f) > 1 {
			parent[child], _ = strconv.Atoi(f[1])
		}
	}
	for child := range parent {
		for a := child; a > 1; a = parent[a] {
			if a != pid {
				continue
			}
			fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", child))
			for _, fd := range fds {
				if l, _ := os.Readlink(fd); l == path {
					return true
				}
			}
			break
		}
	}
	return false
}

// TestAutoJobsRunOneAtATime: a scheduled job waits for the one before it
// (their common lock file, held here as a running job holds it) instead of
// starting and failing on the run lock; it runs once the lock is free.
func TestAutoJobsRunOneAtATime(t *testing.T) {
	t.Parallel()
	e, log := autoEnv(t)
	cronFile := filepath.Join(e.dir, "cron.d", "timetiles-backup")
	os.MkdirAll(filepath.Dir(cronFile), 0o755)
	if r := e.run("backup", "auto", "--cron-file", cronFile, "--unit-dir", filepath.Join(e.dir, "units")); r.code != 0 {
		t.Fatalf("backup auto: %d %s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(cronFile)
	daily := cronLines(t, string(b))[0]
	lockFile := filepath.Join(e.vars["BACKUP_STATE_DIR"], "schedule.lock")
	f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(daily.command, `\%`, "%"))
	cmd.Env = []string{"HOME=" + e.dir, "LOGNAME=root", "SHELL=/bin/sh"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait until the job is waiting on the lock file.
	deadline := time.After(testenv.Patience)
	for !openedBy(cmd.Process.Pid, lockFile) {
		select {
		case err := <-done:
			b, _ := os.ReadFile(log)
			t.Fatalf("the job ran while the previous one held the lock (exit %v):\n%s", err, b)
		case <-deadline:
			t.Fatalf("the job never opened %s", lockFile)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if b, _ := os.ReadFile(log); len(b) != 0 {
		t.Fatalf("the job started while the previous one held the lock:\n%s", b)
	}
	// The previous job ends: this one runs.
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	select {
	case err := <-done:
		b, _ := os.ReadFile(log)
		if err != nil || !strings.Contains(string(b), "run complete in local repository") {
			t.Fatalf("the job after the lock was freed: %v\n%s", err, b)
		}
	case <-time.After(testenv.Patience):
		t.Fatal("the job did not run once the lock was free")
	}
	if n := len(e.snapshots()); n != 2 {
		t.Errorf("%d snapshots, want 2", n)
	}
}
