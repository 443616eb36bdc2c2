// SPDX-License-Identifier: Apache-2.0

package retention

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// snapshot fixtures: a run is one snapshot per component plus, when
// complete, a manifest snapshot — tagged exactly as Runner.Backup tags them.
type fixture struct {
	snaps []sdk.Snapshot
	n     int
}

func (f *fixture) run(host, id string, at time.Time, complete bool, comps ...string) {
	for _, c := range comps {
		f.add(host, at, runs.ToolTag, c, runs.RunTagPrefix+id)
	}
	if complete {
		f.add(host, at, runs.ToolTag, runs.ManifestTag, runs.RunTagPrefix+id)
	}
}

func (f *fixture) add(host string, at time.Time, tags ...string) string {
	f.n++
	id := fmt.Sprintf("%08x%056d", f.n, 0)
	f.snaps = append(f.snaps, sdk.Snapshot{ID: id, Time: at, Host: host, Tags: tags})
	return id
}

func (f *fixture) idsOf(runID string) []string {
	var out []string
	for _, s := range f.snaps {
		if slices.Contains(s.Tags, runs.RunTagPrefix+runID) {
			out = append(out, s.ID)
		}
	}
	sort.Strings(out)
	return out
}

func day(d, hour int) time.Time { return time.Date(2026, 3, d, hour, 0, 0, 0, time.UTC) }

func decisionOf(t *testing.T, p *Plan, runID string) RunDecision {
	t.Helper()
	for _, d := range p.Runs {
		if d.Run.ID == runID {
			return d
		}
	}
	t.Fatalf("run %s not in the plan", runID)
	return RunDecision{}
}

func keptIDs(p *Plan) []string {
	var out []string
	for _, d := range p.Kept() {
		out = append(out, d.Run.ID)
	}
	sort.Strings(out)
	return out
}

// Frequent db-only runs must not remove a full run's db snapshot while its
// uploads snapshot is kept: runs are kept or removed whole, and each
// component's history is ranked independently.
func TestRetentionKeepsRunsWholeAndComponentsIndependent(t *testing.T) {
	f := &fixture{}
	f.run("h", "full-d3", day(3, 2), true, "db", "uploads")
	f.run("h", "db-d3-noon", day(3, 12), true, "db")
	f.run("h", "db-d3-eve", day(3, 18), true, "db")
	f.run("h", "full-d2", day(2, 2), true, "db", "uploads")
	f.run("h", "db-d2-noon", day(2, 12), true, "db")
	f.run("h", "full-d1", day(1, 2), true, "db", "uploads")
	p := Decide(f.snaps, "h", sdk.KeepPolicy{Daily: 2}, time.UTC)

	// db: newest per day for 2 days → db-d3-eve, db-d2-noon.
	// uploads: newest per day for 2 days → full-d3, full-d2.
	want := []string{"db-d2-noon", "db-d3-eve", "full-d2", "full-d3"}
	if got := keptIDs(p); !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	// full-d3 is kept for uploads and keeps its db snapshot and manifest.
	d := decisionOf(t, p, "full-d3")
	if !slices.Contains(d.Reasons, "daily uploads") || slices.Contains(d.Reasons, "daily db") {
		t.Errorf("full-d3 reasons %v", d.Reasons)
	}
	forget := p.ForgetIDs()
	for _, id := range f.idsOf("full-d3") {
		if slices.Contains(forget, id) {
			t.Errorf("snapshot %s of the kept run full-d3 would be forgotten", id)
		}
	}
	// Removed runs go whole: components and manifest.
	var wantForget []string
	for _, r := range []string{"db-d3-noon", "full-d1"} {
		wantForget = append(wantForget, f.idsOf(r)...)
	}
	sort.Strings(wantForget)
	sort.Strings(forget)
	if !slices.Equal(forget, wantForget) {
		t.Fatalf("forget %v, want %v", forget, wantForget)
	}
	if len(f.idsOf("full-d1")) != 3 {
		t.Fatalf("fixture: full-d1 should have 3 snapshots")
	}
}

func TestRetentionIncompleteRuns(t *testing.T) {
	f := &fixture{}
	f.run("h", "failed-old", day(1, 5), false, "db")         // older than a complete run: removed
	f.run("h", "complete", day(2, 2), true, "db", "uploads") // the newest restore point
	f.run("h", "running", day(2, 3), false, "db")            // newer: may be in progress
	p := Decide(f.snaps, "h", sdk.KeepPolicy{Daily: 7}, time.UTC)
	if got, want := keptIDs(p), []string{"complete", "running"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	forget := p.ForgetIDs()
	sort.Strings(forget)
	if !slices.Equal(forget, f.idsOf("failed-old")) {
		t.Fatalf("forget %v, want the failed run's snapshots %v", forget, f.idsOf("failed-old"))
	}
	// An incomplete run never displaces a complete one of the same day.
	f2 := &fixture{}
	f2.run("h", "complete-morning", day(5, 2), true, "db")
	f2.run("h", "failed-evening", day(5, 20), false, "db")
	f2.run("h", "complete-next", day(6, 2), true, "db")
	p2 := Decide(f2.snaps, "h", sdk.KeepPolicy{Daily: 2}, time.UTC)
	if got, want := keptIDs(p2), []string{"complete-morning", "complete-next"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

// A safety run (taken by an in-place restore at noon) never takes the
// day's slot from that night's regular backup, which `restore latest` and
// the offsite catch-up use; safety runs are ranked among themselves by the
// same policy, so old ones still expire.
func TestRetentionSafetyRunsNeverDisplaceBackups(t *testing.T) {
	f := &fixture{}
	for d := 3; d >= 1; d-- {
		f.run("h", fmt.Sprintf("full-d%d", d), day(d, 2), true, "db", "uploads")
		id := fmt.Sprintf("safety-d%d", d)
		for _, c := range []string{"db", "uploads", runs.ManifestTag} {
			f.add("h", day(d, 12), runs.ToolTag, c, runs.RunTagPrefix+id, runs.SafetyTag)
		}
	}
	p := Decide(f.snaps, "h", sdk.KeepPolicy{Daily: 2}, time.UTC)
	want := []string{"full-d2", "full-d3", "safety-d2", "safety-d3"}
	if got := keptIDs(p); !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if d := decisionOf(t, p, "full-d3"); !slices.Contains(d.Reasons, "daily db") || !slices.Contains(d.Reasons, "daily uploads") {
		t.Errorf("full-d3 reasons %v, want daily db and daily uploads", d.Reasons)
	}
	if d := decisionOf(t, p, "safety-d3"); !slices.Contains(d.Reasons, "daily db (safety runs)") {
		t.Errorf("safety-d3 reasons %v", d.Reasons)
	}
}

func TestRetentionTouchesOnlyThisHostsBackups(t *testing.T) {
	f := &fixture{}
	f.run("h", "r1", day(1, 1), true, "db")
	f.run("h", "r2", day(2, 1), true, "db")
	f.run("other", "x1", day(1, 2), true, "db")
	f.add("h", day(1, 3), "something-else") // not this tool's, no component
	legacy := f.add("h", day(1, 4), "db")   // TimeTiles' shell tool
	p := Decide(f.snaps, "h", sdk.KeepPolicy{Daily: 1}, time.UTC)
	forget := p.ForgetIDs()
	sort.Strings(forget)
	want := append(f.idsOf("r1"), legacy)
	sort.Strings(want)
	if !slices.Equal(forget, want) {
		t.Fatalf("forget %v, want %v (r1 and the legacy db snapshot)", forget, want)
	}
	for _, id := range f.idsOf("x1") {
		if slices.Contains(forget, id) {
			t.Fatalf("another host's snapshot %s would be forgotten", id)
		}
	}
	if p.Untouched != 3 { // x1's two snapshots, the foreign one
		t.Errorf("untouched = %d, want 3", p.Untouched)
	}
}

func TestKeepPolicyConfiguration(t *testing.T) {
	k, err := PolicyFrom(config.NewConfig(map[string]string{}))
	if err != nil || k != (sdk.KeepPolicy{Daily: 7, Weekly: 4, Monthly: 12}) {
		t.Fatalf("defaults: %+v %v", k, err)
	}
	for _, tc := range []struct{ key, val string }{
		{config.EnvKeepDaily, "seven"}, {config.EnvKeepWeekly, "-1"}, {config.EnvKeepMonthly, "1.5"},
	} {
		if _, err := PolicyFrom(config.NewConfig(map[string]string{tc.key: tc.val})); err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), config.ErrConfig.Error()) {
			t.Errorf("%s=%s: %v", tc.key, tc.val, err)
		}
	}
	if _, err := PolicyFrom(config.NewConfig(map[string]string{config.EnvKeepDaily: "0", config.EnvKeepWeekly: "0", config.EnvKeepMonthly: "0"})); err == nil {
		t.Error("a policy keeping nothing was accepted")
	}
}

// The rules Decide applies per component are restic's own: for a
// history of single-component restore points (TimeTiles' shell-tool
// snapshots, tag "db") it removes exactly what `restic forget --dry-run`
// removes with the same --keep-* values.
func TestRetentionMatchesResticForget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs restic")
	}
	dir := t.TempDir()
	repo := &restic.Repo{Binary: testenv.Tool(t, "restic"), Repository: filepath.Join(dir, "repo"), Password: "pw",
		Env: []string{"RESTIC_CACHE_DIR=" + filepath.Join(dir, "cache")}}
	ctx := context.Background()
	if _, err := repo.Init(ctx); err != nil {
		t.Fatal(err)
	}
	// Times over three months: several a day, gaps, week and month edges.
	var times []time.Time
	for _, s := range []string{
		"2026-01-03 10:00", "2026-01-18 10:00", "2026-01-31 23:00", "2026-02-01 01:00",
		"2026-02-14 10:00", "2026-02-26 10:00", "2026-03-01 09:00", "2026-03-02 10:00",
		"2026-03-02 20:00", "2026-03-04 10:00", "2026-03-05 10:00",
	} {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, tm)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(times))
	sem := make(chan struct{}, 3)
	for i, tm := range times {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := repo.BackupStdin(ctx, restic.BackupOptions{Filename: "database.sql", Tags: []string{"db"}, Host: "h", Time: tm},
				strings.NewReader(fmt.Sprintf("dump %d", i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, err := repo.Snapshots(ctx, restic.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var snaps []sdk.Snapshot
	for _, s := range list {
		snaps = append(snaps, sdk.Snapshot{ID: s.ID, Time: s.Time, Host: s.Hostname, Tags: s.Tags})
	}
	for _, k := range []sdk.KeepPolicy{{Daily: 3, Weekly: 2, Monthly: 2}, {Daily: 7, Weekly: 4, Monthly: 12}, {Weekly: 3}, {Monthly: 1, Daily: 1}} {
		res, err := repo.Forget(ctx, restic.ForgetOptions{KeepDaily: k.Daily, KeepWeekly: k.Weekly, KeepMonthly: k.Monthly,
			GroupBy: "host", Host: "h", Tags: []string{"db"}, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		want := res.Removed()
		got := Decide(snaps, "h", k, nil).ForgetIDs()
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("policy %+v: Decide removes %v, restic forget removes %v", k, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "repo", "config")); err != nil {
		t.Fatal(err)
	}
}
