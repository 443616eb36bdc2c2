// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"regexp"
	"strings"
)

// backup auto: the scheduled jobs and how each is written — cron lines, a
// crontab block, systemd service and timer units.

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
