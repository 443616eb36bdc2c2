// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/retention"
)

// PruneCommand is `timetiles-backup backup prune`.
type PruneCommand struct {
	*Meta
}

func (c *PruneCommand) Synopsis() string {
	return "Apply the retention policy (keep daily/weekly/monthly backups)"
}

func (c *PruneCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup backup prune [options]

  Removes the backups the retention policy does not keep, then the data no
  backup references any more. It prints "Applying retention policy…" first
  and ends with what was pruned in each repository, as the shell tool did.
  The policy counts backup runs, newest first: it keeps the newest run of
  each of the last BACKUP_KEEP_DAILY days (7), BACKUP_KEEP_WEEKLY weeks (4)
  and BACKUP_KEEP_MONTHLY months (12) that have one, for db and uploads
  independently (frequent "backup db" runs never push the last full
  backups out). The safety backups taken by in-place restores and the
  restore-drill runs are counted apart, by the same policy among their own
  kind, so they never take a backup's place. A run is kept or removed
  whole, so every remaining run stays restorable. Runs that did not complete are
  removed once a newer complete run exists. Only this host's backups
  (BACKUP_HOSTNAME) are considered; nothing else is touched.

  With --offsite the offsite repository is pruned too. A write-only offsite
  key (no delete permission) cannot prune: the offsite part is then skipped
  with a message — no alert, exit 0 — while the local repository is pruned.

Options:
  --dry-run           Show what would be removed; change nothing.
  --offsite           Also prune RESTIC_OFFSITE_REPOSITORY.
  --json              Print the result as JSON.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

type pruneRunJSON struct {
	RunID      string   `json:"run_id"`
	Time       string   `json:"time"`
	Complete   bool     `json:"complete"`
	Legacy     bool     `json:"legacy,omitempty"`
	Components []string `json:"components"`
	Snapshots  []string `json:"snapshots"`
	Reasons    []string `json:"reasons"`
}

type pruneRepoJSON struct {
	Repository string         `json:"repository"`
	Kept       []pruneRunJSON `json:"kept"`
	Removed    []pruneRunJSON `json:"removed"`
	Forgotten  int            `json:"snapshots_forgotten"`
	Untouched  int            `json:"snapshots_untouched"`
	Skipped    string         `json:"skipped,omitempty"`
	Error      string         `json:"error,omitempty"`
}

// pruneJSON is `backup prune --json` (docs/json/prune.schema.json).
type pruneJSON struct {
	SchemaVersion int             `json:"schema_version"`
	DryRun        bool            `json:"dry_run"`
	Host          string          `json:"host"`
	KeepDaily     int             `json:"keep_daily"`
	KeepWeekly    int             `json:"keep_weekly"`
	KeepMonthly   int             `json:"keep_monthly"`
	Repositories  []pruneRepoJSON `json:"repositories"`
	Success       bool            `json:"success"`
}

func (c *PruneCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *PruneCommand) run(args []string) error {
	fs := c.FlagSet("backup prune")
	var offsite, dryRun, asJSON bool
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&dryRun, "dry-run", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	if err := c.parseNoArgs(fs, args, c.Help()); err != nil {
		return err
	}
	if dryRun {
		return c.prune(offsite, dryRun, asJSON)
	}
	return c.pinged("backup prune", func() error { return c.prune(offsite, dryRun, asJSON) })
}

func (c *PruneCommand) prune(offsite, dryRun, asJSON bool) error {
	r, err := c.openRunner(nil)
	if err != nil {
		return err
	}
	defer r.Close()
	if !dryRun {
		unlock, err := r.Lock(c.Ctx)
		if err != nil {
			return c.fail(r.ScrubError(err), "")
		}
		defer unlock()
	}
	keep, err := retention.PolicyFrom(r.Cfg)
	if err != nil {
		return c.fail(err, "")
	}
	if !asJSON {
		// The shell tool's line, which its log greps look for.
		c.UI.Output("Applying retention policy…")
	}
	reps, err := r.Prune(c.Ctx, host.PruneOptions{DryRun: dryRun, Offsite: offsite})
	if len(reps) > 0 {
		if asJSON {
			out := pruneJSON{SchemaVersion: jsonSchemaVersion, DryRun: dryRun, Host: r.Hostname(), KeepDaily: keep.Daily, KeepWeekly: keep.Weekly,
				KeepMonthly: keep.Monthly, Success: err == nil}
			for _, rep := range reps {
				out.Repositories = append(out.Repositories, pruneRepoToJSON(r, rep))
			}
			c.outputJSON(out)
		} else {
			c.UI.Output(fmt.Sprintf("Retention: keep daily %d, weekly %d, monthly %d (host %s)%s",
				keep.Daily, keep.Weekly, keep.Monthly, r.Hostname(), map[bool]string{true: " — dry run, nothing is removed", false: ""}[dryRun]))
			for _, rep := range reps {
				c.printRepo(r, rep, dryRun)
			}
			for _, rep := range reps {
				if line := prunedLine(rep, dryRun); line != "" {
					c.UI.Output(line)
				}
			}
		}
	}
	for _, rep := range reps {
		if rep.Instance != host.Offsite {
			continue
		}
		switch {
		case rep.Skipped != "":
			c.UI.Warn("Offsite prune skipped: " + rep.Skipped)
		case rep.Err != nil:
			c.UI.Warn("Warning: offsite prune failed; the local repository was pruned: " + r.Scrub(rep.Err.Error()))
			_, _ = r.Notify(c.Ctx, r.NewEvent(host.EventOffsiteFailed, "", "", rep.Err))
		}
	}
	if err != nil {
		return c.fail(r.ScrubError(err), "")
	}
	return nil
}

func (c *PruneCommand) printRepo(r *host.Runner, rep *host.PruneReport, dryRun bool) {
	if rep.Plan == nil {
		if rep.Err != nil {
			c.UI.Output(fmt.Sprintf("%s repository: FAILED: %s", rep.Instance, r.Scrub(rep.Err.Error())))
		} else if rep.Skipped != "" {
			c.UI.Output(fmt.Sprintf("%s repository: skipped", rep.Instance))
		}
		return
	}
	kept, removed := rep.Plan.Kept(), rep.Plan.Removed()
	verb := "removing"
	switch {
	case dryRun:
		verb = "would remove"
	case rep.Skipped != "":
		verb = "would remove (skipped)"
	case rep.Err != nil:
		verb = "failed to remove"
	}
	c.UI.Output(fmt.Sprintf("%s repository: %d runs, keeping %d, %s %d (%d snapshots)",
		rep.Instance, len(rep.Plan.Runs), len(kept), verb, len(removed), len(rep.Plan.ForgetIDs())))
	if len(rep.Plan.Runs) == 0 {
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, d := range rep.Plan.Runs {
		action := "keep"
		if !d.Keep {
			action = "remove"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", action, displayID(d.Run), listTime(d.Run.Time),
			strings.Join(d.Run.ComponentNames(), ","), strings.Join(d.Reasons, "; "))
	}
	tw.Flush()
	c.UI.Output(strings.TrimRight(b.String(), "\n"))
	if rep.Err != nil {
		c.UI.Output(fmt.Sprintf("  FAILED: %s", r.Scrub(rep.Err.Error())))
	}
}

func pruneRepoToJSON(r *host.Runner, rep *host.PruneReport) pruneRepoJSON {
	out := pruneRepoJSON{Repository: rep.Instance, Kept: []pruneRunJSON{}, Removed: []pruneRunJSON{}, Forgotten: rep.Forgotten, Skipped: rep.Skipped}
	if rep.Err != nil {
		out.Error = r.Scrub(rep.Err.Error())
	}
	if rep.Plan == nil {
		return out
	}
	out.Untouched = rep.Plan.Untouched
	for _, d := range rep.Plan.Runs {
		snaps := append([]string(nil), d.Snapshots...)
		sort.Strings(snaps)
		rj := pruneRunJSON{RunID: d.Run.ID, Time: d.Run.Time.UTC().Format("2006-01-02T15:04:05Z"), Complete: d.Run.Complete,
			Legacy: d.Run.Legacy, Components: d.Run.ComponentNames(), Snapshots: snaps, Reasons: d.Reasons}
		if d.Keep {
			out.Kept = append(out.Kept, rj)
		} else {
			out.Removed = append(out.Removed, rj)
		}
	}
	return out
}

// prunedLine is the outcome for one repository, last, as the shell tool
// ended its prune: what was pruned (or would be, with --dry-run).
func prunedLine(rep *host.PruneReport, dryRun bool) string {
	if rep.Plan == nil || rep.Err != nil || rep.Skipped != "" {
		return ""
	}
	repo := strings.ToUpper(rep.Instance[:1]) + rep.Instance[1:]
	n, snaps := len(rep.Plan.Removed()), len(rep.Plan.ForgetIDs())
	switch {
	case n == 0:
		return repo + " repository: nothing to prune"
	case dryRun:
		return fmt.Sprintf("%s repository: would prune %s (%s)", repo, plural(n, "run"), plural(snaps, "snapshot"))
	}
	return fmt.Sprintf("%s repository pruned: %s (%s) removed", repo, plural(n, "run"), plural(snaps, "snapshot"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
