// SPDX-License-Identifier: Apache-2.0

package dockere2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// TestUploadsVolume: uploads in a named Docker volume (older TimeTiles
// deployments: uploads_data, BACKUP_UPLOADS_VOLUME=<project>_uploads_data)
// are backed up, restored in place with web and worker (which mount it)
// stopped and started by the documented hooks, and restored onto a fresh
// volume after the old one was removed.
func TestUploadsVolume(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{volume: true})
	s.setEnv("RESTIC_PASSWORD", "volume-"+strconv.Itoa(os.Getpid()))
	s.setEnv("BACKUP_SOURCES", "uploads=source-volume")
	s.must(0, "init")
	vol := s.uploads()
	if !strings.HasPrefix(vol, "/var/lib/docker/volumes/"+s.volumeName()) {
		t.Fatalf("uploads at %s, want the mountpoint of volume %s", vol, s.volumeName())
	}
	want := filepath.Join(t.TempDir(), "uploads")
	copyTree(t, vol, want)

	s.must(0, "backup")
	if got := components(snapshots(t, s.repo())); got != "uploads" {
		t.Fatalf("components in the repository: %q, want uploads", got)
	}

	t.Run("in-place restore", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(vol, "added-after-backup.txt"), []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		webStarted := s.startedAt("web")
		s.must(0, "restore", "latest", "--yes", "--no-safety-backup")
		if s.startedAt("web") == webStarted {
			t.Errorf("web (which mounts the volume) was not restarted by the hooks")
		}
		testenv.CompareTrees(t, want, s.uploads())
	})

	t.Run("onto a fresh volume", func(t *testing.T) {
		s.composeRun("down", "-v", "-t", "1") // containers and volumes gone
		if s.d.Command("volume", "inspect", s.volumeName()).Run() == nil {
			t.Fatalf("volume %s still exists after compose down -v", s.volumeName())
		}
		s.composeRun("up", "-d") // TimeTiles' bootstrap: a fresh, empty volume
		s.must(0, "restore", "latest", "--yes", "--no-safety-backup")
		testenv.CompareTrees(t, want, s.uploads())
	})
}
