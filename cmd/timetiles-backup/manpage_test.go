// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

var updateMan = flag.Bool("update-man", false, "rewrite docs/man from the --help texts")

// TestManPagesCurrent: docs/man holds timetiles-backup(1) and one page per
// command, exactly what the --help texts give today (make man rewrites
// them); each page renders with man(1) without warnings and shows the
// command's help text.
func TestManPagesCurrent(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "docs", "man")
	pages, err := manPages()
	if err != nil {
		t.Fatal(err)
	}
	if *updateMan {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range pages {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	have, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	var names []string
	for n := range pages {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(have) != len(pages) {
		t.Errorf("docs/man has %d pages, the commands give %d (%v): run make man", len(have), len(pages), names)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || !bytes.Equal(b, pages[n]) {
			t.Errorf("docs/man/%s is not what the --help text gives: run make man", n)
		}
	}
	// One page per command, and the root page.
	for _, cmd := range commandNames(Commands(&Meta{})) {
		if _, ok := pages[manName(cmd)+".1"]; !ok {
			t.Errorf("no man page for %q", cmd)
		}
	}
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed: pages not rendered")
	}
	for _, n := range []string{"timetiles-backup.1", "timetiles-backup-backup.1", "timetiles-backup-restore.1"} {
		cmd := exec.Command("man", "--warnings", "-l", filepath.Join(dir, n))
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=100", "LC_ALL=C.UTF-8")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("man %s: %v\n%s", n, err, stderr.String())
		}
		if !strings.Contains(string(out), "SYNOPSIS") || !strings.Contains(string(out), "DESCRIPTION") {
			t.Errorf("man %s renders without its sections:\n%s", n, out)
		}
		if n == "timetiles-backup-backup.1" && !strings.Contains(string(out), "--offsite           Also write to RESTIC_OFFSITE_REPOSITORY.") {
			t.Errorf("man %s lacks the --help text:\n%s", n, out)
		}
	}
}
