// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The module and every example module are tidy: `go mod tidy -diff` would
// change nothing (no direct dependency marked // indirect, none missing or
// unused). scripts/test.sh checks the same before the tests, with the fix
// in its message.
func TestGoModTidy(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mods, _ := filepath.Glob(filepath.Join(root, "examples", "*", "go.mod"))
	mods = append([]string{filepath.Join(root, "go.mod")}, mods...)
	for _, mod := range mods {
		cmd := exec.Command("go", "mod", "tidy", "-diff")
		cmd.Dir = filepath.Dir(mod)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			rel, _ := filepath.Rel(root, mod)
			t.Errorf("%s is not tidy (run go mod tidy in %s): %v\n%s", rel, filepath.Dir(rel), err, out)
		}
	}
}
