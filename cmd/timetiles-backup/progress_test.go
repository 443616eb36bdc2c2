// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBackupProgress: the bytes of a stream go from the source straight to
// restic through a pipe, yet the operator sees them counted: restic's
// status lines travel from target-restic to the host (TargetService.Progress).
// On a terminal as bars (through a pseudo-terminal), elsewhere as log lines.
//
// The source holds in the middle of its stream until the test has seen the
// progress it looks for (SYNTH_HOLD), so however fast or slow the machine,
// the stream is still flowing when progress is reported, and the bar that
// completes has run for a while (a rate).
func TestBackupProgress(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000000"
	e.vars["SYNTH_PATTERN"] = "repeat" // cheap to make, quick to deduplicate
	release := filepath.Join(e.dir, "release-plain")
	e.vars["SYNTH_HOLD"] = "40000000:" + release

	r := e.runWatched(context.Background(), func(p *running) {
		p.waitStderr(t, `\[INFO\]  timetiles-backup: progress: component=synthetic target=local bytes="[0-9.]+ [KMG]iB"`)
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}, "backup")
	if r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "transport=pipe") {
		t.Fatalf("the stream did not go through a pipe:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "\x1b[") {
		t.Error("terminal escapes in a non-terminal log")
	}

	release = filepath.Join(e.dir, "release-tty")
	e.vars["SYNTH_HOLD"] = "40000000:" + release
	s := e.startPTY("backup")
	// The previous run's size is the expected total; the bar is past the
	// first MiB, short of the end (the source holds at 38.1 MiB).
	s.waitFor(`synthetic → local \(~last run\) +[0-9.]+ MiB / 95\.4 MiB \[`)
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(); code != 0 {
		t.Fatalf("backup on a terminal: exit %d\n%s", code, s.screen())
	}
	out := s.screen()
	if !regexp.MustCompile(`synthetic → local \(~last run\) +95\.4 MiB / 95\.4 MiB \[=+\] +[0-9.]+ [KMG]iB/s`).MatchString(out) {
		t.Fatalf("no completed bar with byte counts and rate:\n%s", out)
	}
	if strings.Contains(out, "progress: component=") {
		t.Error("plain progress lines on a terminal")
	}
}
