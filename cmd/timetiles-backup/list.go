// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// ListCommand is `timetiles-backup backup list`.
type ListCommand struct {
	*Meta
}

func (c *ListCommand) Synopsis() string { return "List restore points (runs and their snapshots)" }

func (c *ListCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup backup list [options]

  Lists the restore points, newest first: one line per backup run (the
  snapshots of one backup invocation grouped together) with its state,
  total size, components and snapshot IDs. Snapshots made by TimeTiles' old
  shell tool appear as legacy runs; safety backups taken by restore are
  marked "(safety)", runs of restore drills "(drill)": neither is ever
  chosen by "restore latest" or the restore picker's default, both are
  restorable by their run ID (--json: "purpose"). With --offsite the
  local and the offsite repository are listed side by side: each run's
  state in each (complete, INCOMPLETE, or "-" when it is not there). A
  write-only offsite key cannot list: then only the local repository is
  shown, with a message.

Options:
  --offsite           Also list the offsite repository, side by side.
  --json              Print JSON.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// listJSON is `backup list --json` (docs/json/list.schema.json): the runs,
// newest first.
type listJSON struct {
	SchemaVersion int       `json:"schema_version"`
	Runs          []runJSON `json:"runs"`
}

type runJSON struct {
	RunID    string `json:"run_id"`
	Time     string `json:"time"`
	Host     string `json:"host"`
	Complete bool   `json:"complete"`
	Legacy   bool   `json:"legacy,omitempty"`
	Safety   bool   `json:"safety,omitempty"`
	// Purpose is "safety" or "drill" for runs that are not regular
	// backups: `restore latest` never chooses them.
	Purpose    string            `json:"purpose,omitempty"`
	SizeBytes  uint64            `json:"size_bytes,omitempty"`
	Components map[string]string `json:"components"`
	// Repositories: the run's state in each repository listed.
	Repositories map[string]*repoRunJSON `json:"repositories"`
}

type repoRunJSON struct {
	Complete   bool              `json:"complete"`
	Components map[string]string `json:"components"`
}

func (c *ListCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *ListCommand) run(args []string) error {
	fs := c.FlagSet("backup list")
	var offsite, asJSON bool
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	r, err := c.start(fs, args, c.Help())
	if err != nil {
		return err
	}
	defer r.Close()
	all, _, err := r.ListRuns(c.Ctx, host.Local)
	if err != nil && offsite && errors.Is(err, sdk.ErrNotFound) {
		// A new server after a disaster: only the offsite copy exists.
		c.UI.Warn("The local repository does not exist (yet): listing the offsite one.")
		all, err = nil, nil
	}
	if err != nil {
		return c.fail(r.ScrubError(err), "")
	}
	merged := mergeRuns(all, host.Local, nil)
	repos := []string{host.Local}
	if offsite {
		off, _, err := r.ListRuns(c.Ctx, host.Offsite)
		switch {
		case err != nil && host.IsPermission(err):
			c.UI.Warn("Offsite listing skipped: the offsite credentials may not list snapshots (write-only key). Use full-access credentials to list.")
		case err != nil:
			return c.fail(r.ScrubError(err), "")
		default:
			merged = mergeRuns(off, host.Offsite, merged)
			repos = append(repos, host.Offsite)
		}
	}
	c.print(merged, repos, asJSON)
	return nil
}

// listedRun is one run as found in each repository listed.
type listedRun struct {
	*runs.Run
	in map[string]*runs.Run
}

// mergeRuns adds a repository's runs to a listing, newest first.
func mergeRuns(all []*runs.Run, repo string, into []*listedRun) []*listedRun {
	byID := map[string]*listedRun{}
	for _, l := range into {
		byID[l.ID] = l
	}
	for _, r := range all {
		if l, ok := byID[r.ID]; ok {
			l.in[repo] = r
			continue
		}
		l := &listedRun{Run: r, in: map[string]*runs.Run{repo: r}}
		byID[r.ID] = l
		into = append(into, l)
	}
	sort.SliceStable(into, func(i, j int) bool {
		if into[i].Time.Equal(into[j].Time) {
			return into[i].ID > into[j].ID
		}
		return into[i].Time.After(into[j].Time)
	})
	return into
}

func runSize(r *runs.Run) uint64 {
	var n uint64
	for _, s := range r.Components {
		n += s.Size
	}
	return n
}

func (c *ListCommand) print(all []*listedRun, repos []string, asJSON bool) {
	if asJSON {
		out := listJSON{SchemaVersion: jsonSchemaVersion, Runs: []runJSON{}}
		for _, l := range all {
			r := l.Run
			rj := runJSON{RunID: r.ID, Time: jsonTime(r.Time), Host: r.Host,
				Complete: r.Complete, Legacy: r.Legacy, Safety: r.HasTag(runs.SafetyTag), Purpose: r.Purpose(), SizeBytes: runSize(r),
				Components: map[string]string{}, Repositories: map[string]*repoRunJSON{}}
			for n, s := range r.Components {
				rj.Components[n] = s.ID
			}
			for repo, rr := range l.in {
				st := &repoRunJSON{Complete: rr.Complete, Components: map[string]string{}}
				for n, s := range rr.Components {
					st.Components[n] = s.ID
				}
				rj.Repositories[repo] = st
			}
			out.Runs = append(out.Runs, rj)
		}
		c.outputJSON(out)
		return
	}
	if len(all) == 0 {
		c.UI.Output("No backups yet.")
		return
	}
	if len(repos) == 1 {
		plain := make([]*runs.Run, len(all))
		for i, l := range all {
			plain[i] = l.Run
		}
		c.UI.Output(formatRuns(plain))
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTIME\tHOST\tLOCAL\tOFFSITE\tSIZE\tCOMPONENTS")
	for _, l := range all {
		states := make([]string, len(repos))
		for i, repo := range repos {
			states[i] = "-"
			if rr, ok := l.in[repo]; ok {
				states[i] = runState(rr)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", displayID(l.Run), listTime(l.Time), l.Host,
			states[0], states[1], sizeText(l.Run), componentsText(l.Run))
	}
	tw.Flush()
	c.UI.Output(strings.TrimRight(b.String(), "\n"))
}

func runState(r *runs.Run) string {
	switch {
	case r.Legacy:
		return "legacy"
	case !r.Complete:
		return "INCOMPLETE"
	case r.Purpose() != "":
		return "complete (" + r.Purpose() + ")"
	}
	return "complete"
}

func sizeText(r *runs.Run) string {
	if n := runSize(r); n > 0 {
		return humanize.IBytes(n)
	}
	return "-"
}

func componentsText(r *runs.Run) string {
	var comps []string
	for _, n := range r.ComponentNames() {
		comps = append(comps, n+"="+short(r.Components[n].ID))
	}
	return strings.Join(comps, " ")
}

func formatRuns(all []*runs.Run) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTIME\tHOST\tSTATE\tSIZE\tCOMPONENTS")
	for _, r := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", displayID(r), listTime(r.Time), r.Host, runState(r), sizeText(r), componentsText(r))
	}
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// listTime is a run's time as the lists show it: UTC, as in the run IDs
// (20261204T020000Z-…), with the zone said.
func listTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// displayID is a run's ID as the lists show it. A run of the shell tool has
// no run ID: its ID is its snapshot's, shown short like every snapshot ID
// (`restore` takes the short form: a snapshot ID prefix).
func displayID(r *runs.Run) string {
	if r.Legacy {
		return short(r.ID)
	}
	return r.ID
}
