// SPDX-License-Identifier: Apache-2.0

// Package scripts holds the tests of the repository's shell scripts.
package scripts

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// TestDemo runs `make demo`, the README's first command, as the README says
// (in the checkout, as root): a throwaway PostgreSQL with PostGIS and an
// uploads directory are backed up twice, listed and restored beside
// themselves. It must exit 0 after its own equality checks of the database
// and the uploads, and leave no work directory behind.
func TestDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("make demo runs as root: it installs packages and starts PostgreSQL as the postgres user")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "demo")
	cmd.Dir = testenv.RepoRoot()
	start := time.Now()
	b, err := cmd.CombinedOutput()
	out := string(b)
	t.Logf("make demo took %v", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"database: equal (5000 events, PostGIS points included)",
		"uploads: equal (bytes, modes, mtimes, symlinks, empty dirs, unicode names)",
		"Demo passed.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`--to (/\S*timetiles-demo-\w+)/restored-uploads`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo's output names no work directory:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the demo left its work directory %s behind (%v)", m[1], err)
	}
}
