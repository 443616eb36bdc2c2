// SPDX-License-Identifier: Apache-2.0

// Package metrics writes the Prometheus textfile (BACKUP_METRICS_FILE) that
// node_exporter's textfile collector reads: a backup run's metrics
// (metrics.go) and what verify and status found (status.go), each owning
// its families and keeping the others'.
package metrics

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/timetiles/timetiles-backup/host"
)

// Metrics of a backup run, for node_exporter's textfile collector
// (BACKUP_METRICS_FILE). They are built with prometheus/client_golang and
// written with its WriteToTextfile (temporary file, then rename: a scrape
// never sees half a file).
const (
	MetricLastRun      = "timetiles_backup_last_run_timestamp_seconds"
	MetricLastSuccess  = "timetiles_backup_last_success_timestamp_seconds"
	MetricDuration     = "timetiles_backup_last_run_duration_seconds"
	MetricExitStatus   = "timetiles_backup_last_exit_status"
	MetricSuccess      = "timetiles_backup_last_run_success"
	MetricBytes        = "timetiles_backup_bytes_processed"
	MetricBytesAdded   = "timetiles_backup_bytes_added"
	MetricCompDuration = "timetiles_backup_component_duration_seconds"
)

// RunMetrics is what one backup invocation reports.
type RunMetrics struct {
	Start    time.Time
	Duration time.Duration
	// ExitStatus is the command's exit code.
	ExitStatus int
	// Report may be nil (the run failed before it started).
	Report *host.BackupReport
	// Offsite says whether the offsite repository was part of the run.
	Offsite bool
}

// WriteRun writes the metrics of a run to path. The last success time
// of each repository is carried over from the previous file when this run
// did not succeed there, so an alert on its age keeps working.
func WriteRun(path string, m RunMetrics) error {
	prev := readLastSuccess(path)
	reg := prometheus.NewRegistry()
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}
	vec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	gauge(MetricLastRun, "Start of the last backup run (Unix time).").Set(float64(m.Start.Unix()))
	gauge(MetricDuration, "Duration of the last backup run.").Set(m.Duration.Seconds())
	gauge(MetricExitStatus, "Exit status of the last backup run: 0 ok, 1 failure, 2 configuration error, 130 interrupted.").Set(float64(m.ExitStatus))
	lastSuccess := vec(MetricLastSuccess, "Time of the last backup run that completed in the repository (Unix time).", "repository")
	success := vec(MetricSuccess, "1 when the last run completed in the repository, else 0.", "repository")
	bytes := vec(MetricBytes, "Bytes the last run read per component and repository.", "component", "repository")
	added := vec(MetricBytesAdded, "Bytes the last run added to the repository (after deduplication) per component.", "component", "repository")
	compDur := vec(MetricCompDuration, "Duration of each component's stream in the last run.", "component")

	repos := []string{host.Local}
	if m.Offsite {
		repos = append(repos, host.Offsite)
	}
	for _, repo := range repos {
		ok := m.Report != nil && m.Report.Manifests[repo] != ""
		if repo == host.Local {
			ok = ok && m.Report.LocalErr == nil && m.ExitStatus == 0
		}
		if ok {
			success.WithLabelValues(repo).Set(1)
			lastSuccess.WithLabelValues(repo).Set(float64(m.Start.Unix()))
		} else {
			success.WithLabelValues(repo).Set(0)
		}
	}
	for repo, t := range prev {
		if _, set := findLabel(lastSuccess, repo); !set {
			lastSuccess.WithLabelValues(repo).Set(t)
		}
	}
	if m.Report != nil {
		for _, c := range m.Report.Components {
			compDur.WithLabelValues(c.Component).Set(c.Result.Duration.Seconds())
			for _, s := range c.Result.Sinks {
				if c.Result.Err(s.Sink) != nil {
					continue
				}
				bytes.WithLabelValues(c.Component, s.Sink).Set(float64(c.Result.Size(s)))
				added.WithLabelValues(c.Component, s.Sink).Set(float64(s.BytesAdded))
			}
		}
	}
	return writeTextfile(path, reg, backupFamilies)
}

// backupFamilies are the families a backup run writes (and replaces).
var backupFamilies = []string{MetricLastRun, MetricLastSuccess, MetricDuration, MetricExitStatus, MetricSuccess,
	MetricBytes, MetricBytesAdded, MetricCompDuration}

// writeTextfile writes reg to path (atomically, with client_golang's
// WriteToTextfile), keeping every family of the previous file that is not
// in owned: backup, verify and status each replace their own families and
// leave the others' as they were.
func writeTextfile(path string, reg *prometheus.Registry, owned []string) error {
	mine := map[string]bool{}
	for _, n := range owned {
		mine[n] = true
	}
	var kept []*dto.MetricFamily
	if f, err := os.Open(path); err == nil {
		prev, err := Parse(f)
		f.Close()
		if err == nil {
			for name, fam := range prev {
				if !mine[name] {
					kept = append(kept, fam)
				}
			}
		}
	}
	others := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return kept, nil })
	if err := prometheus.WriteToTextfile(path, prometheus.Gatherers{reg, others}); err != nil {
		return fmt.Errorf("writing metrics to %s (BACKUP_METRICS_FILE): %w", path, err)
	}
	return nil
}

// findLabel reports whether the vector has a series for repo.
func findLabel(v *prometheus.GaugeVec, repo string) (float64, bool) {
	ch := make(chan prometheus.Metric, 16)
	go func() { v.Collect(ch); close(ch) }()
	var val float64
	found := false
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			for _, l := range d.GetLabel() {
				if l.GetName() == "repository" && l.GetValue() == repo {
					val, found = d.GetGauge().GetValue(), true
				}
			}
		}
	}
	return val, found
}

// readLastSuccess reads the last success times from a previous metrics
// file with the Prometheus text parser.
func readLastSuccess(path string) map[string]float64 {
	out := map[string]float64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	fams, err := Parse(f)
	if err != nil {
		return out
	}
	if mf, ok := fams[MetricLastSuccess]; ok {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "repository" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// Parse parses a Prometheus text exposition.
func Parse(r interface{ Read([]byte) (int, error) }) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, errors.New("metrics file: " + err.Error())
	}
	return fams, nil
}
