package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestBackupProgress: the bytes of a stream go from the source straight to
// restic through a pipe, yet the operator sees them counted: restic's
// status lines travel from target-restic to the host (TargetService.Progress).
// On a terminal as bars (through a pseudo-terminal), elsewhere as log lines.
func TestBackupProgress(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "400000000"
	e.vars["SYNTH_PATTERN"] = "repeat" // cheap to make, quick to deduplicate: seconds, not minutes

	r := e.run("backup")
	if r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	if !regexp.MustCompile(`\[INFO\]  timetiles-backup: progress: component=synthetic target=local bytes="[0-9.]+ [KMG]iB"`).MatchString(r.stderr) ||
		!strings.Contains(r.stderr, "transport=pipe") {
		t.Fatalf("no progress line for the piped stream (not a terminal):\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "\x1b[") {
		t.Error("terminal escapes in a non-terminal log")
	}

	s := e.startPTY("backup")
	s.waitFor(`synthetic → local \(~last run\) +[0-9.]+ MiB / 381\.5 MiB \[`)
	if code := s.wait(); code != 0 {
		t.Fatalf("backup on a terminal: exit %d\n%s", code, s.screen())
	}
	out := s.screen()
	if !regexp.MustCompile(`synthetic → local \(~last run\) +381\.5 MiB / 381\.5 MiB \[=+\] +[0-9.]+ [KMG]iB/s`).MatchString(out) {
		t.Fatalf("no completed bar with byte counts and rate:\n%s", out)
	}
	if strings.Contains(out, "progress: component=") {
		t.Error("plain progress lines on a terminal")
	}
}
