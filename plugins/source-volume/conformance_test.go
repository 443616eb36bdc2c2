// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

// The built plugin passes the third-party conformance kit with a real
// uploads tree (~200 files, 4.5 MiB): well-framed tar and directory
// streams, failure in the trailer for a missing directory, cancellation,
// and restores that bring the tree back (and leave it alone when aborted).
func TestConformance(t *testing.T) {
	bin := conformance.Build(t, ".", "source-volume")
	uploads := filepath.Join(t.TempDir(), "uploads")
	testenv.MakeUploadsTree(t, uploads)
	reference := filepath.Join(t.TempDir(), "reference")
	testenv.MakeUploadsTree(t, reference)
	conformance.RunSource(t, conformance.SourceFixture{
		Binary: bin,
		Config: func(*testing.T) map[string]string { return map[string]string{keyHostDir: uploads} },
		FailingConfig: func(t *testing.T) map[string]string {
			return map[string]string{keyHostDir: filepath.Join(t.TempDir(), "not-there")}
		},
		Disturb: func(t *testing.T) {
			if err := os.RemoveAll(filepath.Join(uploads, "2024")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(uploads, "added-after-backup.txt"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		CheckRestored: func(t *testing.T, _ sdk.RestoreRequest) { testenv.CompareTrees(t, reference, uploads) },
	})
}
