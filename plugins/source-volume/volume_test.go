// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Output of `docker volume inspect` as printed by a real Docker (24–27):
// a plain volume and one created by Compose for the project "timetiles".
const (
	inspectPlain = `[
    {
        "CreatedAt": "2024-05-01T10:00:00Z",
        "Driver": "local",
        "Labels": null,
        "Mountpoint": "/var/lib/docker/volumes/uploads_data/_data",
        "Name": "uploads_data",
        "Options": null,
        "Scope": "local"
    }
]
`
	inspectCompose = `[
    {
        "CreatedAt": "2024-05-01T10:00:00Z",
        "Driver": "local",
        "Labels": {
            "com.docker.compose.project": "timetiles",
            "com.docker.compose.version": "2.27.0",
            "com.docker.compose.volume": "uploads_data"
        },
        "Mountpoint": "/var/lib/docker/volumes/timetiles_uploads_data/_data",
        "Name": "timetiles_uploads_data",
        "Options": null,
        "Scope": "local"
    }
]
`
	inspectNoSuch   = "Error response from daemon: get nosuch: no such volume\n"
	inspectNoDaemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
)

func volumeSrc(t *testing.T, docker, volume string) *volumeSource {
	s, _ := configured(t, map[string]string{"BACKUP_UPLOADS_VOLUME": volume, "BACKUP_DOCKER": docker})
	return s
}

func TestVolumeResolution(t *testing.T) {
	for _, tc := range []struct{ out, volume, want string }{
		{inspectPlain, "uploads_data", "/var/lib/docker/volumes/uploads_data/_data"},
		{inspectCompose, "timetiles_uploads_data", "/var/lib/docker/volumes/timetiles_uploads_data/_data"},
	} {
		docker, argv := writeFakeDocker(t, tc.out, "", 0)
		loc, err := volumeSrc(t, docker, tc.volume).locate(context.Background())
		if err != nil || loc.dir != tc.want || !loc.volume {
			t.Errorf("locate = %+v, %v; want %s", loc, err, tc.want)
		}
		if b, _ := os.ReadFile(argv); string(b) != "volume\ninspect\n"+tc.volume+"\n" {
			t.Errorf("docker argv %q, want volume inspect %s", b, tc.volume)
		}
	}

	for _, tc := range []struct {
		stdout, stderr string
		code           int
		kind           error
		want           string
	}{
		{"[]\n", inspectNoSuch, 1, sdk.ErrInvalidConfig, "timetiles_nosuch"},
		{"", inspectNoDaemon, 1, sdk.ErrUnavailable, "Is the docker daemon running"},
		{"not json", "", 0, nil, "cannot read"},
		{`[{"Name":"nosuch","Driver":"rclone","Mountpoint":""}]`, "", 0, sdk.ErrInvalidConfig, "no local mountpoint"},
	} {
		docker, _ := writeFakeDocker(t, tc.stdout, tc.stderr, tc.code)
		_, err := volumeSrc(t, docker, "nosuch").locate(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "BACKUP_UPLOADS_VOLUME=nosuch") || (tc.kind != nil && !errors.Is(err, tc.kind)) {
			t.Errorf("locate with %q/%q = %v; want %v containing %q", tc.stdout, tc.stderr, err, tc.kind, tc.want)
		}
	}

	_, err := volumeSrc(t, filepath.Join(t.TempDir(), "no-docker"), "uploads_data").locate(context.Background())
	if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), "BACKUP_DOCKER") {
		t.Errorf("missing docker CLI: %v", err)
	}
}

// TestVolumeBackupAndRestore backs up and restores a "volume" whose
// mountpoint (from recorded docker output) is a real directory here. A
// mountpoint cannot be renamed: the restore must swap its entries and keep
// the directory itself.
func TestVolumeBackupAndRestore(t *testing.T) {
	tmp := t.TempDir()
	mp := filepath.Join(tmp, "volumes", "uploads_data", "_data")
	testenv.MakeUploadsTree(t, mp)
	expected := filepath.Join(tmp, "expected")
	testenv.MakeUploadsTree(t, expected)
	docker, argv := writeFakeDocker(t, strings.ReplaceAll(inspectPlain, "/var/lib/docker/volumes/uploads_data/_data", mp), "", 0)
	s := volumeSrc(t, docker, "uploads_data")

	out := &testStream{accepts: true}
	if err := s.Backup(context.Background(), sdk.BackupRequest{Component: "uploads"}, out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.paths, []string{mp}) || out.pathHdrs[0].Metadata["volume"] != "uploads_data" {
		t.Errorf("SendPath(%v, %v), want %s", out.pathHdrs, out.paths, mp)
	}
	data := backupTar(t, s)
	if b, _ := os.ReadFile(argv); string(b) != "volume\ninspect\nuploads_data\n" {
		t.Errorf("docker argv %q", b)
	}

	// Change the volume, then restore the backup into it.
	before, _ := os.Stat(mp)
	os.RemoveAll(filepath.Join(mp, "media"))
	os.WriteFile(filepath.Join(mp, "added-later.txt"), []byte("x"), 0o644)
	changed := filepath.Join(tmp, "changed")
	os.MkdirAll(changed, 0o755)
	copyTree(t, mp, changed)

	// A failed stream leaves the volume as it was, without leftovers.
	pre, _ := os.Stat(mp)
	if err := s.Restore(context.Background(), sdk.RestoreRequest{}, failingReader(data[:len(data)*2/3], sdk.ErrAborted)); !errors.Is(err, sdk.ErrAborted) {
		t.Fatalf("Restore of a cut stream = %v", err)
	}
	testenv.CompareTrees(t, changed, mp)
	if after, _ := os.Stat(mp); !after.ModTime().Equal(pre.ModTime()) {
		t.Errorf("mountpoint mtime %v after a failed restore, want %v as before", after.ModTime(), pre.ModTime())
	}

	if err := s.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	testenv.CompareTrees(t, expected, mp)
	after, _ := os.Stat(mp)
	if !os.SameFile(before, after) {
		t.Errorf("the mountpoint directory itself was replaced; its entries must be swapped instead")
	}
	if n := dirNames(t, filepath.Dir(mp)); !slices.Equal(n, []string{"_data"}) {
		t.Errorf("beside the mountpoint: %v", n)
	}
}

// copyTree copies a tree with cp -a (real tool, keeps everything).
func copyTree(t testing.TB, from, to string) {
	t.Helper()
	if out, err := runCmd("cp", "-a", from+"/.", to); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
}

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// TestBindMountRestore restores into a directory that is a bind mount (same
// file system as its parent), which rename(2) refuses: the restore must
// detect the mount point and swap entries. Needs mount permission.
func TestBindMountRestore(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)

	backing := filepath.Join(tmp, "backing")
	dest := filepath.Join(tmp, "opt", "uploads")
	os.MkdirAll(backing, 0o755)
	os.MkdirAll(dest, 0o755)
	os.WriteFile(filepath.Join(backing, "old.txt"), []byte("old"), 0o644)
	if err := syscall.Mount(backing, dest, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dest, syscall.MNT_DETACH) })
	if mp, err := isMountPoint(dest); err != nil || !mp {
		t.Fatalf("isMountPoint(bind mount) = %v, %v", mp, err)
	}
	if mp, err := isMountPoint(backing); err != nil || mp {
		t.Fatalf("isMountPoint(plain dir) = %v, %v", mp, err)
	}

	d, _ := hostSource(t, dest)
	if err := d.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	testenv.CompareTrees(t, src, dest)
	testenv.CompareTrees(t, src, backing) // the mounted directory got the contents
	if mp, _ := isMountPoint(dest); !mp {
		t.Errorf("the bind mount is gone")
	}
}

func TestIsMountPoint(t *testing.T) {
	if mp, err := isMountPoint("/proc"); err != nil || !mp {
		t.Errorf("isMountPoint(/proc) = %v, %v", mp, err)
	}
	if mp, err := isMountPoint(t.TempDir()); err != nil || mp {
		t.Errorf("isMountPoint(tempdir) = %v, %v", mp, err)
	}
}

// TestRestoreRefusesNestedMounts: a file system mounted below the
// destination would be emptied with the old contents; the restore refuses
// and changes nothing.
func TestRestoreRefusesNestedMounts(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)

	dest := filepath.Join(tmp, "with space", "uploads")
	disk := filepath.Join(tmp, "disk")
	os.MkdirAll(filepath.Join(dest, "media"), 0o755)
	os.MkdirAll(disk, 0o755)
	os.WriteFile(filepath.Join(disk, "on-disk.jpg"), []byte("keep me"), 0o644)
	if err := syscall.Mount(disk, filepath.Join(dest, "media"), "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(filepath.Join(dest, "media"), syscall.MNT_DETACH) })
	d, _ := hostSource(t, dest)
	err := d.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), "mounted below") || !strings.Contains(err.Error(), filepath.Join(dest, "media")) {
		t.Fatalf("Restore over a nested mount = %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "media", "on-disk.jpg")); err != nil || string(b) != "keep me" {
		t.Errorf("the mounted file system changed: %q %v", b, err)
	}
	if n := dirNames(t, filepath.Dir(dest)); !slices.Equal(n, []string{"uploads"}) {
		t.Errorf("beside the destination: %v", n)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/with\040space/a\134b`); got != `/tmp/with space/a\b` {
		t.Errorf("unescapeMountinfo = %q", got)
	}
}

// TestInPlaceSwapRollsBack: when moving the old entries of a volume aside
// fails half-way (here an immutable entry, chattr +i, cannot be renamed),
// the entries already moved go back and the volume is left as it was.
func TestInPlaceSwapRollsBack(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)

	mp := filepath.Join(tmp, "volumes", "uploads_data", "_data")
	pristine := filepath.Join(tmp, "pristine")
	for _, d := range []string{mp, pristine} {
		os.MkdirAll(filepath.Join(d, "b-dir"), 0o755)
		for _, n := range []string{"a.txt", "b-dir/x.txt", "m-immutable", "z.txt"} {
			os.WriteFile(filepath.Join(d, n), []byte(n), 0o644)
		}
	}
	// Same mtimes in both trees (creating the entries set them to now).
	copyTimes(t, pristine, mp)
	immutable := filepath.Join(mp, "m-immutable")
	if out, err := runCmd("chattr", "+i", immutable); err != nil {
		t.Skipf("chattr +i: %v %s", err, out)
	}
	t.Cleanup(func() { runCmd("chattr", "-i", immutable) })
	pre, _ := os.Stat(mp)

	docker, _ := writeFakeDocker(t, strings.ReplaceAll(inspectPlain, "/var/lib/docker/volumes/uploads_data/_data", mp), "", 0)
	v := volumeSrc(t, docker, "uploads_data")
	err := v.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), "swapping the restored uploads") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Restore = %v, want a rolled-back swap", err)
	}
	testenv.CompareTrees(t, pristine, mp)
	if after, _ := os.Stat(mp); !after.ModTime().Equal(pre.ModTime()) {
		t.Errorf("mountpoint mtime %v, want %v", after.ModTime(), pre.ModTime())
	}
}

// copyTimes gives every entry of dst the mtime of the same entry in src.
func copyTimes(t *testing.T, src, dst string) {
	t.Helper()
	for rel, e := range manifest(t, src) {
		if err := os.Chtimes(filepath.Join(dst, rel), e.MTime, e.MTime); err != nil {
			t.Fatal(err)
		}
	}
}
