// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/host"
)

// planJSON is `backup --dry-run --json` (docs/json/backup-dry-run.schema.json).
type planJSON struct {
	SchemaVersion int                 `json:"schema_version"`
	DryRun        bool                `json:"dry_run"`
	Success       bool                `json:"success"`
	Error         string              `json:"error,omitempty"`
	Components    []planComponentJSON `json:"components"`
	Targets       []planTargetJSON    `json:"targets"`
	Notifiers     []string            `json:"notifiers"`
}

type planComponentJSON struct {
	Component string `json:"component"`
	Plugin    string `json:"plugin"`
	Error     string `json:"error,omitempty"`
}

type planTargetJSON struct {
	Instance string `json:"instance"`
	Plugin   string `json:"plugin"`
	Exists   bool   `json:"exists"`
	Runs     int    `json:"runs"`
	Warning  string `json:"warning,omitempty"`
	Error    string `json:"error,omitempty"`
}

// dryRun is `backup --dry-run`: every plugin the run needs is started and
// configured and the repositories are looked at; nothing is written.
func (c *BackupCommand) dryRun(r *host.Runner, opts host.BackupOptions, asJSON bool) error {
	p, err := r.Plan(c.Ctx, opts)
	if err != nil {
		return c.fail(r.ScrubError(err), "")
	}
	perr := p.Err()
	if asJSON {
		out := planJSON{SchemaVersion: jsonSchemaVersion, DryRun: true, Success: perr == nil, Notifiers: p.Notifiers,
			Components: []planComponentJSON{}, Targets: []planTargetJSON{}}
		if out.Notifiers == nil {
			out.Notifiers = []string{}
		}
		if perr != nil {
			out.Error = r.Scrub(perr.Error())
		}
		for _, pc := range p.Components {
			j := planComponentJSON{Component: pc.Component, Plugin: pc.Plugin}
			if pc.Err != nil {
				j.Error = r.Scrub(pc.Err.Error())
			}
			out.Components = append(out.Components, j)
		}
		for _, t := range p.Targets {
			j := planTargetJSON{Instance: t.Instance, Plugin: t.Plugin, Exists: t.Exists, Runs: t.Runs, Warning: t.Warning}
			if t.Err != nil {
				j.Error = r.Scrub(t.Err.Error())
			}
			out.Targets = append(out.Targets, j)
		}
		c.outputJSON(out)
	} else {
		c.UI.Output("Dry run: nothing is written.")
		c.UI.Output("A backup would stream:")
		for _, pc := range p.Components {
			line := fmt.Sprintf("  %-8s from %s", pc.Component, pc.Plugin)
			if pc.Err != nil {
				line += "  FAILED: " + oneLine(r.Scrub(pc.Err.Error()))
			}
			c.UI.Output(line)
		}
		c.UI.Output("into:")
		for _, t := range p.Targets {
			line := fmt.Sprintf("  %-8s %s: ", t.Instance, t.Plugin)
			switch {
			case t.Err != nil:
				line += "FAILED: " + oneLine(r.Scrub(t.Err.Error()))
			case t.Warning != "":
				line += t.Warning
			case t.Exists:
				line += fmt.Sprintf("repository exists, %d restore point(s)", t.Runs)
			default:
				line += "repository does not exist yet; the backup would create it"
			}
			c.UI.Output(line)
		}
		c.UI.Output("then write the run manifest; failures alert through " + strings.Join(p.Notifiers, ", ") + ".")
	}
	if perr != nil {
		if !asJSON {
			c.UI.Error("Error: " + r.Scrub(perr.Error()))
		}
		return reported(perr)
	}
	return nil
}
