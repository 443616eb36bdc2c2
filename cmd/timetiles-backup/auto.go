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

	"github.com/timetiles/timetiles-backup/host"
)

// AutoCommand is `timetiles-backup backup auto`.
type AutoCommand struct {
	*Meta
}

func (c *AutoCommand) Synopsis() string {
	return "Schedule a daily backup (cron or a systemd timer)"
}

func (c *AutoCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup backup auto [options]

  Installs a daily job, at 02:00 unless --at says otherwise, that runs

      timetiles-backup backup [--offsite] &&
      timetiles-backup backup prune [--offsite]

  so the retention policy is applied only after a successful backup. Its
  output is appended to BACKUP_LOG_FILE (default ` + host.DefaultLogFile + `;
  for a non-root user ~/.local/state/timetiles-backup/backup.log). The job's
  command line names the env file and holds no secret: the job reads them
  from the env file like any other run.

  As root the job goes to ` + host.DefaultCronFile + ` (BACKUP_CRON_FILE or
  --cron-file); as another user into that user's crontab, between marker
  lines, leaving the rest of it alone. With --systemd it is a systemd
  service and timer (timetiles-backup.service/.timer in BACKUP_SYSTEMD_DIR,
  default ` + host.DefaultSystemdDir + `) instead, enabled when systemd runs.

  Running it again with the same options changes nothing; with other
  options it replaces the job. --disable removes every job it installed.

  Examples:
    sudo timetiles-backup backup auto              # local backup at 02:00
    sudo timetiles-backup backup auto --offsite    # local + offsite at 02:00
    sudo timetiles-backup backup auto --systemd    # a systemd timer instead
    sudo timetiles-backup backup auto --disable    # remove the job

Options:
  --offsite           Back up (and prune) the offsite repository too.
  --at=HH:MM          Time of day, local time (default: 02:00).
  --systemd           Write a systemd service and timer instead of cron.
  --disable           Remove the job (cron file, crontab block, units).
  --cron-file=PATH    Cron file written as root (default: $BACKUP_CRON_FILE,
                      then ` + host.DefaultCronFile + `).
  --unit-dir=DIR      Directory of the systemd units (default:
                      $BACKUP_SYSTEMD_DIR, then ` + host.DefaultSystemdDir + `).

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// Markers around the job in a user's crontab.
const (
	cronBegin = "# BEGIN timetiles-backup (managed by `timetiles-backup backup auto`; remove with --disable)"
	cronEnd   = "# END timetiles-backup"
	unitName  = "timetiles-backup"
)

// jobPath is PATH for the job: cron's default PATH lacks /usr/local/bin
// and /usr/sbin, where restic or docker may live.
const jobPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

type autoJob struct {
	exe       string
	envFile   string
	pluginDir string
	logFile   string
	offsite   bool
	hour      int
	minute    int
}

func (j autoJob) args(sub ...string) []string {
	a := append([]string{j.exe}, sub...)
	if j.envFile != "" {
		a = append(a, "--env-file", j.envFile)
	}
	if j.pluginDir != "" {
		a = append(a, "--plugin-dir", j.pluginDir)
	}
	if j.offsite {
		a = append(a, "--offsite")
	}
	return a
}

// shellCommand is the job as one /bin/sh command line: backup, then prune
// only when the backup succeeded, both appending to the log file.
func (j autoJob) shellCommand() string {
	log := ">>" + shellQuote(j.logFile) + " 2>&1"
	return "PATH=" + jobPath + " " + shellJoin(j.args("backup")) + " " + log +
		" && PATH=" + jobPath + " " + shellJoin(j.args("backup", "prune")) + " " + log
}

// cronCommand escapes what cron treats specially in a command: "%" ends
// the command (the rest is stdin) unless escaped.
func cronCommand(s string) string { return strings.ReplaceAll(s, "%", `\%`) }

func (j autoJob) header() string {
	what := "backup"
	if j.offsite {
		what = "backup (local and offsite)"
	}
	return fmt.Sprintf("# timetiles-backup: daily %s at %02d:%02d, then prune if it succeeded.\n"+
		"# Installed by `timetiles-backup backup auto`; remove with `timetiles-backup backup auto --disable`.\n"+
		"# Output: %s. Secrets stay in the env file, never on this line.\n", what, j.hour, j.minute, j.logFile)
}

// cronFile is the content of a system cron file (/etc/cron.d format: a
// user field after the schedule).
func (j autoJob) cronFile() string {
	return j.header() + fmt.Sprintf("%d %d * * * root %s\n", j.minute, j.hour, cronCommand(j.shellCommand()))
}

// crontabBlock is the job in a user's crontab (no user field).
func (j autoJob) crontabBlock() string {
	return cronBegin + "\n" + j.header() + fmt.Sprintf("%d %d * * * %s\n", j.minute, j.hour, cronCommand(j.shellCommand())) + cronEnd + "\n"
}

func (j autoJob) serviceUnit() string {
	var b strings.Builder
	b.WriteString("# Installed by `timetiles-backup backup auto --systemd`; remove with `timetiles-backup backup auto --disable`.\n")
	b.WriteString("[Unit]\nDescription=TimeTiles backup (timetiles-backup)\n")
	b.WriteString("Wants=network-online.target\nAfter=network-online.target docker.service\n\n")
	b.WriteString("[Service]\nType=oneshot\n")
	b.WriteString("Environment=PATH=" + jobPath + "\n")
	// A oneshot service runs its ExecStart lines in order and stops at the
	// first that fails: prune runs only after a successful backup.
	b.WriteString("ExecStart=" + systemdJoin(j.args("backup")) + "\n")
	b.WriteString("ExecStart=" + systemdJoin(j.args("backup", "prune")) + "\n")
	b.WriteString("StandardOutput=append:" + j.logFile + "\nStandardError=append:" + j.logFile + "\n")
	b.WriteString("Nice=10\nIOSchedulingClass=idle\n")
	return b.String()
}

func (j autoJob) onCalendar() string { return fmt.Sprintf("*-*-* %02d:%02d:00", j.hour, j.minute) }

func (j autoJob) timerUnit() string {
	return "# Installed by `timetiles-backup backup auto --systemd`; remove with `timetiles-backup backup auto --disable`.\n" +
		"[Unit]\nDescription=Daily TimeTiles backup\n\n" +
		"[Timer]\nOnCalendar=" + j.onCalendar() + "\n" +
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
		cronFile = cfg.GetDefault(host.EnvCronFile, host.DefaultCronFile)
	}
	if unitDir == "" {
		unitDir = cfg.GetDefault(host.EnvSystemdDir, host.DefaultSystemdDir)
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
	job := autoJob{exe: exe, offsite: offsite}
	fmt.Sscanf(m[1], "%d", &job.hour)
	fmt.Sscanf(m[2], "%d", &job.minute)
	if cfg.EnvFile != "" {
		job.envFile, _ = filepath.Abs(cfg.EnvFile)
	}
	if c.pluginDir != "" {
		job.pluginDir, _ = filepath.Abs(c.pluginDir)
	}
	job.logFile = cfg.Get(host.EnvLogFile)
	if job.logFile == "" {
		job.logFile = host.DefaultLogFile
		if !root {
			home, _ := os.UserHomeDir()
			job.logFile = filepath.Join(home, ".local", "state", "timetiles-backup", "backup.log")
		}
	}
	job.logFile, _ = filepath.Abs(job.logFile)
	if job.envFile == "" {
		c.UI.Warn("Warning: no env file was found; the job will read only its own environment. Pass --env-file " + host.DefaultEnvFile + " to name one.")
	}
	if err := os.MkdirAll(filepath.Dir(job.logFile), 0o750); err != nil {
		return c.fail(fmt.Errorf("log directory for %s: %w: set BACKUP_LOG_FILE to a writable path", job.logFile, err), "")
	}

	var changed bool
	var where string
	switch {
	case systemd:
		changed, err = c.installSystemd(job, unitDir)
		where = "systemd timer " + filepath.Join(unitDir, unitName+".timer")
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
	if !changed {
		c.UI.Output("Unchanged: the daily job is already installed in " + where + ".")
		return nil
	}
	c.UI.Output(fmt.Sprintf("Installed: daily at %02d:%02d (local time) in %s:", job.hour, job.minute, where))
	c.UI.Output("  " + shellJoin(job.args("backup")) + " && " + shellJoin(job.args("backup", "prune")))
	c.UI.Output("Output is appended to " + job.logFile + ". Remove the job with `timetiles-backup backup auto --disable`.")
	if systemd && !systemdRunning(unitDir) {
		c.UI.Output("systemd is not running here: enable the timer on the server with")
		c.UI.Output("  systemctl daemon-reload && systemctl enable --now " + unitName + ".timer")
	}
	return nil
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
	if err := host.WriteFileAtomic(path, data, perm); err != nil {
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

func (c *AutoCommand) installSystemd(job autoJob, dir string) (bool, error) {
	if _, err := os.Stat(dir); err != nil {
		return false, fmt.Errorf("systemd unit directory %s: %w: set BACKUP_SYSTEMD_DIR or --unit-dir", dir, err)
	}
	c1, err := writeIfChanged(filepath.Join(dir, unitName+".service"), []byte(job.serviceUnit()), 0o644)
	if err != nil {
		return false, err
	}
	c2, err := writeIfChanged(filepath.Join(dir, unitName+".timer"), []byte(job.timerUnit()), 0o644)
	if err != nil {
		return false, err
	}
	if (c1 || c2) && systemdRunning(dir) {
		for _, a := range [][]string{{"daemon-reload"}, {"enable", "--now", unitName + ".timer"}} {
			if out, err := exec.Command("systemctl", a...).CombinedOutput(); err != nil {
				return true, fmt.Errorf("systemctl %s: %v: %s", strings.Join(a, " "), err, strings.TrimSpace(string(out)))
			}
		}
	}
	return c1 || c2, nil
}

// systemdRunning reports whether units in dir are managed by a running
// systemd (the system unit directory on a systemd host).
func systemdRunning(dir string) bool {
	if filepath.Clean(dir) != host.DefaultSystemdDir {
		return false
	}
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

func (c *AutoCommand) disable(root bool, cronFile, unitDir string) error {
	removed := 0
	if root {
		if err := os.Remove(cronFile); err == nil {
			c.UI.Output("Removed " + cronFile + ".")
			removed++
		} else if !errors.Is(err, os.ErrNotExist) {
			return c.fail(err, "")
		}
	}
	if _, err := exec.LookPath("crontab"); err == nil {
		cur, err := currentCrontab()
		if err != nil {
			return c.fail(err, "")
		}
		if rest, found := withoutBlock(cur); found {
			var err error
			if strings.TrimSpace(rest) == "" {
				_, err = crontab(nil, "-r")
			} else {
				_, err = crontab([]byte(rest), "-")
			}
			if err != nil {
				return c.fail(err, "")
			}
			c.UI.Output("Removed the job from this user's crontab.")
			removed++
		}
	}
	timer := filepath.Join(unitDir, unitName+".timer")
	if _, err := os.Stat(timer); err == nil {
		if systemdRunning(unitDir) {
			_ = exec.Command("systemctl", "disable", "--now", unitName+".timer").Run()
		}
		for _, f := range []string{timer, filepath.Join(unitDir, unitName+".service")} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return c.fail(err, "")
			}
		}
		if systemdRunning(unitDir) {
			_ = exec.Command("systemctl", "daemon-reload").Run()
		}
		c.UI.Output("Removed the systemd timer and service from " + unitDir + ".")
		removed++
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
