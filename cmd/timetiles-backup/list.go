package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/timetiles/timetiles-backup/host"
)

// ListCommand is `timetiles-backup backup list`.
type ListCommand struct {
	*Meta
}

func (c *ListCommand) Synopsis() string { return "List restore points (runs and their snapshots)" }

func (c *ListCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup backup list [options]

  Lists the restore points in the local repository (or the offsite one),
  newest first: one line per backup run with its components and snapshot
  IDs. Snapshots made by TimeTiles' old shell tool appear as legacy runs.

Options:
  --offsite           List the offsite repository instead.
  --json              Print JSON.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

type runJSON struct {
	RunID      string            `json:"run_id"`
	Time       string            `json:"time"`
	Host       string            `json:"host"`
	Complete   bool              `json:"complete"`
	Legacy     bool              `json:"legacy,omitempty"`
	Components map[string]string `json:"components"`
}

func (c *ListCommand) Run(args []string) int {
	fs := c.FlagSet("backup list")
	var offsite, asJSON bool
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	rest, err := c.Parse(fs, args)
	if err != nil {
		return c.Fail(err, c.Help())
	}
	if len(rest) > 0 {
		return c.Fail(usageError("backup list takes no arguments, got %q", strings.Join(rest, " ")), c.Help())
	}
	r, err := c.Runner()
	if err != nil {
		return c.Fail(err, "")
	}
	defer r.Close()
	inst := host.Local
	if offsite {
		inst = host.Offsite
	}
	runs, _, err := r.ListRuns(c.Ctx, inst)
	if err != nil {
		if offsite && host.IsPermission(err) {
			c.UI.Warn("Offsite listing skipped: the offsite credentials may not list snapshots (write-only key). Use full-access credentials to list.")
			return ExitOK
		}
		return c.Fail(r.ScrubError(err), "")
	}
	c.print(runs, asJSON)
	return ExitOK
}

func (c *ListCommand) print(runs []*host.Run, asJSON bool) {
	if asJSON {
		out := []runJSON{}
		for _, r := range runs {
			rj := runJSON{RunID: r.ID, Time: r.Time.UTC().Format("2006-01-02T15:04:05Z"), Host: r.Host,
				Complete: r.Complete, Legacy: r.Legacy, Components: map[string]string{}}
			for n, s := range r.Components {
				rj.Components[n] = s.ID
			}
			out = append(out, rj)
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		c.UI.Output(string(b))
		return
	}
	if len(runs) == 0 {
		c.UI.Output("No backups yet.")
		return
	}
	c.UI.Output(formatRuns(runs))
}

func formatRuns(runs []*host.Run) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTIME\tHOST\tSTATE\tCOMPONENTS")
	for _, r := range runs {
		state := "complete"
		switch {
		case r.Legacy:
			state = "legacy"
		case !r.Complete:
			state = "INCOMPLETE"
		}
		var comps []string
		for _, n := range r.ComponentNames() {
			comps = append(comps, n+"="+short(r.Components[n].ID))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Time.Local().Format("2006-01-02 15:04:05"), r.Host, state, strings.Join(comps, " "))
	}
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}
