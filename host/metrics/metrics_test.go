// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/timetiles/timetiles-backup/host"
)

func read(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fams, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the series of family name whose labels include labels
// (name, value pairs).
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// A failed run after a successful one: success 0 and the failure's exit
// status, while the last success time of the repository is the earlier
// run's (an alert on its age keeps working).
func TestWriteRunKeepsTheLastSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timetiles_backup.prom")
	first := time.Unix(1_800_000_000, 0)
	ok := &host.BackupReport{Manifests: map[string]string{host.Local: "m1"}}
	if err := WriteRun(path, RunMetrics{Start: first, Duration: 3 * time.Second, Report: ok}); err != nil {
		t.Fatal(err)
	}
	fams := read(t, path)
	if v, _ := value(fams, MetricLastSuccess, "repository", host.Local); v != float64(first.Unix()) {
		t.Fatalf("last success %v after a successful run, want %d", v, first.Unix())
	}
	if v, _ := value(fams, MetricSuccess, "repository", host.Local); v != 1 {
		t.Fatalf("success %v after a successful run", v)
	}

	failed := &host.BackupReport{Manifests: map[string]string{}, LocalErr: errors.New("disk full")}
	if err := WriteRun(path, RunMetrics{Start: first.Add(time.Hour), ExitStatus: 1, Report: failed}); err != nil {
		t.Fatal(err)
	}
	fams = read(t, path)
	if v, _ := value(fams, MetricLastSuccess, "repository", host.Local); v != float64(first.Unix()) {
		t.Errorf("last success %v after a failed run, want the earlier run's %d", v, first.Unix())
	}
	if v, _ := value(fams, MetricSuccess, "repository", host.Local); v != 0 {
		t.Errorf("success %v after a failed run, want 0", v)
	}
	if v, _ := value(fams, MetricExitStatus); v != 1 {
		t.Errorf("exit status %v, want 1", v)
	}
	if v, _ := value(fams, MetricLastRun); v != float64(first.Add(time.Hour).Unix()) {
		t.Errorf("last run %v, want the failed run's start", v)
	}
}

// Backup, verify and status share one file: each replaces its own
// families and keeps the others'.
func TestWritersKeepEachOthersFamilies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timetiles_backup.prom")
	at := time.Unix(1_800_000_000, 0)
	st := &host.State{LastVerify: map[string]*host.VerifyRecord{host.Local: {Time: at, OK: true}}}
	if err := WriteVerify(path, st); err != nil {
		t.Fatal(err)
	}
	if err := WriteRun(path, RunMetrics{Start: at, Report: &host.BackupReport{Manifests: map[string]string{host.Local: "m"}}}); err != nil {
		t.Fatal(err)
	}
	missing := 2
	lag := 86400.0
	newest := map[[2]string]time.Time{{host.Local, "db"}: at}
	if err := WriteStatus(path, st, StatusMetrics{Time: at, Healthy: true, Newest: newest, OffsiteMissing: &missing, OffsiteLag: &lag}); err != nil {
		t.Fatal(err)
	}
	fams := read(t, path)
	for name, want := range map[string]float64{MetricVerifySuccess: 1, MetricSuccess: 1, MetricHealthy: 1, MetricOffsiteMissing: 2, MetricOffsiteLag: 86400} {
		if v, ok := value(fams, name); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if v, _ := value(fams, MetricNewestRun, "repository", host.Local, "component", "db"); v != float64(at.Unix()) {
		t.Errorf("newest run %v", v)
	}

	// A later backup replaces only its own families.
	if err := WriteRun(path, RunMetrics{Start: at.Add(time.Hour), ExitStatus: 2}); err != nil {
		t.Fatal(err)
	}
	fams = read(t, path)
	if v, _ := value(fams, MetricExitStatus); v != 2 {
		t.Errorf("exit status %v, want 2", v)
	}
	if _, ok := value(fams, MetricHealthy); !ok {
		t.Error("the backup dropped status's families")
	}
	if _, ok := value(fams, MetricVerifySuccess); !ok {
		t.Error("the backup dropped verify's families")
	}
}
