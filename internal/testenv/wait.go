// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Patience bounds every wait of the tests for a condition. It is not a
// measurement: a wait ends as soon as its condition holds, and the bound
// only turns a hang into a failure with a message. It is long because a
// loaded machine (CI runners, the whole suite in parallel) is slow.
const Patience = 3 * time.Minute

// pollInterval spaces the checks of a condition.
const pollInterval = 20 * time.Millisecond

// WaitFor waits until cond holds; the test fails (naming what it waited
// for) if it does not within Patience.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitForWhile(t, what, cond, nil)
}

// NextSecond waits until the wall clock has left the current second. Run
// IDs, and the times the state file and the metrics record, have a
// resolution of one second: a test that needs the next run to carry a later
// one (a distinct run ID time, a later last-run time) waits for that, not
// for a duration.
func NextSecond(t testing.TB) {
	t.Helper()
	now := time.Now().Unix()
	WaitFor(t, "the clock to reach the next second", func() bool { return time.Now().Unix() > now })
}

// WaitForWhile waits until cond holds, like WaitFor, and fails at once
// when gone (if not nil) reports that what the condition depends on has
// ended (a process exited) without the condition holding.
func WaitForWhile(t testing.TB, what string, cond func() bool, gone func() bool) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for !cond() {
		if gone != nil && gone() {
			if cond() {
				return
			}
			t.Fatalf("waiting for %s: it ended first", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%s)", what, Patience)
		}
		time.Sleep(pollInterval)
	}
}

// ResticLocks returns the names of the complete lock files of the local
// restic repository at repo. restic writes a file under a temporary name
// (ID-tmp-NNN) and renames it to its 64-hex-digit ID when it is complete:
// a temporary file is not a lock yet (restic does not list it, and a
// process killed before the rename leaves no lock).
func ResticLocks(repo string) []string {
	ents, _ := os.ReadDir(filepath.Join(repo, "locks"))
	var ids []string
	for _, e := range ents {
		if n := e.Name(); len(n) == 64 && isHex(n) {
			ids = append(ids, n)
		}
	}
	return ids
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
