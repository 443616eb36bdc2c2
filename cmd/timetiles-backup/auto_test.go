package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
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

// cronJobLine returns the schedule (5 fields) and the command of the one
// job line of a cron.d file; user is the user field.
func cronJobLine(t *testing.T, content string) (schedule, user, command string) {
	t.Helper()
	var jobs []string
	for _, l := range strings.Split(content, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || regexp.MustCompile(`^[A-Z_]+=`).MatchString(l) {
			continue
		}
		jobs = append(jobs, l)
	}
	if len(jobs) != 1 {
		t.Fatalf("cron file has %d job lines, want 1:\n%s", len(jobs), content)
	}
	f := strings.Fields(jobs[0])
	return strings.Join(f[:5], " "), f[5], strings.Join(f[6:], " ")
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

func TestAutoCronScheduleAndCommand(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e, log := autoEnv(t)
	cronFile := filepath.Join(e.dir, "cron.d", "timetiles-backup")
	os.MkdirAll(filepath.Dir(cronFile), 0o755)

	r := e.run("backup", "auto", "--cron-file", cronFile)
	if r.code != 0 || !strings.Contains(r.stdout, "Installed: daily at 02:00") {
		t.Fatalf("backup auto: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(cronFile)
	content := string(b)
	fi, _ := os.Stat(cronFile)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("cron file mode %o, want 0644 (cron ignores group/other-writable files)", fi.Mode().Perm())
	}
	sched, user, command := cronJobLine(t, content)
	if user != "root" {
		t.Errorf("user field %q", user)
	}
	// The schedule, parsed by a cron-expression library: daily at 02:00.
	s, err := cron.ParseStandard(sched)
	if err != nil {
		t.Fatalf("schedule %q: %v", sched, err)
	}
	from := time.Date(2026, 3, 7, 13, 5, 0, 0, time.Local)
	next := s.Next(from)
	if next != time.Date(2026, 3, 8, 2, 0, 0, 0, time.Local) || s.Next(next) != next.AddDate(0, 0, 1) {
		t.Errorf("schedule %q runs at %v then %v, want 02:00 daily", sched, next, s.Next(next))
	}
	// No secret on the command line: it names the env file.
	if strings.Contains(content, e.password) || !strings.Contains(command, "--env-file "+filepath.Join(e.dir, "env.production")) {
		t.Errorf("command line: %s", command)
	}
	if !regexp.MustCompile(` backup --env-file \S+ >>\S+ 2>&1 && PATH=\S+ \S+ backup prune --env-file \S+ >>\S+ 2>&1$`).MatchString(command) {
		t.Errorf("command is not backup && prune, both logged: %s", command)
	}

	// Idempotent: same options, same bytes, file untouched.
	before := fi.ModTime()
	time.Sleep(10 * time.Millisecond)
	r = e.run("backup", "auto", "--cron-file", cronFile)
	if r.code != 0 || !strings.Contains(r.stdout, "Unchanged") {
		t.Fatalf("second backup auto: %d %s", r.code, r.stdout)
	}
	if fi2, _ := os.Stat(cronFile); !fi2.ModTime().Equal(before) {
		t.Error("the cron file was rewritten")
	}
	// --offsite and --at replace the job.
	r = e.run("backup", "auto", "--cron-file", cronFile, "--offsite", "--at", "3:30")
	b, _ = os.ReadFile(cronFile)
	sched, _, command = cronJobLine(t, string(b))
	if r.code != 0 || sched != "30 3 * * *" || strings.Count(command, "--offsite") != 2 {
		t.Errorf("with --offsite --at 3:30: %q %q", sched, command)
	}

	// The command line, run by /bin/sh as cron would (with "%" unescaped):
	// a backup, then prune; a failed backup does not prune.
	run := func() string {
		cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(command, `\%`, "%"))
		cmd.Env = []string{"HOME=" + e.dir, "LOGNAME=root", "SHELL=/bin/sh"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("job exit: %v %s", err, out)
		}
		b, _ := os.ReadFile(log)
		return string(b)
	}
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = filepath.Join(e.dir, "offsite")
	e.writeEnvFile()
	out := run()
	if !strings.Contains(out, "Backup run ") || !strings.Contains(out, "Retention:") {
		t.Fatalf("log after the job:\n%s", out)
	}
	if n := len(e.snapshots()); n != 2 { // synthetic + manifest, kept by prune
		t.Errorf("%d snapshots after the job, want 2", n)
	}
	os.Remove(log)
	e.vars["SYNTH_FAIL_AFTER"] = "1000"
	e.writeEnvFile()
	out = run()
	if !strings.Contains(out, "Error:") || strings.Contains(out, "Retention:") {
		t.Fatalf("a failed backup must not prune; log:\n%s", out)
	}

	// --disable removes it; again changes nothing.
	r = e.run("backup", "auto", "--disable", "--cron-file", cronFile)
	if _, err := os.Stat(cronFile); r.code != 0 || err == nil {
		t.Fatalf("--disable: %d %s, file still there: %v", r.code, r.stdout, err == nil)
	}
	r = e.run("backup", "auto", "--disable", "--cron-file", cronFile)
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
// the next minute and lets Debian's cron daemon load and run it: its syntax
// is accepted (a broken control file in the same run is rejected, so the
// check can fail) and the job backs up and prunes. The daemon runs in a
// mount namespace of its own where that directory is /etc/cron.d (and, on a
// machine with a syslog daemon, the test's socket is /dev/log): a cron
// service of the machine never sees the job, and the test sees every
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
			if b, _ := os.ReadFile(log); strings.Contains(string(b), "Retention:") {
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

func TestAutoSystemdUnits(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	e, _ := autoEnv(t)
	units := filepath.Join(e.dir, "units")
	os.MkdirAll(units, 0o755)
	r := e.run("backup", "auto", "--systemd", "--unit-dir", units, "--offsite")
	if r.code != 0 || !strings.Contains(r.stdout, "systemctl daemon-reload && systemctl enable --now timetiles-backup.timer") {
		t.Fatalf("backup auto --systemd: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	service, timer := filepath.Join(units, "timetiles-backup.service"), filepath.Join(units, "timetiles-backup.timer")
	verify := func() (string, error) {
		cmd := exec.Command(analyze, "verify", service, timer)
		cmd.Dir = units
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The units parsed back: the timer's calendar and the service's commands.
	tb, _ := os.ReadFile(timer)
	sb, _ := os.ReadFile(service)
	cal := regexp.MustCompile(`(?m)^OnCalendar=(.*)$`).FindStringSubmatch(string(tb))
	if cal == nil {
		t.Fatalf("no OnCalendar:\n%s", tb)
	}
	out, err := exec.Command(analyze, "calendar", "--iterations=2", cal[1]).CombinedOutput()
	if err != nil || !regexp.MustCompile(`Next elapse: \w+ \d{4}-\d\d-\d\d 02:00:00`).Match(out) {
		t.Fatalf("systemd-analyze calendar %q: %v\n%s", cal[1], err, out)
	}
	var execs []string
	sc := bufio.NewScanner(strings.NewReader(string(sb)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			execs = append(execs, v)
		}
	}
	envFile := filepath.Join(e.dir, "env.production")
	want := []string{
		fmt.Sprintf("%s backup --env-file %s --offsite", filepath.Join(e.bin, "timetiles-backup"), envFile),
		fmt.Sprintf("%s backup prune --env-file %s --offsite", filepath.Join(e.bin, "timetiles-backup"), envFile),
	}
	if strings.Join(execs, "\n") != strings.Join(want, "\n") || !strings.Contains(string(sb), "Type=oneshot") {
		t.Errorf("ExecStart lines:\n%s\nwant:\n%s", strings.Join(execs, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(string(sb)+string(tb), e.password) {
		t.Error("a secret is in the units")
	}
	r = e.run("backup", "auto", "--systemd", "--unit-dir", units, "--offsite")
	if !strings.Contains(r.stdout, "Unchanged") {
		t.Errorf("second run: %s", r.stdout)
	}
	// The check can fail: a broken timer is refused.
	os.WriteFile(timer, []byte(strings.Replace(string(tb), "02:00:00", "25:00:00", 1)), 0o644)
	if out, err := verify(); err == nil {
		t.Fatalf("systemd-analyze verify accepted a broken timer:\n%s", out)
	}
	r = e.run("backup", "auto", "--disable", "--unit-dir", units, "--cron-file", filepath.Join(e.dir, "none"))
	if _, err := os.Stat(timer); r.code != 0 || err == nil || !strings.Contains(r.stdout, "Removed the systemd timer") {
		t.Fatalf("--disable: %d %s", r.code, r.stdout)
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
