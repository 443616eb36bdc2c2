// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// ConfigCommand is `timetiles-backup config`.
type ConfigCommand struct {
	*Meta
}

func (c *ConfigCommand) Synopsis() string {
	return "Show the effective configuration and where each value came from"
}

func (c *ConfigCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup config [options]

  Prints every variable timetiles-backup and its plugins read, with its
  effective value and where that value came from: "environment", "file
  PATH" (the env file) or "default". Secrets are masked. The variables are
  those the host reads plus those every plugin this configuration uses
  declares (BACKUP_SOURCES, BACKUP_TARGET, BACKUP_NOTIFIERS: they are
  started to ask them; no other plugin binary is run). Variables named like
  ours (BACKUP_*, RESTIC_*, TIMETILES_*) that nothing reads are listed as
  unknown: a typo? Exit 2 when plugin discovery is refused (see
  timetiles-backup plugins --help) or a plugin used is refused.

Options:
  --all               Also list variables that are unset and have no
                      default.
  --json              Print JSON.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

type configEntry struct {
	Name    string   `json:"name"`
	Value   string   `json:"value"`
	Set     bool     `json:"set"`
	Secret  bool     `json:"secret"`
	Origin  string   `json:"origin"`
	Default string   `json:"default,omitempty"`
	UsedBy  []string `json:"used_by"`
	Unknown bool     `json:"unknown,omitempty"`
}

// configJSON is `config --json` (docs/json/config.schema.json).
type configJSON struct {
	SchemaVersion int           `json:"schema_version"`
	EnvFile       string        `json:"env_file"`
	Entries       []configEntry `json:"variables"`
	Plugins       []string      `json:"plugins"`
	Errors        []string      `json:"plugin_errors,omitempty"`
}

func (c *ConfigCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *ConfigCommand) run(args []string) error {
	fs := c.FlagSet("config")
	var all, asJSON bool
	fs.BoolVar(&all, "all", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	r, err := c.start(fs, args, c.Help())
	if err != nil {
		return err
	}
	defer r.Close()
	infos, names, perr, refused := pluginInfos(c.Meta, r)
	out := configJSON{SchemaVersion: jsonSchemaVersion, EnvFile: r.Cfg.EnvFile, Plugins: names, Errors: perr}
	known := map[string]bool{}
	for _, k := range config.KnownKeys(infos) {
		known[k.Name] = true
		v, set := r.Cfg.Lookup(k.Name)
		if !set && k.Default == "" && !all {
			continue
		}
		e := configEntry{Name: k.Name, Set: set, Secret: k.Secret || config.IsSecretKey(k.Name), Origin: r.Cfg.Origin(k.Name),
			Default: k.Default, UsedBy: k.UsedBy}
		switch {
		case set && e.Secret && v != "":
			e.Value = "********"
		case set:
			e.Value = maskURL(v)
		default:
			e.Value = k.Default
		}
		out.Entries = append(out.Entries, e)
	}
	for _, k := range r.Cfg.Keys() {
		if known[k] || !ourKey.MatchString(k) || k == wire.EnvFDChannel {
			continue
		}
		v, _ := r.Cfg.Lookup(k)
		e := configEntry{Name: k, Set: true, Secret: config.IsSecretKey(k), Origin: r.Cfg.Origin(k), Unknown: true, UsedBy: []string{}}
		e.Value = maskURL(v)
		if e.Secret && v != "" {
			e.Value = "********"
		}
		out.Entries = append(out.Entries, e)
	}
	if asJSON {
		c.outputJSON(out)
	} else {
		c.print(out)
	}
	switch {
	case refused:
		return reported(usageError("a plugin refused the configuration (see above)"))
	case len(perr) > 0:
		return errFailed
	}
	return nil
}

// ourKey matches names in timetiles-backup's name spaces, so that a typo
// in the env file (BACKUP_KEEP_DAYLY) is pointed out; TimeTiles' own
// variables in the shared env file are not.
var ourKey = regexp.MustCompile(`^(BACKUP|RESTIC|TIMETILES_BACKUP)_`)

func (c *ConfigCommand) print(out configJSON) {
	file := out.EnvFile
	if file == "" {
		file = "none (set --env-file or " + config.EnvEnvFile + ")"
	}
	c.UI.Output("Env file: " + file)
	c.UI.Output("Plugins:  " + strings.Join(out.Plugins, ", "))
	c.UI.Output("")
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tVALUE\tFROM\tUSED BY")
	var unknown []configEntry
	for _, e := range out.Entries {
		if e.Unknown {
			unknown = append(unknown, e)
			continue
		}
		v := e.Value
		switch {
		case !e.Set && e.Default == "":
			v = "(unset)"
		case e.Set && v == "":
			v = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, oneLine(v), e.Origin, strings.Join(e.UsedBy, ","))
	}
	tw.Flush()
	c.UI.Output(strings.TrimRight(b.String(), "\n"))
	if len(unknown) > 0 {
		c.UI.Output("")
		c.UI.Output("Set but read by nothing (a typo? a plugin that is not installed?):")
		for _, e := range unknown {
			c.UI.Output(fmt.Sprintf("  %s=%s  (%s)", e.Name, e.Value, e.Origin))
		}
	}
	for _, e := range out.Errors {
		c.UI.Error("Error: " + e)
	}
}

// maskURL hides the password of a URL-shaped value
// (rest:https://user:pass@host/ or postgres://user:pass@host/db).
func maskURL(v string) string {
	i := strings.Index(v, "://")
	if i < 0 {
		return v
	}
	prefix, rest := v[:i+3], v[i+3:]
	at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@")
	if at < 0 {
		return v
	}
	userinfo := rest[:at]
	if u, _, ok := strings.Cut(userinfo, ":"); ok {
		if dec, err := url.PathUnescape(u); err == nil {
			u = dec
		}
		return prefix + u + ":********" + rest[at:]
	}
	return v
}

// pluginInfos starts the plugins this configuration uses (in parallel) —
// no other binary — and returns their Info, their names, an error line for
// each that could not be found or started, and whether any error is a
// configuration error (exit 2: a refused plugin directory, binary or pin).
func pluginInfos(m *Meta, r *host.Runner) ([]sdk.Info, []string, []string, bool) {
	if err := r.CheckDiscovery(); err != nil {
		return nil, nil, []string{oneLine(r.Scrub(err.Error()))}, true
	}
	used, err := r.UsedPlugins()
	if err != nil {
		return nil, nil, []string{oneLine(r.Scrub(err.Error()))}, true
	}
	var cands []plugin.Candidate
	var bad []string
	refused := false
	for _, n := range used {
		found := false
		for _, cand := range r.Candidates() {
			if cand.Name == n {
				cands, found = append(cands, cand), true
			}
		}
		if !found {
			bad = append(bad, fmt.Sprintf("plugin %s is used by this configuration but not found in %s%s", n, strings.Join(r.SearchDirs(), ", "), r.PathNote()))
		}
	}
	infos := make([]sdk.Info, len(cands))
	errs := make([]error, len(cands))
	var wg sync.WaitGroup
	for i, cand := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.Manager.Launch(m.Ctx, cand)
			if err != nil {
				errs[i] = err
				return
			}
			infos[i] = p.Info
			p.Close()
		}()
	}
	wg.Wait()
	var out []sdk.Info
	var names []string
	for i, cand := range cands {
		if errs[i] != nil {
			refused = refused || errors.Is(errs[i], config.ErrConfig)
			bad = append(bad, fmt.Sprintf("plugin %s: %s", cand.Name, oneLine(r.Scrub(errs[i].Error()))))
			continue
		}
		infos[i].Name = cand.Name
		out = append(out, infos[i])
		names = append(names, cand.Name)
	}
	sort.Strings(names)
	return out, names, bad, refused
}
