// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
)

// TestCheck: the source checks the uploads directory (or the Docker
// volume's mountpoint) it would back up: a readable directory is
// verified; a missing one, a file, a missing volume and a missing docker
// CLI are each reported with the fix.
func TestCheck(t *testing.T) {
	uploads := t.TempDir()
	if err := os.WriteFile(filepath.Join(uploads, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	volJSON := fmt.Sprintf(`[{"Name":"timetiles_uploads_data","Driver":"local","Mountpoint":%q}]`, uploads)
	goodDocker, _ := writeFakeDocker(t, volJSON, "", 0)
	noSuchDocker, _ := writeFakeDocker(t, "[]\n", inspectNoSuch, 1)

	for _, tc := range []struct {
		name            string
		values          map[string]string
		check           string
		severity        sdk.Severity
		detailOrProblem string
		fix             string
	}{
		{"Directory", map[string]string{keyHostDir: uploads}, "uploads directory", sdk.SeverityOK, uploads + " (readable)", ""},
		{"Relative", map[string]string{keyHostDir: "./" + filepath.Base(uploads), keyTimeTiles: filepath.Dir(uploads)}, "uploads directory", sdk.SeverityOK, uploads + " (readable)", ""},
		{"Missing", map[string]string{keyHostDir: filepath.Join(uploads, "nope")}, "uploads directory", sdk.SeverityError,
			"uploads directory " + filepath.Join(uploads, "nope") + " (from UPLOAD_HOST_DIR) does not exist", "set UPLOAD_HOST_DIR (or TIMETILES_DIR)"},
		{"NotADirectory", map[string]string{keyHostDir: file}, "uploads directory", sdk.SeverityError, "is not a directory", "set UPLOAD_HOST_DIR"},
		{"Volume", map[string]string{keyVolume: "timetiles_uploads_data", keyDocker: goodDocker}, "uploads directory", sdk.SeverityOK,
			"docker volume timetiles_uploads_data at " + uploads + " (readable)", ""},
		{"VolumeMissing", map[string]string{keyVolume: "nosuch", keyDocker: noSuchDocker}, "docker volume", sdk.SeverityError,
			"BACKUP_UPLOADS_VOLUME=nosuch: docker volume inspect failed", "set BACKUP_UPLOADS_VOLUME to an existing volume (docker volume ls)"},
		{"NoDockerCLI", map[string]string{keyVolume: "nosuch", keyDocker: "/nonexistent/docker"}, "docker volume", sdk.SeverityError,
			`needs the docker CLI: "/nonexistent/docker" not found`, "set BACKUP_DOCKER to its path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := configured(t, tc.values)
			fs, err := s.Check(context.Background())
			if err != nil || len(fs) != 1 {
				t.Fatalf("Check = %v, %v; want one finding", fs, err)
			}
			f := fs[0]
			said := f.Detail
			if f.Severity != sdk.SeverityOK {
				said = f.Problem
			}
			if f.Name != tc.check || f.Severity != tc.severity || !strings.Contains(said, tc.detailOrProblem) || !strings.Contains(f.Fix, tc.fix) {
				t.Errorf("finding %s; want %s %s saying %q, fixed by %q", f, tc.check, tc.severity, tc.detailOrProblem, tc.fix)
			}
		})
	}
}
