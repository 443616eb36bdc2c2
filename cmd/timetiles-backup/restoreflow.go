// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/timetiles/timetiles-backup/host/plugin"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// hookTimeout bounds BACKUP_PRE/POST_RESTORE_COMMAND (docker compose stop
// waits 10 s per container by default).
const hookTimeout = 10 * time.Minute

// restoreComponents are the components a restore of run with o works on.
func restoreComponents(run *runs.Run, o host.RestoreOptions) []string {
	if len(o.Components) > 0 {
		return o.Components
	}
	return run.ComponentNames()
}

// inPlaceComponents are the components of a restore that overwrite
// production data: as their sources declare them, a database unless
// --to-database, a directory or stream unless --to.
func inPlaceComponents(run *runs.Run, o host.RestoreOptions, specs map[string]sdk.ComponentSpec) []string {
	var out []string
	for _, c := range restoreComponents(run, o) {
		db := specs[c].Restore == sdk.RestoreDatabase
		if (db && o.ToDatabase == "") || (!db && o.ToDir == "") {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// scratchComponents are the components of a restore written beside
// production: those not in inPlace.
func scratchComponents(run *runs.Run, o host.RestoreOptions, inPlace []string) []string {
	comps := run.ComponentNames()
	if len(o.Components) > 0 {
		comps = o.Components
	}
	var out []string
	for _, c := range comps {
		if !slices.Contains(inPlace, c) {
			out = append(out, c)
		}
	}
	return out
}

// confirmText names what a restore overwrites and what happens around it.
func confirmText(what string, inPlace []string, safety bool, cfg *config.Config) string {
	lines := []string{"This OVERWRITES " + what + "."}
	if len(inPlace) == 0 {
		lines = []string{"This writes " + what + "; production data is not touched."}
	}
	if len(inPlace) > 0 && cfg.Get(config.EnvPreRestoreCommand) != "" {
		lines = append(lines, "First: "+cfg.Get(config.EnvPreRestoreCommand))
	}
	if safety {
		lines = append(lines, "A safety backup of "+strings.Join(inPlace, " and ")+" is taken before anything is overwritten.")
	} else if len(inPlace) > 0 {
		lines = append(lines, "NO safety backup is taken (--no-safety-backup): there is no way back.")
	}
	if len(inPlace) > 0 && cfg.Get(config.EnvPostRestoreCommand) != "" {
		lines = append(lines, "Afterwards: "+cfg.Get(config.EnvPostRestoreCommand))
	}
	return strings.Join(lines, "\n")
}

// runHook runs an operator's command with /bin/sh, in TIMETILES_DIR when
// that exists, its output going to the operator's stderr.
func (c *RestoreCommand) runHook(ctx context.Context, cfg *config.Config, key string, env []string) error {
	cmdline := cfg.Get(key)
	c.UI.Output("Running " + key + ": " + cmdline)
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", cmdline)
	if dir := cfg.GetDefault("TIMETILES_DIR", "/opt/timetiles"); dirExists(dir) {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = c.Stderr, c.Stderr
	// Its own process group, so a timeout stops what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s did not finish within %s", key, hookTimeout)
	}
	if err != nil {
		return fmt.Errorf("%s failed: %v", key, err)
	}
	return nil
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// execute carries out a confirmed restore: pre command, safety backup,
// restore, post command (always, once the pre command was started).
func (c *RestoreCommand) execute(r *host.Runner, run *runs.Run, t *plugin.Plugin, opts host.RestoreOptions, inPlace []string, safety bool) error {
	hookEnv := []string{"TIMETILES_RESTORE_RUN=" + run.ID, "TIMETILES_RESTORE_COMPONENTS=" + strings.Join(inPlace, ",")}
	hooks := len(inPlace) > 0
	started := false // the in-place part began: the post command is due
	var postErr error
	post := func(result string) {
		if started && r.Cfg.Get(config.EnvPostRestoreCommand) != "" {
			// Runs even after an interrupt: the application must come back.
			postErr = c.runHook(context.Background(), r.Cfg, config.EnvPostRestoreCommand, append(hookEnv, "TIMETILES_RESTORE_RESULT="+result))
			if postErr != nil {
				c.UI.Error("Error: " + postErr.Error() + ": start TimeTiles by hand (cd /opt/timetiles && docker compose up -d)")
			}
		}
	}
	fail := func(err error) error {
		post("failure")
		// A restore beside production that the source refuses as the
		// operator's input (exit 2: the production database's name, a
		// non-empty --to-database) touched nothing: a usage error, not
		// alerted. Once anything in place started, every failure alerts.
		refused := !started && c.ExitCode(err) == ExitUsage
		if c.Ctx.Err() == nil && !refused {
			_, _ = r.Notify(c.Ctx, r.NewEvent(host.EventRestoreFailed, strings.Join(opts.Components, ","), run.ID, err))
		}
		return c.fail(r.ScrubError(err), "")
	}
	// Components restored beside production (--to-database, --to) go
	// first: one that is refused (a non-empty database, the production
	// name) stops the restore before any hook ran or anything in place was
	// touched.
	var done, notes []string
	if scratch := scratchComponents(run, opts, inPlace); len(scratch) > 0 && hooks {
		sopts := opts
		sopts.Components = scratch
		c.UI.Output("Restoring " + runDescription(run) + " from the " + opts.Instance + " repository: first " + strings.Join(scratch, " and ") + " beside production.")
		rep, err := r.Restore(c.Ctx, run, t, sopts)
		if err != nil {
			return fail(fmt.Errorf("%w: nothing in place was touched", err))
		}
		done = rep.Restored
		notes = rep.Notes
		opts.Components = inPlace
	}
	started = hooks
	if hooks && r.Cfg.Get(config.EnvPreRestoreCommand) != "" {
		if err := c.runHook(c.Ctx, r.Cfg, config.EnvPreRestoreCommand, hookEnv); err != nil {
			return fail(fmt.Errorf("%w: nothing was restored", err))
		}
	}
	safetyID := ""
	if safety {
		c.UI.Output("Taking a safety backup of the current " + strings.Join(inPlace, " and ") + " before overwriting…")
		rep, err := r.Backup(c.Ctx, host.BackupOptions{Components: inPlace, Tags: []string{runs.SafetyTag}})
		if rep != nil {
			(&BackupCommand{Meta: c.Meta}).report(r, rep, false, 0)
		}
		if err != nil {
			return fail(fmt.Errorf("safety backup failed: %w: nothing was restored; fix the problem, or pass --no-safety-backup to restore without a way back", err))
		}
		safetyID = rep.RunID
		c.UI.Output("Safety backup: run " + safetyID + " (undo with: timetiles-backup restore " + safetyID + ")")
	}
	c.UI.Output("Restoring " + runDescription(run) + " from the " + opts.Instance + " repository.")
	rep, err := r.Restore(c.Ctx, run, t, opts)
	if err != nil {
		if opts.Instance == host.Offsite && host.IsPermission(err) {
			err = fmt.Errorf("the offsite credentials may not read this repository (write-only key): use full-access credentials to restore from offsite: %w", err)
		}
		if safetyID != "" {
			defer c.UI.Error("The state before this restore is safety backup run " + safetyID + ": timetiles-backup restore " + safetyID)
		}
		return fail(err)
	}
	c.UI.Output(fmt.Sprintf("Restored %s from %s.", strings.Join(append(done, rep.Restored...), " and "), runDescription(run)))
	// What the sources ask the operator to know or do (e.g. the undo
	// database an in-place database restore kept, and how to drop it).
	for _, n := range append(notes, rep.Notes...) {
		c.UI.Output(n)
	}
	post("success")
	if safetyID != "" {
		c.UI.Output("If this was the wrong restore point, undo with: timetiles-backup restore " + safetyID)
	}
	if postErr != nil {
		return errFailed
	}
	return nil
}

// runDescription names a restore point and when it was taken, e.g. "run
// 20261125T020000Z-3f9a (taken 2026-11-25 03:00:00 CET, 2h0m0s ago)"; a
// safety or drill run says so.
func runDescription(run *runs.Run) string {
	kind := "run "
	if p := run.Purpose(); p != "" {
		kind = p + " run "
	}
	return fmt.Sprintf("%s%s (taken %s, %s ago)", kind, run.ID, run.Time.Local().Format("2006-01-02 15:04:05 MST"),
		time.Since(run.Time).Round(time.Second))
}
