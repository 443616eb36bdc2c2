// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// TestVanishingEntriesAreSkipped removes entries while the backup walks the
// tree (uploads change while backing up): a file between its lstat and its
// open, a file between the directory listing and its lstat, and a whole
// directory before it is opened. They are skipped with warnings; everything
// else is archived as it was.
func TestVanishingEntriesAreSkipped(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	before := manifest(t, src)

	s, log := hostSource(t, src)
	removed := map[string]bool{}
	s.beforeRead = func(rel string) {
		var victim string
		switch rel {
		case "media/2024/01/photo-005.jpg": // itself, after its lstat
			victim = rel
		case "documents/-leading-dash.txt": // a sibling already listed
			victim = "documents/ñandú.csv"
		case "imports/geojson": // a directory, before it is opened
			victim = rel
		default:
			return
		}
		if err := os.RemoveAll(filepath.Join(src, victim)); err != nil {
			t.Error(err)
		}
		removed[victim] = true
	}
	data := backupTar(t, s)
	if len(removed) != 3 {
		t.Fatalf("the hook removed %v", removed)
	}
	warnings := strings.Join(log.warnings(), "\n")
	for v := range removed {
		if !strings.Contains(warnings, v) {
			t.Errorf("no warning names %s: %s", v, warnings)
		}
	}

	want := map[string]testenv.Entry{}
	for k, e := range before {
		gone := false
		for v := range removed {
			if k == v || strings.HasPrefix(k, v+"/") {
				gone = true
			}
		}
		if !gone {
			want[k] = e
		}
	}
	dest := filepath.Join(tmp, "dest")
	d, _ := hostSource(t, dest)
	if err := d.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sameManifest(t, "restored", want, manifest(t, dest))
}

const unreadableEnv = "SOURCE_VOLUME_TEST_UNREADABLE_DIR"

// TestUnreadableFileFails: a file the backup cannot read fails the backup
// (it is not skipped like a vanished one). Root reads everything, so as
// root the backup runs in a child process (this test binary) as nobody.
func TestUnreadableFileFails(t *testing.T) {
	base, err := os.MkdirTemp("", "source-volume-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	tree := filepath.Join(base, "uploads")
	os.MkdirAll(filepath.Join(tree, "a"), 0o755)
	os.WriteFile(filepath.Join(tree, "a", "readable.txt"), []byte("ok"), 0o644)
	secret := filepath.Join(tree, "a", "secret.txt")
	os.WriteFile(secret, []byte("no"), 0o644)
	for _, p := range []string{base, tree, filepath.Join(tree, "a")} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(secret, 0)

	var result string
	if os.Geteuid() != 0 {
		s, _ := hostSource(t, tree)
		err := s.Backup(context.Background(), sdk.BackupRequest{}, &testStream{w: io.Discard})
		result = fmt.Sprint(err)
	} else {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(base, "test.bin")
		if out, err := exec.Command("cp", self, bin).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		os.Chmod(bin, 0o755)
		cmd := exec.Command(bin, "-test.run=^TestUnreadableHelper$", "-test.v")
		cmd.Dir = base
		cmd.Env = append(os.Environ(), unreadableEnv+"="+tree)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Pdeathsig: syscall.SIGKILL}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper as nobody: %v\n%s", err, out)
		}
		_, after, ok := strings.Cut(string(out), "BACKUP-RESULT: ")
		if !ok {
			t.Fatalf("helper output:\n%s", out)
		}
		result, _, _ = strings.Cut(after, "\n")
	}
	if !strings.Contains(result, "permission denied") || !strings.Contains(result, "a/secret.txt") {
		t.Errorf("backup with an unreadable file: %q, want a permission error naming a/secret.txt", result)
	}
}

// TestUnreadableHelper is not a test of its own: it is the child process
// of TestUnreadableFileFails. Run by the suite, it does nothing (no skip to
// report: there is nothing that could not run).
func TestUnreadableHelper(t *testing.T) {
	dir := os.Getenv(unreadableEnv)
	if dir == "" {
		return
	}
	s, _ := hostSource(t, dir)
	err := s.Backup(context.Background(), sdk.BackupRequest{}, &testStream{w: io.Discard})
	fmt.Printf("BACKUP-RESULT: %v\n", err)
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestStreamingConstantMemory backs up and restores a 128 MiB file through
// a pipe: both sides must stream it, allocating a small fraction of it.
func TestStreamingConstantMemory(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(src, 0o755)
	const size = 128 << 20
	f, _ := os.Create(filepath.Join(src, "big.bin"))
	f.WriteAt([]byte("head"), 0)
	f.WriteAt([]byte("tail"), size-4)
	f.Close()
	s, _ := hostSource(t, src)
	dest := filepath.Join(tmp, "dest")
	d, _ := hostSource(t, dest)

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	var cw countingWriter
	if err := s.Backup(context.Background(), sdk.BackupRequest{}, &testStream{w: &cw}); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(s.Backup(context.Background(), sdk.BackupRequest{}, &testStream{w: pw}))
	}()
	if err := d.Restore(context.Background(), sdk.RestoreRequest{}, pr); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if cw.n < size {
		t.Fatalf("archive of %d bytes", cw.n)
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 16<<20 {
		t.Errorf("backup and restore of %d MiB allocated %d MiB: not streaming", size>>20, alloc>>20)
	}
	testenv.CompareTrees(t, src, dest)
}

// TestGNUTarInterop: GNU tar extracts the plugin's stream (an operator can
// use `restic dump … | tar -x` by hand), and the plugin restores a tree
// archived by GNU tar in PAX format.
func TestGNUTarInterop(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	testenv.MakeUploadsTree(t, src)
	s, _ := hostSource(t, src)
	data := backupTar(t, s)

	byTar := filepath.Join(tmp, "by-gnu-tar")
	os.Mkdir(byTar, 0o755)
	cmd := exec.Command("tar", "-xpf", "-", "-C", byTar)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GNU tar -x: %v\n%s", err, out)
	}
	testenv.CompareTrees(t, src, byTar)

	gnu, err := exec.Command("tar", "--format=pax", "-cf", "-", "-C", src, ".").Output()
	if err != nil {
		t.Fatalf("GNU tar -c: %v", err)
	}
	dest := filepath.Join(tmp, "dest")
	d, _ := hostSource(t, dest)
	if err := d.Restore(context.Background(), sdk.RestoreRequest{}, bytes.NewReader(gnu)); err != nil {
		t.Fatal(err)
	}
	testenv.CompareTrees(t, src, dest)
}
