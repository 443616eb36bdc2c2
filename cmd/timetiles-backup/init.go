// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/internal/restic"
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

    1. Checks restic (at least ` + restic.MinVersion.String() + `), the PostgreSQL tools or
       container, the uploads directory and every plugin's configuration.
    2. When RESTIC_PASSWORD is empty (and RESTIC_PASSWORD_FILE unset),
       generates a strong one into the env file, editing only that line
       and leaving the file 0600. Store a copy away from this server: the
       backups cannot be restored without it.
    3. Creates the local repository, and the offsite one when
       RESTIC_OFFSITE_REPOSITORY is set.

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

	c.UI.Output("Checking this server:")
	// restic: the target plugin checks it too, but the operator wants to
	// see which restic and why it is refused.
	if r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget) == config.DefaultTarget {
		bin := r.Cfg.GetDefault("BACKUP_RESTIC_BIN", "restic")
		v, err := (&restic.Repo{Binary: bin}).Version(c.Ctx)
		if err == nil {
			err = restic.CheckSupported(v)
		}
		if err != nil {
			fail("restic", fmt.Errorf("%s: %v: install restic ≥ %s (Ubuntu: apt install restic) or set BACKUP_RESTIC_BIN", bin, err, restic.MinVersion))
		} else {
			path, _ := exec.LookPath(bin)
			c.step("restic", fmt.Sprintf("ok: %s (%s)", v, path))
		}
	}
	order, sources, err := r.SourceMap()
	if err != nil {
		return c.fail(err, "")
	}
	for _, comp := range order {
		switch sources[comp] {
		case "source-postgres":
			if res, err := checkPostgres(c.Ctx, r.Cfg); err != nil {
				fail(comp+" (PostgreSQL)", err)
			} else {
				c.step(comp+" (PostgreSQL)", res)
			}
		case "source-volume":
			if res, err := checkUploads(c.Ctx, r.Cfg); err != nil {
				fail(comp+" (files)", err)
			} else {
				c.step(comp+" (files)", res)
			}
		}
	}

	// The password, before the plugins are configured (the target refuses
	// to start without one).
	pwOrigin := r.Cfg.Origin("RESTIC_PASSWORD")
	switch {
	case r.Cfg.Get("RESTIC_PASSWORD") != "":
		c.step("password", "ok: RESTIC_PASSWORD is set ("+pwOrigin+")")
	case r.Cfg.Get("RESTIC_PASSWORD_FILE") != "":
		c.step("password", "ok: RESTIC_PASSWORD_FILE is set ("+r.Cfg.Origin("RESTIC_PASSWORD_FILE")+")")
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
		}
	}

	// Every plugin a backup uses must start and accept its configuration;
	// then the repositories are created.
	plan, err := r.Plan(c.Ctx, host.BackupOptions{})
	if err != nil {
		return c.fail(r.ScrubError(err), "")
	}
	for _, pc := range plan.Components {
		if pc.Err != nil {
			fail(pc.Component+" plugin", pc.Err)
		} else {
			c.step(pc.Component+" plugin", "ok: "+pc.Plugin+" "+pc.Version)
		}
	}
	c.UI.Output("Repositories:")
	target := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	insts := []string{host.Local}
	if target != config.DefaultTarget || r.Cfg.Get("RESTIC_OFFSITE_REPOSITORY") != "" {
		insts = append(insts, host.Offsite)
	}
	for _, inst := range insts {
		created, err := initRepo(c.Ctx, r, target, inst)
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
	if len(insts) == 1 {
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

func initRepo(ctx context.Context, r *host.Runner, target, inst string) (bool, error) {
	t, err := r.Start(ctx, target, inst)
	if err != nil {
		return false, err
	}
	return host.InitRepository(ctx, r.Log, t, false)
}

// directKeys select source-postgres' direct mode (the same list the plugin
// uses); without them it runs the tools inside the PostgreSQL container.
var directKeys = []string{"BACKUP_DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"}

// checkPostgres checks that the PostgreSQL client tools the source plugin
// will run exist: in the container (container mode) or on this host.
func checkPostgres(ctx context.Context, cfg *config.Config) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	direct := false
	for _, k := range directKeys {
		direct = direct || cfg.Get(k) != ""
	}
	if !direct {
		docker := cfg.GetDefault("BACKUP_DOCKER", "docker")
		ctr := cfg.Get("BACKUP_DB_CONTAINER")
		if ctr == "" {
			ctr = cfg.GetDefault("COMPOSE_PROJECT_NAME", "timetiles") + "-postgres"
		}
		out, err := exec.CommandContext(ctx, docker, "inspect", "--format", "{{.State.Running}}", "--", ctr).Output()
		if err != nil {
			return "", fmt.Errorf("container %s: %v: start TimeTiles (docker compose up -d), or set BACKUP_DB_CONTAINER to the PostgreSQL container, or BACKUP_DATABASE_URL to connect directly", ctr, cmdErr(err))
		}
		if strings.TrimSpace(string(out)) != "true" {
			return "", fmt.Errorf("container %s is not running: start it (docker compose up -d)", ctr)
		}
		v, err := exec.CommandContext(ctx, docker, "exec", ctr, "pg_dump", "--version").Output()
		if err != nil {
			return "", fmt.Errorf("pg_dump in container %s: %v", ctr, cmdErr(err))
		}
		return fmt.Sprintf("ok: container %s, %s", ctr, strings.TrimSpace(string(v))), nil
	}
	dir := cfg.Get("BACKUP_PG_BIN_DIR")
	var vers []string
	for _, tool := range []string{"pg_dump", "pg_restore", "psql"} {
		p := tool
		if dir != "" {
			p = filepath.Join(dir, tool)
		}
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s not found (%s): install the PostgreSQL client tools matching the server's major version, or set BACKUP_PG_BIN_DIR", tool, where(dir))
		}
		if tool == "pg_dump" {
			out, err := exec.CommandContext(ctx, path, "--version").Output()
			if err != nil {
				return "", fmt.Errorf("%s --version: %v", path, cmdErr(err))
			}
			vers = append(vers, strings.TrimSpace(string(out))+" ("+path+")")
		}
	}
	return "ok: direct connection, " + strings.Join(vers, ", "), nil
}

func where(dir string) string {
	if dir == "" {
		return "searched $PATH"
	}
	return "in BACKUP_PG_BIN_DIR=" + dir
}

// checkUploads checks the uploads directory (or Docker volume) the volume
// source will read, resolved the way the plugin resolves it.
func checkUploads(ctx context.Context, cfg *config.Config) (string, error) {
	if vol := cfg.Get("BACKUP_UPLOADS_VOLUME"); vol != "" {
		out, err := exec.CommandContext(ctx, cfg.GetDefault("BACKUP_DOCKER", "docker"), "volume", "inspect", "--format", "{{.Mountpoint}}", "--", vol).Output()
		if err != nil {
			return "", fmt.Errorf("docker volume %s: %v: set BACKUP_UPLOADS_VOLUME to an existing volume (docker volume ls) or use UPLOAD_HOST_DIR", vol, cmdErr(err))
		}
		return "ok: docker volume " + vol + " at " + strings.TrimSpace(string(out)), nil
	}
	dir := cfg.GetDefault("UPLOAD_HOST_DIR", "./uploads")
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cfg.GetDefault("TIMETILES_DIR", "/opt/timetiles"), dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return "", fmt.Errorf("uploads directory %s: %v: set UPLOAD_HOST_DIR (or TIMETILES_DIR) to TimeTiles' uploads directory", dir, err)
	case !fi.IsDir():
		return "", fmt.Errorf("uploads directory %s is not a directory", dir)
	}
	return "ok: " + dir, nil
}

func cmdErr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return err.Error()
}
