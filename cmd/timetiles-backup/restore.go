package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/sdk"
)

// RestoreCommand is `timetiles-backup restore latest|RUN-ID|SNAPSHOT-ID`.
type RestoreCommand struct {
	*Meta
}

func (c *RestoreCommand) Synopsis() string { return "Restore a backup run (database and uploads)" }

func (c *RestoreCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup restore [options] latest|RUN-ID|SNAPSHOT-ID

  Restores every component of a backup run: "latest" is the newest complete
  run (all components succeeded), a RUN-ID a given run, a SNAPSHOT-ID (or a
  unique prefix) one snapshot. The database is restored in one transaction
  (pg_restore --single-transaction): a failed restore leaves it as it was.
  The bytes read back are checked against the size and checksum recorded at
  backup time before the restore commits.

  It asks for confirmation on a terminal; elsewhere pass --yes.

Options:
  --component=NAME    Restore only this component (db, uploads); repeatable.
  --to-database=NAME  Restore the database into NAME instead (created if
                      missing) — production stays untouched.
  --to=DIR            Restore uploads into DIR instead.
  --offsite           Restore from the offsite repository.
  --yes               Do not ask for confirmation.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

func (c *RestoreCommand) Run(args []string) int {
	fs := c.FlagSet("restore")
	var comps listFlag
	var toDB, toDir string
	var offsite, yes bool
	fs.Var(&comps, "component", "")
	fs.StringVar(&toDB, "to-database", "", "")
	fs.StringVar(&toDir, "to", "", "")
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&yes, "yes", false, "")
	rest, err := c.Parse(fs, args)
	if err != nil {
		return c.Fail(err, c.Help())
	}
	if len(rest) != 1 {
		return c.Fail(usageError("restore needs exactly one restore point: latest, a run ID or a snapshot ID (see `timetiles-backup backup list`)"), c.Help())
	}
	for _, comp := range splitList(comps) {
		if strings.ContainsAny(comp, " /") {
			return c.Fail(usageError("--component %q is not a component name", comp), c.Help())
		}
	}
	if !yes && !c.IsTerminal() {
		return c.Fail(usageError("restore overwrites data and stdin is not a terminal: pass --yes to confirm"), "")
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
	opts := host.RestoreOptions{Selector: rest[0], Components: splitList(comps), Instance: inst, ToDatabase: toDB, ToDir: toDir}
	run, runs, t, err := r.ResolveRestore(c.Ctx, opts)
	if err != nil {
		if offsite && host.IsPermission(err) {
			return c.Fail(fmt.Errorf("the offsite credentials may not read this repository (write-only key): restore from offsite needs full-access credentials — set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of a key that may read, then run the restore again"), "")
		}
		if errors.Is(err, sdk.ErrNotFound) {
			c.UI.Error("Error: " + err.Error())
			if len(runs) > 0 {
				c.UI.Error("Available restore points:\n" + formatRuns(runs))
			} else {
				c.UI.Error("The repository holds no backups.")
			}
			return ExitFailure
		}
		return c.Fail(r.ScrubError(err), "")
	}
	what := describeRestore(run, opts)
	if !yes {
		c.UI.Output("This restores run " + run.ID + " and OVERWRITES " + what + ".")
		fmt.Fprint(c.Stderr, "Type 'yes' to continue: ")
		line, _ := bufio.NewReader(c.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			c.UI.Output("Restore cancelled; nothing was changed.")
			return ExitFailure
		}
	}
	rep, err := r.Restore(c.Ctx, run, t, opts)
	if err != nil {
		if offsite && host.IsPermission(err) {
			return c.Fail(fmt.Errorf("the offsite credentials may not read this repository (write-only key): use full-access credentials to restore from offsite"), "")
		}
		if c.Ctx.Err() == nil {
			_, _ = r.Notify(c.Ctx, r.NewEvent(host.EventRestoreFailed, strings.Join(opts.Components, ","), run.ID, err))
		}
		return c.Fail(r.ScrubError(err), "")
	}
	c.UI.Output(fmt.Sprintf("Restored %s from run %s.", strings.Join(rep.Restored, " and "), run.ID))
	return ExitOK
}

func describeRestore(run *host.Run, o host.RestoreOptions) string {
	var parts []string
	comps := run.ComponentNames()
	if len(o.Components) > 0 {
		comps = o.Components
	}
	for _, c := range comps {
		switch {
		case c == "db" && o.ToDatabase != "":
			parts = append(parts, "database "+o.ToDatabase)
		case c == "db":
			parts = append(parts, "the production database")
		case c == "uploads" && o.ToDir != "":
			parts = append(parts, "directory "+o.ToDir)
		case c == "uploads":
			parts = append(parts, "the uploads directory")
		default:
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, " and ")
}
