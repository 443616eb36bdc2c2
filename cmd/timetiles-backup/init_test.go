// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// TestInitLeavesChecksToPlugins: the CLI knows no restic (nor any other
// plugin's internals): `init` asks the plugins to check themselves
// (Runner.CheckPlugin), so neither the CLI nor anything it links imports
// internal/restic.
func TestInitLeavesChecksToPlugins(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/timetiles-backup")
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasSuffix(dep, "/internal/restic") {
			t.Errorf("the CLI links %s: the target plugin checks restic (plugins/target-restic/check.go)", dep)
		}
	}
}
