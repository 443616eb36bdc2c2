// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// These tests run the real pinned restic binaries: 0.18.1 and the
// compatibility floor 0.16.4 (Ubuntu 24.04's), side by side.

// errCollector remembers every error text for the secrets check at the end.
type errCollector struct {
	mu   sync.Mutex
	errs []string
}

func (c *errCollector) add(err error) error {
	if err != nil {
		c.mu.Lock()
		c.errs = append(c.errs, err.Error())
		c.mu.Unlock()
	}
	return err
}

func TestRealRestic(t *testing.T) {
	for _, b := range resticBinaries(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testRealRestic(t, b)
		})
	}
}

func testRealRestic(t *testing.T, b resticBin) {
	ctx := testContext(t)
	dir := t.TempDir()
	r, logs := newTestRepo(t, b.path, filepath.Join(dir, "repo"))
	var ec errCollector
	t.Cleanup(func() {
		for _, e := range ec.errs {
			assertNoSecrets(t, "error", e)
		}
		assertNoSecrets(t, "logs", logs.String())
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})

	v, err := r.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSupported(v); err != nil {
		t.Fatal(err)
	}
	if got := v.String(); (b.name == "0.18" && got != "0.18.1") || (b.name == "0.16" && got != "0.16.4") {
		t.Fatalf("version %s for %s", got, b.name)
	}

	// --- repository lifecycle -------------------------------------------
	if ok, err := r.Exists(ctx); ok || err != nil {
		t.Fatalf("Exists before init = %v, %v; want false, nil", ok, err)
	}
	_, err = r.Snapshots(ctx, SnapshotFilter{})
	if !IsRepoMissing(ec.add(err)) {
		t.Fatalf("Snapshots before init: %v, want RepoMissing", err)
	}
	if created, err := r.Init(ctx); !created || err != nil {
		t.Fatalf("Init = %v, %v", created, err)
	}
	if created, err := r.Init(ctx); created || err != nil {
		t.Fatalf("second Init = %v, %v; want false, nil", created, err)
	}
	if ok, err := r.Exists(ctx); !ok || err != nil {
		t.Fatalf("Exists after init = %v, %v", ok, err)
	}
	bad := *r
	bad.Password = "wrong-" + testPassword
	if ok, err := bad.Exists(ctx); ok || !IsWrongPassword(ec.add(err)) {
		t.Fatalf("Exists with wrong password = %v, %v; want WrongPassword", ok, err)
	}
	if _, err := bad.Init(ctx); !IsWrongPassword(ec.add(err)) {
		t.Fatalf("Init with wrong password = %v; want WrongPassword", err)
	}

	// --- stdin backup, dump ------------------------------------------------
	data := make([]byte, 3<<20+12345)
	rand.New(rand.NewSource(1)).Read(data)
	// With a fraction of a second, which the snapshot keeps: runs started
	// in the same second keep their order.
	t0 := time.Date(2024, 3, 10, 12, 0, 0, 123456789, time.Local)
	var progress int
	sum, err := r.BackupStdin(ctx, BackupOptions{
		Filename: "database.sql", Tags: []string{"db"}, Time: t0,
		Progress: func(s Status) { progress++ },
	}, bytes.NewReader(data))
	if ec.add(err) != nil {
		t.Fatalf("BackupStdin: %v", err)
	}
	if sum.SnapshotID == "" || sum.TotalBytesProcessed != uint64(len(data)) || sum.FilesNew != 1 || sum.DataAdded == 0 {
		t.Fatalf("summary %+v", sum)
	}
	snaps, err := r.Snapshots(ctx, SnapshotFilter{Tags: []string{"db"}, Host: "testhost"})
	if ec.add(err) != nil || len(snaps) != 1 {
		t.Fatalf("Snapshots = %v, %v", snaps, err)
	}
	s := snaps[0]
	if s.ID != sum.SnapshotID || !s.Time.Equal(t0) || s.Hostname != "testhost" ||
		!slices.Equal(s.Tags, []string{"db"}) || !slices.Equal(s.Paths, []string{"/database.sql"}) ||
		s.ShortID == "" || s.Tree == "" {
		t.Fatalf("snapshot %+v", s)
	}
	if (b.name == "0.18") != (s.Summary != nil) {
		t.Errorf("snapshot summary %+v", s.Summary)
	}
	var dumped bytes.Buffer
	if err := ec.add(r.Dump(ctx, s.ShortID, "/database.sql", &dumped)); err != nil || !bytes.Equal(dumped.Bytes(), data) {
		t.Fatalf("Dump: %v, %d bytes, equal=%v", err, dumped.Len(), bytes.Equal(dumped.Bytes(), data))
	}
	if err := r.Dump(ctx, s.ID, "/nope.sql", io.Discard); !IsNotFound(ec.add(err)) {
		t.Errorf("Dump of missing path: %v, want NotFound", err)
	}
	if err := r.Dump(ctx, "deadbeef", "/database.sql", io.Discard); !IsNotFound(ec.add(err)) {
		t.Errorf("Dump of missing snapshot: %v, want NotFound", err)
	}

	// --- the source fails half-way: no snapshot may appear -----------------
	sourceErr := errors.New("pg_dump exited with status 1")
	fr := &failingReader{data: data, failAt: len(data) / 2, err: sourceErr}
	start := time.Now()
	_, err = r.BackupStdin(ctx, BackupOptions{Filename: "database.sql", Tags: []string{"db"}}, fr)
	if !IsInterrupted(ec.add(err)) || !errors.Is(err, sourceErr) {
		t.Fatalf("BackupStdin with failing source: %v; want Interrupted wrapping the source error", err)
	}
	t.Logf("failing source aborted in %v: %v", time.Since(start).Round(time.Millisecond), err)
	if n := countSnapshots(t, r); n != 1 {
		t.Fatalf("%d snapshots after a failed source, want 1 (no new snapshot)", n)
	}

	// --- a running backup holds a lock; then it is cancelled ---------------
	testLockAndCancel(t, ctx, r, &ec)

	// --- directory backups and restores -----------------------------------
	testPaths(t, ctx, r, &ec)

	// --- retention ----------------------------------------------------------
	testForget(t, ctx, r, &ec)

	if err := ec.add(r.Check(ctx, "10%")); err != nil {
		t.Errorf("Check: %v", err)
	}
}

type failingReader struct {
	data   []byte
	off    int
	failAt int
	err    error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.off >= f.failAt {
		return 0, f.err
	}
	n := copy(p, f.data[f.off:f.failAt])
	f.off += n
	return n, nil
}

func countSnapshots(t *testing.T, r *Repo) int {
	t.Helper()
	snaps, err := r.Snapshots(context.Background(), SnapshotFilter{})
	if err != nil {
		t.Fatalf("Snapshots: %v", err)
	}
	return len(snaps)
}

func testLockAndCancel(t *testing.T, ctx context.Context, r *Repo, ec *errCollector) {
	before := countSnapshots(t, r)
	holder := *r
	pids := make(chan int, 1)
	holder.startHook = func(c *exec.Cmd) { pids <- c.Process.Pid }
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("partial data that must never be committed\n")) }()
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type res struct {
		sum *Summary
		err error
	}
	done := make(chan res, 1)
	go func() {
		sum, err := holder.BackupStdin(bctx, BackupOptions{Filename: "held.sql", Tags: []string{"held"}}, pr)
		done <- res{sum, err}
	}()
	pid := <-pids

	// Wait for restic's lock file.
	host, _ := os.Hostname()
	var locks []LockInfo
	deadline := time.Now().Add(testenv.Patience)
	for {
		var err error
		locks, err = r.Locks(ctx)
		if ec.add(err) != nil {
			t.Fatalf("Locks: %v", err)
		}
		if len(locks) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(locks) != 1 || locks[0].PID != pid || locks[0].Exclusive || locks[0].Hostname != host || locks[0].DeadOnHost(host) || len(locks[0].ID) != 64 {
		t.Fatalf("locks %+v, want one non-exclusive lock of pid %d on %s", locks, pid, host)
	}

	// An exclusive command must fail with Locked.
	_, err := r.Forget(ctx, ForgetOptions{KeepDaily: 1, DryRun: true})
	if !IsLocked(ec.add(err)) {
		t.Fatalf("Forget while locked: %v; want Locked", err)
	}

	// Cancel mid-stream: restic must be gone and nothing committed.
	start := time.Now()
	cancel()
	got := <-done
	if !IsInterrupted(ec.add(got.err)) || !errors.Is(got.err, context.Canceled) || got.sum != nil {
		t.Fatalf("cancelled BackupStdin = %+v, %v; want Interrupted", got.sum, got.err)
	}
	t.Logf("cancel took %v: %v", time.Since(start).Round(time.Millisecond), got.err)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("restic pid %d still exists after cancel (kill 0: %v)", pid, err)
	}
	if n := countSnapshots(t, r); n != before {
		t.Fatalf("%d snapshots after cancel, want %d", n, before)
	}
	// A killed restic (0.18 blocks in read(stdin) until SIGKILL) leaves its
	// lock behind; it is stale (dead pid on this host) and Unlock removes it.
	if err := ec.add(r.Unlock(ctx, false)); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if locks, err := r.Locks(ctx); err != nil || len(locks) != 0 {
		t.Fatalf("locks after unlock: %+v, %v", locks, err)
	}
}

func testPaths(t *testing.T, ctx context.Context, r *Repo, ec *errCollector) {
	src := filepath.Join(t.TempDir(), "uploads")
	files := map[string]string{
		"top.txt":            "top level\n",
		"a/f.txt":            "hello\n",
		"a/b/g.bin":          strings.Repeat("g", 70000),
		"media/2024/img.png": "\x89PNG fake",
	}
	for name, content := range files {
		p := filepath.Join(src, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(src, "empty", "deeper"), 0o755))

	sum, err := r.BackupPaths(ctx, BackupOptions{Tags: []string{"uploads"}}, src)
	if ec.add(err) != nil {
		t.Fatalf("BackupPaths: %v", err)
	}
	if sum.FilesNew != 4 {
		t.Errorf("summary %+v", sum)
	}
	sn, err := r.Snapshot(ctx, sum.SnapshotID)
	if ec.add(err) != nil || !slices.Equal(sn.Paths, []string{src}) || sn.EmptyDirectory() {
		t.Fatalf("snapshot %+v, %v", sn, err)
	}
	nodes, err := r.Ls(ctx, sn.ID)
	if ec.add(err) != nil {
		t.Fatalf("Ls: %v", err)
	}
	var paths []string
	for _, n := range nodes {
		paths = append(paths, n.Path)
	}
	// The tree holds the directory's content at its root.
	for _, want := range []string{"/top.txt", "/a/b/g.bin", "/empty/deeper"} {
		if !slices.Contains(paths, want) {
			t.Errorf("Ls lacks %s: %v", want, paths)
		}
	}

	// Full restore into a new directory.
	dst := filepath.Join(t.TempDir(), "restore")
	if err := ec.add(r.Restore(ctx, sn.ShortID, "", dst, RestoreOptions{})); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	assertSameTree(t, src, dst)

	// A subdirectory.
	dstSub := t.TempDir()
	if err := ec.add(r.Restore(ctx, sn.ID, "a", dstSub, RestoreOptions{})); err != nil {
		t.Fatalf("Restore subdir: %v", err)
	}
	assertSameTree(t, filepath.Join(src, "a"), dstSub)

	// Delete: stale files in the target disappear.
	dstDel := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dstDel, "stale.txt"), []byte("old"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dstDel, "a", "stale-dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(dstDel, "top.txt"), []byte("old content"), 0o644))
	if err := ec.add(r.Restore(ctx, sn.ID, "", dstDel, RestoreOptions{Delete: true})); err != nil {
		t.Fatalf("Restore --delete: %v", err)
	}
	assertSameTree(t, src, dstDel)

	if err := r.Restore(ctx, sn.ID, "no/such/dir", t.TempDir(), RestoreOptions{}); !IsNotFound(ec.add(err)) {
		t.Errorf("Restore of a missing subdir: %v; want NotFound", err)
	}
	if err := r.Restore(ctx, "0123abcd", "", t.TempDir(), RestoreOptions{}); !IsNotFound(ec.add(err)) {
		t.Errorf("Restore of a missing snapshot: %v; want NotFound", err)
	}

	// An empty directory backs up fine and restores to nothing.
	empty := filepath.Join(t.TempDir(), "empty-uploads")
	must(t, os.Mkdir(empty, 0o755))
	esum, err := r.BackupPaths(ctx, BackupOptions{Tags: []string{"uploads"}}, empty)
	if ec.add(err) != nil {
		t.Fatalf("BackupPaths of an empty directory: %v", err)
	}
	esn, err := r.Snapshot(ctx, esum.SnapshotID)
	if ec.add(err) != nil || !esn.EmptyDirectory() || !slices.Equal(esn.Paths, []string{empty}) {
		t.Fatalf("empty snapshot %+v, %v", esn, err)
	}
	edst := filepath.Join(t.TempDir(), "r")
	if err := ec.add(r.Restore(ctx, esn.ID, "", edst, RestoreOptions{})); err != nil {
		t.Fatalf("Restore of the empty snapshot: %v", err)
	}
	assertSameTree(t, empty, edst)
	// …and with Delete it empties a populated target.
	must(t, os.WriteFile(filepath.Join(dstDel, "another-stale"), nil, 0o644))
	if err := ec.add(r.Restore(ctx, esn.ID, "", dstDel, RestoreOptions{Delete: true})); err != nil {
		t.Fatalf("Restore --delete of the empty snapshot: %v", err)
	}
	assertSameTree(t, empty, dstDel)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// assertSameTree compares names, types and file contents below two roots.
func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	list := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if rel == "." {
				return nil
			}
			if d.IsDir() {
				m[rel] = "dir"
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = "file:" + string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := list(want), list(got)
	if len(w) != len(g) {
		t.Errorf("tree %s has %d entries (%v), want %d (%v)", got, len(g), keys(g), len(w), keys(w))
		return
	}
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s: %q differs from %q", filepath.Join(got, k), truncate(g[k], 40), truncate(v, 40))
		}
	}
}

func keys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func testForget(t *testing.T, ctx context.Context, r *Repo, ec *errCollector) {
	// Snapshots at controlled times (noon/evening avoid day edges), made
	// through the *os.File stdin path.
	f, err := os.CreateTemp(t.TempDir(), "dump")
	must(t, err)
	_, err = f.WriteString("dump content\n")
	must(t, err)
	times := []time.Time{
		time.Date(2024, 1, 1, 12, 0, 0, 0, time.Local),
		time.Date(2024, 1, 2, 12, 0, 0, 0, time.Local),
		time.Date(2024, 1, 2, 18, 0, 0, 0, time.Local),
	}
	ids := make([]string, len(times))
	for i, tm := range times {
		_, err := f.Seek(0, io.SeekStart)
		must(t, err)
		sum, err := r.BackupStdin(ctx, BackupOptions{Filename: "database.sql", Tags: []string{"forget"}, Time: tm}, f)
		if ec.add(err) != nil {
			t.Fatalf("BackupStdin from *os.File: %v", err)
		}
		ids[i] = sum.SnapshotID
	}
	// keep-daily 2: the newest of 01-02 and the one of 01-01.
	res, err := r.Forget(ctx, ForgetOptions{KeepDaily: 2, Host: "testhost", Tags: []string{"forget"}, Prune: true})
	if ec.add(err) != nil {
		t.Fatalf("Forget: %v", err)
	}
	kept, removed := res.Kept(), res.Removed()
	sort.Strings(kept)
	wantKept := []string{ids[0], ids[2]}
	sort.Strings(wantKept)
	if !slices.Equal(kept, wantKept) || !slices.Equal(removed, []string{ids[1]}) || len(res.Groups) != 1 ||
		!slices.Equal(res.Groups[0].Tags, []string{"forget"}) || res.Groups[0].Host != "testhost" {
		t.Fatalf("forget kept %v removed %v (groups %+v); want kept %v removed %v", kept, removed, res.Groups, wantKept, ids[1:2])
	}
	snaps, err := r.Snapshots(ctx, SnapshotFilter{Tags: []string{"forget"}})
	if ec.add(err) != nil {
		t.Fatal(err)
	}
	var left []string
	for _, s := range snaps {
		left = append(left, s.ID)
	}
	sort.Strings(left)
	if !slices.Equal(left, wantKept) {
		t.Fatalf("snapshots after forget %v, want %v", left, wantKept)
	}
	// Other groups (db, uploads) were not touched.
	if n := countSnapshots(t, r); n != 2+1+2 {
		t.Errorf("%d snapshots in total after forget, want 5", n)
	}
}

// rest-server --append-only refuses deletes with 403. restic 0.18 `forget`
// without --prune exits 0 anyway; Forget must report PermissionDenied.
// (restic 0.16 retries the 403 for about a minute before exiting 1, too slow
// for this test; its texts are covered by TestClassify.)
func TestAppendOnlyForget(t *testing.T) {
	t.Parallel()
	bin := ensureTools(t, "restic")
	ctx := testContext(t)
	srv := testenv.StartRestServer(t, true) // --append-only

	r, logs := newTestRepo(t, filepath.Join(bin, "restic"), strings.Replace(srv.URL, "http://", "http://user:url-pass-Zq9@", 1))
	t.Cleanup(func() {
		if strings.Contains(logs.String(), "url-pass-Zq9") {
			t.Errorf("logs contain the URL password")
		}
	})
	if created, err := r.Init(ctx); !created || err != nil {
		t.Fatalf("Init: %v %v", created, err)
	}
	if created, err := r.Init(ctx); created || err != nil {
		t.Fatalf("second Init: %v %v", created, err)
	}
	for i, day := range []int{1, 2} {
		_, err := r.BackupStdin(ctx, BackupOptions{Filename: "db.sql", Tags: []string{"db"},
			Time: time.Date(2024, 1, day, 12, 0, 0, 0, time.Local)}, strings.NewReader(fmt.Sprintf("dump %d\n", i)))
		if err != nil {
			t.Fatalf("BackupStdin: %v", err)
		}
	}
	res, err := r.Forget(ctx, ForgetOptions{KeepDaily: 1})
	if !IsPermissionDenied(err) {
		t.Fatalf("Forget on append-only: %v; want PermissionDenied", err)
	}
	if res == nil || len(res.Removed()) != 1 {
		t.Errorf("forget result %+v", res)
	}
	if strings.Contains(err.Error(), "url-pass-Zq9") {
		t.Errorf("error contains the URL password: %v", err)
	}
	_, err = r.Forget(ctx, ForgetOptions{KeepDaily: 1, Prune: true})
	if !IsPermissionDenied(err) {
		t.Fatalf("Forget --prune on append-only: %v; want PermissionDenied", err)
	}
	if n := countSnapshots(t, r); n != 2 {
		t.Fatalf("%d snapshots, want 2", n)
	}
}
