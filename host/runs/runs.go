// SPDX-License-Identifier: Apache-2.0

// Package runs turns a repository's snapshots into runs: a run is the
// snapshots of one backup invocation, tagged with its run ID, complete
// when its manifest (manifest.go) is stored. It groups snapshots into runs
// (GroupRuns), picks a restore point (SelectRun) and reads a run's tags.
// Writing a run's manifest is the backup pipeline's job (host/).
package runs

import (
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Tags every snapshot of this tool carries. Component tags ("db",
// "uploads") are the ones TimeTiles' shell tool used, so its snapshots and
// ours sit side by side in one repository.
const (
	ToolTag      = "timetiles-backup"
	ManifestTag  = "manifest"
	RunTagPrefix = "run:"
	// ManifestName is the pseudo-component of the run manifest.
	ManifestName = "manifest"
	// SafetyTag marks the backup `restore` takes of the current state
	// before it overwrites it, so that a wrong restore can be undone.
	SafetyTag = "purpose:safety"
	// DrillTag marks the runs a restore drill takes or restores for
	// practice: like safety runs, never a restore point by default.
	DrillTag = "purpose:drill"
	// PurposeTagPrefix starts every tag that marks a run as taken for a
	// purpose other than backing up (safety, drill): `restore latest` and
	// the picker's default skip such runs; they are restorable by ID.
	PurposeTagPrefix = "purpose:"
)

// NewRunID returns a sortable run ID: UTC time plus randomness, e.g.
// 20261125T020000Z-3f9a.
func NewRunID(t time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", t.UTC().Format("20060102T150405Z"), b)
}

// HasTag reports whether any snapshot of the run carries tag.
func (r *Run) HasTag(tag string) bool {
	if r.Manifest != nil && hasTag(r.Manifest.Tags, tag) {
		return true
	}
	for _, s := range r.Components {
		if hasTag(s.Tags, tag) {
			return true
		}
	}
	return false
}

// Purpose is what the run was taken for when it is not a regular backup
// ("safety", "drill", from its purpose: tag), or "".
func (r *Run) Purpose() string {
	if r.Manifest != nil {
		if p := tagValue(r.Manifest.Tags, PurposeTagPrefix); p != "" {
			return p
		}
	}
	for _, n := range r.ComponentNames() {
		if p := tagValue(r.Components[n].Tags, PurposeTagPrefix); p != "" {
			return p
		}
	}
	return ""
}

// Regular reports whether the run is a complete backup that `restore
// latest` may choose: not a safety or drill run, not a legacy snapshot.
func (r *Run) Regular() bool { return r.Complete && !r.Legacy && r.Purpose() == "" }

// Run is a restore point: the snapshots of one backup invocation.
type Run struct {
	ID   string
	Time time.Time
	Host string
	// Complete is true when the run's manifest exists (every component
	// succeeded); legacy runs (shell-tool snapshots) are single snapshots.
	Complete bool
	Legacy   bool
	Manifest *sdk.Snapshot
	// Components by name.
	Components map[string]sdk.Snapshot
}

// ComponentNames returns the run's components, sorted.
func (r *Run) ComponentNames() []string {
	var out []string
	for c := range r.Components {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// RunIDOf returns the run a snapshot belongs to (its run ID, or its run:
// tag), or "" for a snapshot of no run (the shell tool's).
func RunIDOf(s sdk.Snapshot) string {
	if s.RunID != "" {
		return s.RunID
	}
	return tagValue(s.Tags, RunTagPrefix)
}

func tagValue(tags []string, prefix string) string {
	for _, t := range tags {
		if strings.HasPrefix(t, prefix) {
			return strings.TrimPrefix(t, prefix)
		}
	}
	return ""
}

// componentOf derives a snapshot's component from its tags: for this tool's
// snapshots the tag that is neither the tool's nor a key:value tag; for the
// shell tool's snapshots "db" or "uploads".
func componentOf(tags []string) string {
	if hasTag(tags, ToolTag) {
		for _, t := range tags {
			if t != ToolTag && t != ManifestTag && !strings.Contains(t, ":") {
				return t
			}
		}
		if hasTag(tags, ManifestTag) {
			return ManifestName
		}
		return ""
	}
	for _, c := range []string{"db", "uploads"} {
		if hasTag(tags, c) {
			return c
		}
	}
	return ""
}

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

// GroupRuns groups snapshots into runs, newest first. Snapshots without a
// run tag (written by TimeTiles' shell tool, tagged "db" or "uploads") form
// one legacy run each.
func GroupRuns(snaps []sdk.Snapshot) []*Run {
	byID := map[string]*Run{}
	var runs []*Run
	for _, s := range snaps {
		runID := RunIDOf(s)
		comp := s.Component
		if comp == "" {
			comp = componentOf(s.Tags)
		}
		if runID == "" {
			if comp == "" {
				continue
			}
			runs = append(runs, &Run{ID: s.ID, Time: s.Time, Host: s.Host, Legacy: true, Complete: true,
				Components: map[string]sdk.Snapshot{comp: s}})
			continue
		}
		r, ok := byID[runID]
		if !ok {
			r = &Run{ID: runID, Time: s.Time, Host: s.Host, Components: map[string]sdk.Snapshot{}}
			byID[runID] = r
			runs = append(runs, r)
		}
		if s.Time.Before(r.Time) {
			r.Time = s.Time
		}
		if hasTag(s.Tags, ManifestTag) || comp == ManifestName {
			sc := s
			r.Manifest = &sc
			r.Complete = true
			continue
		}
		if comp == "" {
			continue
		}
		if prev, ok := r.Components[comp]; !ok || s.Time.After(prev.Time) {
			r.Components[comp] = s
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if runs[i].Time.Equal(runs[j].Time) {
			return runs[i].ID > runs[j].ID
		}
		return runs[i].Time.After(runs[j].Time)
	})
	return runs
}

// SelectRun resolves a restore point: "latest" (the newest complete run
// holding every wanted component that is a real backup: safety and drill
// runs are never "latest"), a run ID, or a snapshot ID (full or a prefix of
// at least 4 characters), which selects that one snapshot.
func SelectRun(runs []*Run, sel string, want []string) (*Run, error) {
	if sel == "" || sel == "latest" {
		for _, r := range runs {
			if r.Regular() && hasAll(r, want) {
				return r, nil
			}
		}
		// Only the shell tool's snapshots: the newest of each component.
		legacy := &Run{ID: "latest-legacy", Legacy: true, Complete: true, Components: map[string]sdk.Snapshot{}}
		for _, r := range runs {
			if !r.Legacy {
				continue
			}
			for c, s := range r.Components {
				if _, ok := legacy.Components[c]; !ok {
					legacy.Components[c] = s
					if s.Time.After(legacy.Time) {
						legacy.Time = s.Time
					}
				}
			}
		}
		if len(legacy.Components) > 0 && hasAll(legacy, want) {
			return legacy, nil
		}
		return nil, fmt.Errorf("%w: no complete backup run with components %s", sdk.ErrNotFound, strings.Join(want, ", "))
	}
	for _, r := range runs {
		if r.ID == sel && !r.Legacy {
			return r, nil
		}
	}
	if len(sel) >= 4 {
		var found []*Run
		for _, r := range runs {
			for c, s := range r.Components {
				if strings.HasPrefix(s.ID, sel) {
					found = append(found, &Run{ID: r.ID, Time: s.Time, Host: s.Host, Complete: r.Complete, Legacy: r.Legacy,
						Manifest: r.Manifest, Components: map[string]sdk.Snapshot{c: s}})
				}
			}
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			return nil, fmt.Errorf("%w: snapshot ID prefix %q is ambiguous: give more characters", config.ErrConfig, sel)
		}
	}
	return nil, fmt.Errorf("%w: no run or snapshot %q", sdk.ErrNotFound, sel)
}

func hasAll(r *Run, want []string) bool {
	for _, c := range want {
		if _, ok := r.Components[c]; !ok {
			return false
		}
	}
	return len(r.Components) > 0
}
