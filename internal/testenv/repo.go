// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// NewRepo creates a restic repository at repo (a local path or any
// repository string restic takes, with env for its credentials), format
// version 2 like the product's own init, opened with password.
//
// Its key is derived with scrypt N=128, r=1, p=1 (restic's own test
// parameters, its --insecure-kdf flag: the tool restic-lowkdf of
// scripts/tools.sh) instead of parameters calibrated to ~0.5 s. restic keeps
// the parameters in the key file, so the pinned release restic — which
// the product runs for everything, unchanged — opens the repository
// without that key derivation: ~0.03 instead of ~0.4 CPU-seconds for every
// restic process, and ~0.06 instead of ~2 for the init. Use it for a
// repository a test needs but does not test the creation of; a test of
// init (the `init` command, a backup creating a missing repository)
// lets the product create its repository.
//
// Each call runs its own init, so every repository has its own ID (restic's
// cache is keyed by it) and its own chunker parameters.
func NewRepo(t testing.TB, repo, password string, env ...string) {
	t.Helper()
	cmd := exec.Command(Tool(t, "restic-lowkdf"), "--insecure-kdf", "--no-cache", "init", "--repository-version", "2")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"RESTIC_REPOSITORY=" + repo, "RESTIC_PASSWORD=" + password}, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv.NewRepo %s: %v\n%s", repo, err, out)
	}
}
