// SPDX-License-Identifier: Apache-2.0

package main

import (
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
	if err := c.parseNoArgs(fs, args, c.Help()); err != nil {
		return err
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
