// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// TestStagedRestorePath: a target's native restore goes into the stage
// StageRestorePath names (beside a plain directory, inside a Docker
// volume's mountpoint); FinishRestorePath without commit leaves the
// destination exactly as it was and nothing beside or in it, with commit it
// gives exactly the restored tree.
func TestStagedRestorePath(t *testing.T) {
	for _, mode := range []string{"directory", "volume", "bind mount"} {
		t.Run(mode, func(t *testing.T) {
			tmp := t.TempDir()
			src := filepath.Join(tmp, "src")
			testenv.MakeUploadsTree(t, src)
			pristine := filepath.Join(tmp, "pristine")
			os.MkdirAll(filepath.Join(pristine, "old-dir"), 0o755)
			os.WriteFile(filepath.Join(pristine, "old.txt"), []byte("old"), 0o644)
			os.WriteFile(filepath.Join(pristine, "old-dir", "x"), []byte("x"), 0o600)

			var s *volumeSource
			dest := filepath.Join(tmp, "opt", "uploads")
			if mode == "volume" {
				dest = filepath.Join(tmp, "volumes", "uploads_data", "_data")
				docker, _ := writeFakeDocker(t, strings.ReplaceAll(inspectPlain, "/var/lib/docker/volumes/uploads_data/_data", dest), "", 0)
				s = volumeSrc(t, docker, "uploads_data")
			} else {
				s, _ = hostSource(t, dest)
			}
			os.MkdirAll(dest, 0o755)
			if mode == "bind mount" {
				backing := filepath.Join(tmp, "backing")
				os.MkdirAll(backing, 0o755)
				if err := syscall.Mount(backing, dest, "", syscall.MS_BIND, ""); err != nil {
					t.Skipf("cannot bind-mount here: %v", err)
				}
				t.Cleanup(func() { syscall.Unmount(dest, syscall.MNT_DETACH) })
			}
			copyTree(t, pristine, dest)
			copyTimes(t, pristine, dest)
			leftovers := func() []string {
				var out []string
				for _, n := range append(dirNames(t, filepath.Dir(dest)), dirNames(t, dest)...) {
					if strings.HasPrefix(n, ".") {
						out = append(out, n)
					}
				}
				return out
			}

			ctx := context.Background()
			req := sdk.RestoreRequest{Component: "uploads"}
			stage, err := s.StageRestorePath(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if (mode == "directory") != (filepath.Dir(stage) == filepath.Dir(dest)) {
				t.Errorf("stage %s for %s destination %s", stage, mode, dest)
			}
			copyTree(t, src, stage) // what restic restore does
			if err := s.FinishRestorePath(ctx, req, stage, false); err != nil {
				t.Fatal(err)
			}
			testenv.CompareTrees(t, pristine, dest)
			if l := leftovers(); len(l) != 0 {
				t.Errorf("left after a discarded restore: %v", l)
			}

			stage, err = s.StageRestorePath(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			copyTree(t, src, stage)
			if err := s.FinishRestorePath(ctx, req, stage, true); err != nil {
				t.Fatal(err)
			}
			srcNoRoot := manifest(t, src)
			gotNoRoot := manifest(t, dest)
			delete(srcNoRoot, ".")
			delete(gotNoRoot, ".")
			sameManifest(t, "restored", srcNoRoot, gotNoRoot)
			if l := leftovers(); len(l) != 0 {
				t.Errorf("left after a committed restore: %v", l)
			}
			if err := s.FinishRestorePath(ctx, req, stage, true); err == nil {
				t.Errorf("a second FinishRestorePath of the same stage succeeded")
			}
		})
	}
}

// TestRecoverLeftovers: what a restore killed at each point of its swap
// leaves is put right by the next run: rolled back before the commit
// point (the old contents exactly), completed after it (the new contents
// exactly), and nothing left beside or inside the destination.
func TestRecoverLeftovers(t *testing.T) {
	tmp := t.TempDir()
	newTree := filepath.Join(tmp, "new")
	testenv.MakeUploadsTree(t, newTree)
	oldTree := filepath.Join(tmp, "old")
	os.MkdirAll(filepath.Join(oldTree, "a-dir"), 0o755)
	for _, n := range []string{"a-dir/1", "b.txt", "c.txt", "d.txt"} {
		os.WriteFile(filepath.Join(oldTree, n), []byte(n), 0o644)
	}
	names := func(dir string) []string {
		var out []string
		for _, n := range dirNames(t, dir) {
			if !strings.HasPrefix(n, ".timetiles-") {
				out = append(out, n)
			}
		}
		return out
	}
	move := func(from, to string, which []string) {
		t.Helper()
		for _, n := range which {
			if err := os.Rename(filepath.Join(from, n), filepath.Join(to, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	fresh := func(name string) string {
		d := filepath.Join(tmp, name, "uploads")
		os.MkdirAll(d, 0o755)
		copyTree(t, oldTree, d)
		copyTimes(t, oldTree, d)
		return d
	}
	check := func(name, dest, want string) {
		t.Helper()
		if err := recoverLeftovers(dest, &recLog{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w, g := manifest(t, want), manifest(t, dest)
		delete(w, ".")
		delete(g, ".")
		sameManifest(t, name, w, g)
		for _, n := range append(dirNames(t, filepath.Dir(dest)), dirNames(t, dest)...) {
			if strings.HasPrefix(n, ".") {
				t.Errorf("%s: left %s", name, n)
			}
		}
	}

	// In place, killed while moving the old entries aside: rolled back.
	dest := fresh("uncommitted")
	stage, aside := filepath.Join(dest, stagingPrefix+"x1"), filepath.Join(dest, asidePrefix+"x1")
	os.Mkdir(stage, 0o700)
	copyTree(t, newTree, stage)
	os.Mkdir(aside, 0o700)
	move(dest, aside, names(dest)[:2])
	check("killed before the commit point", dest, oldTree)

	// In place, killed while moving the new entries in: completed.
	dest = fresh("committed")
	committed, aside := filepath.Join(dest, committedPrefix+"x2"), filepath.Join(dest, asidePrefix+"x2")
	os.Mkdir(committed, 0o700)
	copyTree(t, newTree, committed)
	os.Mkdir(aside, 0o700)
	move(dest, aside, names(dest))
	move(committed, dest, names(committed)[:1])
	check("killed after the commit point", dest, newTree)

	// In place, killed while removing the old entries: they go.
	dest = fresh("removing")
	aside = filepath.Join(dest, asidePrefix+"x3")
	os.Mkdir(aside, 0o700)
	move(dest, aside, names(dest))
	copyTree(t, newTree, dest)
	check("killed while removing the old entries", dest, newTree)

	// Beside a plain directory, killed between the two renames of a file
	// system without RENAME_EXCHANGE: the old directory comes back.
	dest = fresh("renames")
	parent := filepath.Dir(dest)
	os.Rename(dest, filepath.Join(parent, ".uploads"+siblingAside+"x4"))
	os.Mkdir(filepath.Join(parent, ".uploads"+siblingStaging+"x4"), 0o700)
	copyTree(t, newTree, filepath.Join(parent, ".uploads"+siblingStaging+"x4"))
	check("killed between the renames", dest, oldTree)

	// Beside a plain directory, killed while extracting: the stage goes,
	// and a backup does that first.
	dest = fresh("extracting")
	os.Mkdir(filepath.Join(filepath.Dir(dest), ".uploads"+siblingStaging+"x5"), 0o700)
	s, _ := hostSource(t, dest)
	if err := s.Backup(context.Background(), sdk.BackupRequest{}, &testStream{accepts: true}); err != nil {
		t.Fatal(err)
	}
	if n := dirNames(t, filepath.Dir(dest)); !slices.Equal(n, []string{"uploads"}) {
		t.Errorf("beside the uploads after a backup: %v", n)
	}
}
