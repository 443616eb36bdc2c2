// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
)

// PluginsCommand is `timetiles-backup plugins`.
type PluginsCommand struct {
	*Meta
}

func (c *PluginsCommand) Synopsis() string { return "List the plugins found, with versions and status" }

func (c *PluginsCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup plugins [options]

  Lists every plugin binary found. Each plugin this configuration uses
  (BACKUP_SOURCES, BACKUP_TARGET, BACKUP_NOTIFIERS) is started to ask who
  it is: name, kind, plugin version, API versions, path, and whether this
  host can use it (or why it was skipped); the others are listed and not
  started. Plugins are executables named timetiles-backup-<kind>-<name>
  (kind: source, target, notify), searched in --plugin-dir /
  $TIMETILES_BACKUP_PLUGIN_DIR, the directory of the timetiles-backup
  executable (and ../lib/timetiles-backup), then $PATH — by root only with
  TIMETILES_BACKUP_SEARCH_PATH=1; the first one found for a name wins.
  Run as root, a plugin directory or binary that a user other than root
  owns or can write (or any directory above it) is refused, and so is a
  BACKUP_PLUGIN_CHECKSUMS pin that names no plugin found (exit 2).

Options:
  --json              Print JSON.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// pluginsJSON is `plugins --json` (docs/json/plugins.schema.json).
type pluginsJSON struct {
	SchemaVersion int          `json:"schema_version"`
	Plugins       []pluginJSON `json:"plugins"`
}

type pluginJSON struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Version      string   `json:"version,omitempty"`
	APIVersions  []uint32 `json:"api_versions"`
	OK           bool     `json:"ok"`
	Capabilities []string `json:"capabilities"`
	Error        string   `json:"error,omitempty"`
	Path         string   `json:"path"`
	ShadowedBy   string   `json:"shadowed_by,omitempty"`
}

func (c *PluginsCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *PluginsCommand) run(args []string) error {
	fs := c.FlagSet("plugins")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	r, err := c.start(fs, args, c.Help())
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.CheckDiscovery(); err != nil {
		return c.fail(err, "")
	}
	used, err := r.UsedPlugins()
	if err != nil {
		return c.fail(err, "")
	}
	cands := r.Candidates()
	if asJSON {
		return c.json(r, cands)
	}
	if len(cands) == 0 {
		c.UI.Output("No plugins found in: " + strings.Join(r.SearchDirs(), ", ") + r.PathNote())
		return errFailed
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tAPI\tSTATUS\tPATH")
	bad, refused := 0, 0
	found := map[string]bool{}
	for _, cand := range cands {
		found[cand.Name] = true
		shadowed := func() {
			for _, s := range cand.Shadowed {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\tshadowed by the one above\t%s\n", cand.Name, cand.Kind, s)
			}
		}
		if !slices.Contains(used, cand.Name) {
			// Not run: a binary the configuration does not use is never
			// executed, not even to ask its version.
			status := "not started (not used by this configuration)"
			if err := plugin.CheckPluginBinary(cand); err != nil {
				status = "refused: " + oneLine(err.Error())
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%s\t%s\n", cand.Name, cand.Kind, status, cand.Path)
			shadowed()
			continue
		}
		p, err := r.Manager.Launch(c.Ctx, cand)
		if err != nil {
			bad++
			what := "skipped"
			if errors.Is(err, config.ErrConfig) {
				refused++
				what = "refused"
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%s: %s\t%s\n", cand.Name, cand.Kind, what, oneLine(err.Error()), cand.Path)
			shadowed()
			continue
		}
		status := "ok"
		if len(p.Info.Capabilities) > 0 {
			status = "ok (" + strings.Join(p.Info.Capabilities, ",") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", cand.Name, cand.Kind, p.Info.Version, p.Info.APIVersions, status, cand.Path)
		shadowed()
		p.Close()
	}
	for _, n := range used {
		if !found[n] {
			bad++
			kind, _ := plugin.KindOfName(n)
			fmt.Fprintf(tw, "%s\t%s\t-\t-\tnot found (this configuration uses it)\t-\n", n, kind)
		}
	}
	tw.Flush()
	c.UI.Output(strings.TrimRight(b.String(), "\n"))
	switch {
	case refused > 0:
		return reported(usageError("a plugin refused the configuration (see above)"))
	case bad > 0:
		return errFailed
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (c *PluginsCommand) json(r *host.Runner, cands []plugin.Candidate) error {
	out := pluginsJSON{SchemaVersion: jsonSchemaVersion, Plugins: []pluginJSON{}}
	bad := 0
	for _, cand := range cands {
		pj := pluginJSON{Name: cand.Name, Kind: cand.Kind, Path: cand.Path, APIVersions: []uint32{}, Capabilities: []string{}}
		p, err := r.Manager.Launch(c.Ctx, cand)
		if err != nil {
			bad++
			pj.Error = oneLine(err.Error())
		} else {
			pj.OK, pj.Version, pj.APIVersions = true, p.Info.Version, p.Info.APIVersions
			if p.Info.Capabilities != nil {
				pj.Capabilities = p.Info.Capabilities
			}
			p.Close()
		}
		out.Plugins = append(out.Plugins, pj)
		for _, s := range cand.Shadowed {
			out.Plugins = append(out.Plugins, pluginJSON{Name: cand.Name, Kind: cand.Kind, Path: s, APIVersions: []uint32{},
				Capabilities: []string{}, ShadowedBy: cand.Path})
		}
	}
	c.outputJSON(out)
	if bad > 0 || len(cands) == 0 {
		return errFailed
	}
	return nil
}
