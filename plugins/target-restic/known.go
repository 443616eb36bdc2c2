// SPDX-License-Identifier: Apache-2.0

package main

import (
	"sync"

	"github.com/timetiles/timetiles-backup/internal/restic"
)

// knownSnapshots are the snapshots List returned, by full ID. A restore
// lists the repository first (to find the run), then reads the run
// manifest and each component; Read used to look its snapshot up again
// each time — one more restic start with key derivation, 0.3–0.8 s each
// here (docs/performance.md, P7). A snapshot ID is the hash of the
// snapshot's content, so a remembered snapshot cannot be wrong; one
// forgotten meanwhile still fails in restic dump, as before.
type knownSnapshots struct {
	mu sync.Mutex
	m  map[string]restic.Snapshot
}

func (k *knownSnapshots) remember(snaps []restic.Snapshot) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]restic.Snapshot{}
	}
	for _, s := range snaps {
		k.m[s.ID] = s
	}
}

func (k *knownSnapshots) get(id string) (restic.Snapshot, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.m[id]
	return s, ok
}
