// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/metrics"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// statusSchema compiles docs/json/status.schema.json with
// santhosh-tekuri/jsonschema (v6.0.3: a complete Draft 2020-12 validator,
// formats asserted when asked).
func statusSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "docs", "json", "status.schema.json")
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compiling %s: %v", path, err)
	}
	return s
}

// status runs `status --json`, checks the output against the schema and
// decodes it.
func (e *env) status(t *testing.T, schema *jsonschema.Schema, wantCode int) *statusReport {
	t.Helper()
	r := e.run("status", "--json")
	if r.code != wantCode {
		t.Fatalf("status --json: exit %d, want %d\n%s%s", r.code, wantCode, r.stdout, r.stderr)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("status --json printed no JSON: %v\n%s", err, r.stdout)
	}
	if err := schema.Validate(inst); err != nil {
		t.Fatalf("status --json does not match docs/json/status.schema.json: %v\n%s", err, r.stdout)
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ExitCode != wantCode || rep.Healthy != (wantCode == 0) {
		t.Fatalf("exit_code %d, healthy %v in the JSON; the process exited %d", rep.ExitCode, rep.Healthy, wantCode)
	}
	return &rep
}

func (rep *statusReport) repo(t *testing.T, name string) *statusRepo {
	t.Helper()
	for _, r := range rep.Repositories {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s repository in the status", name)
	return nil
}

func (rep *statusReport) hasProblem(s string) bool {
	for _, p := range rep.Problems {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// backupRunID runs a backup and returns its run ID (backup --json).
func (e *env) backupRunID(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(append([]string{"backup", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("backup %v: exit %d\n%s", args, r.code, r.stderr)
	}
	var out backupJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.RunID == "" {
		t.Fatalf("backup --json: %v\n%s", err, r.stdout)
	}
	return out.RunID
}

// TestStatusFreshnessLagFailureAndExitCodes: status against real restic
// repositories after real runs. No backup yet → 1; a local+offsite run →
// 0 with the run's size and added bytes per repository; a local-only run →
// the offsite lag names it; a failing run → 1 until a run succeeds; usage
// errors → 2. Every JSON output validates against the documented schema.
func TestStatusFreshnessLagFailureAndExitCodes(t *testing.T) {
	schema := statusSchema(t)
	e := newEnv(t, false)
	e.synthetic("300000")
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = filepath.Join(e.dir, "offsite")
	prom := filepath.Join(e.dir, "textfile", "timetiles_backup.prom")
	os.MkdirAll(filepath.Dir(prom), 0o755)
	e.vars["BACKUP_METRICS_FILE"] = prom

	// Nothing backed up: the repository does not exist.
	rep := e.status(t, schema, 1)
	if !rep.hasProblem("no repository at "+e.repo+": run `timetiles-backup backup` (creates it)") || rep.repo(t, "local").Available {
		t.Fatalf("status before any backup: problems %q", rep.Problems)
	}

	// Two hours ago (restic's --time): the lag below is a known figure.
	firstAt := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	first := e.backupRunID(t, "--offsite", "--time", firstAt.Format(time.RFC3339))
	rep = e.status(t, schema, 0)
	for _, name := range []string{"local", "offsite"} {
		sr := rep.repo(t, name)
		if !sr.Available || sr.CompleteRuns != 1 || len(sr.Components) != 1 {
			t.Fatalf("%s repository: %+v", name, sr)
		}
		n := sr.Components[0].Newest
		if sr.Components[0].Component != "synthetic" || n == nil || n.RunID != first || sr.Components[0].Stale {
			t.Fatalf("%s: newest run %+v, want %s", name, n, first)
		}
		if n.SizeBytes != 300000 {
			t.Errorf("%s: size %d, want the 300000 bytes the source produced", name, n.SizeBytes)
		}
		// Random bytes do not deduplicate or compress: the first run adds
		// about its size (restic's snapshot summary, carried by the target).
		if n.BytesAdded < 250000 || n.BytesAdded > 400000 {
			t.Errorf("%s: bytes added %d, want about 300000", name, n.BytesAdded)
		}
		if n.Time != firstAt.Format(time.RFC3339) || n.AgeSeconds < 7200 || n.AgeSeconds > 7200+600 {
			t.Errorf("%s: time %s, age %d s for a run made at %s", name, n.Time, n.AgeSeconds, firstAt.Format(time.RFC3339))
		}
	}
	if rep.OffsiteLag == nil || len(rep.OffsiteLag.MissingRuns) != 0 || rep.OffsiteLag.LagSeconds != 0 {
		t.Fatalf("offsite lag after a run into both: %+v", rep.OffsiteLag)
	}
	if lb := rep.LastBackup; lb == nil || !lb.Success || lb.RunID != first || !lb.Offsite || !lb.OffsiteSuccess {
		t.Fatalf("last backup: %+v", rep.LastBackup)
	}
	if rep.Lock != nil || len(rep.Runs) != 1 || rep.Runs[0].Repositories["offsite"] != "complete" {
		t.Fatalf("lock %+v, runs %+v", rep.Lock, rep.Runs)
	}
	fams := readMetrics(t, prom)
	if v, _ := metric(t, fams, metrics.MetricHealthy); v != 1 {
		t.Errorf("metrics: healthy %v after a fresh status", v)
	}
	if v, ok := metric(t, fams, metrics.MetricOffsiteMissing); !ok || v != 0 {
		t.Errorf("metrics: offsite missing runs %v (%v), want 0", v, ok)
	}
	if _, ok := metric(t, fams, metrics.MetricBytes, "component", "synthetic", "repository", "local"); !ok {
		t.Error("status dropped the backup's metrics from the textfile")
	}

	// A night without the offsite: the lag names the run it lacks.
	second := e.backupRunID(t)
	if _, ok := metric(t, readMetrics(t, prom), metrics.MetricHealthy); !ok {
		t.Error("a backup dropped status' metrics from the textfile")
	}
	rep = e.status(t, schema, 0)
	if l := rep.OffsiteLag; l == nil || len(l.MissingRuns) != 1 || l.MissingRuns[0] != second || l.LagSeconds < 7200 || l.LagSeconds > 7200+600 {
		t.Fatalf("offsite lag after a local-only run: %+v (want %s missing)", rep.OffsiteLag, second)
	}
	if rep.repo(t, "local").Components[0].Newest.RunID != second || rep.repo(t, "offsite").Components[0].Newest.RunID != first {
		t.Fatalf("newest runs: local %s, offsite %s", rep.repo(t, "local").Components[0].Newest.RunID, rep.repo(t, "offsite").Components[0].Newest.RunID)
	}
	fams = readMetrics(t, prom)
	if v, _ := metric(t, fams, metrics.MetricOffsiteMissing); v != 1 {
		t.Errorf("metrics: offsite missing runs %v, want 1", v)
	}
	if v, _ := metric(t, fams, metrics.MetricOffsiteLag); v != float64(rep.OffsiteLag.LagSeconds) {
		t.Errorf("metrics: offsite lag %v, want the %d s status printed", v, rep.OffsiteLag.LagSeconds)
	}

	// A failing run: exit 1, the failure named, until a run succeeds.
	e.vars["SYNTH_FAIL_AFTER"] = "1000"
	if r := e.run("backup"); r.code != 1 {
		t.Fatalf("failing backup: exit %d", r.code)
	}
	rep = e.status(t, schema, 1)
	if lb := rep.LastBackup; lb == nil || lb.Success || lb.ExitStatus != 1 || lb.Error == "" || !rep.hasProblem("failed") {
		t.Fatalf("after a failed run: last backup %+v, problems %q", rep.LastBackup, rep.Problems)
	}
	text := e.run("status")
	if text.code != 1 || !strings.HasPrefix(text.stdout, "PROBLEM: ") || !strings.Contains(strings.SplitN(text.stdout, "\n", 2)[0], "failed") {
		t.Fatalf("status text after a failed run: exit %d, first line %q", text.code, strings.SplitN(text.stdout, "\n", 2)[0])
	}
	if v, _ := metric(t, readMetrics(t, prom), metrics.MetricHealthy); v != 0 {
		t.Errorf("metrics: healthy %v after a failed run", v)
	}
	delete(e.vars, "SYNTH_FAIL_AFTER")
	e.backupRunID(t, "--offsite")
	rep = e.status(t, schema, 0)
	if text := e.run("status"); text.code != 0 || !strings.HasPrefix(text.stdout, "OK: ") {
		t.Fatalf("status text when fresh: exit %d\n%s", text.code, text.stdout)
	}

	// Usage and configuration errors: 2.
	for _, args := range [][]string{{"status", "--bogus"}, {"status", "extra"}} {
		if r := e.run(args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
	e.vars["BACKUP_TARGET"] = "target-missing"
	if r := e.run("status"); r.code != 2 || !strings.Contains(r.stderr, "target-missing") {
		t.Errorf("a target plugin that is not installed: exit %d, %s", r.code, r.stderr)
	}
	delete(e.vars, "BACKUP_TARGET")
	e.vars["BACKUP_MAX_AGE"] = "a day"
	if r := e.run("status"); r.code != 2 || !strings.Contains(r.stderr, "BACKUP_MAX_AGE") {
		t.Errorf("BACKUP_MAX_AGE=\"a day\": exit %d, %s", r.code, r.stderr)
	}
}

// TestStatusOldRunExitsOne: a run backdated 30 hours (restic's --time,
// through backup's hidden --time) is stale under the default BACKUP_MAX_AGE
// of 26h — a fresh safety backup taken by restore does not change that —
// and fresh under 48h.
func TestStatusOldRunExitsOne(t *testing.T) {
	schema := statusSchema(t)
	e := newEnv(t, false)
	e.synthetic("100000")
	old := time.Now().Add(-30 * time.Hour).UTC().Truncate(time.Second)
	id := e.backupRunID(t, "--time", old.Format(time.RFC3339))
	rep := e.status(t, schema, 1)
	sc := rep.repo(t, "local").Components[0]
	if !sc.Stale || sc.Newest == nil || sc.Newest.RunID != id || sc.Newest.AgeSeconds < 30*3600 || sc.Newest.Time != old.Format(time.RFC3339) {
		t.Fatalf("backdated run: %+v %+v", sc, sc.Newest)
	}
	if !rep.hasProblem("BACKUP_MAX_AGE=26h") || rep.MaxAgeSeconds != 26*3600 {
		t.Fatalf("problems %q, max age %d", rep.Problems, rep.MaxAgeSeconds)
	}
	// An in-place restore takes a safety backup first: a complete run of
	// now, which is no backup of the schedule's and does not make the
	// component fresh.
	if r := e.run("restore", "latest", "--yes"); r.code != 0 {
		t.Fatalf("restore latest: exit %d\n%s", r.code, r.stderr)
	}
	rep = e.status(t, schema, 1)
	if n := rep.repo(t, "local").Components[0].Newest; n == nil || n.RunID != id || len(rep.Runs) != 2 || !rep.Runs[0].Safety ||
		rep.Runs[0].Repositories["local"] != "complete" || rep.repo(t, "local").CompleteRuns != 1 {
		t.Fatalf("after a safety backup: newest %+v, runs %d (first safety %v), complete runs %d",
			n, len(rep.Runs), len(rep.Runs) > 0 && rep.Runs[0].Safety, rep.repo(t, "local").CompleteRuns)
	}
	e.vars["BACKUP_MAX_AGE"] = "48h"
	rep = e.status(t, schema, 0)
	if rep.MaxAgeSeconds != 48*3600 || rep.repo(t, "local").Components[0].Stale {
		t.Fatalf("under BACKUP_MAX_AGE=48h: %+v", rep.repo(t, "local").Components[0])
	}
}

// TestStatusVerifyScheduleAndLock: verify's outcome recorded per
// repository (and in the metrics file), a failing restore drill recorded,
// the jobs `backup auto` installed with their next run, the run lock's
// holder.
func TestStatusVerifyScheduleAndLock(t *testing.T) {
	schema := statusSchema(t)
	e := newEnv(t, false)
	e.synthetic("100000")
	prom := filepath.Join(e.dir, "metrics.prom")
	e.vars["BACKUP_METRICS_FILE"] = prom
	cronFile := filepath.Join(e.dir, "cron.d", "timetiles-backup")
	units := filepath.Join(e.dir, "units")
	os.MkdirAll(filepath.Dir(cronFile), 0o755)
	os.MkdirAll(units, 0o755)
	e.vars["BACKUP_CRON_FILE"] = cronFile
	e.vars["BACKUP_SYSTEMD_DIR"] = units
	run := e.backupRunID(t)

	rep := e.status(t, schema, 0)
	if rep.repo(t, "local").LastVerify != nil || rep.LastRestoreTest != nil || len(rep.Schedule) != 0 {
		t.Fatalf("before any verify or job: verify %+v, drill %+v, schedule %+v", rep.repo(t, "local").LastVerify, rep.LastRestoreTest, rep.Schedule)
	}

	before := time.Now().Add(-time.Second)
	if r := e.run("backup", "verify"); r.code != 0 {
		t.Fatalf("verify: %d %s", r.code, r.stderr)
	}
	// Verify itself wrote its metrics (before any status), next to the
	// backup's.
	fams := readMetrics(t, prom)
	if ok, _ := metric(t, fams, metrics.MetricVerifySuccess, "repository", "local"); ok != 1 {
		t.Errorf("metrics: verify success %v", ok)
	}
	if at, _ := metric(t, fams, metrics.MetricLastVerify, "repository", "local"); at < float64(before.Unix()) {
		t.Errorf("metrics: last verify %v, want after %d", at, before.Unix())
	}
	if _, ok := metric(t, fams, metrics.MetricBytes, "component", "synthetic", "repository", "local"); !ok {
		t.Error("verify dropped the backup's metrics from the textfile")
	}
	rep = e.status(t, schema, 0)
	v := rep.repo(t, "local").LastVerify
	if v == nil || !v.OK || v.RunID != run || parseRFC3339(v.Time).Before(before.Truncate(time.Second)) {
		t.Fatalf("last verify after a passing verify: %+v", v)
	}

	// A restore drill with no source that can run one fails, and is
	// recorded as failed (source-postgres' passing drill: TestStatusRestoreDrill).
	if r := e.run("backup", "verify", "--restore-test"); r.code != 1 {
		t.Fatalf("verify --restore-test without a database source: exit %d", r.code)
	}
	if v, ok := metric(t, readMetrics(t, prom), metrics.MetricRestoreTestSuccess); !ok || v != 0 {
		t.Errorf("metrics: restore drill success %v (%v) after a failed drill", v, ok)
	}
	rep = e.status(t, schema, 0)
	if d := rep.LastRestoreTest; d == nil || d.OK || !strings.Contains(d.Error, "restore test") {
		t.Fatalf("last restore drill: %+v", rep.LastRestoreTest)
	}

	// The jobs of backup auto, cron and systemd, with their next run.
	nextAt := func(now time.Time, hh, mm int) string {
		next := time.Date(now.Year(), now.Month(), now.Day(), hh, mm, 0, 0, time.Local)
		if !next.After(now) {
			next = next.AddDate(0, 0, 1)
		}
		return rfc3339(next)
	}
	type wantJob struct {
		spec, cmds, file string
		hh, mm           int // daily jobs: the next run; -1: any time in the future
	}
	// checkJobs: the jobs of kind are exactly want, in order; no job of
	// the other kind remains (one schedule only).
	checkJobs := func(kind, other string, want []wantJob) {
		t.Helper()
		before := time.Now()
		rep := e.status(t, schema, 0)
		after := time.Now()
		var got []statusJob
		for _, j := range rep.Schedule {
			switch j.Kind {
			case kind:
				got = append(got, j)
			case other:
				t.Errorf("a %s job remains next to the %s jobs: %+v", other, kind, j)
			}
			// other kinds: e.g. a crontab block of the user running the test
		}
		if len(got) != len(want) {
			t.Fatalf("%s jobs %+v, want %d", kind, got, len(want))
		}
		for i, j := range got {
			w := want[i]
			if j.Schedule != w.spec || strings.Join(j.Commands, ",") != w.cmds || j.File != w.file {
				t.Errorf("%s job %d: %+v, want %+v", kind, i, j, w)
			}
			if j.NextRun == nil || *j.NextRunSeconds < 0 {
				t.Errorf("%s job %d: no next run (%s)", kind, i, j.NextRunError)
				continue
			}
			// status looked between before and after.
			if w.hh >= 0 && *j.NextRun != nextAt(before, w.hh, w.mm) && *j.NextRun != nextAt(after, w.hh, w.mm) {
				t.Errorf("%s job %d: next run %v, want %s", kind, i, *j.NextRun, nextAt(before, w.hh, w.mm))
			}
		}
	}
	e.vars["BACKUP_LOG_FILE"] = filepath.Join(e.dir, "log", "backup.log")
	if r := e.run("backup", "auto", "--at", "03:17", "--offsite"); r.code != 0 {
		t.Fatalf("backup auto: %d %s", r.code, r.stderr)
	}
	checkJobs("cron", "systemd", []wantJob{
		{"17 3 * * *", "backup --offsite", cronFile, 3, 17},
		{"17 4 * * 0", "backup prune --offsite", cronFile, -1, 0},
		{"17 4 * * 3", "backup verify --offsite", cronFile, -1, 0},
		{"17 5 1 * *", "backup verify --restore-test", cronFile, -1, 0},
	})
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if r := e.run("backup", "auto", "--systemd", "--at", "04:05"); r.code != 0 {
			t.Fatalf("backup auto --systemd: %d %s", r.code, r.stderr)
		}
		timer := func(n string) string { return filepath.Join(units, n+".timer") }
		checkJobs("systemd", "cron", []wantJob{ // the timers in name order
			{"Sun *-*-* 05:05:00", "backup prune", timer("timetiles-backup-prune"), -1, 0},
			{"*-*-01 06:05:00", "backup verify --restore-test", timer("timetiles-backup-restore-test"), -1, 0},
			{"Wed *-*-* 05:05:00", "backup verify", timer("timetiles-backup-verify"), -1, 0},
			{"*-*-* 04:05:00", "backup", timer("timetiles-backup"), 4, 5},
		})
	}

	// The run lock: held by this test process (as a run holds it).
	locks, _ := filepath.Glob(filepath.Join(e.vars["BACKUP_STATE_DIR"], "run-*.lock"))
	if len(locks) != 1 {
		t.Fatalf("lock files %v", locks)
	}
	fl := flock.New(locks[0])
	if ok, err := fl.TryLock(); !ok || err != nil {
		t.Fatalf("taking the run lock: %v %v", ok, err)
	}
	started := time.Now().UTC().Truncate(time.Second)
	holder, _ := json.Marshal(host.LockHolder{PID: os.Getpid(), Started: started, Command: "timetiles-backup backup", Host: "e2e-host"})
	os.WriteFile(locks[0], holder, 0o600)
	rep = e.status(t, schema, 0)
	if l := rep.Lock; l == nil || l.PID != os.Getpid() || l.Command != "timetiles-backup backup" || l.Started != rfc3339(started) {
		t.Fatalf("lock holder: %+v", rep.Lock)
	}
	// A holder that died without clearing the file holds nothing.
	fl.Unlock()
	rep = e.status(t, schema, 0)
	if rep.Lock != nil {
		t.Fatalf("lock reported held after its holder let go: %+v", rep.Lock)
	}
}

// TestStatusRestoreDrill: a passing restore drill of a real PostgreSQL
// database (source-postgres), recorded for status.
func TestStatusRestoreDrill(t *testing.T) {
	schema := statusSchema(t)
	e := newEnv(t, true)
	e.vars["BACKUP_SOURCES"] = "db=source-postgres"
	prom := filepath.Join(e.dir, "metrics.prom")
	e.vars["BACKUP_METRICS_FILE"] = prom
	run := e.backupRunID(t)
	before := time.Now().Add(-time.Second).Unix()
	if r := e.run("backup", "verify", "--restore-test"); r.code != 0 {
		t.Fatalf("verify --restore-test: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fams := readMetrics(t, prom)
	if v, _ := metric(t, fams, metrics.MetricRestoreTestSuccess); v != 1 {
		t.Errorf("metrics: restore drill success %v", v)
	}
	if at, _ := metric(t, fams, metrics.MetricLastRestoreTest); at < float64(before) {
		t.Errorf("metrics: last restore drill %v, want after %d", at, before)
	}
	rep := e.status(t, schema, 0)
	d := rep.LastRestoreTest
	if d == nil || !d.OK || d.Components != "db" || d.RunID != run || d.DurationSeconds <= 0 || d.AgeSeconds < 0 {
		t.Fatalf("last restore drill: %+v", d)
	}
	if v := rep.repo(t, "local").LastVerify; v == nil || !v.OK {
		t.Fatalf("last verify: %+v", v)
	}
}

// TestStatusUserCrontab: for a user other than root, the job `backup auto`
// put between the markers of the user's crontab, with its next run (the
// user's other crontab lines are not jobs of ours).
func TestStatusUserCrontab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	if _, err := exec.LookPath("crontab"); err != nil {
		t.Fatal("crontab is not installed: scripts/install-deps.sh installs cron")
	}
	const uid, user = 65534, "nobody"
	schema := statusSchema(t)
	e := newEnv(t, false)
	home, err := os.MkdirTemp("", "ttb-status-crontab-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	bin := filepath.Join(home, "bin")
	copyTree(t, e.bin, bin)
	os.Chown(home, uid, uid)
	envFile := filepath.Join(home, "env")
	os.WriteFile(envFile, []byte("RESTIC_PASSWORD=user-crontab-pw\nRESTIC_REPOSITORY="+filepath.Join(home, "repo")+
		"\nBACKUP_RESTIC_BIN="+e.vars["BACKUP_RESTIC_BIN"]+"\nBACKUP_STATE_DIR="+filepath.Join(home, "state")+"\nBACKUP_CRON_FILE="+filepath.Join(home, "no-cron-file")+
		"\nBACKUP_SYSTEMD_DIR="+home+"\n"), 0o600)
	os.Chown(envFile, uid, uid)
	crontabAs := func(stdin string, args ...string) {
		cmd := exec.Command("crontab", append([]string{"-u", user}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Run()
	}
	crontabAs("", "-r")
	t.Cleanup(func() { crontabAs("", "-r") })
	crontabAs("17 3 * * * /usr/bin/timetiles-backup backup --not-ours\n", "-")
	runAs := func(args ...string) (int, string) {
		cmd := exec.Command(filepath.Join(bin, "timetiles-backup"), append(args, "--env-file", envFile)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := runAs("backup", "auto", "--at", "05:40"); code != 0 {
		t.Fatalf("backup auto as %s: %d %s", user, code, out)
	}
	before := time.Now()
	code, out := runAs("status", "--json")
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil || schema.Validate(inst) != nil || code != 1 {
		t.Fatalf("status as %s: exit %d (want 1: no backup yet), %v\n%s", user, code, err, out)
	}
	var rep statusReport
	json.Unmarshal([]byte(out), &rep)
	if len(rep.Schedule) != 4 {
		t.Fatalf("schedule %+v: want only the 4 jobs between the markers", rep.Schedule)
	}
	j := rep.Schedule[0]
	next := time.Date(before.Year(), before.Month(), before.Day(), 5, 40, 0, 0, time.Local)
	if !next.After(before) {
		next = next.AddDate(0, 0, 1)
	}
	if j.Kind != "crontab" || j.Schedule != "40 5 * * *" || strings.Join(j.Commands, ",") != "backup" ||
		j.NextRun == nil || (*j.NextRun != rfc3339(next) && *j.NextRun != rfc3339(next.AddDate(0, 0, 1))) {
		t.Fatalf("crontab job: %+v (next %v, want %s)", j, j.NextRun, rfc3339(next))
	}
}

// TestStatusPutOnlyOffsiteKey: an offsite key that may only put objects
// (S3, versitygw) cannot list: status says so as a warning, with the
// failed offsite part of the last backup, and still judges the local
// repository (exit 0); the lag is unknown (null), not zero.
func TestStatusPutOnlyOffsiteKey(t *testing.T) {
	schema := statusSchema(t)
	e, _, _ := s3Env(t, "status-put-only", testenv.S3PutOnly, false, "100000")
	if r := e.run("backup", "--offsite"); r.code != 0 {
		t.Fatalf("backup --offsite with a put-only key: exit %d (the local backup stands)\n%s", r.code, r.stderr)
	}
	rep := e.status(t, schema, 0)
	off := rep.repo(t, "offsite")
	if off.Available || !strings.Contains(off.Error, "write-only") || rep.OffsiteLag != nil {
		t.Fatalf("offsite with a put-only key: %+v, lag %+v", off, rep.OffsiteLag)
	}
	var listed, failed bool
	for _, w := range rep.Warnings {
		listed = listed || strings.Contains(w, "may not list")
		failed = failed || strings.Contains(w, "offsite part of the last backup")
	}
	if !listed || !failed || rep.LastBackup == nil || !rep.LastBackup.Success || rep.LastBackup.OffsiteSuccess {
		t.Fatalf("warnings %q, last backup %+v", rep.Warnings, rep.LastBackup)
	}
	if n := rep.repo(t, "local").Components[0].Newest; n == nil || rep.repo(t, "local").Components[0].Stale {
		t.Fatalf("local: %+v", rep.repo(t, "local").Components[0])
	}
}

// TestMissingRepositoryOneMessage: `backup list`, `status` and `backup
// verify` against a repository that does not exist give one message with
// one fix, the target's, once.
func TestMissingRepositoryOneMessage(t *testing.T) {
	e := newEnv(t, false)
	want := "no repository at " + e.repo + ": run `timetiles-backup backup` (creates it) or check RESTIC_REPOSITORY"
	for _, args := range [][]string{{"backup", "list"}, {"status"}, {"backup", "verify"}} {
		r := e.run(args...)
		out := r.stdout + r.stderr
		t.Logf("%v: %s", args, out)
		if r.code != 1 || strings.Count(out, want) != 1 || strings.Contains(out, "timetiles-backup init") {
			t.Errorf("%v: exit %d (want 1), output has %q %d times (want once) or gives another fix:\n%s", args, r.code, want, strings.Count(out, want), out)
		}
		if strings.Contains(out, "cannot remove locks") {
			t.Errorf("%v: a warning about locks of a repository that does not exist:\n%s", args, out)
		}
	}
}
