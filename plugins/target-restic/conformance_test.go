// SPDX-License-Identifier: Apache-2.0

package main

import (
	"path/filepath"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

// The built plugin passes the third-party conformance kit against real
// restic repositories: a temporary local one for each check, and a
// rest-server --append-only repository whose refusal to prune is reported
// as permission denied (a write-only offsite key).
func TestConformance(t *testing.T) {
	restic := testenv.Tool(t, "restic")
	bin := conformance.Build(t, ".", "target-restic")
	conformance.RunTarget(t, conformance.TargetFixture{
		Binary: bin,
		Config: func(t *testing.T) map[string]string {
			return map[string]string{
				"RESTIC_REPOSITORY": filepath.Join(t.TempDir(), "repo"), "RESTIC_PASSWORD": "conformance-pw",
				"BACKUP_RESTIC_BIN": restic, "RESTIC_CACHE_DIR": filepath.Join(t.TempDir(), "cache"),
			}
		},
		Denied: func(t *testing.T) (map[string]string, conformance.Op) {
			srv := testenv.StartRestServer(t, true) // --append-only
			return map[string]string{
				"RESTIC_REPOSITORY": srv.URL, "RESTIC_PASSWORD": "conformance-pw",
				"BACKUP_RESTIC_BIN": restic, "RESTIC_CACHE_DIR": filepath.Join(t.TempDir(), "cache"),
			}, conformance.OpPrune
		},
	})
}
