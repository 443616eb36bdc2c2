// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/host/plugin"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// RestoreCommand is `timetiles-backup restore latest|RUN-ID|SNAPSHOT-ID`.
type RestoreCommand struct {
	*Meta
}

func (c *RestoreCommand) Synopsis() string { return "Restore a backup run (database and uploads)" }

func (c *RestoreCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup restore [options] [latest|RUN-ID|SNAPSHOT-ID]

  Restores every component of a backup run: "latest" is the newest complete
  backup run (all components succeeded; safety runs taken by restore and
  restore-drill runs are never "latest", restore them by RUN-ID), a RUN-ID
  a given run, a SNAPSHOT-ID (or a unique prefix) one snapshot. Without an
  argument, on a terminal, it lists the restore points (time, components,
  sizes, repository) to choose from, the newest real backup preselected.
  Every restore names the run it restores and when that run was taken.
  The database is restored in one transaction (pg_restore
  --single-transaction): a failed restore leaves it as it was. The bytes
  read back are checked against the size and checksum recorded at backup
  time before the restore commits.

  It asks for confirmation on a terminal, naming what will be overwritten.
  Elsewhere it asks "[y/N]" on stderr and reads one line from stdin, as the
  shell tool did: "y" (or "yes") restores; anything else, or no input,
  refuses. --yes (or the shell tool's --force) skips the question.

  Before an in-place restore (one that overwrites production data):
    1. BACKUP_PRE_RESTORE_COMMAND runs (e.g. stop TimeTiles' web and
       workers); if it fails, nothing is restored.
    2. A safety backup of what is about to be overwritten is taken into the
       local repository (a normal run, tagged purpose:safety) and named in
       the output, so a wrong restore is undone with
       "timetiles-backup restore <safety run ID>". If it fails, nothing is
       restored.
  After it, BACKUP_POST_RESTORE_COMMAND runs (e.g. start TimeTiles), also
  when the restore failed. Both commands run with /bin/sh in TIMETILES_DIR
  (default /opt/timetiles) when it exists, with TIMETILES_RESTORE_RUN and
  TIMETILES_RESTORE_COMPONENTS (and for the post command
  TIMETILES_RESTORE_RESULT=success|failure) in their environment.
  Restores beside production (--to-database, --to) never touch production
  and skip all this; they go first when a run also restores in place.

  --to DIR writes only into a directory that does not exist yet (it is
  created) or is empty; anything else is refused (exit 2). So is a DIR
  that is, contains or lies inside the production uploads directory, a
  local repository, the state directory or the env file's directory
  (symlinks resolved); to restore the uploads in place, leave --to out.

  Examples:
    timetiles-backup restore                      # choose interactively
    timetiles-backup restore latest
    timetiles-backup restore latest --offsite     # disaster recovery
    timetiles-backup restore latest --to-database inspect --to /tmp/uploads

Options:
  --component=NAME    Restore only this component (db, uploads); repeatable.
  --to-database=NAME  Restore the database (db, and every component its
                      source declares a database) into NAME instead, on
                      the same server: created when missing; an existing
                      database that holds anything is refused (exit 2)
                      unless --replace-database; the production
                      database's own name is refused (restore in place
                      without the flag).
  --replace-database  With --to-database: drop an existing NAME and
                      restore it anew (it is gone if that restore fails).
  --to=DIR            Restore uploads (and every other component not
                      declared a database) into DIR instead: a new or
                      empty directory outside the production data (see
                      above).
  --offsite           Restore from the offsite repository.
  --yes               Do not ask for confirmation.
  --force             Same as --yes (the shell tool's name).
  --no-safety-backup  Do not back up the current state first.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

func (c *RestoreCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *RestoreCommand) run(args []string) error {
	fs := c.FlagSet("restore")
	var comps listFlag
	var toDB, toDir string
	var offsite, yes, force, noSafety, replaceDB bool
	fs.Var(&comps, "component", "")
	fs.StringVar(&toDB, "to-database", "", "")
	fs.StringVar(&toDir, "to", "", "")
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&yes, "yes", false, "")
	fs.BoolVar(&force, "force", false, "") // the shell tool's name for --yes
	fs.BoolVar(&noSafety, "no-safety-backup", false, "")
	fs.BoolVar(&replaceDB, "replace-database", false, "")
	rest, err := c.Parse(fs, args)
	if err != nil {
		return c.fail(err, c.Help())
	}
	if len(rest) > 1 {
		return c.fail(usageError("restore takes one restore point: latest, a run ID or a snapshot ID (see `timetiles-backup backup list`)"), c.Help())
	}
	if len(rest) == 0 && !c.IsTerminal() {
		return c.fail(usageError("restore without a restore point asks which one, but stdin is not a terminal: pass `latest` or a run or snapshot ID (see `timetiles-backup backup list`)"), "")
	}
	for _, comp := range splitList(comps) {
		if strings.ContainsAny(comp, " /") {
			return c.fail(usageError("--component %q is not a component name", comp), c.Help())
		}
	}
	yes = yes || force
	if replaceDB && toDB == "" {
		return c.fail(usageError("--replace-database replaces the database named by --to-database: add --to-database NAME (the production database is restored in place without either flag)"), c.Help())
	}
	r, err := c.openRunner(func(err error) {
		c.alertFailure(nil, host.EventRestoreFailed, strings.Join(splitList(comps), ","), "", err)
	})
	if err != nil {
		return err
	}
	defer r.Close()
	if err := checkComponents(r, splitList(comps), "restore latest --component"); err != nil {
		return c.fail(err, c.Help())
	}
	if toDir != "" {
		sel := ""
		if len(rest) == 1 {
			sel = rest[0]
		}
		if err := checkRestoreDir(c.Ctx, r.Cfg, toDir, sel); err != nil {
			return c.fail(err, "")
		}
		// The directory checked is the one written: symlinks resolved.
		toDir = resolvePath(toDir)
	}
	if !yes && !c.IsTerminal() {
		// The shell tool's [y/N] prompt, answered by a line on stdin; asked
		// after the usage checks, so a wrong --to or component is named
		// rather than hidden behind the question.
		// What is written, from the flags and BACKUP_SOURCES (the run is
		// not resolved yet): a restore beside production says so.
		planned := &runs.Run{Components: map[string]sdk.Snapshot{}}
		if order, _, err := r.SourceMap(); err == nil {
			for _, n := range order {
				planned.Components[n] = sdk.Snapshot{}
			}
		}
		po := host.RestoreOptions{Components: splitList(comps), ToDatabase: toDB, ToDir: toDir, ReplaceDatabase: replaceDB}
		specs, err := r.ComponentSpecs(c.Ctx, restoreComponents(planned, po))
		if err != nil {
			return c.fail(r.ScrubError(err), "")
		}
		ok, err := c.confirmLine(rest[0], offsite, describeRestore(planned, po, specs), len(inPlaceComponents(planned, po, specs)) > 0)
		if err != nil {
			return c.fail(err, "")
		}
		if !ok {
			c.UI.Output("Restore cancelled; nothing was changed.")
			return errCancelled
		}
		yes = true
	}
	unlock, err := r.Lock(c.Ctx)
	if err != nil {
		c.alertFailure(r, host.EventRestoreFailed, strings.Join(splitList(comps), ","), "", err)
		return c.fail(r.ScrubError(err), "")
	}
	defer unlock()
	inst := host.Local
	if offsite {
		inst = host.Offsite
	}
	opts := host.RestoreOptions{Components: splitList(comps), Instance: inst, ToDatabase: toDB, ToDir: toDir, ReplaceDatabase: replaceDB}
	var run *runs.Run
	var runs []*runs.Run
	var t *plugin.Plugin
	listed := false // the repository answered: a "not found" is then the selector's
	if len(rest) == 0 {
		runs, t, err = r.ListRuns(c.Ctx, inst)
		listed = err == nil
		if err == nil && len(runs) == 0 {
			c.UI.Error("The " + inst + " repository holds no backups.")
			return errFailed
		}
		if err == nil {
			run, err = c.pickRun(runs, t, inst)
			if cancelled(err) {
				c.UI.Output("Restore cancelled; nothing was changed.")
				return errCancelled
			}
		}
		if run != nil {
			opts.Selector = run.ID
		}
	} else {
		opts.Selector = rest[0]
		run, runs, t, err = r.ResolveRestore(c.Ctx, opts)
		listed = t != nil
	}
	if err != nil {
		if offsite && host.IsPermission(err) {
			return c.fail(fmt.Errorf("the offsite credentials may not read this repository (write-only key): restore from offsite needs full-access credentials — set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of a key that may read, then run the restore again"), "")
		}
		if errors.Is(err, sdk.ErrNotFound) && listed {
			// The repository answered, the selector matched nothing: the
			// operator's typo, not a failure to alert on. Exit 1, as the
			// design says ("snapshot not found → list available, exit 1").
			list := "timetiles-backup backup list"
			if offsite {
				list += " --offsite"
			}
			c.UI.Error(fmt.Sprintf("Error: %s in the %s repository: restore `latest`, a run ID or a snapshot ID that `%s` shows",
				strings.TrimPrefix(err.Error(), sdk.ErrNotFound.Error()+": "), inst, list))
			if len(runs) > 0 {
				c.UI.Error("Available restore points:\n" + formatRuns(runs))
			} else {
				c.UI.Error("The repository holds no backups.")
			}
			return errFailed
		}
		// The repository cannot be read (missing, wrong password, locked,
		// unreachable) or a plugin failed: a restore failure (an operator's
		// Ctrl-C is not one).
		if c.Ctx.Err() == nil {
			c.alertFailure(r, host.EventRestoreFailed, strings.Join(opts.Components, ","), "", err)
		}
		return c.fail(r.ScrubError(err), "")
	}
	if len(run.Components) == 0 {
		return c.fail(fmt.Errorf("run %s holds no component snapshots (were they forgotten?): choose another restore point (see `timetiles-backup backup list`)", run.ID), "")
	}
	// What each source declares about its component (a database, a
	// directory, a stream) decides which flags apply to it.
	specs, err := r.ComponentSpecs(c.Ctx, restoreComponents(run, opts))
	if err != nil {
		if c.Ctx.Err() == nil {
			c.alertFailure(r, host.EventRestoreFailed, strings.Join(opts.Components, ","), run.ID, err)
		}
		return c.fail(r.ScrubError(err), "")
	}
	inPlace := inPlaceComponents(run, opts, specs)
	safety := !noSafety && len(inPlace) > 0
	if !yes {
		ok, err := c.confirm(fmt.Sprintf("Restore run %s (%s) from the %s repository?", run.ID, run.Time.Local().Format("2006-01-02 15:04"), inst),
			confirmText(describeRestore(run, opts, specs), inPlace, safety, r.Cfg))
		switch {
		case cancelled(err):
			c.UI.Output("Restore cancelled; nothing was changed.")
			return errCancelled
		case err != nil:
			return c.fail(err, "")
		case !ok:
			c.UI.Output("Restore cancelled; nothing was changed.")
			return errCancelled
		}
	}
	return c.execute(r, run, t, opts, inPlace, safety)
}

func describeRestore(run *runs.Run, o host.RestoreOptions, specs map[string]sdk.ComponentSpec) string {
	var parts []string
	for _, c := range restoreComponents(run, o) {
		kind := specs[c].Restore
		switch {
		case kind == sdk.RestoreDatabase && o.ToDatabase != "" && o.ReplaceDatabase:
			parts = append(parts, "database "+o.ToDatabase+" (replaced if it exists: --replace-database)")
		case kind == sdk.RestoreDatabase && o.ToDatabase != "":
			parts = append(parts, "database "+o.ToDatabase)
		case kind == sdk.RestoreDatabase:
			parts = append(parts, "the production database")
		case kind == sdk.RestoreDirectory && o.ToDir != "":
			parts = append(parts, "directory "+o.ToDir)
		case kind == sdk.RestoreDirectory:
			parts = append(parts, "the "+c+" directory")
		default:
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, " and ")
}

// confirmLine asks the shell tool's question when stdin is not a terminal:
// the prompt on stderr, the answer one line on stdin. "y" or "yes" (any
// case) confirms; another answer refuses; no answer at all is a usage error
// that says how to confirm.
func (c *RestoreCommand) confirmLine(sel string, offsite bool, what string, inPlace bool) (bool, error) {
	inst := host.Local
	if offsite {
		inst = host.Offsite
	}
	effect := "This overwrites the data it restores."
	switch {
	case what != "" && inPlace:
		effect = "This overwrites what it restores of " + what + "."
	case what != "":
		effect = "This writes " + what + "; production data is not touched."
	}
	fmt.Fprintf(c.Stderr, "Restore %s from the %s repository? %s [y/N] ", sel, inst, effect)
	var line []byte
	b := make([]byte, 1)
	for c.Stdin != nil {
		n, err := c.Stdin.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			if len(line) == 0 {
				fmt.Fprintln(c.Stderr)
				return false, usageError("restore overwrites data and no answer came on stdin (not a terminal): answer the [y/N] prompt with a \"y\" line, or pass --yes (or --force)")
			}
			break
		}
	}
	if c.Stdin == nil {
		return false, usageError("restore overwrites data and stdin is closed: pass --yes (or --force)")
	}
	fmt.Fprintln(c.Stderr)
	answer := strings.ToLower(strings.TrimSpace(string(line)))
	return answer == "y" || answer == "yes", nil
}
