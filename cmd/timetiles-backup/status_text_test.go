// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
)

// An unreadable repository's cause is said once: the local one's is the
// verdict line, so its repository line points there; an offsite one's is
// only a warning, so its repository line gives it.
func TestStatusTextSaysAnUnreadableRepositoryOnce(t *testing.T) {
	localErr := "no repository at /srv/repo: run `timetiles-backup backup` (creates it) or check RESTIC_REPOSITORY"
	offErr := "listing offsite snapshots: connection refused"
	rep := &statusReport{GeneratedAt: "2026-12-05T07:00:00Z", Host: "h",
		Problems:     []string{"local repository: " + localErr},
		Warnings:     []string{"offsite repository cannot be read: " + offErr},
		Repositories: []*statusRepo{{Name: "local", Error: localErr}, {Name: "offsite", Error: offErr}},
	}
	text := rep.text()
	t.Log(text)
	if n := strings.Count(text, localErr); n != 1 || !strings.Contains(text, "Local repository: not readable (the problem above)") {
		t.Errorf("the local cause is said %d times (want once, in the verdict)", n)
	}
	if !strings.Contains(text, "Offsite repository: not readable: "+offErr) {
		t.Errorf("the offsite repository line does not give its cause")
	}
}
