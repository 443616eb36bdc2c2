// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOperatorFirstStepsMessages: what an operator following the guide
// sees says the problem once and plainly. A --to the restore would refuse
// is named before the [y/N] question (not hidden behind "no answer came on
// stdin"), and the question says what would be written; a plugin's
// refusal does not end in ": invalid configuration"; `--version` prints
// what `version` prints; status counts "1 complete run" and names the
// --html file it cannot write.
func TestOperatorFirstStepsMessages(t *testing.T) {
	e := newEnv(t, true)
	mustRun(t, e.run("backup"), 0, "backup")

	// A non-empty --to, off a terminal, without --yes and without an answer.
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.runStdin("", "restore", "latest", "--component", "uploads", "--to", full)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "is not empty") || strings.Contains(r.stderr, "[y/N]") {
		t.Errorf("restore --to a non-empty directory, no answer: exit %d, want 2 naming the directory before any question\n%s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(full, "keep.txt")); err != nil || string(b) != "mine" {
		t.Errorf("the non-empty --to lost its file: %v", err)
	}

	// The [y/N] question off a terminal says what would be written.
	r = e.runStdin("n\n", "restore", "latest", "--component", "uploads", "--to", filepath.Join(t.TempDir(), "new"))
	if r.code != 1 || !strings.Contains(r.stderr, "This writes directory ") || !strings.Contains(r.stderr, "production data is not touched. [y/N]") {
		t.Errorf("restore --to, answered n: exit %d\n%s", r.code, r.stderr)
	}
	r = e.runStdin("n\n", "restore", "latest")
	if r.code != 1 || !strings.Contains(r.stderr, "This overwrites what it restores of the production database and the uploads directory. [y/N]") {
		t.Errorf("restore in place, answered n: exit %d\n%s", r.code, r.stderr)
	}

	// The source plugin refuses the production database's name.
	r = e.run("restore", "latest", "--yes", "--component", "db", "--to-database", "timetiles")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "is the production database") {
		t.Fatalf("--to-database <production>: exit %d, want 2\n%s", r.code, r.stderr)
	}
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "Error: ") && strings.HasSuffix(strings.TrimSpace(line), "invalid configuration") {
			t.Errorf("the error ends in the sentinel's words: %s", line)
		}
	}

	v := mustRun(t, e.run("version"), 0, "version")
	dv := mustRun(t, e.run("--version"), 0, "--version")
	if !strings.HasPrefix(dv.stdout, "timetiles-backup ") || strings.TrimSpace(dv.stdout) != strings.TrimSpace(v.stdout) {
		t.Errorf("--version prints %q, version prints %q: want the same line", dv.stdout, v.stdout)
	}

	missing := filepath.Join(t.TempDir(), "no-such-dir", "status.html")
	r = e.run("status", "--html", missing)
	if r.code == 0 || !strings.Contains(r.stderr, "writing the HTML report to "+missing+": ") || !strings.Contains(r.stderr, "existing directory") {
		t.Errorf("status --html into a missing directory: exit %d, want the file named and the fix\n%s", r.code, r.stderr)
	}

	s := mustRun(t, e.run("status"), 0, "status")
	if !strings.Contains(s.stdout, "Local repository (1 complete run)\n") {
		t.Errorf("status with one run:\n%s", s.stdout)
	}
}
