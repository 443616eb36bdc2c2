// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/metrics"
)

// StatusCommand is `timetiles-backup status`.
type StatusCommand struct {
	*Meta
}

func (c *StatusCommand) Synopsis() string {
	return "Show backup health: freshness, offsite lag, verify, schedule"
}

func (c *StatusCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup status [options]

  Shows the health of the backups at a glance, for an operator or a
  monitoring check:
    - per repository (local, and offsite when configured) and component:
      the newest complete run, its age, size and the bytes it added;
    - the runs complete locally that the offsite repository lacks (lag);
    - the last backup, the last verify of each repository and the last
      restore drill (backup verify --restore-test), with results and ages;
    - the scheduled jobs installed by "backup auto" and their next run;
    - the run that holds the run lock, if any.
  It reads the repositories and BACKUP_STATE_DIR (where backup and verify
  record their outcomes); it writes only the metrics file
  (BACKUP_METRICS_FILE, when set) and the --html report.

  Monitoring (Nagios/Icinga-style; see docs/operator-guide.md): exit 0
  when, in every repository that can be listed, every component's newest
  complete run is younger than BACKUP_MAX_AGE (default 26h) and the last
  backup succeeded; exit 1 when one is older or missing, the last backup
  failed or the local repository cannot be read; the first output line
  says why. Offsite lag, a failed verify or restore drill and a missing
  schedule are warnings only.

  Examples:
    timetiles-backup status
    timetiles-backup status --json
    timetiles-backup status --html /var/www/backup-status.html

Options:
  --json              Print JSON (schema: docs/json/status.schema.json).
  --html=FILE         Also write a self-contained HTML report to FILE.

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

// StatusSchemaVersion is the schema_version of `status --json`; it grows
// when a field changes meaning or goes away (new fields keep it).
const StatusSchemaVersion = 1

// statusReport is `status --json` (docs/json/status.schema.json). Times
// are RFC 3339 UTC, durations and ages whole seconds.
type statusReport struct {
	SchemaVersion   int                `json:"schema_version"`
	GeneratedAt     string             `json:"generated_at"`
	Host            string             `json:"host"`
	Healthy         bool               `json:"healthy"`
	ExitCode        int                `json:"exit_code"`
	Problems        []string           `json:"problems"`
	Warnings        []string           `json:"warnings"`
	MaxAgeSeconds   int64              `json:"max_age_seconds"`
	Repositories    []*statusRepo      `json:"repositories"`
	OffsiteLag      *statusLag         `json:"offsite_lag"`
	LastBackup      *statusLastBackup  `json:"last_backup"`
	LastRestoreTest *statusRestoreTest `json:"last_restore_test"`
	Schedule        []statusJob        `json:"schedule"`
	Lock            *statusLock        `json:"lock"`
	Runs            []*statusRun       `json:"runs"`

	state *host.State
}

type statusRepo struct {
	Name         string             `json:"name"`
	Available    bool               `json:"available"`
	Error        string             `json:"error,omitempty"`
	CompleteRuns int                `json:"complete_runs"`
	Components   []*statusComponent `json:"components"`
	LastVerify   *statusVerify      `json:"last_verify"`
}

type statusComponent struct {
	Component string           `json:"component"`
	Stale     bool             `json:"stale"`
	Newest    *statusNewestRun `json:"newest_run"`
}

type statusNewestRun struct {
	RunID      string `json:"run_id"`
	Time       string `json:"time"`
	AgeSeconds int64  `json:"age_seconds"`
	Snapshot   string `json:"snapshot"`
	SizeBytes  uint64 `json:"size_bytes"`
	BytesAdded uint64 `json:"bytes_added"`
}

type statusVerify struct {
	Time       string `json:"time"`
	AgeSeconds int64  `json:"age_seconds"`
	OK         bool   `json:"ok"`
	RunID      string `json:"run_id,omitempty"`
	Error      string `json:"error,omitempty"`
}

type statusLag struct {
	MissingRuns  []string `json:"missing_runs"`
	LagSeconds   int64    `json:"lag_seconds"`
	NewestLocal  string   `json:"newest_local,omitempty"`
	NewestRemote string   `json:"newest_offsite,omitempty"`
}

type statusLastBackup struct {
	Time            string `json:"time"`
	AgeSeconds      int64  `json:"age_seconds"`
	DurationSeconds int64  `json:"duration_seconds"`
	RunID           string `json:"run_id,omitempty"`
	Success         bool   `json:"success"`
	ExitStatus      int    `json:"exit_status"`
	Offsite         bool   `json:"offsite"`
	OffsiteSuccess  bool   `json:"offsite_success"`
	Error           string `json:"error,omitempty"`
}

type statusRestoreTest struct {
	Time            string  `json:"time"`
	AgeSeconds      int64   `json:"age_seconds"`
	OK              bool    `json:"ok"`
	RunID           string  `json:"run_id,omitempty"`
	Components      string  `json:"components,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	Error           string  `json:"error,omitempty"`
}

type statusJob struct {
	Kind     string   `json:"kind"`
	File     string   `json:"file"`
	Schedule string   `json:"schedule"`
	Commands []string `json:"commands"`
	NextRun  *string  `json:"next_run"`
	// NextRunSeconds: seconds from generated_at to next_run.
	NextRunSeconds *int64 `json:"next_run_in_seconds"`
	NextRunError   string `json:"next_run_error,omitempty"`
}

type statusLock struct {
	PID        int    `json:"pid"`
	Command    string `json:"command"`
	Host       string `json:"host"`
	Started    string `json:"started"`
	AgeSeconds int64  `json:"age_seconds"`
}

type statusRun struct {
	RunID      string `json:"run_id"`
	Time       string `json:"time"`
	AgeSeconds int64  `json:"age_seconds"`
	// Repositories: "complete", "incomplete" or "missing" per repository
	// listed.
	Repositories map[string]string `json:"repositories"`
	Legacy       bool              `json:"legacy"`
	Safety       bool              `json:"safety"`
	SizeBytes    uint64            `json:"size_bytes"`
	BytesAdded   uint64            `json:"bytes_added"`
	Components   []*statusRunComp  `json:"components"`

	at time.Time
}

type statusRunComp struct {
	Component  string `json:"component"`
	Snapshot   string `json:"snapshot"`
	SizeBytes  uint64 `json:"size_bytes"`
	BytesAdded uint64 `json:"bytes_added"`
}

func (c *StatusCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *StatusCommand) run(args []string) error {
	fs := c.FlagSet("status")
	var asJSON bool
	var htmlFile string
	fs.BoolVar(&asJSON, "json", false, "")
	fs.StringVar(&htmlFile, "html", "", "")
	r, err := c.start(fs, args, c.Help())
	if err != nil {
		return err
	}
	defer r.Close()
	v := r.Cfg.GetDefault(config.EnvMaxAge, config.DefaultMaxAge)
	maxAge, err := time.ParseDuration(v)
	if err != nil || maxAge <= 0 {
		return c.fail(config.Configf("%s=%q is not a duration: use e.g. 26h, 90m or 8h30m", config.EnvMaxAge, v), "")
	}
	order, _, err := r.SourceMap()
	if err != nil {
		return c.fail(err, "")
	}
	rep, err := c.gather(r, order, maxAge, time.Now())
	if err != nil {
		return c.fail(r.ScrubError(err), "")
	}
	if path := r.Cfg.Get(config.EnvMetricsFile); path != "" {
		if err := metrics.WriteStatus(path, rep.state, rep.metrics()); err != nil {
			c.UI.Warn("Warning: " + err.Error())
		}
	}
	if htmlFile != "" {
		if err := writeStatusHTML(htmlFile, rep); err != nil {
			return c.fail(fmt.Errorf("writing the HTML report to %s: %w: give --html a file in an existing directory this user may write", htmlFile, err), "")
		}
	}
	if asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		c.UI.Output(string(b))
	} else {
		c.UI.Output(rep.text())
	}
	if rep.ExitCode != ExitOK {
		return errFailed // unhealthy: the report says why
	}
	return nil
}
