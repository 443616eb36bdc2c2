// SPDX-License-Identifier: Apache-2.0

package runs

// Fuzz targets for what the host reads from repositories (outside input).
// `go test` runs them over their seeds; `go test -fuzz=FuzzX ./host/runs`
// explores.

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/sdk"
)

// A run manifest read back from a repository.
func FuzzParseManifest(f *testing.F) {
	m := Manifest{Tool: ToolTag, Version: "1", RunID: "20260102T030405Z-abcd", Host: "h", Time: time.Unix(1700000000, 0).UTC(),
		Components: map[string]ManifestComponent{"db": {Snapshot: "0123", Size: 5, ChecksumAlgorithm: "xxh3", Checksum: "00ff"}}}
	b, _ := json.Marshal(m)
	f.Add(b)
	f.Add([]byte(`{"components":{"":{}}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"run_id":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil || m == nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("a parsed manifest does not marshal: %v", err)
		}
		if _, err := ParseManifest(again); err != nil {
			t.Fatalf("a manifest does not parse back: %v\n%s", err, again)
		}
	})
}

// Restore selectors against a fixed set of runs: a result is always one
// of the runs (or one snapshot of one), errors are "not found" or a
// configuration error.
func FuzzSelectRun(f *testing.F) {
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	snaps := []sdk.Snapshot{
		{ID: "aaaa1111", Time: at(1), Tags: []string{ToolTag, "db", RunTagPrefix + "run-1"}},
		{ID: "aaaa2222", Time: at(1), Tags: []string{ToolTag, "uploads", RunTagPrefix + "run-1"}},
		{ID: "bbbb3333", Time: at(1), Tags: []string{ToolTag, ManifestTag, RunTagPrefix + "run-1"}},
		{ID: "cccc4444", Time: at(2), Tags: []string{ToolTag, "db", RunTagPrefix + "run-2"}},
		{ID: "dddd5555", Time: at(0), Tags: []string{"db"}},
		{ID: "eeee6666", Time: at(0), Tags: []string{"uploads"}},
	}
	runs := GroupRuns(snaps)
	ids := map[string]bool{}
	for _, s := range snaps {
		ids[s.ID] = true
	}
	f.Add("latest", "db,uploads")
	f.Add("run-2", "")
	f.Add("aaaa", "")
	f.Add("cccc4", "db")
	f.Add("", "nothing")
	f.Add("dddd5555", "")
	f.Fuzz(func(t *testing.T, sel, want string) {
		var comps []string
		if want != "" {
			comps = strings.Split(want, ",")
		}
		run, err := SelectRun(runs, sel, comps)
		if err != nil {
			if !errors.Is(err, sdk.ErrNotFound) && !errors.Is(err, config.ErrConfig) {
				t.Fatalf("SelectRun(%q, %q): %v", sel, want, err)
			}
			return
		}
		if run == nil || len(run.Components) == 0 {
			t.Fatalf("SelectRun(%q, %q) = %+v", sel, want, run)
		}
		for _, s := range run.Components {
			if !ids[s.ID] {
				t.Fatalf("SelectRun(%q) returned an unknown snapshot %q", sel, s.ID)
			}
		}
	})
}
