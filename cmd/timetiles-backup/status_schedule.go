// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	// robfig/cron/v3 (v3.0.1): the Go field's cron expression parser (the
	// five standard fields, ranges, steps, names and @daily-style
	// descriptors, as Vixie cron reads them); it computes the next run of a
	// cron job. systemd calendar expressions are left to systemd itself
	// (systemd-analyze calendar).
	"github.com/robfig/cron/v3"
	"github.com/timetiles/timetiles-backup/host/config"
)

// scheduledJob is one job `backup auto` installed: where, when, what.
type scheduledJob struct {
	// Kind is "cron" (a /etc/cron.d file), "crontab" (this user's crontab)
	// or "systemd" (a timer).
	Kind     string
	File     string
	Schedule string
	// Commands are the timetiles-backup commands the job runs, in order
	// ("backup", "backup prune", "backup verify --restore-test"…).
	Commands []string
	Next     time.Time
	// NextErr says why the next run is unknown.
	NextErr string
}

// scheduledJobs finds the jobs `backup auto` installed: the cron file
// (BACKUP_CRON_FILE), the marked block of this user's crontab and the
// timetiles-backup*.timer units in BACKUP_SYSTEMD_DIR.
func scheduledJobs(cfg *config.Config, now time.Time) []scheduledJob {
	var jobs []scheduledJob
	cronFile := cfg.GetDefault(config.EnvCronFile, config.DefaultCronFile)
	if b, err := os.ReadFile(cronFile); err == nil {
		jobs = append(jobs, cronJobs(string(b), "cron", cronFile, true, now)...)
	}
	if _, err := exec.LookPath("crontab"); err == nil {
		if tab, err := currentCrontab(); err == nil {
			if block := crontabBlockOf(tab); block != "" {
				jobs = append(jobs, cronJobs(block, "crontab", "crontab of this user", false, now)...)
			}
		}
	}
	jobs = append(jobs, systemdJobs(cfg.GetDefault(config.EnvSystemdDir, config.DefaultSystemdDir), now)...)
	return jobs
}

// crontabBlockOf returns the lines between our markers in a crontab.
func crontabBlockOf(tab string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(tab, "\n") {
		switch {
		case l == cronBegin:
			in = true
		case l == cronEnd:
			in = false
		case in:
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

var cronEnvLine = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\s*=`)

// cronJobs reads the jobs of a cron table; system tables (/etc/cron.d)
// have a user field after the schedule.
func cronJobs(table, kind, file string, system bool, now time.Time) []scheduledJob {
	var jobs []scheduledJob
	sc := bufio.NewScanner(strings.NewReader(table))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || cronEnvLine.MatchString(l) {
			continue
		}
		f := strings.Fields(l)
		n := 5
		if strings.HasPrefix(f[0], "@") {
			n = 1
		}
		if system {
			n++ // the user field
		}
		if len(f) <= n {
			continue
		}
		spec := strings.Join(f[:n-boolInt(system)], " ")
		job := scheduledJob{Kind: kind, File: file, Schedule: spec, Commands: jobCommands(strings.Join(f[n:], " "))}
		if len(job.Commands) == 0 {
			continue
		}
		if s, err := cron.ParseStandard(spec); err != nil {
			job.NextErr = "cannot read the schedule: " + err.Error()
		} else {
			job.Next = s.Next(now)
		}
		jobs = append(jobs, job)
	}
	return jobs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jobCommandRE finds the timetiles-backup invocations of a job's command
// line: the executable, then the command words up to the first option.
var jobCommandRE = regexp.MustCompile(`timetiles-backup"?((?:\s+[a-z][a-z-]*)+)((?:\s+--?[A-Za-z-]+(?:[= ](?:"[^"]*"|'[^']*'|[^\s&;|>"']+))?)*)`)

// jobCommands names the timetiles-backup commands in a job's command line,
// e.g. "backup --offsite", "backup prune --offsite".
func jobCommands(line string) []string {
	var out []string
	for _, m := range jobCommandRE.FindAllStringSubmatch(line, -1) {
		cmd := strings.Join(strings.Fields(m[1]), " ")
		for _, flag := range []string{"--offsite", "--restore-test"} {
			if regexp.MustCompile(`(^|\s)` + flag + `(\s|$)`).MatchString(m[2]) {
				cmd += " " + flag
			}
		}
		out = append(out, cmd)
	}
	return out
}

// systemdJobs reads the timers (and their services' ExecStart lines) in
// dir; the next run comes from systemd-analyze calendar, when installed.
func systemdJobs(dir string, now time.Time) []scheduledJob {
	timers, _ := filepath.Glob(filepath.Join(dir, unitName+"*.timer"))
	sort.Strings(timers)
	var jobs []scheduledJob
	for _, timer := range timers {
		b, err := os.ReadFile(timer)
		if err != nil {
			continue
		}
		var cals []string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "OnCalendar="); ok {
				cals = append(cals, strings.TrimSpace(v))
			}
		}
		var cmds []string
		service := strings.TrimSuffix(timer, ".timer") + ".service"
		if sb, err := os.ReadFile(service); err == nil {
			for _, l := range strings.Split(string(sb), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecStart="); ok {
					cmds = append(cmds, jobCommands(v)...)
				}
			}
		}
		for _, cal := range cals {
			job := scheduledJob{Kind: "systemd", File: timer, Schedule: cal, Commands: cmds}
			job.Next, job.NextErr = systemdNext(cal, now)
			jobs = append(jobs, job)
		}
	}
	return jobs
}

// The next elapse in UTC: systemd-analyze prints it on its own line
// "(in UTC): …" unless the time zone is UTC already.
var nextElapseRE = regexp.MustCompile(`(?m)^\s*(?:\(in UTC\)|Next elapse):\s*\S+\s+(\S+ \S+) UTC\s*$`)

// systemdNext asks systemd-analyze for the next elapse of a calendar
// expression after now (systemd's own reading of OnCalendar=).
func systemdNext(cal string, now time.Time) (time.Time, string) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return time.Time{}, "systemd-analyze is not installed"
	}
	cmd := exec.Command(bin, "calendar", "--iterations=1", "--base-time=@"+strconv.FormatInt(now.Unix(), 10), cal)
	cmd.Env = append(os.Environ(), "TZ="+localTZ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return time.Time{}, "systemd-analyze calendar: " + strings.TrimSpace(string(out))
	}
	m := nextElapseRE.FindStringSubmatch(string(out))
	if m == nil {
		return time.Time{}, "systemd-analyze calendar printed no next elapse"
	}
	t, err := time.Parse("2006-01-02 15:04:05", m[1])
	if err != nil {
		return time.Time{}, "systemd-analyze calendar: " + err.Error()
	}
	return t.UTC(), ""
}

// localTZ passes this process's time zone on to systemd-analyze.
func localTZ() string {
	if tz := os.Getenv("TZ"); tz != "" {
		return tz
	}
	return ":/etc/localtime"
}
