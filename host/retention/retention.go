// SPDX-License-Identifier: Apache-2.0

// Package retention decides which backup runs `backup prune` keeps.
// Retention works on backup runs, not on single snapshots.
//
// A run is the snapshots of one backup invocation: one per component plus
// the manifest that marks it complete. Applying restic's policy to each
// component's snapshots on its own (forget --group-by tags) would break runs
// apart: when `backup db` runs more often than a full backup, the db policy
// keeps the db-only runs and removes the full run's db snapshot while the
// uploads policy keeps that run's uploads — a manifest naming a snapshot
// that is gone. So the host decides per run and tells the target exactly
// which snapshots to forget (PruneRequest.forget):
//
//   - Restore points are the complete runs (with a manifest) and the legacy
//     snapshots of TimeTiles' shell tool. For every component, the restore
//     points holding it are ranked newest first and restic's rules are
//     applied to them — keep the newest of each of the last N days
//     (BACKUP_KEEP_DAILY), ISO weeks (WEEKLY) and months (MONTHLY), counting
//     only periods that have a backup, in local time — so db and uploads
//     are kept independently: frequent db-only runs never push the last
//     full backups out.
//   - Safety runs (taken by in-place restores) and drill runs are ranked
//     apart from the regular backups, each purpose by the same rules among
//     its own: a safety run taken at noon never takes the day's slot from
//     that night's backup, and old safety runs still expire.
//   - A run is kept when any of its components is kept, and then it is kept
//     whole (components and manifest); otherwise it is removed whole.
//   - Incomplete runs (a component failed, or the run is still being
//     written) never count as restore points: one newer than every complete
//     run is kept (it may be running right now); older ones are removed.
//   - Only snapshots of this host (BACKUP_HOSTNAME, the fixed --host every
//     backup records) are considered, so a container's changing hostname
//     cannot split groups; snapshots of other hosts and snapshots this tool
//     did not write are never touched.
//
// The rules match restic's forget --keep-daily/--keep-weekly/--keep-monthly
// (its ApplyPolicy: a snapshot is kept for a rule when its day, week or
// month differs from the last one kept for that rule and the rule's count
// is not used up; since restic 0.17 the oldest snapshot is also kept while
// a rule has counts left), applied to runs. restic's policy code is internal to
// restic and cannot be imported; retention_test.go checks these rules against
// restic's own forget --dry-run.
package retention

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// PolicyFrom reads the retention policy. A value that is not a whole number
// ≥ 0, or a policy that keeps nothing, is a configuration error naming the
// variable.
func PolicyFrom(cfg *config.Config) (sdk.KeepPolicy, error) {
	var k sdk.KeepPolicy
	for _, v := range []struct {
		key string
		def int
		dst *int
	}{{config.EnvKeepDaily, 7, &k.Daily}, {config.EnvKeepWeekly, 4, &k.Weekly}, {config.EnvKeepMonthly, 12, &k.Monthly}} {
		raw := strings.TrimSpace(cfg.Get(v.key))
		if raw == "" {
			*v.dst = v.def
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > 100000 {
			return k, config.Configf("%s=%q is not a number of backups to keep: use a whole number ≥ 0 (default %d; 0 turns that rule off)", v.key, raw, v.def)
		}
		*v.dst = n
	}
	if k.Daily == 0 && k.Weekly == 0 && k.Monthly == 0 {
		return k, config.Configf("%s, %s and %s are all 0: that would remove every backup; keep at least one", config.EnvKeepDaily, config.EnvKeepWeekly, config.EnvKeepMonthly)
	}
	return k, nil
}

// RunDecision is what retention decided for one run.
type RunDecision struct {
	Run  *runs.Run
	Keep bool
	// Reasons, e.g. "daily db", "monthly uploads", "newest incomplete run".
	Reasons []string
	// Snapshots are the IDs of all of the run's snapshots.
	Snapshots []string
}

// Plan is the outcome of the policy for one repository.
type Plan struct {
	Host   string
	Policy sdk.KeepPolicy
	// Runs of Host, newest first.
	Runs []RunDecision
	// Untouched counts the snapshots left alone: other hosts, not this
	// tool's.
	Untouched int
}

// Removed returns the runs to remove.
func (p *Plan) Removed() []RunDecision {
	var out []RunDecision
	for _, d := range p.Runs {
		if !d.Keep {
			out = append(out, d)
		}
	}
	return out
}

// Kept returns the runs to keep.
func (p *Plan) Kept() []RunDecision {
	var out []RunDecision
	for _, d := range p.Runs {
		if d.Keep {
			out = append(out, d)
		}
	}
	return out
}

// ForgetIDs returns the IDs of every snapshot of the removed runs.
func (p *Plan) ForgetIDs() []string {
	var ids []string
	for _, d := range p.Removed() {
		ids = append(ids, d.Snapshots...)
	}
	return ids
}

type keepRule struct {
	name   string
	count  int
	bucket func(time.Time) int
}

func keepRules(k sdk.KeepPolicy) []keepRule {
	return []keepRule{
		{"daily", k.Daily, func(t time.Time) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }},
		{"weekly", k.Weekly, func(t time.Time) int { y, w := t.ISOWeek(); return y*100 + w }},
		{"monthly", k.Monthly, func(t time.Time) int { return t.Year()*100 + int(t.Month()) }},
	}
}

// Decide applies the policy to a repository's snapshots (see the package
// comment). Times are bucketed in loc (nil: local
// time, as restic does).
func Decide(snaps []sdk.Snapshot, host string, keep sdk.KeepPolicy, loc *time.Location) *Plan {
	if loc == nil {
		loc = time.Local
	}
	p := &Plan{Host: host, Policy: keep}
	var mine []sdk.Snapshot
	for _, s := range snaps {
		if s.Host == host {
			mine = append(mine, s)
		} else {
			p.Untouched++
		}
	}
	all := runs.GroupRuns(mine)
	// Every snapshot ID of each run, duplicates of a component included.
	ids := map[string][]string{}
	grouped := 0
	for _, s := range mine {
		id := runs.RunIDOf(s)
		if id == "" {
			id = s.ID // legacy: a run of one snapshot, or not ours at all
		}
		ids[id] = append(ids[id], s.ID)
	}
	decisions := map[*runs.Run]*RunDecision{}
	for _, run := range all {
		d := &RunDecision{Run: run, Snapshots: ids[run.ID]}
		grouped += len(d.Snapshots)
		decisions[run] = d
	}
	p.Untouched += len(mine) - grouped

	isPoint := func(r *runs.Run) bool { return r.Complete && (r.Legacy || r.Manifest != nil) }
	var newestPoint time.Time
	comps := map[string]bool{}
	for _, r := range all {
		if !isPoint(r) {
			continue
		}
		if r.Time.After(newestPoint) {
			newestPoint = r.Time
		}
		for c := range r.Components {
			comps[c] = true
		}
	}
	var names []string
	for c := range comps {
		names = append(names, c)
	}
	sort.Strings(names)
	// Runs taken for a purpose (the safety backups of in-place restores,
	// restore-drill runs) are ranked apart from the regular backups, each
	// purpose with the same policy among its own: a restore at noon must not
	// take the day's slot from that night's backup (which `restore latest`
	// and the offsite catch-up use), and old safety runs still expire.
	purposes := map[string]bool{}
	for _, r := range all {
		if isPoint(r) {
			purposes[r.Purpose()] = true
		}
	}
	var classes []string
	for pu := range purposes {
		classes = append(classes, pu)
	}
	sort.Strings(classes) // "" (regular backups) first
	for _, c := range names {
		for _, purpose := range classes {
			planComponent(all, decisions, isPoint, keep, loc, c, purpose)
		}
	}
	for _, r := range all {
		d := decisions[r]
		if !isPoint(r) {
			if newestPoint.IsZero() || r.Time.After(newestPoint) {
				d.Keep = true
				d.Reasons = append(d.Reasons, "incomplete, newer than every complete run (may be running)")
			} else {
				d.Reasons = append(d.Reasons, "incomplete, superseded by a newer complete run")
			}
		}
		p.Runs = append(p.Runs, *d)
	}
	return p
}

// planComponent applies the rules to the restore points holding component
// c that were taken for purpose ("" for the regular backups), newest first.
func planComponent(all []*runs.Run, decisions map[*runs.Run]*RunDecision, isPoint func(*runs.Run) bool, keep sdk.KeepPolicy, loc *time.Location, c, purpose string) {
	rules := keepRules(keep)
	last := make([]int, len(rules))
	for i := range last {
		last[i] = -1
	}
	var points []*runs.Run
	for _, r := range all { // newest first
		if _, ok := r.Components[c]; ok && isPoint(r) && r.Purpose() == purpose {
			points = append(points, r)
		}
	}
	suffix := ""
	if purpose != "" {
		suffix = " (" + purpose + " runs)"
	}
	for n, r := range points {
		d := decisions[r]
		t := r.Time.In(loc)
		for i := range rules {
			if rules[i].count == 0 {
				continue
			}
			// Like restic ≥ 0.17, a rule with counts left also keeps
			// the oldest restore point: the longest history possible.
			oldest := n == len(points)-1
			if b := rules[i].bucket(t); b != last[i] || oldest {
				reason := rules[i].name + " " + c + suffix
				if b == last[i] {
					reason = "oldest " + reason
				}
				last[i] = b
				rules[i].count--
				d.Keep = true
				d.Reasons = append(d.Reasons, reason)
			}
		}
	}
}
