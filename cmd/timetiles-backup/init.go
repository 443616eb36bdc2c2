// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/sdk"
)

// InitCommand is `timetiles-backup init`.
type InitCommand struct {
	*Meta
}

func (c *InitCommand) Synopsis() string {
	return "Check this server, generate the backup password, create the repositories"
}

func (c *InitCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup init [options]

  Prepares this server for backups. Safe to run again: it never replaces a
  value or a repository that exists.

    1. Starts every plugin the configuration uses (BACKUP_SOURCES,
       BACKUP_TARGET, BACKUP_NOTIFIERS) and asks each to check itself:
       the sources their tools, the database and the uploads directory;
       the target restic (at least 0.16) and the repositories; the
       notifiers their channels (no alert is sent). It prints what each
       verified, and every problem with its fix.
    2. When RESTIC_PASSWORD is empty (and RESTIC_PASSWORD_FILE unset),
       generates a strong one into the env file, editing only that line
       and leaving the file 0600 (before the target is checked: it needs
       the password). Store a copy away from this server: the backups
       cannot be restored without it.
    3. Creates the local repository, and the offsite one when
       RESTIC_OFFSITE_REPOSITORY is set.

  It exits 1 when a check found a problem; warnings do not count.

  The env file is --env-file, $TIMETILES_ENV_FILE or
  ` + config.DefaultEnvFile + `; with --env-file it is created when missing.

  Example:
    sudo timetiles-backup init

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// initStep prints one check line: "  what ...... result".
func (c *InitCommand) step(what, result string) {
	c.UI.Output(fmt.Sprintf("  %-22s %s", what, result))
}

func (c *InitCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *InitCommand) run(args []string) error {
	fs := c.FlagSet("init")
	rest, err := c.Parse(fs, args)
	if err != nil {
		return c.fail(err, c.Help())
	}
	if len(rest) > 0 {
		return c.fail(usageError("init takes no arguments, got %q", strings.Join(rest, " ")), c.Help())
	}
	if c.envFile != "" {
		// The operator named the file: create it (0600) when missing.
		if _, err := os.Stat(c.envFile); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(c.envFile), 0o755); err != nil {
				return c.fail(err, "")
			}
			f, err := os.OpenFile(c.envFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return c.fail(fmt.Errorf("creating env file: %w", err), "")
			}
			f.Close()
		}
	}
	r, err := c.Runner()
	if err != nil {
		return c.fail(err, "")
	}
	defer r.Close()
	failed := 0
	fail := func(what string, err error) {
		failed++
		c.step(what, "FAILED: "+oneLine(r.Scrub(err.Error())))
	}
	if err := r.CheckSettings(); err != nil {
		return c.fail(r.ScrubError(err), "")
	}

	// Every plugin checks itself (the Check call); the password comes
	// before the targets, which refuse to start without one.
	c.UI.Output("Checking this server:")
	sources, err := r.CheckSources(c.Ctx)
	if err != nil {
		return c.fail(err, "")
	}
	for _, pc := range sources {
		failed += c.show(pc)
	}
	var targets []*host.PluginCheck
	if c.password(r, fail) {
		targets = r.CheckTargets(c.Ctx)
		for _, pc := range targets {
			failed += c.show(pc)
		}
	} else {
		// Without a password the target refuses to start: one problem,
		// reported once.
		for _, inst := range r.TargetInstances() {
			targets = append(targets, &host.PluginCheck{Role: inst, Plugin: r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)})
			c.step(inst, "not checked: the repositories need the password (above)")
		}
	}
	for _, pc := range r.CheckNotifiers(c.Ctx) {
		failed += c.show(pc)
	}

	c.UI.Output("Repositories:")
	target := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	for _, pc := range targets {
		inst := pc.Role
		if pc.Running == nil || pc.Problems() > 0 {
			c.step(inst, "not created: fix the problems above first")
			continue
		}
		created, err := host.InitRepository(c.Ctx, r.Log, pc.Running, false)
		switch {
		case err != nil && inst == host.Offsite && host.IsPermission(err):
			c.step(inst, "could not check (the offsite key may not read: write-only?); the first backup --offsite creates it")
		case err != nil:
			fail(inst, err)
		case created:
			c.step(inst, "created "+repoName(r.Cfg, target, inst))
		default:
			c.step(inst, "ok: exists "+repoName(r.Cfg, target, inst))
		}
	}
	if len(targets) == 1 {
		c.step(host.Offsite, "not configured (set RESTIC_OFFSITE_REPOSITORY for offsite copies; see docs/offsite.md)")
	}
	c.UI.Output("")
	if failed > 0 {
		c.UI.Error(fmt.Sprintf("init found %d problem(s): fix them and run `timetiles-backup init` again.", failed))
		return errFailed
	}
	c.UI.Output("Ready. Next: `timetiles-backup backup` for a first backup, then")
	c.UI.Output("`timetiles-backup backup auto` to back up every night at 02:00.")
	return nil
}

// show prints what a plugin found checking itself — a line for the plugin,
// then one per finding, problems followed by their fix — and returns the
// number of problems.
func (c *InitCommand) show(pc *host.PluginCheck) int {
	head := pc.Plugin
	if pc.Version != "" {
		head += " " + pc.Version
	}
	c.UI.Output(fmt.Sprintf("  %s (%s)", pc.Role, head))
	line := func(what, result string) { c.UI.Output(fmt.Sprintf("    %-20s %s", what, oneLine(result))) }
	switch {
	case pc.Err != nil:
		line("plugin", "FAILED: "+pc.Err.Error())
	case pc.Unsupported:
		line("check", "not available: "+pc.Plugin+" cannot check itself (a plugin built without the Check call); it started and accepted its configuration")
	}
	for _, f := range pc.Findings {
		switch f.Severity {
		case sdk.SeverityOK:
			line(f.Name, "ok: "+f.Detail)
			continue
		case sdk.SeverityWarning:
			line(f.Name, "warning: "+f.Problem)
		default:
			line(f.Name, "FAILED: "+f.Problem)
		}
		if f.Fix != "" {
			line("", "fix: "+f.Fix)
		}
	}
	return pc.Problems()
}

// password makes sure the targets have a password: RESTIC_PASSWORD or
// RESTIC_PASSWORD_FILE set, or a new one generated into the env file. It
// reports whether there is one.
func (c *InitCommand) password(r *host.Runner, fail func(string, error)) bool {
	pwOrigin := r.Cfg.Origin("RESTIC_PASSWORD")
	switch {
	case r.Cfg.Get("RESTIC_PASSWORD") != "":
		c.step("password", "ok: RESTIC_PASSWORD is set ("+pwOrigin+")")
		return true
	case r.Cfg.Get("RESTIC_PASSWORD_FILE") != "":
		c.step("password", "ok: RESTIC_PASSWORD_FILE is set ("+r.Cfg.Origin("RESTIC_PASSWORD_FILE")+")")
		return true
	case pwOrigin == "environment":
		fail("password", errors.New("RESTIC_PASSWORD is set but empty in the environment, which wins over the env file: unset it"))
	case r.Cfg.EnvFile == "":
		fail("password", fmt.Errorf("RESTIC_PASSWORD is empty and there is no env file to write it to: pass --env-file %s", config.DefaultEnvFile))
	default:
		pw, err := newPassword()
		var changed bool
		if err == nil {
			changed, err = config.SetEnvIfEmpty(r.Cfg.EnvFile, "RESTIC_PASSWORD", pw)
		}
		switch {
		case err != nil:
			fail("password", err)
		case !changed:
			fail("password", fmt.Errorf("%s changed while init ran: run init again", r.Cfg.EnvFile))
		default:
			r.Cfg.Set("RESTIC_PASSWORD", pw, "file "+r.Cfg.EnvFile)
			c.step("password", "generated into "+r.Cfg.EnvFile+" (RESTIC_PASSWORD, file mode 0600)")
			c.UI.Output("")
			c.UI.Output("  IMPORTANT: copy RESTIC_PASSWORD from " + r.Cfg.EnvFile + " into a password manager")
			c.UI.Output("  or a safe place AWAY FROM THIS SERVER. Without it no backup can be restored,")
			c.UI.Output("  and a lost server takes the password with it:")
			c.UI.Output("    sudo grep ^RESTIC_PASSWORD= " + r.Cfg.EnvFile)
			c.UI.Output("")
			return true
		}
	}
	return false
}

// newPassword returns 32 random bytes in URL-safe base64 (256 bits; no
// character an env file or a shell would need to quote).
func newPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func repoName(cfg *config.Config, target, inst string) string {
	if target != config.DefaultTarget {
		return ""
	}
	if inst == host.Offsite {
		return maskURL(cfg.Get("RESTIC_OFFSITE_REPOSITORY"))
	}
	return cfg.GetDefault("RESTIC_REPOSITORY", "/opt/timetiles/backups/restic-repo")
}
