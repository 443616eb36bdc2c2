// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/retention"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// status: what the repositories and the state file say, gathered into
// the report (statusReport).

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

func parseRFC3339(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}
