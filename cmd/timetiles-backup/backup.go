// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/stream"
)

// BackupCommand is `timetiles-backup backup [COMPONENT...]`.
type BackupCommand struct {
	*Meta
}

func (c *BackupCommand) Synopsis() string {
	return "Back up the database and uploads (or named components)"
}

func (c *BackupCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup backup [options] [COMPONENT...]

  Backs up every component (default: db and uploads) into the local restic
  repository, and with --offsite into the offsite repository at the same
  time, from one read of each source. Each component becomes a snapshot
  tagged with its name ("db", "uploads"), the run ID and "timetiles-backup";
  a run manifest marks the run complete, so "restore latest" restores all
  components of the newest complete run.

  A source that fails or is cut short never becomes a snapshot. An offsite
  failure is a warning (exit 0, alert "Offsite Backup Failed"); a local
  failure is a failure (exit 1, alert "Backup Failed").

  After a successful --offsite run, every earlier complete run the offsite
  repository lacks (a night it was down, runs made without --offsite) and
  the retention policy (BACKUP_KEEP_*) keeps is copied there from the local
  repository (restic copy), so an outage heals itself the next night. A
  failed catch-up is an offsite failure too.

  Examples:
    timetiles-backup backup              # db + uploads, local
    timetiles-backup backup --offsite    # db + uploads, local and offsite
    timetiles-backup backup db           # database only
    timetiles-backup backup uploads      # uploads only

  The shell tool's names work too: "full" is every component, "database"
  is db (timetiles-backup backup --offsite full).

Options:
  --offsite           Also write to RESTIC_OFFSITE_REPOSITORY.
  --json              Print the run report as JSON.
  --dry-run           Show what would run: start and configure every
                      plugin, look at the repositories, write nothing.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// backupJSON is `backup --json` (docs/json/backup.schema.json).
type backupJSON struct {
	SchemaVersion   int             `json:"schema_version"`
	RunID           string          `json:"run_id"`
	Time            string          `json:"time"`
	DurationSeconds float64         `json:"duration_seconds"`
	Success         bool            `json:"success"`
	Error           string          `json:"error,omitempty"`
	Offsite         string          `json:"offsite_warning,omitempty"`
	Components      []componentJSON `json:"components"`
	// Manifests: the run manifest's snapshot in each repository ("local",
	// "offsite") where the run is complete.
	Manifests map[string]string `json:"manifests"`
	// The offsite catch-up: earlier runs copied to the offsite repository
	// (oldest first), and its warning or error.
	CaughtUp       []string `json:"offsite_caught_up,omitempty"`
	CatchUpWarning string   `json:"offsite_catch_up_warning,omitempty"`
	CatchUpError   string   `json:"offsite_catch_up_error,omitempty"`
}

type componentJSON struct {
	Component         string  `json:"component"`
	Target            string  `json:"target"`
	Snapshot          string  `json:"snapshot,omitempty"`
	Bytes             uint64  `json:"bytes"`
	BytesAdded        uint64  `json:"bytes_added"`
	DurationSeconds   float64 `json:"duration_seconds"`
	ChecksumAlgorithm string  `json:"checksum_algorithm,omitempty"`
	Checksum          string  `json:"checksum,omitempty"`
	Error             string  `json:"error,omitempty"`
}

func (c *BackupCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *BackupCommand) run(args []string) error {
	fs := c.FlagSet("backup")
	var offsite, asJSON, dryRun bool
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.BoolVar(&dryRun, "dry-run", false, "")
	// Hidden (not in Help): --time sets the run's snapshot time, for tests
	// of retention and for importing old backups; "2006-01-02 15:04:05"
	// (local time) or RFC 3339.
	var runTime string
	fs.StringVar(&runTime, "time", "", "")
	comps, err := c.Parse(fs, args)
	if err != nil {
		return c.fail(err, c.Help())
	}
	comps = shellToolComponents(comps)
	at, err := parseRunTime(runTime)
	if err != nil {
		return c.fail(err, c.Help())
	}
	if dryRun {
		return c.backup(comps, offsite, asJSON, dryRun, at)
	}
	return c.pinged("backup", func() error { return c.backup(comps, offsite, asJSON, dryRun, at) })
}

func (c *BackupCommand) backup(comps []string, offsite, asJSON, dryRun bool, at time.Time) (ret error) {
	r, err := c.openRunner(func(err error) { c.alertFailure(nil, host.EventBackupFailed, strings.Join(comps, ","), "", err) })
	if err != nil {
		return err
	}
	defer r.Close()
	if err := checkComponents(r, comps, "backup"); err != nil {
		return c.fail(err, c.Help())
	}
	if dryRun {
		return c.dryRun(r, host.BackupOptions{Components: comps, Offsite: offsite}, asJSON)
	}
	var rep *host.BackupReport
	defer c.writeMetrics(r, &rep, &ret, offsite, time.Now())
	unlock, err := r.Lock(c.Ctx)
	if err != nil {
		c.alertFailure(r, host.EventBackupFailed, strings.Join(comps, ","), "", err)
		return c.fail(r.ScrubError(err), "")
	}
	defer unlock()
	var runErr error
	defer c.recordBackup(r, &rep, &ret, &runErr, offsite, time.Now())
	pv := newProgress(c.Ctx, c.Meta, r, !asJSON && stderrIsTerminal())
	started := time.Now()
	rep, err = r.Backup(c.Ctx, host.BackupOptions{Components: comps, Offsite: offsite, Time: at, Progress: pv.update})
	err = c.interrupted(err)
	pv.finish()
	if rep != nil {
		c.report(r, rep, asJSON, time.Since(started))
	}
	if rep != nil && rep.OffsiteErr != nil && err == nil {
		c.UI.Warn("Warning: offsite backup failed; the local backup is complete: " + r.Scrub(rep.OffsiteErr.Error()))
		// Alerted even when the backend refused permission: a write-only
		// (no-delete) key backs up fine, so a refusal here means the key
		// cannot back up at all (restic needs to read, list and write) and
		// offsite copies would silently stop. The expected refusals of
		// write-only keys (list, prune, restore) are never alerted.
		offErr := rep.OffsiteErr
		if host.IsPermission(offErr) {
			offErr = fmt.Errorf("%w: the offsite key must allow reading, listing and writing objects (s3:GetObject, s3:ListBucket, s3:PutObject); only delete may be withheld", offErr)
			c.UI.Warn("The offsite key may not read or list the bucket: restic needs GET, LIST and PUT (only DELETE may be withheld).")
		}
		_, _ = r.Notify(c.Ctx, r.NewEvent(host.EventOffsiteFailed, "", rep.RunID, offErr))
	}
	if rep != nil && err == nil {
		c.catchUpWarnings(r, rep)
	}
	runErr = err
	if err != nil {
		runID := ""
		if rep != nil {
			runID = rep.RunID
		}
		// Every failure alerts: configuration errors, a missing password, a
		// plugin that will not start, an interrupted run (see alerting.go).
		c.alertFailure(r, host.EventBackupFailed, strings.Join(comps, ","), runID, err)
		return c.fail(r.ScrubError(err), "")
	}
	if rep != nil && rep.OffsiteErr == nil && rep.CatchUpErr == nil {
		// Success notifications are opt-in per notifier (e.g.
		// NTFY_NOTIFY_SUCCESS); an offsite failure was alerted above instead.
		c.notifySuccess(r, rep, strings.Join(comps, ","), offsite)
	}
	return nil
}

// notifySuccess sends "Backup Succeeded" to the notifiers that take success
// events (sdk.CapSuccessEvents); each delivers it only when opted in.
func (c *BackupCommand) notifySuccess(r *host.Runner, rep *host.BackupReport, comps string, offsite bool) {
	e := r.NewEvent(host.EventBackupSucceeded, comps, rep.RunID, nil)
	var parts []string
	for _, cr := range rep.Components {
		if len(cr.Result.Sinks) == 0 {
			continue
		}
		s := cr.Result.Sinks[0] // the local repository's
		parts = append(parts, fmt.Sprintf("%s %s (%s new)", cr.Component, humanize.IBytes(streamSize(cr.Result, s)), humanize.IBytes(s.BytesAdded)))
	}
	where := "the local repository"
	if offsite {
		where = "the local and offsite repositories"
	}
	e.Body = fmt.Sprintf("Backup run %s on %s is complete in %s: %s.", rep.RunID, e.Hostname, where, strings.Join(parts, ", "))
	for _, res := range r.NotifySuccess(c.Ctx, e) {
		if len(res.Delivered) > 0 {
			r.Log.Debug("success notification delivered", "notifier", res.Notifier, "channels", strings.Join(res.Delivered, ","))
		}
	}
}

// catchUpWarnings reports what went wrong in the offsite catch-up. A failed
// catch-up is an offsite failure (warning, exit 0, alert): tonight's run is
// offsite, earlier ones are still missing there until a later night.
func (c *BackupCommand) catchUpWarnings(r *host.Runner, rep *host.BackupReport) {
	if cu := rep.CatchUp; cu != nil {
		if cu.Warning != "" {
			c.UI.Warn("Warning: " + r.Scrub(cu.Warning))
		}
		if cu.Skipped != "" {
			c.UI.Warn("Offsite catch-up skipped: " + r.Scrub(cu.Skipped))
		}
	}
	if rep.CatchUpErr != nil {
		c.UI.Warn("Warning: offsite catch-up failed; tonight's run is complete offsite, earlier runs missing there are copied by the next backup --offsite: " + r.Scrub(rep.CatchUpErr.Error()))
		_, _ = r.Notify(c.Ctx, r.NewEvent(host.EventOffsiteFailed, "", rep.RunID, fmt.Errorf("offsite catch-up: %w", rep.CatchUpErr)))
	}
}

func (c *BackupCommand) report(r *host.Runner, rep *host.BackupReport, asJSON bool, took time.Duration) {
	if asJSON {
		out := backupJSON{SchemaVersion: jsonSchemaVersion, RunID: rep.RunID, Time: jsonTime(rep.Time), DurationSeconds: jsonSeconds(took),
			Success: rep.LocalErr == nil, Manifests: map[string]string{}, Components: []componentJSON{}}
		for inst, id := range rep.Manifests {
			if id != "" {
				out.Manifests[inst] = id
			}
		}
		if cu := rep.CatchUp; cu != nil {
			out.CaughtUp, out.CatchUpWarning = cu.Copied, r.Scrub(cu.Warning)
		}
		if rep.CatchUpErr != nil {
			out.CatchUpError = r.Scrub(rep.CatchUpErr.Error())
		}
		if rep.LocalErr != nil {
			out.Error = r.Scrub(rep.LocalErr.Error())
		}
		if rep.OffsiteErr != nil {
			out.Offsite = r.Scrub(rep.OffsiteErr.Error())
		}
		for _, cr := range rep.Components {
			for _, s := range cr.Result.Sinks {
				cj := componentJSON{Component: cr.Component, Target: s.Sink, Snapshot: s.Snapshot.ID,
					Bytes: streamSize(cr.Result, s), BytesAdded: s.BytesAdded, DurationSeconds: jsonSeconds(cr.Result.Duration)}
				if err := cr.Result.Err(s.Sink); err != nil {
					// A failed component stored nothing: no checksum vouches for it.
					cj.Error = r.Scrub(err.Error())
					cj.Snapshot = ""
				} else if cr.Result.Header.LocalPath == "" {
					cj.ChecksumAlgorithm = cr.Result.Trailer.ChecksumAlgorithm
					cj.Checksum = fmt.Sprintf("%x", cr.Result.Trailer.Checksum)
				}
				out.Components = append(out.Components, cj)
			}
			if len(cr.Result.Sinks) == 0 && cr.Result.SourceErr != nil {
				out.Components = append(out.Components, componentJSON{Component: cr.Component, Error: r.Scrub(cr.Result.SourceErr.Error()),
					DurationSeconds: jsonSeconds(cr.Result.Duration)})
			}
		}
		c.outputJSON(out)
		return
	}
	c.UI.Output(fmt.Sprintf("Backup run %s", rep.RunID))
	for _, cr := range rep.Components {
		for _, s := range cr.Result.Sinks {
			if err := cr.Result.Err(s.Sink); err != nil {
				c.UI.Output(fmt.Sprintf("  %-8s %-8s FAILED: %s", cr.Component, s.Sink, r.Scrub(err.Error())))
				continue
			}
			c.UI.Output(fmt.Sprintf("  %-8s %-8s snapshot %s  %s (%s new)  %s", cr.Component, s.Sink, short(s.Snapshot.ID),
				humanize.IBytes(streamSize(cr.Result, s)), humanize.IBytes(s.BytesAdded), cr.Result.Duration.Round(1e7)))
		}
		if len(cr.Result.Sinks) == 0 && cr.Result.SourceErr != nil {
			c.UI.Output(fmt.Sprintf("  %-8s FAILED: %s", cr.Component, r.Scrub(cr.Result.SourceErr.Error())))
		}
	}
	for _, inst := range []string{host.Local, host.Offsite} {
		if id, ok := rep.Manifests[inst]; ok && id != "" {
			c.UI.Output(fmt.Sprintf("  run complete in %s repository (manifest %s)", inst, short(id)))
		}
	}
	if cu := rep.CatchUp; cu != nil && len(cu.Copied) > 0 {
		c.UI.Output(fmt.Sprintf("  offsite caught up: %d earlier run(s) copied from the local repository in %s: %s",
			len(cu.Copied), cu.Duration.Round(1e7), strings.Join(cu.Copied, ", ")))
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// streamSize is the stream's byte count, or for a directory what the
// target read.
func streamSize(r *stream.Result, s stream.SinkResult) uint64 { return r.Size(s) }

// parseRunTime reads the hidden --time flag: empty means now.
func parseRunTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", v, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, usageError("--time %q: use \"2006-01-02 15:04:05\" (local time) or RFC 3339", v)
}

// shellToolComponents maps the shell tool's component names: "full" is
// every component (none named), "database" is db.
func shellToolComponents(comps []string) []string {
	var out []string
	for _, c := range comps {
		switch c {
		case "full":
			return nil
		case "database":
			c = "db"
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}
