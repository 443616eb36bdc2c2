// SPDX-License-Identifier: Apache-2.0
package rootonly

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Check follows symbolic links (relative, absolute, chained) and
// checks every element of the way; a sticky directory others can write is
// accepted on the way, never as the last element.
func TestCheckRootOnlyWalk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create files owned by another user")
	}
	base := t.TempDir() // in /tmp: sticky and writable by others, on the way
	mk := func(p string, mode os.FileMode, uid int) string {
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Lchown(p, uid, uid)
		return p
	}
	good := mk(filepath.Join(base, "good"), 0o755, 0)
	theirs := mk(filepath.Join(base, "theirs"), 0o755, 65534)
	inner := mk(filepath.Join(theirs, "inner"), 0o755, 0)
	sticky := mk(filepath.Join(base, "sticky"), os.ModeSticky|0o777, 0)
	inSticky := mk(filepath.Join(sticky, "mine"), 0o755, 0)
	os.Symlink("../theirs/inner", filepath.Join(good, "rel"))          // relative, through their directory
	os.Symlink(filepath.Join(good, "rel"), filepath.Join(good, "abs")) // a chain
	os.Symlink("mine", filepath.Join(sticky, "link"))

	for _, tc := range []struct{ path, atFault string }{
		{good, ""},
		{inSticky, ""},
		{filepath.Join(sticky, "link"), ""},
		{sticky, sticky},
		{inner, theirs},
		{filepath.Join(good, "rel"), theirs},
		{filepath.Join(good, "abs"), theirs},
		{filepath.Join(good, "..", "theirs", "inner"), theirs},
	} {
		u, err := Check(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		got := ""
		if u != nil {
			got = u.Path
		}
		if got != tc.atFault {
			t.Errorf("%s: at fault %q, want %q (%v)", tc.path, got, tc.atFault, u)
		}
		if u != nil && !strings.Contains(u.Fix, tc.atFault) {
			t.Errorf("%s: fix %q does not name %s", tc.path, u.Fix, tc.atFault)
		}
	}
}
