// SPDX-License-Identifier: Apache-2.0

package main

import (
	"time"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/metrics"
)

// writeMetrics writes BACKUP_METRICS_FILE (when set) after a backup run,
// whatever its outcome; it is deferred by BackupCommand.backup with
// pointers to the report and the error (the exit code) it fills in.
func (c *BackupCommand) writeMetrics(r *host.Runner, rep **host.BackupReport, ret *error, offsite bool, start time.Time) {
	path := r.Cfg.Get(config.EnvMetricsFile)
	if path == "" {
		return
	}
	err := metrics.WriteRun(path, metrics.RunMetrics{Start: start, Duration: time.Since(start), ExitStatus: c.ExitCode(*ret), Report: *rep, Offsite: offsite})
	if err != nil {
		c.UI.Warn("Warning: " + err.Error())
	}
}
