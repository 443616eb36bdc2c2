// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

func TestInfo(t *testing.T) {
	info := newSource().Info()
	if info.Name != "source-volume" || !slices.Equal(info.Components, []string{"uploads"}) || !slices.Equal(info.Capabilities, []string{sdk.CapPath}) {
		t.Errorf("Info = %+v", info)
	}
	var keys []string
	for _, k := range info.ConfigKeys {
		keys = append(keys, k.Name)
		if k.Secret {
			t.Errorf("%s is marked secret", k.Name)
		}
	}
	if want := []string{"UPLOAD_HOST_DIR", "TIMETILES_DIR", "BACKUP_UPLOADS_VOLUME", "BACKUP_DOCKER"}; !slices.Equal(keys, want) {
		t.Errorf("config keys %v, want %v", keys, want)
	}
	var _ sdk.PathSource = newSource()
}

func TestConfigure(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		values map[string]string
		dir    string
		volume string
	}{
		{map[string]string{}, "/opt/timetiles/uploads", ""},
		{map[string]string{"UPLOAD_HOST_DIR": "", "BACKUP_UPLOADS_VOLUME": ""}, "/opt/timetiles/uploads", ""},
		{map[string]string{"TIMETILES_DIR": "/srv/tt"}, "/srv/tt/uploads", ""},
		{map[string]string{"UPLOAD_HOST_DIR": "./data/up"}, "/opt/timetiles/data/up", ""},
		{map[string]string{"UPLOAD_HOST_DIR": "../shared/up", "TIMETILES_DIR": "/srv/tt"}, "/srv/shared/up", ""},
		{map[string]string{"UPLOAD_HOST_DIR": "/mnt/uploads", "TIMETILES_DIR": "/srv/tt"}, "/mnt/uploads", ""},
		{map[string]string{"TIMETILES_DIR": "rel"}, filepath.Join(wd, "rel", "uploads"), ""},
		{map[string]string{"BACKUP_UPLOADS_VOLUME": "timetiles_uploads_data"}, "", "timetiles_uploads_data"},
	} {
		s, _ := configured(t, tc.values)
		if s.hostDir != tc.dir || s.volume != tc.volume || s.docker != "docker" {
			t.Errorf("Configure(%v): dir %q volume %q docker %q, want %q %q docker", tc.values, s.hostDir, s.volume, s.docker, tc.dir, tc.volume)
		}
	}

	for _, tc := range []struct {
		values map[string]string
		want   []string
	}{
		{map[string]string{"UPLOAD_HOST_DIR": "./uploads", "BACKUP_UPLOADS_VOLUME": "uploads_data"}, []string{"UPLOAD_HOST_DIR", "BACKUP_UPLOADS_VOLUME", "both"}},
		{map[string]string{"BACKUP_UPLOADS_VOLUME": "--help"}, []string{"BACKUP_UPLOADS_VOLUME", "--help"}},
		{map[string]string{"BACKUP_UPLOADS_VOLUME": "a/b"}, []string{"BACKUP_UPLOADS_VOLUME"}},
	} {
		err := newSource().Configure(context.Background(), sdk.Config{Values: tc.values})
		if !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Errorf("Configure(%v) = %v, want ErrInvalidConfig", tc.values, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Configure(%v) = %q, does not name %q", tc.values, err, w)
			}
		}
	}
}

func TestBackupMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope", "uploads")
	s, _ := hostSource(t, missing)
	for _, accepts := range []bool{false, true} {
		out := &testStream{accepts: accepts, w: &bytes.Buffer{}}
		err := s.Backup(context.Background(), sdk.BackupRequest{Component: "uploads"}, out)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), "UPLOAD_HOST_DIR") || !strings.Contains(err.Error(), missing) {
			t.Errorf("Backup of a missing directory = %v, want ErrInvalidConfig naming UPLOAD_HOST_DIR and %s", err, missing)
		}
		if len(out.started)+len(out.paths) != 0 {
			t.Errorf("a stream was started for a missing directory")
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	s, _ = hostSource(t, file)
	if err := s.Backup(context.Background(), sdk.BackupRequest{}, &testStream{w: &bytes.Buffer{}}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Backup of a file = %v, want 'not a directory'", err)
	}
}

func TestBackupSendsPathWhenAccepted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uploads")
	testenv.MakeUploadsTree(t, dir)
	s, _ := configured(t, map[string]string{"TIMETILES_DIR": filepath.Dir(dir)}) // default ./uploads
	out := &testStream{accepts: true, w: &bytes.Buffer{}}
	if err := s.Backup(context.Background(), sdk.BackupRequest{Component: "uploads"}, out); err != nil {
		t.Fatal(err)
	}
	if len(out.started) != 0 || len(out.paths) != 1 {
		t.Fatalf("started %d streams, sent %d paths; want 0 and 1", len(out.started), len(out.paths))
	}
	h := out.pathHdrs[0]
	if out.paths[0] != dir || h.Component != "uploads" || h.FileName != "uploads" || h.MediaType != "inode/directory" || h.Metadata["path"] != dir {
		t.Errorf("SendPath(%+v, %q), want uploads/uploads/inode/directory and %s", h, out.paths[0], dir)
	}
}

// chownTree gives some entries other owners and special modes, to check
// that ownership and setgid bits survive (root only).
func chownTree(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Keep mtimes: changing owners does not touch them, adding entries does.
	must(os.Lchown(filepath.Join(dir, "media/2024/01/photo-001.jpg"), 1001, 1001))
	must(os.Lchown(filepath.Join(dir, "media"), 1001, 1002))
	must(os.Lchown(filepath.Join(dir, "links/latest-photo.jpg"), 1003, 1004))
	must(os.Chmod(filepath.Join(dir, "imports"), 0o775|fs.ModeSetgid))
	must(os.Lchown(dir, 1001, 1001))
}

func owners(t *testing.T, dir string) map[string][2]uint32 {
	t.Helper()
	m := map[string][2]uint32{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		m[rel] = [2]uint32{st.Uid, st.Gid}
		return nil
	})
	return m
}

func TestTarRoundTrip(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	chownTree(t, src)
	// A hard link is archived as a second regular file.
	if err := os.Link(filepath.Join(src, "private/notes.md"), filepath.Join(src, "private/notes-hardlink.md")); err != nil {
		t.Fatal(err)
	}
	// A Latin-1 (not UTF-8) name, as old uploads may have, and a long name.
	long := filepath.Join(src, "documents", strings.Repeat("verzeichnis-", 12), strings.Repeat("lange datei ", 12)+".txt")
	os.MkdirAll(filepath.Dir(long), 0o755)
	for _, p := range []string{filepath.Join(src, "documents", "caf\xe9-latin1.txt"), long} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chtimes(filepath.Join(src, "private"), time.Time{}, time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC))
	srcInfo, _ := os.Stat(src)

	s, _ := hostSource(t, src)
	data := backupTar(t, s)
	if again := backupTar(t, s); !bytes.Equal(data, again) {
		t.Errorf("two backups of an unchanged tree differ (%d and %d bytes): the stream must be deterministic", len(data), len(again))
	}

	// The archive: PAX, a root entry, sorted depth-first order as a sorted
	// walk gives it, symlinks as links, exact (sub-second) mtimes.
	hs := tarEntries(t, data)
	var want []string
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(src, p)
		switch {
		case p == src:
			rel = "./"
		case d.IsDir():
			rel += "/"
		}
		want = append(want, filepath.ToSlash(rel))
		return nil
	})
	var got []string
	for _, h := range hs {
		got = append(got, h.Name)
		fi, err := os.Lstat(filepath.Join(src, h.Name))
		if err != nil {
			t.Errorf("%s: %v", h.Name, err)
			continue
		}
		if !h.ModTime.Equal(fi.ModTime()) {
			t.Errorf("%s: archived mtime %v, want %v (sub-second precision)", h.Name, h.ModTime, fi.ModTime())
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(filepath.Join(src, h.Name))
			if h.Typeflag != tar.TypeSymlink || h.Linkname != target {
				t.Errorf("%s: type %c link %q, want a symlink to %q", h.Name, h.Typeflag, h.Linkname, target)
			}
		case fi.Mode().IsRegular():
			if h.Typeflag != tar.TypeReg || h.Size != fi.Size() {
				t.Errorf("%s: type %c size %d, want a file of %d bytes", h.Name, h.Typeflag, h.Size, fi.Size())
			}
		case fi.IsDir():
			if h.Typeflag != tar.TypeDir {
				t.Errorf("%s: type %c, want a directory", h.Name, h.Typeflag)
			}
		}
		if h.Uname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: archived uname %q atime %v ctime %v, want none (deterministic output)", h.Name, h.Uname, h.AccessTime, h.ChangeTime)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("archive order:\n%q\nwant the sorted walk:\n%q", got, want)
	}
	if len(hs) < 200 {
		t.Errorf("only %d entries archived", len(hs))
	}

	// Restore over existing, different contents.
	dest := filepath.Join(tmp, "restore", "uploads")
	testenv.MakeUploadsTree(t, dest)
	os.WriteFile(filepath.Join(dest, "stale.txt"), []byte("old"), 0o644)
	os.MkdirAll(filepath.Join(dest, "media/2099/stale"), 0o755)
	d, log := hostSource(t, dest)
	if err := d.Restore(context.Background(), sdk.RestoreRequest{Component: "uploads", Header: sdk.Header{FileName: "uploads.tar", MediaType: "application/x-tar"}}, bytes.NewReader(data)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	testenv.CompareTrees(t, src, dest)
	if os.Geteuid() == 0 {
		if o, w := owners(t, dest), owners(t, src); !mapsEqual(o, w) {
			t.Errorf("owners after restore %v, want %v", o, w)
		}
	}
	destInfo, _ := os.Stat(dest)
	if destInfo.Mode() != srcInfo.Mode() {
		t.Errorf("restored directory mode %v, want %v", destInfo.Mode(), srcInfo.Mode())
	}
	if n := dirNames(t, filepath.Dir(dest)); !slices.Equal(n, []string{"uploads"}) {
		t.Errorf("beside the destination: %v, want only uploads (no staging or old contents left)", n)
	}
	if w := log.warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRestoreToDirectory(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)

	// The configured directory holds other contents and must not change.
	configuredDir := filepath.Join(tmp, "live")
	pristine := filepath.Join(tmp, "pristine")
	for _, d := range []string{configuredDir, pristine} {
		os.MkdirAll(filepath.Join(d, "only-live"), 0o755)
		os.WriteFile(filepath.Join(d, "only-live", "f.txt"), []byte("live"), 0o644)
		os.Chtimes(filepath.Join(d, "only-live", "f.txt"), time.Time{}, time.Unix(1700000000, 0))
		os.Chtimes(filepath.Join(d, "only-live"), time.Time{}, time.Unix(1700000000, 0))
	}
	d, _ := hostSource(t, configuredDir)
	other := filepath.Join(tmp, "elsewhere", "deep", "uploads")
	if err := d.Restore(context.Background(), sdk.RestoreRequest{Component: "uploads", ToDirectory: other}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	testenv.CompareTrees(t, src, other)
	testenv.CompareTrees(t, pristine, configuredDir)
	if n := dirNames(t, filepath.Dir(other)); !slices.Equal(n, []string{"uploads"}) {
		t.Errorf("beside the destination: %v", n)
	}
}

func TestTruncatedOrFailedStreamLeavesDestinationUnchanged(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	os.WriteFile(filepath.Join(src, "new-in-backup.txt"), []byte("new"), 0o644)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)

	pristine := filepath.Join(tmp, "pristine")
	testenv.MakeUploadsTree(t, pristine)
	cases := []struct {
		name string
		data []byte
		err  error
	}{
		{"half the stream, then the source failed", data[:len(data)/2], sdk.ErrAborted},
		{"half the stream, then a bare EOF", data[:len(data)/2], nil},
		{"a complete tar, but the trailer says the source failed", data, sdk.ErrAborted},
		{"nothing at all", nil, sdk.ErrAborted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "uploads")
			testenv.MakeUploadsTree(t, dest)
			d, _ := hostSource(t, dest)
			r := failingReader(tc.data, tc.err)
			if tc.err == nil {
				r = bytes.NewReader(tc.data)
			}
			err := d.Restore(context.Background(), sdk.RestoreRequest{Component: "uploads"}, r)
			if err == nil {
				t.Fatal("Restore succeeded")
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("Restore = %v, want it to wrap %v", err, tc.err)
			}
			testenv.CompareTrees(t, pristine, dest)
			if n := dirNames(t, filepath.Dir(dest)); !slices.Equal(n, []string{"uploads"}) {
				t.Errorf("beside the destination: %v, want only uploads", n)
			}
		})
	}
}

func TestRestoreCancelled(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)
	dest := filepath.Join(tmp, "uploads")
	pristine := filepath.Join(tmp, "pristine")
	testenv.MakeUploadsTree(t, dest)
	testenv.MakeUploadsTree(t, pristine)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{r: bytes.NewReader(data), n: len(data) / 3, cancel: cancel}
	d, _ := hostSource(t, dest)
	if err := d.Restore(ctx, sdk.RestoreRequest{}, r); !errors.Is(err, context.Canceled) {
		t.Errorf("Restore = %v, want context.Canceled", err)
	}
	testenv.CompareTrees(t, pristine, dest)
	if n := dirNames(t, tmp); !slices.Equal(n, []string{"pristine", "src", "uploads"}) {
		t.Errorf("left: %v", n)
	}
}

// cancelAfter cancels a context once n bytes were read.
type cancelAfter struct {
	r      *bytes.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if len(p) > 4096 {
		p = p[:4096]
	}
	k, err := c.r.Read(p)
	c.n -= k
	return k, err
}

func TestEmptyUploads(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.Mkdir(src, 0o755)
	os.Chtimes(src, time.Time{}, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC))
	s, _ := hostSource(t, src)
	data := backupTar(t, s)
	hs := tarEntries(t, data)
	if len(hs) != 1 || hs[0].Name != "./" || hs[0].Typeflag != tar.TypeDir {
		t.Fatalf("archive of an empty directory: %v", hs)
	}
	out := &testStream{accepts: true}
	if err := s.Backup(context.Background(), sdk.BackupRequest{}, out); err != nil || len(out.paths) != 1 {
		t.Errorf("SendPath of an empty directory: %v %v", err, out.paths)
	}

	dest := filepath.Join(tmp, "dest")
	testenv.MakeUploadsTree(t, dest)
	d, _ := hostSource(t, dest)
	if err := d.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if n := dirNames(t, dest); len(n) != 0 {
		t.Errorf("after restoring an empty backup: %v", n)
	}
	fi, _ := os.Stat(dest)
	if !fi.ModTime().Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("restored root mtime %v", fi.ModTime())
	}
}

func TestRestorePath(t *testing.T) {
	tmp := t.TempDir()
	live := filepath.Join(tmp, "live", "uploads")
	s, _ := hostSource(t, live)
	other := filepath.Join(tmp, "x", "y")
	for _, tc := range []struct{ to, want string }{{other, other}, {"", live}} {
		got, err := s.RestorePath(context.Background(), sdk.RestoreRequest{Component: "uploads", ToDirectory: tc.to})
		if err != nil || got != tc.want {
			t.Errorf("RestorePath(%q) = %q, %v; want %q", tc.to, got, err, tc.want)
		}
		if fi, err := os.Stat(tc.want); err != nil || !fi.IsDir() || fi.Mode().Perm()&0o755 != 0o755&^umask() {
			t.Errorf("RestorePath did not create %s 0755: %v %v", tc.want, fi, err)
		}
	}
}

func umask() fs.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return fs.FileMode(m)
}

func TestRestoreRefusesDirectorySnapshotStream(t *testing.T) {
	s, _ := hostSource(t, t.TempDir())
	err := s.Restore(context.Background(), sdk.RestoreRequest{Header: sdk.Header{MediaType: "inode/directory"}}, bytes.NewReader(nil))
	if !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Errorf("Restore of a directory stream = %v", err)
	}
}

func TestExchangeFallback(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)
	dest := filepath.Join(tmp, "r", "uploads")
	os.MkdirAll(filepath.Join(dest, "old"), 0o755)

	// A file system without RENAME_EXCHANGE (EINVAL): two renames instead.
	saved := exchange
	exchange = func(a, b string) error { return syscall.EINVAL }
	defer func() { exchange = saved }()
	d, _ := hostSource(t, dest)
	if err := d.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	testenv.CompareTrees(t, src, dest)
	if n := dirNames(t, filepath.Dir(dest)); !slices.Equal(n, []string{"uploads"}) {
		t.Errorf("beside the destination: %v", n)
	}
}

func TestRestoreThroughSymlinkedDestination(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)
	real := filepath.Join(tmp, "data", "uploads")
	os.MkdirAll(real, 0o755)
	link := filepath.Join(tmp, "uploads")
	os.Symlink(real, link)
	d, _ := hostSource(t, link)
	if err := d.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(link); err != nil || target != real {
		t.Errorf("the destination symlink was replaced: %q %v", target, err)
	}
	testenv.CompareTrees(t, src, real)
}
