// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/timetiles/timetiles-backup/host/config"
)

// AutoCommand is `timetiles-backup backup auto`.
type AutoCommand struct {
	*Meta
}

func (c *AutoCommand) Synopsis() string {
	return "Schedule backups, prune, verify and restore tests (cron or systemd)"
}

func (c *AutoCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup backup auto [options]

  Installs the whole routine on a schedule (local time; --at, default
  02:00, is the backup's time, the others follow it):

      daily              at --at    backup [--offsite]
      Sundays            1 h later  backup prune [--offsite]
      Wednesdays         1 h later  backup verify [--offsite]
      the 1st of a month 2 h later  backup verify --restore-test

  --offsite is added when RESTIC_OFFSITE_REPOSITORY is set (or --offsite is
  given). Prune skips, without an alert, an offsite repository whose key may
  not delete, and verify one whose key may not read. The jobs run one at a
  time: each waits (flock, from util-linux, up to 6 h) for the one before it
  to finish. Every job pings BACKUP_HEALTHCHECK_URL when it is set (start,
  then success or fail), and alerts on failure like any run. The jobs'
  command lines name the env file and hold no secret.

  As root the jobs go to ` + config.DefaultCronFile + ` (BACKUP_CRON_FILE or
  --cron-file); as another user into that user's crontab, between marker
  lines, leaving the rest of it alone. Cron jobs append their output to
  BACKUP_LOG_FILE (default ` + config.DefaultLogFile + `; for a non-root user
  ~/.local/state/timetiles-backup/backup.log). With --systemd they are
  systemd services and timers instead (timetiles-backup.service/.timer,
  timetiles-backup-prune, -verify and -restore-test, in BACKUP_SYSTEMD_DIR,
  default ` + config.DefaultSystemdDir + `), logging to the journal
  (journalctl -u 'timetiles-backup*'), enabled when systemd runs.

  One schedule only: --systemd removes the cron jobs it installed, and
  installing cron jobs removes its systemd timers. Running it again with
  the same options changes nothing; with other options it replaces the
  jobs. --disable removes every job it installed.

  Examples:
    sudo timetiles-backup backup auto              # cron, backup at 02:00
    sudo timetiles-backup backup auto --at 03:30   # backup at 03:30
    sudo timetiles-backup backup auto --systemd    # systemd timers instead
    sudo timetiles-backup backup auto --disable    # remove every job

Options:
  --offsite           Back up, prune and verify the offsite repository too
                      (the default when RESTIC_OFFSITE_REPOSITORY is set).
  --at=HH:MM          Time of day of the backup, local time (default: 02:00).
  --systemd           Write systemd services and timers instead of cron.
  --disable           Remove the jobs (cron file, crontab block, units).
  --cron-file=PATH    Cron file written as root (default: $BACKUP_CRON_FILE,
                      then ` + config.DefaultCronFile + `).
  --unit-dir=DIR      Directory of the systemd units (default:
                      $BACKUP_SYSTEMD_DIR, then ` + config.DefaultSystemdDir + `).

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// Markers around the jobs in a user's crontab.
const (
	cronBegin = "# BEGIN timetiles-backup (managed by `timetiles-backup backup auto`; remove with --disable)"
	cronEnd   = "# END timetiles-backup"
	unitName  = "timetiles-backup"
)

// jobPath is PATH for the jobs: cron's default PATH lacks /usr/local/bin
// and /usr/sbin, where restic or docker may live.
const jobPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lockWait is how long a job waits for the one before it (flock -w): the
// jobs run one at a time, never failing on each other's run lock. A job
// still waiting after it is skipped; its health check ping is then missing.
const lockWait = 6 * 60 * 60

type autoJob struct {
	exe       string
	envFile   string
	pluginDir string
	logFile   string
	// lockFile serializes the jobs (flock(1) from util-linux at flock).
	lockFile string
	flock    string
	offsite  bool
	hour     int
	minute   int
}

// schedJob is one of the scheduled commands.
type schedJob struct {
	// unit is the systemd unit name (without .service/.timer).
	unit string
	// sub are the command words and options after the executable.
	sub []string
	// every says when, for people: "daily", "weekly on Sunday"…
	every string
	// after is the delay after --at, in hours: the jobs start in order.
	after int
	// dom and dow are cron's day-of-month and day-of-week fields.
	dom, dow string
	// calDay is the day part of the systemd calendar expression.
	calDay string
}

// jobs are the routine `backup auto` installs: the backup daily; prune
// weekly (prune itself skips, without an alert, an offsite repository
// whose key may not delete); verify weekly; a restore test monthly.
func (j autoJob) jobs() []schedJob {
	offsite := func(sub ...string) []string {
		if j.offsite {
			return append(sub, "--offsite")
		}
		return sub
	}
	return []schedJob{
		{unit: unitName, sub: offsite("backup"), every: "daily", dom: "*", dow: "*", calDay: "*-*-*"},
		{unit: unitName + "-prune", sub: offsite("backup", "prune"), every: "weekly on Sunday", after: 1, dom: "*", dow: "0", calDay: "Sun *-*-*"},
		{unit: unitName + "-verify", sub: offsite("backup", "verify"), every: "weekly on Wednesday", after: 1, dom: "*", dow: "3", calDay: "Wed *-*-*"},
		{unit: unitName + "-restore-test", sub: []string{"backup", "verify", "--restore-test"}, every: "monthly on the 1st", after: 2, dom: "1", dow: "*", calDay: "*-*-01"},
	}
}

// at is the job's time of day.
func (j autoJob) at(s schedJob) (hour, minute int) { return (j.hour + s.after) % 24, j.minute }

// args is the job's command: flock waiting for the previous job, then
// timetiles-backup with the env file and plugin directory named.
func (j autoJob) args(s schedJob) []string {
	a := []string{j.flock, "-w", fmt.Sprint(lockWait), j.lockFile, j.exe}
	a = append(a, s.sub[0])
	if len(s.sub) > 1 && !strings.HasPrefix(s.sub[1], "-") {
		a = append(a, s.sub[1])
	}
	if j.envFile != "" {
		a = append(a, "--env-file", j.envFile)
	}
	if j.pluginDir != "" {
		a = append(a, "--plugin-dir", j.pluginDir)
	}
	for _, w := range s.sub[1:] {
		if strings.HasPrefix(w, "-") {
			a = append(a, w)
		}
	}
	return a
}

// display is the timetiles-backup part of a job's command, for people.
func (j autoJob) display(s schedJob) string { return shellJoin(j.args(s)[4:]) }

// shellCommand is the job as one /bin/sh command line appending to the log.
func (j autoJob) shellCommand(s schedJob) string {
	return "PATH=" + jobPath + " " + shellJoin(j.args(s)) + " >>" + shellQuote(j.logFile) + " 2>&1"
}

// cronCommand escapes what cron treats specially in a command: "%" ends
// the command (the rest is stdin) unless escaped.
func cronCommand(s string) string { return strings.ReplaceAll(s, "%", `\%`) }

func (j autoJob) header() string {
	var b strings.Builder
	b.WriteString("# timetiles-backup's routine (local time), one job at a time:\n")
	for _, s := range j.jobs() {
		h, m := j.at(s)
		fmt.Fprintf(&b, "#   %-20s at %02d:%02d  %s\n", s.every, h, m, strings.Join(s.sub, " "))
	}
	b.WriteString("# Installed by `timetiles-backup backup auto`; remove with `timetiles-backup backup auto --disable`.\n")
	fmt.Fprintf(&b, "# Output: %s. Secrets stay in the env file, never on these lines.\n", j.logFile)
	return b.String()
}

func (j autoJob) cronSpec(s schedJob) string {
	h, m := j.at(s)
	return fmt.Sprintf("%d %d %s * %s", m, h, s.dom, s.dow)
}

// cronFile is the content of a system cron file (/etc/cron.d format: a
// user field after the schedule).
func (j autoJob) cronFile() string {
	b := j.header()
	for _, s := range j.jobs() {
		b += j.cronSpec(s) + " root " + cronCommand(j.shellCommand(s)) + "\n"
	}
	return b
}

// crontabBlock is the jobs in a user's crontab (no user field).
func (j autoJob) crontabBlock() string {
	b := cronBegin + "\n" + j.header()
	for _, s := range j.jobs() {
		b += j.cronSpec(s) + " " + cronCommand(j.shellCommand(s)) + "\n"
	}
	return b + cronEnd + "\n"
}

func (j autoJob) serviceUnit(s schedJob) string {
	var b strings.Builder
	b.WriteString("# Installed by `timetiles-backup backup auto --systemd`; remove with `timetiles-backup backup auto --disable`.\n")
	b.WriteString("[Unit]\nDescription=TimeTiles " + strings.Join(s.sub, " ") + " (timetiles-backup, " + s.every + ")\n")
	b.WriteString("Wants=network-online.target\nAfter=network-online.target docker.service\n\n")
	b.WriteString("[Service]\nType=oneshot\n")
	b.WriteString("Environment=PATH=" + jobPath + "\n")
	b.WriteString("ExecStart=" + systemdJoin(j.args(s)) + "\n")
	// journalctl -u 'timetiles-backup*' shows the jobs' output.
	b.WriteString("StandardOutput=journal\nStandardError=journal\n")
	b.WriteString("SyslogIdentifier=" + s.unit + "\n")
	b.WriteString("Nice=10\nIOSchedulingClass=idle\n")
	return b.String()
}

func (j autoJob) onCalendar(s schedJob) string {
	h, m := j.at(s)
	return fmt.Sprintf("%s %02d:%02d:00", s.calDay, h, m)
}

func (j autoJob) timerUnit(s schedJob) string {
	return "# Installed by `timetiles-backup backup auto --systemd`; remove with `timetiles-backup backup auto --disable`.\n" +
		"[Unit]\nDescription=TimeTiles " + strings.Join(s.sub, " ") + ", " + s.every + "\n\n" +
		"[Timer]\nOnCalendar=" + j.onCalendar(s) + "\n" +
		"# Run at boot when the machine was off at the scheduled time.\nPersistent=true\n\n" +
		"[Install]\nWantedBy=timers.target\n"
}

var atRE = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)

func (c *AutoCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *AutoCommand) run(args []string) error {
	fs := c.FlagSet("backup auto")
	var offsite, systemd, disable bool
	var at, cronFile, unitDir string
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&systemd, "systemd", false, "")
	fs.BoolVar(&disable, "disable", false, "")
	fs.StringVar(&at, "at", "02:00", "")
	fs.StringVar(&cronFile, "cron-file", "", "")
	fs.StringVar(&unitDir, "unit-dir", "", "")
	rest, err := c.Parse(fs, args)
	if err != nil {
		return c.fail(err, c.Help())
	}
	if len(rest) > 0 {
		return c.fail(usageError("backup auto takes no arguments, got %q", strings.Join(rest, " ")), c.Help())
	}
	m := atRE.FindStringSubmatch(at)
	if m == nil {
		return c.fail(usageError("--at=%q is not a time of day: use HH:MM, e.g. 02:00", at), c.Help())
	}
	cfg, err := c.LoadConfig()
	if err != nil {
		return c.fail(err, "")
	}
	root := os.Geteuid() == 0
	if cronFile == "" {
		cronFile = cfg.GetDefault(config.EnvCronFile, config.DefaultCronFile)
	}
	if unitDir == "" {
		unitDir = cfg.GetDefault(config.EnvSystemdDir, config.DefaultSystemdDir)
	}
	if disable {
		return c.disable(root, cronFile, unitDir)
	}

	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return c.fail(fmt.Errorf("cannot find this executable's path: %w", err), "")
	}
	// The offsite repository is part of the routine when it is configured
	// (or --offsite asks for it, e.g. with another target plugin).
	offsite = offsite || cfg.Get("RESTIC_OFFSITE_REPOSITORY") != ""
	job := autoJob{exe: exe, offsite: offsite}
	fmt.Sscanf(m[1], "%d", &job.hour)
	fmt.Sscanf(m[2], "%d", &job.minute)
	if cfg.EnvFile != "" {
		job.envFile, _ = filepath.Abs(cfg.EnvFile)
	}
	if c.pluginDir != "" {
		job.pluginDir, _ = filepath.Abs(c.pluginDir)
	}
	userState := ""
	if !root {
		home, _ := os.UserHomeDir()
		userState = filepath.Join(home, ".local", "state", "timetiles-backup")
	}
	job.logFile = cfg.Get(config.EnvLogFile)
	if job.logFile == "" {
		job.logFile = config.DefaultLogFile
		if !root {
			job.logFile = filepath.Join(userState, "backup.log")
		}
	}
	job.logFile, _ = filepath.Abs(job.logFile)
	stateDir := cfg.Get(config.EnvStateDir)
	if stateDir == "" {
		stateDir = config.DefaultStateDir
		if !root {
			stateDir = userState
		}
	}
	stateDir, _ = filepath.Abs(stateDir)
	job.lockFile = filepath.Join(stateDir, "schedule.lock")
	if job.flock, err = exec.LookPath("flock"); err != nil {
		return c.fail(errors.New("flock is not installed: the scheduled jobs use it to run one at a time; install util-linux (apt install util-linux)"), "")
	}
	if job.envFile == "" {
		c.UI.Warn("Warning: no env file was found; the jobs will read only their own environment. Pass --env-file " + config.DefaultEnvFile + " to name one.")
	}
	if err := os.MkdirAll(filepath.Dir(job.logFile), 0o750); err != nil {
		return c.fail(fmt.Errorf("log directory for %s: %w: set BACKUP_LOG_FILE to a writable path", job.logFile, err), "")
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return c.fail(fmt.Errorf("state directory %s (the jobs' lock file): %w: set %s to a writable directory", stateDir, err, config.EnvStateDir), "")
	}

	var changed bool
	var where string
	switch {
	case systemd:
		changed, err = c.installSystemd(job, unitDir)
		where = "systemd timers in " + unitDir
	case root:
		changed, err = installCronFile(job, cronFile)
		where = cronFile
	default:
		changed, err = installCrontab(job)
		where = "the crontab of this user"
	}
	if err != nil {
		return c.fail(err, "")
	}
	// One schedule only: installing cron removes the systemd timers, and
	// the reverse.
	removed, err := c.removeJobs(root, cronFile, unitDir, !systemd && root, !systemd && !root, systemd)
	if err != nil {
		return c.fail(err, "")
	}
	if !changed && removed == 0 {
		c.UI.Output("Unchanged: the jobs are already installed in " + where + ".")
		return nil
	}
	c.UI.Output("Installed in " + where + " (local time, one job at a time):")
	for _, s := range job.jobs() {
		h, m := job.at(s)
		c.UI.Output(fmt.Sprintf("  %-20s at %02d:%02d  %s", s.every, h, m, job.display(s)))
	}
	if systemd {
		c.UI.Output("Output goes to the journal (journalctl -u 'timetiles-backup*'). Remove the jobs with `timetiles-backup backup auto --disable`.")
	} else {
		c.UI.Output("Output is appended to " + job.logFile + ". Remove the jobs with `timetiles-backup backup auto --disable`.")
	}
	if systemd && !systemdRunning(unitDir) {
		c.UI.Output("systemd is not running here: enable the timers on the server with")
		c.UI.Output("  systemctl daemon-reload && systemctl enable --now " + strings.Join(timerNames(job), " "))
	}
	return nil
}

func timerNames(job autoJob) []string {
	var out []string
	for _, s := range job.jobs() {
		out = append(out, s.unit+".timer")
	}
	return out
}

// installCronFile writes the /etc/cron.d file (0644, as cron requires:
// not writable by group or others).
func installCronFile(job autoJob, path string) (bool, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err != nil {
		return false, fmt.Errorf("%s does not exist: is cron installed? Install it (apt install cron) or use --systemd", dir)
	}
	if strings.ContainsAny(filepath.Base(path), ".~") {
		// Debian's cron ignores files in /etc/cron.d whose names hold a dot.
		return false, usageError("cron file name %q holds a dot: cron would ignore it; use a name of letters, digits, - and _", filepath.Base(path))
	}
	return writeIfChanged(path, []byte(job.cronFile()), 0o644)
}

func writeIfChanged(path string, data []byte, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return false, nil
		}
	}
	if err := config.WriteFileAtomic(path, data, perm); err != nil {
		return false, err
	}
	return true, nil
}

// crontab runs crontab(1) with stdin and returns its output.
func crontab(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("crontab", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("crontab is not installed: install cron (apt install cron), run as root, or use --systemd")
		}
		return out.String(), fmt.Errorf("crontab %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func currentCrontab() (string, error) {
	out, err := crontab(nil, "-l")
	if err != nil && strings.Contains(err.Error(), "no crontab for") {
		return "", nil
	}
	return out, err
}

// withoutBlock removes our marked block from a crontab.
func withoutBlock(tab string) (string, bool) {
	var out []string
	in, found := false, false
	for _, l := range strings.SplitAfter(tab, "\n") {
		switch {
		case strings.TrimRight(l, "\n") == cronBegin:
			in, found = true, true
		case in && strings.TrimRight(l, "\n") == cronEnd:
			in = false
		case !in && l != "":
			out = append(out, l)
		}
	}
	return strings.Join(out, ""), found
}

func installCrontab(job autoJob) (bool, error) {
	cur, err := currentCrontab()
	if err != nil {
		return false, err
	}
	rest, _ := withoutBlock(cur)
	if rest != "" && !strings.HasSuffix(rest, "\n") {
		rest += "\n"
	}
	want := rest + job.crontabBlock()
	if want == cur {
		return false, nil
	}
	if _, err := crontab([]byte(want), "-"); err != nil {
		return false, err
	}
	return true, nil
}

// ourUnits lists the units `backup auto --systemd` may have written in dir
// (timetiles-backup*.service and .timer).
func ourUnits(dir string) []string {
	var out []string
	for _, ext := range []string{".timer", ".service"} {
		m, _ := filepath.Glob(filepath.Join(dir, unitName+"*"+ext))
		for _, f := range m {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "Installed by `timetiles-backup backup auto --systemd`") {
				out = append(out, f)
			}
		}
	}
	return out
}

func (c *AutoCommand) installSystemd(job autoJob, dir string) (bool, error) {
	if _, err := os.Stat(dir); err != nil {
		return false, fmt.Errorf("systemd unit directory %s: %w: set BACKUP_SYSTEMD_DIR or --unit-dir", dir, err)
	}
	changed := false
	want := map[string]bool{}
	for _, s := range job.jobs() {
		for name, content := range map[string]string{s.unit + ".service": job.serviceUnit(s), s.unit + ".timer": job.timerUnit(s)} {
			want[filepath.Join(dir, name)] = true
			ch, err := writeIfChanged(filepath.Join(dir, name), []byte(content), 0o644)
			if err != nil {
				return changed, err
			}
			changed = changed || ch
		}
	}
	// Units of an earlier routine that this one no longer has.
	for _, f := range ourUnits(dir) {
		if !want[f] {
			if strings.HasSuffix(f, ".timer") && systemdRunning(dir) {
				_ = exec.Command("systemctl", "disable", "--now", filepath.Base(f)).Run()
			}
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return changed, err
			}
			changed = true
		}
	}
	if changed && systemdRunning(dir) {
		for _, a := range [][]string{{"daemon-reload"}, append([]string{"enable", "--now"}, timerNames(job)...)} {
			if out, err := exec.Command("systemctl", a...).CombinedOutput(); err != nil {
				return true, fmt.Errorf("systemctl %s: %v: %s", strings.Join(a, " "), err, strings.TrimSpace(string(out)))
			}
		}
	}
	return changed, nil
}

// systemdRunning reports whether units in dir are managed by a running
// systemd (the system unit directory on a systemd host).
func systemdRunning(dir string) bool {
	if filepath.Clean(dir) != config.DefaultSystemdDir {
		return false
	}
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// removeJobs removes the installed jobs of the kinds asked (the cron file
// as root, this user's crontab block, the systemd units) and reports each
// removal; it returns how many kinds it removed.
func (c *AutoCommand) removeJobs(root bool, cronFile, unitDir string, keepCronFile, keepCrontab, keepUnits bool) (int, error) {
	removed := 0
	if root && !keepCronFile {
		if err := os.Remove(cronFile); err == nil {
			c.UI.Output("Removed " + cronFile + ".")
			removed++
		} else if !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
	}
	if _, err := exec.LookPath("crontab"); err == nil && !keepCrontab {
		cur, err := currentCrontab()
		if err != nil {
			return removed, err
		}
		if rest, found := withoutBlock(cur); found {
			var err error
			if strings.TrimSpace(rest) == "" {
				_, err = crontab(nil, "-r")
			} else {
				_, err = crontab([]byte(rest), "-")
			}
			if err != nil {
				return removed, err
			}
			c.UI.Output("Removed the jobs from this user's crontab.")
			removed++
		}
	}
	if units := ourUnits(unitDir); len(units) > 0 && !keepUnits {
		running := systemdRunning(unitDir)
		for _, f := range units {
			if strings.HasSuffix(f, ".timer") && running {
				_ = exec.Command("systemctl", "disable", "--now", filepath.Base(f)).Run()
			}
		}
		for _, f := range units {
			if err := os.Remove(f); errors.Is(err, os.ErrPermission) {
				c.UI.Warn("Warning: cannot remove " + f + " (installed by another user, e.g. root): remove those timers with `sudo timetiles-backup backup auto --disable`.")
				return removed, nil
			} else if err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, err
			}
		}
		if running {
			_ = exec.Command("systemctl", "daemon-reload").Run()
		}
		c.UI.Output("Removed the systemd timers and services from " + unitDir + ".")
		removed++
	}
	return removed, nil
}

func (c *AutoCommand) disable(root bool, cronFile, unitDir string) error {
	removed, err := c.removeJobs(root, cronFile, unitDir, false, false, false)
	if err != nil {
		return c.fail(err, "")
	}
	if removed == 0 {
		c.UI.Output("Unchanged: no scheduled job was installed.")
	}
	return nil
}

// shellQuote quotes a word for /bin/sh when it needs it.
func shellQuote(s string) string {
	if s != "" && regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// systemdJoin quotes ExecStart arguments (systemd.service(5): double
// quotes, backslash escapes; "%" is a specifier and doubles; "$" would be
// expanded and doubles).
func systemdJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		a = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(a)
		if strings.ContainsAny(a, " \t'\"") || a == "" {
			a = `"` + a + `"`
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
