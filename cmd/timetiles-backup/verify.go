// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/timetiles/timetiles-backup/host"
)

// VerifyCommand is `timetiles-backup backup verify`.
type VerifyCommand struct {
	*Meta
}

func (c *VerifyCommand) Synopsis() string {
	return "Check repository integrity and read the latest backup back"
}

func (c *VerifyCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup backup verify [options]

  Checks the local repository (with --offsite the offsite one too):
    1. restic check, reading a sample of the stored data
       (--read-data-subset, default BACKUP_VERIFY_READ_DATA_SUBSET or 5%);
    2. end to end: every component of the latest complete backup run is
       read back through the target and its size and checksum compared
       with what was recorded when it was backed up (a directory
       component is restored into a scratch directory under TMPDIR and its
       size compared);
    3. with --restore-test: the run's database is restored into a scratch
       database, checked with a sanity query and dropped again.

  The outcome of each repository and of the restore test is recorded in
  BACKUP_STATE_DIR for "timetiles-backup status" and, when
  BACKUP_METRICS_FILE is set, written into the metrics file.

  Each repository that passes ends with "Local repository verified"
  ("Offsite repository verified"), the shell tool's line. Any failure
  exits 1 and sends the alert "Backup Verify Failed". An
  offsite key that may not read (write-only) skips the offsite part with a
  message; a key that may read but not delete is checked without a lock.

Options:
  --offsite                Also verify RESTIC_OFFSITE_REPOSITORY.
  --read-data-subset=SIZE  Share of the data restic check reads: 5%, 1/10,
                           500M, or none (structure only).
  --restore-test           Also restore the database into a scratch
                           database, check it and drop it.
  --json                   Print the result as JSON.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

type verifyComponentJSON struct {
	Component         string `json:"component"`
	Snapshot          string `json:"snapshot"`
	Directory         bool   `json:"directory,omitempty"`
	Bytes             uint64 `json:"bytes"`
	ExpectedBytes     uint64 `json:"expected_bytes"`
	ChecksumAlgorithm string `json:"checksum_algorithm,omitempty"`
	Checksum          string `json:"checksum,omitempty"`
	ExpectedChecksum  string `json:"expected_checksum,omitempty"`
	OK                bool   `json:"ok"`
	Error             string `json:"error,omitempty"`
}

type verifyRepoJSON struct {
	Repository string                `json:"repository"`
	Check      string                `json:"check,omitempty"`
	CheckError string                `json:"check_error,omitempty"`
	Run        string                `json:"run,omitempty"`
	Components []verifyComponentJSON `json:"components"`
	Skipped    string                `json:"skipped,omitempty"`
	Note       string                `json:"note,omitempty"`
	Error      string                `json:"error,omitempty"`
}

type verifyRestoreJSON struct {
	Component string  `json:"component,omitempty"`
	Snapshot  string  `json:"snapshot,omitempty"`
	Database  string  `json:"scratch_database,omitempty"`
	Seconds   float64 `json:"duration_seconds"`
	OK        bool    `json:"ok"`
	Error     string  `json:"error,omitempty"`
}

type verifyJSON struct {
	SchemaVersion  int                 `json:"schema_version"`
	Success        bool                `json:"success"`
	ReadDataSubset string              `json:"read_data_subset"`
	Repositories   []verifyRepoJSON    `json:"repositories"`
	RestoreTests   []verifyRestoreJSON `json:"restore_tests,omitempty"`
	Errors         []string            `json:"errors,omitempty"`
}

func (c *VerifyCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *VerifyCommand) run(args []string) error {
	fs := c.FlagSet("backup verify")
	var offsite, restoreTest, asJSON bool
	var subset string
	fs.BoolVar(&offsite, "offsite", false, "")
	fs.BoolVar(&restoreTest, "restore-test", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.StringVar(&subset, "read-data-subset", "", "")
	if err := c.parseNoArgs(fs, args, c.Help()); err != nil {
		return err
	}
	if _, ok := host.ParseSubset(subset); subset != "" && !ok {
		return c.fail(usageError("--read-data-subset=%q: use a percentage (5%%), a fraction (1/10), a size (500M), or none", subset), "")
	}
	return c.pinged("backup verify", func() error { return c.verify(offsite, restoreTest, asJSON, subset) })
}

func (c *VerifyCommand) verify(offsite, restoreTest, asJSON bool, subset string) error {
	r, err := c.openRunner(func(err error) { c.alertFailure(nil, host.EventVerifyFailed, "", "", err) })
	if err != nil {
		return err
	}
	defer r.Close()
	unlock, err := r.Lock(c.Ctx)
	if err != nil {
		c.alertFailure(r, host.EventVerifyFailed, "", "", err)
		return c.fail(r.ScrubError(err), "")
	}
	defer unlock()
	start := time.Now()
	rep, err := r.Verify(c.Ctx, host.VerifyOptions{Offsite: offsite, ReadDataSubset: subset, RestoreTest: restoreTest})
	if c.Ctx.Err() == nil && c.ExitCode(err) != ExitUsage {
		// For status and the metrics file (an interrupted or misconfigured
		// verify says nothing about the repositories).
		c.recordVerify(r, rep, err, offsite, start)
	}
	if err != nil && (rep == nil || c.ExitCode(err) == ExitUsage) {
		if c.ExitCode(err) == ExitUsage {
			_, _ = r.Notify(c.Ctx, r.NewEvent(host.EventVerifyFailed, "", "", err))
		}
		return c.fail(r.ScrubError(err), "")
	}
	failures := rep.Failures()
	if asJSON {
		c.printJSON(r, rep, failures)
	} else {
		c.print(r, rep)
	}
	for _, rc := range rep.Repositories {
		if rc.Skipped != "" {
			c.UI.Warn(fmt.Sprintf("%s verify skipped: %s", rc.Instance, rc.Skipped))
		}
	}
	if err != nil { // interrupted
		return c.fail(err, "")
	}
	if len(failures) > 0 {
		ferr := rep.Err()
		_, _ = r.Notify(c.Ctx, r.NewEvent(host.EventVerifyFailed, "", runOf(rep), ferr))
		// Whatever the kind of the underlying errors, a failed verify is a
		// failure (exit 1), never a usage error.
		if asJSON {
			c.UI.Error("Error: verify failed: " + r.Scrub(ferr.Error()))
		} else {
			// The report above gives each failure; say it once.
			c.UI.Error("Error: verify failed: " + strings.Join(rep.FailedParts(), ", ") + " (details above)")
		}
		return errFailed
	}
	if !asJSON {
		// The shell tool's outcome line per repository, which its log
		// greps look for.
		for _, rc := range rep.Repositories {
			if rc.Skipped == "" {
				c.UI.Output(strings.ToUpper(rc.Instance[:1]) + rc.Instance[1:] + " repository verified")
			}
		}
		c.UI.Output("Verify passed.")
	}
	return nil
}

func runOf(rep *host.VerifyReport) string {
	for _, rc := range rep.Repositories {
		if rc.Run != "" {
			return rc.Run
		}
	}
	return ""
}

func (c *VerifyCommand) print(r *host.Runner, rep *host.VerifyReport) {
	subset := rep.Subset
	if subset == "" {
		subset = "none"
	}
	for _, rc := range rep.Repositories {
		c.UI.Output(fmt.Sprintf("%s repository:", rc.Instance))
		if rc.Skipped != "" {
			c.UI.Output("  skipped")
			continue
		}
		if rc.CheckErr != nil {
			c.UI.Output(fmt.Sprintf("  check (data subset %s): FAILED: %s", subset, r.Scrub(rc.CheckErr.Error())))
		} else if rc.Check != "" {
			c.UI.Output("  check: " + rc.Check)
		}
		if rc.Run != "" {
			c.UI.Output("  latest complete run: " + rc.Run)
		}
		if rc.Note != "" {
			c.UI.Output("  " + rc.Note)
		}
		for _, cc := range rc.Components {
			status := "ok"
			if cc.Err != nil {
				status = "FAILED: " + r.Scrub(cc.Err.Error())
			}
			what := fmt.Sprintf("%s, %s %s", humanize.IBytes(cc.Size), cc.ChecksumAlgorithm, cc.Checksum)
			if cc.Directory {
				what = humanize.IBytes(cc.Size) + " of files"
			}
			c.UI.Output(fmt.Sprintf("  %-8s snapshot %s read back: %s — %s", cc.Component, short(cc.Snapshot), what, status))
		}
		if rc.Err != nil {
			c.UI.Output("  FAILED: " + r.Scrub(rc.Err.Error()))
		}
	}
	for _, t := range rep.RestoreTests {
		if t.Err != nil {
			c.UI.Output(fmt.Sprintf("restore test %s: FAILED: %s", t.Component, r.Scrub(t.Err.Error())))
			continue
		}
		c.UI.Output(fmt.Sprintf("restore test %s: snapshot %s restored into scratch database %s, checked and dropped (%s)",
			t.Component, short(t.Snapshot), t.Database, t.Duration.Round(1e7)))
	}
}

func (c *VerifyCommand) printJSON(r *host.Runner, rep *host.VerifyReport, failures []error) {
	out := verifyJSON{SchemaVersion: jsonSchemaVersion, Success: len(failures) == 0, ReadDataSubset: rep.Subset, Repositories: []verifyRepoJSON{}}
	if out.ReadDataSubset == "" {
		out.ReadDataSubset = "none"
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return r.Scrub(err.Error())
	}
	for _, rc := range rep.Repositories {
		rj := verifyRepoJSON{Repository: rc.Instance, Check: rc.Check, CheckError: errText(rc.CheckErr), Run: rc.Run,
			Skipped: rc.Skipped, Note: rc.Note, Error: errText(rc.Err), Components: []verifyComponentJSON{}}
		for _, cc := range rc.Components {
			rj.Components = append(rj.Components, verifyComponentJSON{Component: cc.Component, Snapshot: cc.Snapshot,
				Directory: cc.Directory, Bytes: cc.Size, ExpectedBytes: cc.WantSize, ChecksumAlgorithm: cc.ChecksumAlgorithm,
				Checksum: cc.Checksum, ExpectedChecksum: cc.WantChecksum, OK: cc.Err == nil, Error: errText(cc.Err)})
		}
		out.Repositories = append(out.Repositories, rj)
	}
	for _, t := range rep.RestoreTests {
		out.RestoreTests = append(out.RestoreTests, verifyRestoreJSON{Component: t.Component, Snapshot: t.Snapshot,
			Database: t.Database, Seconds: jsonSeconds(t.Duration), OK: t.Err == nil, Error: errText(t.Err)})
	}
	for _, f := range failures {
		out.Errors = append(out.Errors, errText(f))
	}
	c.outputJSON(out)
}
