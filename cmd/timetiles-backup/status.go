// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/metrics"
	"github.com/timetiles/timetiles-backup/host/retention"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// StatusCommand is `timetiles-backup status`.
type StatusCommand struct {
	*Meta
}

func (c *StatusCommand) Synopsis() string {
	return "Show backup health: freshness, offsite lag, verify, schedule"
}

func (c *StatusCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup status [options]

  Shows the health of the backups at a glance, for an operator or a
  monitoring check:
    - per repository (local, and offsite when configured) and component:
      the newest complete run, its age, size and the bytes it added;
    - the runs complete locally that the offsite repository lacks (lag);
    - the last backup, the last verify of each repository and the last
      restore drill (backup verify --restore-test), with results and ages;
    - the scheduled jobs installed by "backup auto" and their next run;
    - the run that holds the run lock, if any.
  It reads the repositories and BACKUP_STATE_DIR (where backup and verify
  record their outcomes); it writes only the metrics file
  (BACKUP_METRICS_FILE, when set) and the --html report.

  Monitoring (Nagios/Icinga-style; see docs/operator-guide.md): exit 0
  when, in every repository that can be listed, every component's newest
  complete run is younger than BACKUP_MAX_AGE (default 26h) and the last
  backup succeeded; exit 1 when one is older or missing, the last backup
  failed or the local repository cannot be read; the first output line
  says why. Offsite lag, a failed verify or restore drill and a missing
  schedule are warnings only.

  Examples:
    timetiles-backup status
    timetiles-backup status --json
    timetiles-backup status --html /var/www/backup-status.html

Options:
  --json              Print JSON (schema: docs/json/status.schema.json).
  --html=FILE         Also write a self-contained HTML report to FILE.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// StatusSchemaVersion is the schema_version of `status --json`; it grows
// when a field changes meaning or goes away (new fields keep it).
const StatusSchemaVersion = 1

// statusReport is `status --json` (docs/json/status.schema.json). Times
// are RFC 3339 UTC, durations and ages whole seconds.
type statusReport struct {
	SchemaVersion   int                `json:"schema_version"`
	GeneratedAt     string             `json:"generated_at"`
	Host            string             `json:"host"`
	Healthy         bool               `json:"healthy"`
	ExitCode        int                `json:"exit_code"`
	Problems        []string           `json:"problems"`
	Warnings        []string           `json:"warnings"`
	MaxAgeSeconds   int64              `json:"max_age_seconds"`
	Repositories    []*statusRepo      `json:"repositories"`
	OffsiteLag      *statusLag         `json:"offsite_lag"`
	LastBackup      *statusLastBackup  `json:"last_backup"`
	LastRestoreTest *statusRestoreTest `json:"last_restore_test"`
	Schedule        []statusJob        `json:"schedule"`
	Lock            *statusLock        `json:"lock"`
	Runs            []*statusRun       `json:"runs"`

	state *host.State
}

type statusRepo struct {
	Name         string             `json:"name"`
	Available    bool               `json:"available"`
	Error        string             `json:"error,omitempty"`
	CompleteRuns int                `json:"complete_runs"`
	Components   []*statusComponent `json:"components"`
	LastVerify   *statusVerify      `json:"last_verify"`
}

type statusComponent struct {
	Component string           `json:"component"`
	Stale     bool             `json:"stale"`
	Newest    *statusNewestRun `json:"newest_run"`
}

type statusNewestRun struct {
	RunID      string `json:"run_id"`
	Time       string `json:"time"`
	AgeSeconds int64  `json:"age_seconds"`
	Snapshot   string `json:"snapshot"`
	SizeBytes  uint64 `json:"size_bytes"`
	BytesAdded uint64 `json:"bytes_added"`
}

type statusVerify struct {
	Time       string `json:"time"`
	AgeSeconds int64  `json:"age_seconds"`
	OK         bool   `json:"ok"`
	RunID      string `json:"run_id,omitempty"`
	Error      string `json:"error,omitempty"`
}

type statusLag struct {
	MissingRuns  []string `json:"missing_runs"`
	LagSeconds   int64    `json:"lag_seconds"`
	NewestLocal  string   `json:"newest_local,omitempty"`
	NewestRemote string   `json:"newest_offsite,omitempty"`
}

type statusLastBackup struct {
	Time            string `json:"time"`
	AgeSeconds      int64  `json:"age_seconds"`
	DurationSeconds int64  `json:"duration_seconds"`
	RunID           string `json:"run_id,omitempty"`
	Success         bool   `json:"success"`
	ExitStatus      int    `json:"exit_status"`
	Offsite         bool   `json:"offsite"`
	OffsiteSuccess  bool   `json:"offsite_success"`
	Error           string `json:"error,omitempty"`
}

type statusRestoreTest struct {
	Time            string  `json:"time"`
	AgeSeconds      int64   `json:"age_seconds"`
	OK              bool    `json:"ok"`
	RunID           string  `json:"run_id,omitempty"`
	Components      string  `json:"components,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	Error           string  `json:"error,omitempty"`
}

type statusJob struct {
	Kind     string   `json:"kind"`
	File     string   `json:"file"`
	Schedule string   `json:"schedule"`
	Commands []string `json:"commands"`
	NextRun  *string  `json:"next_run"`
	// NextRunSeconds: seconds from generated_at to next_run.
	NextRunSeconds *int64 `json:"next_run_in_seconds"`
	NextRunError   string `json:"next_run_error,omitempty"`
}

type statusLock struct {
	PID        int    `json:"pid"`
	Command    string `json:"command"`
	Host       string `json:"host"`
	Started    string `json:"started"`
	AgeSeconds int64  `json:"age_seconds"`
}

type statusRun struct {
	RunID      string `json:"run_id"`
	Time       string `json:"time"`
	AgeSeconds int64  `json:"age_seconds"`
	// Repositories: "complete", "incomplete" or "missing" per repository
	// listed.
	Repositories map[string]string `json:"repositories"`
	Legacy       bool              `json:"legacy"`
	Safety       bool              `json:"safety"`
	SizeBytes    uint64            `json:"size_bytes"`
	BytesAdded   uint64            `json:"bytes_added"`
	Components   []*statusRunComp  `json:"components"`

	at time.Time
}

type statusRunComp struct {
	Component  string `json:"component"`
	Snapshot   string `json:"snapshot"`
	SizeBytes  uint64 `json:"size_bytes"`
	BytesAdded uint64 `json:"bytes_added"`
}

func (c *StatusCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *StatusCommand) run(args []string) error {
	fs := c.FlagSet("status")
	var asJSON bool
	var htmlFile string
	fs.BoolVar(&asJSON, "json", false, "")
	fs.StringVar(&htmlFile, "html", "", "")
	rest, err := c.Parse(fs, args)
	if err != nil {
		return c.fail(err, c.Help())
	}
	if len(rest) > 0 {
		return c.fail(usageError("status takes no arguments, got %q", strings.Join(rest, " ")), c.Help())
	}
	r, err := c.Runner()
	if err != nil {
		return c.fail(err, "")
	}
	defer r.Close()
	v := r.Cfg.GetDefault(config.EnvMaxAge, config.DefaultMaxAge)
	maxAge, err := time.ParseDuration(v)
	if err != nil || maxAge <= 0 {
		return c.fail(config.Configf("%s=%q is not a duration: use e.g. 26h, 90m or 8h30m", config.EnvMaxAge, v), "")
	}
	order, _, err := r.SourceMap()
	if err != nil {
		return c.fail(err, "")
	}
	rep, err := c.gather(r, order, maxAge, time.Now())
	if err != nil {
		return c.fail(r.ScrubError(err), "")
	}
	if path := r.Cfg.Get(config.EnvMetricsFile); path != "" {
		if err := metrics.UpdateStatusMetrics(path, rep.state, rep.metrics()); err != nil {
			c.UI.Warn("Warning: " + err.Error())
		}
	}
	if htmlFile != "" {
		if err := writeStatusHTML(htmlFile, rep); err != nil {
			return c.fail(fmt.Errorf("writing the HTML report to %s: %w: give --html a file in an existing directory this user may write", htmlFile, err), "")
		}
	}
	if asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		c.UI.Output(string(b))
	} else {
		c.UI.Output(rep.text())
	}
	if rep.ExitCode != ExitOK {
		return errFailed // unhealthy: the report says why
	}
	return nil
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func ageOf(now, t time.Time) int64 { return int64(now.Sub(t).Seconds()) }

// gather reads everything status shows. A repository that cannot be read
// is reported; only a configuration error (exit 2) is returned.
func (c *StatusCommand) gather(r *host.Runner, order []string, maxAge time.Duration, now time.Time) (*statusReport, error) {
	rep := &statusReport{SchemaVersion: StatusSchemaVersion, GeneratedAt: rfc3339(now), Host: r.Hostname(),
		MaxAgeSeconds: int64(maxAge.Seconds()), Problems: []string{}, Warnings: []string{},
		Repositories: []*statusRepo{}, Schedule: []statusJob{}, Runs: []*statusRun{}}
	st, err := r.ReadState()
	if err != nil {
		rep.Warnings = append(rep.Warnings, err.Error())
	}
	rep.state = st
	insts := []string{host.Local}
	target := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	if target != config.DefaultTarget || r.Cfg.Get("RESTIC_OFFSITE_REPOSITORY") != "" {
		insts = append(insts, host.Offsite)
	}
	runsOf := map[string][]*runs.Run{}
	for _, inst := range insts {
		sr := &statusRepo{Name: inst, Components: []*statusComponent{}}
		rep.Repositories = append(rep.Repositories, sr)
		if v := st.LastVerify[inst]; v != nil {
			sr.LastVerify = &statusVerify{Time: rfc3339(v.Time), AgeSeconds: ageOf(now, v.Time), OK: v.OK, RunID: v.Run, Error: v.Error}
			if !v.OK {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("the last verify of the %s repository (%s ago) failed: %s", inst, ago(now, v.Time), v.Error))
			}
		}
		all, _, err := r.ListRuns(c.Ctx, inst)
		if err != nil && c.ExitCode(err) != ExitFailure {
			// A plugin that is not there, a setting that is wrong, or an
			// interrupt: not a verdict on the backups.
			return nil, err
		}
		if err != nil {
			sr.Error = r.Scrub(err.Error())
			switch {
			case inst == host.Offsite && host.IsPermission(err):
				sr.Error = "the offsite key may not list snapshots (write-only): its runs cannot be checked from here"
				rep.Warnings = append(rep.Warnings, "offsite repository: "+sr.Error)
			case inst == host.Offsite:
				rep.Warnings = append(rep.Warnings, "offsite repository cannot be read: "+sr.Error)
			case errors.Is(err, sdk.ErrNotFound):
				// The target's own words, as `backup list` and `backup
				// verify` print them: one message and one fix everywhere.
				rep.Problems = append(rep.Problems, "local repository: "+sr.Error)
			default:
				rep.Problems = append(rep.Problems, "the local repository cannot be read: "+sr.Error)
			}
			continue
		}
		sr.Available = true
		runsOf[inst] = all
		for _, run := range all {
			if isRestorePoint(run) {
				sr.CompleteRuns++
			}
		}
		for _, comp := range order {
			sc := &statusComponent{Component: comp}
			sr.Components = append(sr.Components, sc)
			newest := newestWith(all, comp)
			if newest == nil {
				sc.Stale = true
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: no complete backup run of %s in the %s repository", comp, comp, inst))
				continue
			}
			snap := newest.Components[comp]
			sc.Newest = &statusNewestRun{RunID: newest.ID, Time: rfc3339(newest.Time), AgeSeconds: ageOf(now, newest.Time),
				Snapshot: snap.ID, SizeBytes: snap.Size, BytesAdded: snap.BytesAdded}
			if now.Sub(newest.Time) > maxAge {
				sc.Stale = true
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: the newest complete run in the %s repository (%s) is %s old, more than %s=%s",
					comp, inst, newest.ID, ago(now, newest.Time), config.EnvMaxAge, shortDuration(maxAge)))
			}
		}
	}
	if local, ok := runsOf[host.Local]; ok {
		if off, ok := runsOf[host.Offsite]; ok {
			rep.OffsiteLag = offsiteLag(r, local, off)
			if n := len(rep.OffsiteLag.MissingRuns); n > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d complete run(s) missing in the offsite repository (%s behind)",
					n, shortDuration(time.Duration(rep.OffsiteLag.LagSeconds)*time.Second)))
			}
		}
	}
	if b := st.LastBackup; b != nil {
		lb := &statusLastBackup{Time: rfc3339(b.Time), AgeSeconds: ageOf(now, b.Time), DurationSeconds: int64(b.Finished.Sub(b.Time).Seconds()),
			RunID: b.RunID, Success: b.ExitStatus == 0, ExitStatus: b.ExitStatus, Offsite: b.Offsite, OffsiteSuccess: b.OffsiteOK, Error: b.Error}
		rep.LastBackup = lb
		if !lb.Success {
			what := "the last backup"
			if b.RunID != "" {
				what += " (run " + b.RunID + ")"
			}
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s failed %s ago (exit %d): %s", what, ago(now, b.Time), b.ExitStatus, b.Error))
		} else if b.Offsite && !b.OffsiteOK {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the offsite part of the last backup (%s ago) failed; the local backup is complete", ago(now, b.Time)))
		}
	}
	if t := st.LastRestoreTest; t != nil {
		rep.LastRestoreTest = &statusRestoreTest{Time: rfc3339(t.Time), AgeSeconds: ageOf(now, t.Time), OK: t.OK, RunID: t.Run,
			Components: t.Component, DurationSeconds: t.Duration.Seconds(), Error: t.Error}
		if !t.OK {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the last restore drill (%s ago) failed: %s", ago(now, t.Time), t.Error))
		}
	}
	for _, j := range scheduledJobs(r.Cfg, now) {
		sj := statusJob{Kind: j.Kind, File: j.File, Schedule: j.Schedule, Commands: j.Commands, NextRunError: j.NextErr}
		if sj.Commands == nil {
			sj.Commands = []string{}
		}
		if !j.Next.IsZero() {
			next, in := rfc3339(j.Next), int64(j.Next.Sub(now).Seconds())
			sj.NextRun, sj.NextRunSeconds = &next, &in
		}
		rep.Schedule = append(rep.Schedule, sj)
	}
	if len(rep.Schedule) == 0 {
		rep.Warnings = append(rep.Warnings, "no scheduled job is installed: run `timetiles-backup backup auto`")
	}
	if h := r.LockHolderNow(); h != nil {
		rep.Lock = &statusLock{PID: h.PID, Command: h.Command, Host: h.Host, Started: rfc3339(h.Started), AgeSeconds: ageOf(now, h.Started)}
	}
	rep.Runs = statusRuns(runsOf, insts, now)
	rep.ExitCode = ExitOK
	if len(rep.Problems) > 0 {
		rep.ExitCode = ExitFailure
	}
	rep.Healthy = rep.ExitCode == ExitOK
	return rep, nil
}

// isRestorePoint: a run `status` counts as a backup — complete, and not a
// safety backup taken by restore.
func isRestorePoint(r *runs.Run) bool {
	return r.Complete && !r.HasTag(runs.SafetyTag)
}

// newestWith returns the newest complete run holding comp.
func newestWith(all []*runs.Run, comp string) *runs.Run {
	for _, r := range all { // newest first
		if _, ok := r.Components[comp]; ok && isRestorePoint(r) {
			return r
		}
	}
	return nil
}

// offsiteLag lists the local restore points the offsite repository lacks
// (or holds incomplete) among those the retention policy keeps (older ones
// are pruned anyway, and not copied by the catch-up).
func offsiteLag(r *host.Runner, local, off []*runs.Run) *statusLag {
	lag := &statusLag{MissingRuns: []string{}}
	there := map[string]bool{}
	var newestOff time.Time
	for _, o := range off {
		if isRestorePoint(o) {
			there[o.ID] = true
			if o.Time.After(newestOff) {
				newestOff = o.Time
			}
		}
	}
	kept := map[string]bool{}
	if keep, err := retention.PolicyFrom(r.Cfg); err == nil {
		var snaps []sdk.Snapshot
		for _, run := range local {
			for _, s := range run.Components {
				snaps = append(snaps, s)
			}
			if run.Manifest != nil {
				snaps = append(snaps, *run.Manifest)
			}
		}
		for _, d := range retention.Decide(snaps, r.Hostname(), keep, nil).Kept() {
			kept[d.Run.ID] = true
		}
	}
	var newestLocal, oldestMissing time.Time
	for _, l := range local {
		if !isRestorePoint(l) || l.Legacy {
			continue
		}
		if l.Time.After(newestLocal) {
			newestLocal = l.Time
		}
		if there[l.ID] || (len(kept) > 0 && !kept[l.ID]) {
			continue
		}
		lag.MissingRuns = append(lag.MissingRuns, l.ID)
		if oldestMissing.IsZero() || l.Time.Before(oldestMissing) {
			oldestMissing = l.Time
		}
	}
	if !newestLocal.IsZero() {
		lag.NewestLocal = rfc3339(newestLocal)
	}
	if !newestOff.IsZero() {
		lag.NewestRemote = rfc3339(newestOff)
	}
	if len(lag.MissingRuns) > 0 {
		// How far the offsite copy is behind: from the newest run it holds
		// (or, when it holds none, the oldest it lacks) to the newest local.
		from := newestOff
		if from.IsZero() || from.After(oldestMissing) {
			from = oldestMissing
		}
		lag.LagSeconds = int64(newestLocal.Sub(from).Seconds())
	}
	return lag
}

// statusRuns merges the runs of every repository listed, newest first.
func statusRuns(runsOf map[string][]*runs.Run, insts []string, now time.Time) []*statusRun {
	byID := map[string]*statusRun{}
	out := []*statusRun{}
	for _, inst := range insts {
		all, ok := runsOf[inst]
		if !ok {
			continue
		}
		for _, run := range all {
			sr, seen := byID[run.ID]
			if !seen {
				sr = &statusRun{RunID: run.ID, Time: rfc3339(run.Time), AgeSeconds: ageOf(now, run.Time), Legacy: run.Legacy,
					Safety: run.HasTag(runs.SafetyTag), Repositories: map[string]string{}, Components: []*statusRunComp{}, at: run.Time}
				for _, n := range run.ComponentNames() {
					s := run.Components[n]
					sr.Components = append(sr.Components, &statusRunComp{Component: n, Snapshot: s.ID, SizeBytes: s.Size, BytesAdded: s.BytesAdded})
					sr.SizeBytes += s.Size
					sr.BytesAdded += s.BytesAdded
				}
				byID[run.ID] = sr
				out = append(out, sr)
			}
			state := "incomplete"
			if run.Complete {
				state = "complete"
			}
			sr.Repositories[inst] = state
		}
	}
	for _, sr := range out {
		for _, inst := range insts {
			if _, ok := runsOf[inst]; ok && sr.Repositories[inst] == "" {
				sr.Repositories[inst] = "missing"
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].at.Equal(out[j].at) {
			return out[i].RunID > out[j].RunID
		}
		return out[i].at.After(out[j].at)
	})
	return out
}

// ago formats the time since t, rounded for reading.
func ago(now, t time.Time) string { return shortDuration(now.Sub(t)) }

// shortDuration: "45s", "12m", "3h20m", "2d4h".
func shortDuration(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%s%ds", neg, int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%s%dm", neg, int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		m := int(d.Minutes()) - 60*h
		if m == 0 {
			return fmt.Sprintf("%s%dh", neg, h)
		}
		return fmt.Sprintf("%s%dh%02dm", neg, h, m)
	}
	days := int(d.Hours()) / 24
	return fmt.Sprintf("%s%dd%dh", neg, days, int(d.Hours())-24*days)
}

func parseRFC3339(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// text is the human-readable report; its first line is the verdict, as
// monitoring checks show it.
func (rep *statusReport) text() string {
	var b strings.Builder
	now := parseRFC3339(rep.GeneratedAt)
	if rep.Healthy {
		fmt.Fprintf(&b, "OK: backups are fresh (every component's newest complete run is younger than %s)\n",
			shortDuration(time.Duration(rep.MaxAgeSeconds)*time.Second))
	} else {
		fmt.Fprintf(&b, "PROBLEM: %s\n", strings.Join(rep.Problems, "; "))
	}
	fmt.Fprintf(&b, "\nHost %s, %s\n", rep.Host, now.Local().Format("2006-01-02 15:04:05 MST"))
	for _, sr := range rep.Repositories {
		fmt.Fprintf(&b, "\n%s repository", strings.ToUpper(sr.Name[:1])+sr.Name[1:])
		if !sr.Available {
			fmt.Fprintf(&b, ": not readable: %s\n", sr.Error)
		} else {
			if sr.CompleteRuns == 1 {
				b.WriteString(" (1 complete run)\n")
			} else {
				fmt.Fprintf(&b, " (%d complete runs)\n", sr.CompleteRuns)
			}
			var tb strings.Builder
			tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  COMPONENT\tNEWEST COMPLETE RUN\tAGE\tSIZE\tADDED\t")
			for _, sc := range sr.Components {
				if sc.Newest == nil {
					fmt.Fprintf(tw, "  %s\tnone\t-\t-\t-\tSTALE\n", sc.Component)
					continue
				}
				flag := ""
				if sc.Stale {
					flag = "STALE"
				}
				n := sc.Newest
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", sc.Component, n.RunID, shortDuration(time.Duration(n.AgeSeconds)*time.Second),
					humanize.IBytes(n.SizeBytes), humanize.IBytes(n.BytesAdded), flag)
			}
			tw.Flush()
			for _, l := range strings.SplitAfter(tb.String(), "\n") {
				b.WriteString(strings.TrimRight(l, " \n"))
				if strings.HasSuffix(l, "\n") {
					b.WriteString("\n")
				}
			}
		}
		if v := sr.LastVerify; v != nil {
			res := "passed"
			if !v.OK {
				res = "FAILED: " + v.Error
			}
			fmt.Fprintf(&b, "  last verify: %s ago (%s), %s\n", shortDuration(time.Duration(v.AgeSeconds)*time.Second),
				parseRFC3339(v.Time).Local().Format("2006-01-02 15:04"), res)
		} else {
			b.WriteString("  last verify: never recorded\n")
		}
	}
	if l := rep.OffsiteLag; l != nil {
		if len(l.MissingRuns) == 0 {
			b.WriteString("\nOffsite: up to date (every complete local run kept by retention is there)\n")
		} else {
			fmt.Fprintf(&b, "\nOffsite: %d complete run(s) missing, %s behind: %s\n", len(l.MissingRuns),
				shortDuration(time.Duration(l.LagSeconds)*time.Second), strings.Join(l.MissingRuns, ", "))
		}
	}
	b.WriteString("\n")
	if lb := rep.LastBackup; lb != nil {
		res := "succeeded"
		if !lb.Success {
			res = fmt.Sprintf("FAILED (exit %d): %s", lb.ExitStatus, lb.Error)
		} else if lb.Offsite && !lb.OffsiteSuccess {
			res = "succeeded locally, offsite FAILED"
		}
		run := ""
		if lb.RunID != "" {
			run = " run " + lb.RunID + ","
		}
		fmt.Fprintf(&b, "Last backup:%s %s ago, took %s, %s\n", run, shortDuration(time.Duration(lb.AgeSeconds)*time.Second),
			shortDuration(time.Duration(lb.DurationSeconds)*time.Second), res)
	} else {
		b.WriteString("Last backup: never recorded here\n")
	}
	if t := rep.LastRestoreTest; t != nil {
		res := fmt.Sprintf("passed (%s, %.1f s)", t.Components, t.DurationSeconds)
		if !t.OK {
			res = "FAILED: " + t.Error
		}
		fmt.Fprintf(&b, "Last restore drill: %s ago, %s\n", shortDuration(time.Duration(t.AgeSeconds)*time.Second), res)
	} else {
		b.WriteString("Last restore drill: never recorded (timetiles-backup backup verify --restore-test)\n")
	}
	if len(rep.Schedule) == 0 {
		b.WriteString("Schedule: no job installed (timetiles-backup backup auto)\n")
	} else {
		b.WriteString("Schedule:\n")
		for _, j := range rep.Schedule {
			next := "next run unknown: " + j.NextRunError
			if j.NextRun != nil {
				next = fmt.Sprintf("next %s (in %s)", parseRFC3339(*j.NextRun).Local().Format("2006-01-02 15:04 MST"),
					shortDuration(time.Duration(*j.NextRunSeconds)*time.Second))
			}
			fmt.Fprintf(&b, "  %s %q: %s — %s (%s)\n", j.Kind, j.Schedule, strings.Join(j.Commands, " && "), next, j.File)
		}
	}
	if l := rep.Lock; l != nil {
		fmt.Fprintf(&b, "Run lock: held by pid %d (%s), %q, for %s\n", l.PID, l.Host, l.Command, shortDuration(time.Duration(l.AgeSeconds)*time.Second))
	} else {
		b.WriteString("Run lock: free\n")
	}
	if len(rep.Warnings) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, w := range rep.Warnings {
			b.WriteString("  - " + w + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// metrics is what status adds to the metrics file.
func (rep *statusReport) metrics() metrics.StatusMetrics {
	m := metrics.StatusMetrics{Time: parseRFC3339(rep.GeneratedAt), Healthy: rep.Healthy, Newest: map[[2]string]time.Time{}}
	for _, sr := range rep.Repositories {
		for _, sc := range sr.Components {
			if sc.Newest != nil {
				m.Newest[[2]string{sr.Name, sc.Component}] = parseRFC3339(sc.Newest.Time)
			}
		}
	}
	if l := rep.OffsiteLag; l != nil {
		n := len(l.MissingRuns)
		secs := float64(l.LagSeconds)
		m.OffsiteMissing, m.OffsiteLag = &n, &secs
	}
	return m
}
