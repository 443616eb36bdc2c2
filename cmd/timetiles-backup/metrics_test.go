// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/timetiles/timetiles-backup/host/metrics"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

func readMetrics(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fams, err := metrics.Parse(f) // the Prometheus text parser (expfmt)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// metric returns the value of the series with the given labels.
func metric(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	t.Helper()
	mf, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && got[labels[i]] == labels[i+1]
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsFile(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	prom := filepath.Join(e.dir, "textfile", "timetiles_backup.prom")
	os.MkdirAll(filepath.Dir(prom), 0o755)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "3000000"
	e.vars["BACKUP_METRICS_FILE"] = prom
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = filepath.Join(e.dir, "offsite")

	before := time.Now().Add(-time.Second)
	if r := e.run("backup", "--offsite"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	fi, err := os.Stat(prom)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("metrics file: %v (node_exporter must be able to read it)", err)
	}
	fams := readMetrics(t, prom)
	for _, repo := range []string{"local", "offsite"} {
		if v, ok := metric(t, fams, metrics.MetricBytes, "component", "synthetic", "repository", repo); !ok || v != 3000000 {
			t.Errorf("bytes processed %s = %v (%v), want 3000000", repo, v, ok)
		}
		if v, ok := metric(t, fams, metrics.MetricBytesAdded, "component", "synthetic", "repository", repo); !ok || v < 1e6 {
			t.Errorf("bytes added %s = %v (%v): random data adds about its size", repo, v, ok)
		}
		if v, _ := metric(t, fams, metrics.MetricSuccess, "repository", repo); v != 1 {
			t.Errorf("success %s = %v", repo, v)
		}
	}
	success, ok := metric(t, fams, metrics.MetricLastSuccess, "repository", "local")
	if !ok || success < float64(before.Unix()) || success > float64(time.Now().Unix()) {
		t.Fatalf("last success %v, want about now", success)
	}
	if v, _ := metric(t, fams, metrics.MetricExitStatus); v != 0 {
		t.Errorf("exit status %v", v)
	}
	if v, ok := metric(t, fams, metrics.MetricDuration); !ok || v <= 0 || v > 120 {
		t.Errorf("duration %v", v)
	}

	// A failed run: exit status 1, success 0, the last success time kept.
	e.vars["SYNTH_FAIL_AFTER"] = "1000"
	testenv.NextSecond(t) // the next run sorts after this one
	if r := e.run("backup"); r.code != 1 {
		t.Fatalf("failing backup: exit %d", r.code)
	}
	fams = readMetrics(t, prom)
	if v, _ := metric(t, fams, metrics.MetricExitStatus); v != 1 {
		t.Errorf("exit status after a failure %v, want 1", v)
	}
	if v, _ := metric(t, fams, metrics.MetricSuccess, "repository", "local"); v != 0 {
		t.Errorf("success after a failure %v, want 0", v)
	}
	for _, repo := range []string{"local", "offsite"} {
		if v, _ := metric(t, fams, metrics.MetricLastSuccess, "repository", repo); v != success {
			t.Errorf("last success %s after a failure = %v, want the earlier %v", repo, v, success)
		}
	}
	if v, _ := metric(t, fams, metrics.MetricLastRun); v <= success {
		t.Errorf("last run %v not after the last success %v", v, success)
	}
	if _, ok := metric(t, fams, metrics.MetricBytes, "component", "synthetic", "repository", "local"); ok {
		t.Error("a failed stream reported bytes stored")
	}
}
