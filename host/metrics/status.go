// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timetiles/timetiles-backup/host"
)

// Metrics of verify, restore drills and `status`, written into the same
// textfile as the backup's (BACKUP_METRICS_FILE); each writer replaces
// only its own families.
const (
	MetricLastVerify         = "timetiles_backup_last_verify_timestamp_seconds"
	MetricVerifySuccess      = "timetiles_backup_last_verify_success"
	MetricLastRestoreTest    = "timetiles_backup_last_restore_test_timestamp_seconds"
	MetricRestoreTestSuccess = "timetiles_backup_last_restore_test_success"
	MetricStatusTime         = "timetiles_backup_status_timestamp_seconds"
	MetricHealthy            = "timetiles_backup_healthy"
	MetricNewestRun          = "timetiles_backup_newest_complete_run_timestamp_seconds"
	MetricOffsiteMissing     = "timetiles_backup_offsite_missing_runs"
	MetricOffsiteLag         = "timetiles_backup_offsite_lag_seconds"
)

var verifyFamilies = []string{MetricLastVerify, MetricVerifySuccess, MetricLastRestoreTest, MetricRestoreTestSuccess}

// StatusMetrics is what `status` found.
type StatusMetrics struct {
	Time    time.Time
	Healthy bool
	// Newest complete run by (repository, component).
	Newest map[[2]string]time.Time
	// Offsite lag; nil when unknown (no offsite, or it cannot be listed).
	OffsiteMissing *int
	OffsiteLag     *float64
}

// registerVerify adds the verify and restore drill families, from the
// state file (which holds the last result of each repository).
func registerVerify(reg *prometheus.Registry, st *host.State) {
	when := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLastVerify, Help: "Time of the last backup verify of the repository (Unix time)."}, []string{"repository"})
	ok := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricVerifySuccess, Help: "1 when the last backup verify of the repository passed, else 0."}, []string{"repository"})
	reg.MustRegister(when, ok)
	for repo, v := range st.LastVerify {
		when.WithLabelValues(repo).Set(float64(v.Time.Unix()))
		ok.WithLabelValues(repo).Set(b2f(v.OK))
	}
	if t := st.LastRestoreTest; t != nil {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricLastRestoreTest, Help: "Time of the last restore drill, backup verify --restore-test (Unix time)."})
		s := prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricRestoreTestSuccess, Help: "1 when the last restore drill passed, else 0."})
		reg.MustRegister(g, s)
		g.Set(float64(t.Time.Unix()))
		s.Set(b2f(t.OK))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WriteVerify writes the verify and restore drill metrics (from
// the state file) into the metrics file, keeping the other families.
func WriteVerify(path string, st *host.State) error {
	reg := prometheus.NewRegistry()
	registerVerify(reg, st)
	return writeTextfile(path, reg, verifyFamilies)
}

// WriteStatus writes what status found, and the verify metrics
// from the state file, into the metrics file, keeping the backup's.
func WriteStatus(path string, st *host.State, m StatusMetrics) error {
	reg := prometheus.NewRegistry()
	registerVerify(reg, st)
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}
	gauge(MetricStatusTime, "Time of the last timetiles-backup status (Unix time).").Set(float64(m.Time.Unix()))
	gauge(MetricHealthy, "1 when the last status found every component fresh and the last backup successful (status exit 0), else 0.").Set(b2f(m.Healthy))
	newest := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricNewestRun, Help: "Time of the newest complete run holding the component, per repository (Unix time)."}, []string{"repository", "component"})
	reg.MustRegister(newest)
	for k, t := range m.Newest {
		newest.WithLabelValues(k[0], k[1]).Set(float64(t.Unix()))
	}
	owned := append([]string{MetricStatusTime, MetricHealthy, MetricNewestRun, MetricOffsiteMissing, MetricOffsiteLag}, verifyFamilies...)
	if m.OffsiteMissing != nil {
		gauge(MetricOffsiteMissing, "Complete local runs (kept by retention) that the offsite repository lacks.").Set(float64(*m.OffsiteMissing))
		gauge(MetricOffsiteLag, "How far the offsite repository is behind the local one: from its newest run to the newest local run (seconds).").Set(*m.OffsiteLag)
	}
	return writeTextfile(path, reg, owned)
}
