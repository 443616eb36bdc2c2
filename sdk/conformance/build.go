// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/timetiles/timetiles-backup/host/plugin"
)

// Build compiles the main package pkg ("." for the package under test, or
// an import path of the current module) with `go build` into a temporary
// plugin directory as timetiles-backup-<name>, the name discovery expects,
// and returns the binary's path.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), plugin.BinaryPrefix+name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s %s: %v\n%s", bin, pkg, err, out)
	}
	return bin
}
