package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/timetiles/timetiles-backup/host"
)

// PluginsCommand is `timetiles-backup plugins`.
type PluginsCommand struct {
	*Meta
}

func (c *PluginsCommand) Synopsis() string { return "List the plugins found, with versions and status" }

func (c *PluginsCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup plugins [options]

  Lists every plugin binary found and starts each to ask who it is: name,
  kind, plugin version, API versions, path, and whether this host can use
  it (or why it was skipped). Plugins are executables named
  timetiles-backup-<kind>-<name> (kind: source, target, notify), searched
  in --plugin-dir / $TIMETILES_BACKUP_PLUGIN_DIR, the directory of the
  timetiles-backup executable (and ../lib/timetiles-backup), then $PATH;
  the first one found for a name wins.

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

func (c *PluginsCommand) Run(args []string) int {
	fs := c.FlagSet("plugins")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	rest, err := c.Parse(fs, args)
	if err != nil {
		return c.Fail(err, c.Help())
	}
	if len(rest) > 0 {
		return c.Fail(usageError("plugins takes no arguments"), c.Help())
	}
	r, err := c.Runner()
	if err != nil {
		return c.Fail(err, "")
	}
	defer r.Close()
	cands := r.Candidates()
	if asJSON {
		return c.json(r, cands)
	}
	if len(cands) == 0 {
		c.UI.Output("No plugins found in: " + strings.Join(host.SearchDirs(r.PluginDir, ""), ", ") + " and $PATH")
		return ExitFailure
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tAPI\tSTATUS\tPATH")
	bad := 0
	for _, cand := range cands {
		p, err := r.Manager.Launch(c.Ctx, cand)
		if err != nil {
			bad++
			fmt.Fprintf(tw, "%s\t%s\t-\t-\tskipped: %s\t%s\n", cand.Name, cand.Kind, oneLine(err.Error()), cand.Path)
			continue
		}
		status := "ok"
		if len(p.Info.Capabilities) > 0 {
			status = "ok (" + strings.Join(p.Info.Capabilities, ",") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", cand.Name, cand.Kind, p.Info.PluginVersion, p.Info.ApiVersions, status, cand.Path)
		for _, s := range cand.Shadowed {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\tshadowed by the one above\t%s\n", cand.Name, cand.Kind, s)
		}
		p.Close()
	}
	tw.Flush()
	c.UI.Output(strings.TrimRight(b.String(), "\n"))
	if bad > 0 {
		return ExitFailure
	}
	return ExitOK
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (c *PluginsCommand) json(r *host.Runner, cands []host.Candidate) int {
	out := pluginsJSON{SchemaVersion: jsonSchemaVersion, Plugins: []pluginJSON{}}
	bad := 0
	for _, cand := range cands {
		pj := pluginJSON{Name: cand.Name, Kind: cand.Kind, Path: cand.Path, APIVersions: []uint32{}, Capabilities: []string{}}
		p, err := r.Manager.Launch(c.Ctx, cand)
		if err != nil {
			bad++
			pj.Error = oneLine(err.Error())
		} else {
			pj.OK, pj.Version, pj.APIVersions = true, p.Info.PluginVersion, p.Info.ApiVersions
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
		return ExitFailure
	}
	return ExitOK
}
