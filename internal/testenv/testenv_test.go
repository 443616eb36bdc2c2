// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recorder is a testing.TB that records Errorf calls instead of failing, so
// tests can check what CompareTrees reports. Everything else goes to the
// real test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "scripts", "tools.sh")); err != nil {
		t.Fatalf("RepoRoot() = %s, which has no scripts/tools.sh: %v", root, err)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	pg.CreateDB(t, "timetiles")
	SeedTimeTiles(t, pg, "timetiles")

	d1 := TableDigests(t, pg, "timetiles")
	for _, table := range []string{"catalogs", "datasets", "events", "media", "payload_migrations"} {
		if d1[table] == "" {
			t.Errorf("no digest for table %s in %v", table, d1)
		}
	}
	if _, ok := d1["spatial_ref_sys"]; ok {
		t.Errorf("spatial_ref_sys must be left out: %v", d1)
	}
	if !strings.HasPrefix(d1["events"], "rows=5000 ") || !strings.HasPrefix(d1["datasets"], "rows=50 ") {
		t.Errorf("unexpected row counts: events %q, datasets %q", d1["events"], d1["datasets"])
	}
	if d1["sequence:import_job_seq"] != "1042" || d1["sequence:events_id_seq"] != "5000" {
		t.Errorf("unexpected sequence values in %v", d1)
	}
	if d2 := TableDigests(t, pg, "timetiles"); !maps.Equal(d1, d2) {
		t.Errorf("digests of an unchanged database differ:\n%v\n%v", d1, d2)
	}

	// PostGIS works and the data is what SeedTimeTiles promises.
	if got := pg.Psql(t, "timetiles", "SELECT count(*) FROM events WHERE location IS NULL"); got != "51" {
		t.Errorf("events without location = %s, want 51", got)
	}
	if got := pg.Psql(t, "timetiles", "SELECT ST_AsText(location) FROM events WHERE id = 1"); got != "POINT(-100.81 -57.71)" {
		t.Errorf("event 1 location = %s", got)
	}

	// The DSN works for a client given only the DSN.
	out, err := exec.Command(PsqlPath(), "-X", "-At", "-c", "SELECT current_database()", pg.DSN("timetiles")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "timetiles" {
		t.Errorf("psql with DSN %s: %v: %s", pg.DSN("timetiles"), err, out)
	}

	// A copy made with pg_dump has the same digests (physical row order differs).
	pg.CreateDB(t, "restored")
	dump := exec.Command(filepath.Join(pg.BinDir, "pg_dump"), "-Fp")
	dump.Env = pg.cmdEnv("timetiles")
	sql, err := dump.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	pg.Psql(t, "restored", string(sql))
	if d := TableDigests(t, pg, "restored"); !maps.Equal(d1, d) {
		t.Errorf("digests after pg_dump | psql differ:\n%v\n%v", d1, d)
	}
	pg.DropDB(t, "restored")
	if got := pg.Psql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'restored'"); got != "0" {
		t.Errorf("DropDB left the database behind")
	}

	// One changed row changes exactly that table's digest.
	pg.Psql(t, "timetiles", "UPDATE events SET title = title || '!' WHERE id = 4242")
	d3 := TableDigests(t, pg, "timetiles")
	for k := range d1 {
		if changed := d1[k] != d3[k]; changed != (k == "events") {
			t.Errorf("table %s: changed=%v after updating one event", k, changed)
		}
	}

	// Stop and Start simulate an outage.
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.psql("timetiles", "SELECT 1"); err == nil {
		t.Errorf("query succeeded on a stopped server")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if got := pg.Psql(t, "timetiles", "SELECT count(*) FROM events"); got != "5000" {
		t.Errorf("after restart: %s events", got)
	}
}

func TestUploadsTree(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	a, b, c := filepath.Join(tmp, "a"), filepath.Join(tmp, "b"), filepath.Join(tmp, "c")
	MakeUploadsTree(t, a)
	MakeUploadsTree(t, c)

	m, err := TreeManifest(a)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range m {
		kinds[e.Type]++
	}
	if kinds["file"] < 200 || kinds["symlink"] != 4 || kinds["dir"] < 15 {
		t.Errorf("unexpected tree shape: %v", kinds)
	}
	if e := m["documents/Zürich café/日本語 ファイル.txt"]; e.Type != "file" || e.Size != 321 {
		t.Errorf("unicode file: %+v", e)
	}
	if e := m["links/dangling"]; e.Type != "symlink" || e.Target != "../does-not-exist.txt" {
		t.Errorf("dangling symlink: %+v", e)
	}
	if e := m["private"]; e.Perm != 0o750 {
		t.Errorf("private/ has mode %v", e.Perm)
	}
	if e := m["big/large-video.bin"]; e.Size != 2<<20 {
		t.Errorf("big file: %+v", e)
	}
	times := map[int64]string{}
	for k, e := range m {
		if other, dup := times[e.MTime.UnixNano()]; dup {
			t.Errorf("%s and %s share an mtime", k, other)
		}
		times[e.MTime.UnixNano()] = k
	}

	rec := &recorder{TB: t}
	CompareTrees(rec, a, c)
	if len(rec.errs) > 0 {
		t.Errorf("two MakeUploadsTree trees differ:\n%s", strings.Join(rec.errs, "\n"))
	}

	if out, err := exec.Command("cp", "-a", a, b).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	rec = &recorder{TB: t}
	CompareTrees(rec, a, b)
	if len(rec.errs) > 0 {
		t.Fatalf("cp -a copy differs:\n%s", strings.Join(rec.errs, "\n"))
	}

	// Damage the copy in many ways, putting back the mtimes of directories
	// whose entries change so that only the intended differences remain.
	at := func(rel string) string { return filepath.Join(b, filepath.FromSlash(rel)) }
	keepDirTime := func(rel string, change func()) {
		t.Helper()
		fi, err := os.Lstat(at(rel))
		if err != nil {
			t.Fatal(err)
		}
		change()
		lsetTime(t, at(rel), fi.ModTime())
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(at("media/2024/01/photo-002.jpg"), 0o755))
	must(os.Chmod(at("private"), 0o700))
	must(os.Chtimes(at("documents/ñandú.csv"), time.Time{}, m["documents/ñandú.csv"].MTime.Add(5*time.Second)))
	lsetTime(t, at("media/2025"), m["media/2025"].MTime.Add(-time.Hour))
	// Same second, other nanoseconds: not a difference.
	must(os.Chtimes(at("thumbnails/thumb_001.webp"), time.Time{}, m["thumbnails/thumb_001.webp"].MTime.Truncate(time.Second)))
	keepDirTime("links", func() {
		must(os.Remove(at("links/latest-photo.jpg")))
		must(os.Symlink("../media/2024/01/photo-003.jpg", at("links/latest-photo.jpg")))
		lsetTime(t, at("links/latest-photo.jpg"), m["links/latest-photo.jpg"].MTime)
	})
	flipByte(t, at("big/large-video.bin"), 1<<20)
	must(os.Chtimes(at("big/large-video.bin"), time.Time{}, m["big/large-video.bin"].MTime))
	appendByte(t, at("scripts/report.py"))
	must(os.Chtimes(at("scripts/report.py"), time.Time{}, m["scripts/report.py"].MTime))
	keepDirTime("thumbnails", func() { must(os.Remove(at("thumbnails/thumb_005.webp"))) })
	keepDirTime("documents", func() { must(os.WriteFile(at("documents/extra.txt"), []byte("x"), 0o644)) })
	keepDirTime("documents", func() {
		must(os.Remove(at("documents/-leading-dash.txt")))
		must(os.Mkdir(at("documents/-leading-dash.txt"), 0o755))
		must(os.WriteFile(at("documents/-leading-dash.txt/inside"), nil, 0o644))
	})
	must(os.RemoveAll(at("media/2024/02")))
	lsetTime(t, at("media/2024"), m["media/2024"].MTime)

	rec = &recorder{TB: t}
	CompareTrees(rec, a, b)
	want := []string{
		"big/large-video.bin: content differs",
		"documents/-leading-dash.txt: is a dir, want a file",
		"documents/extra.txt: unexpected file",
		"documents/ñandú.csv: mtime",
		"links/latest-photo.jpg: symlink target \"../media/2024/01/photo-003.jpg\", want \"../media/2024/01/photo-001.jpg\"",
		"media/2024/01/photo-002.jpg: mode 0755, want 0644",
		"media/2024/02: directory missing (with 40 entries below it)",
		"media/2025: mtime",
		"private: mode 0700, want 0750",
		"scripts/report.py: size",
		"thumbnails/thumb_005.webp: file missing",
	}
	for _, w := range want {
		if !slices.ContainsFunc(rec.errs, func(e string) bool { return strings.HasPrefix(e, w) }) {
			t.Errorf("CompareTrees did not report %q", w)
		}
	}
	if len(rec.errs) != len(want) {
		t.Errorf("CompareTrees reported %d differences, want %d:\n%s", len(rec.errs), len(want), strings.Join(rec.errs, "\n"))
	}
}

func TestCompareTreesEmpty(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	MakeUploadsTree(t, a)
	rec := &recorder{TB: t}
	CompareTrees(rec, a, b)
	top, _ := os.ReadDir(a)
	if len(rec.errs) != len(top) {
		t.Errorf("comparing with an empty tree: %d differences, want one per top-level entry (%d):\n%s",
			len(rec.errs), len(top), strings.Join(rec.errs, "\n"))
	}
}

func lsetTime(t *testing.T, p string, mt time.Time) {
	t.Helper()
	ts := unix.NsecToTimespec(mt.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func appendByte(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{'\n'}); err != nil {
		t.Fatal(err)
	}
}

// TestResticRoundTrip checks CompareTrees against what restic really
// restores (symlink and directory mtimes included). It uses restic only if
// scripts/tools.sh has already built it.
func TestResticRoundTrip(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short")
	}
	if !isExecutable(filepath.Join(RepoRoot(), ".tools", "bin", "restic")) {
		t.Skip("restic not built yet (scripts/tools.sh restic)")
	}
	restic := Tool(t, "restic")
	tmp := t.TempDir()
	src, repo, target := filepath.Join(tmp, "uploads"), filepath.Join(tmp, "repo"), filepath.Join(tmp, "restored")
	MakeUploadsTree(t, src)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(restic, args...)
		cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD=test-password",
			"RESTIC_CACHE_DIR="+filepath.Join(tmp, "cache"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("init")
	run("backup", "--quiet", "--host", "test", src)
	run("restore", "latest:"+src, "--target", target)
	CompareTrees(t, src, target)
}

func TestTool(t *testing.T) {
	if !isExecutable(filepath.Join(RepoRoot(), ".tools", "bin", "restic")) {
		t.Skip("restic not built yet: not building it here (takes a minute)")
	}
	out, err := exec.Command(Tool(t, "restic"), "version").Output()
	if err != nil || !strings.Contains(string(out), "restic 0.18.1") {
		t.Errorf("restic version: %v: %s", err, out)
	}
}

func TestProcesses(t *testing.T) {
	t.Parallel()
	child := exec.Command("sleep", "123.456")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// An orphan: sh exits at once, its sleep is re-parented away from us.
	out, err := exec.Command("sh", "-c", "sleep 124.5 >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Kill(orphan, unix.SIGKILL) })

	if !slices.Contains(ChildProcesses(os.Getpid()), child.Process.Pid) {
		t.Errorf("ChildProcesses misses sleep %d", child.Process.Pid)
	}
	left := LeftoverProcesses(t, "sleep")
	for _, want := range []string{fmt.Sprintf("%d sleep 123.456", child.Process.Pid), fmt.Sprintf("%d sleep 124.5", orphan)} {
		if !slices.Contains(left, want) {
			t.Errorf("LeftoverProcesses = %q, want it to contain %q", left, want)
		}
	}
	if !slices.Contains(Cmdlines(), "sleep 123.456") {
		t.Errorf("Cmdlines misses sleep 123.456")
	}

	child.Process.Kill()
	child.Wait()
	unix.Kill(orphan, unix.SIGKILL)
	WaitNoLeftoverProcesses(t, 5*time.Second, "sleep")
}

func TestBuildBinaries(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mainSrc := func(msg string) string {
		return "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"" + msg + "\") }\n"
	}
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	write("cmd/timetiles-backup/main.go", mainSrc("cli"))
	write("plugins/source-postgres/main.go", mainSrc("source"))
	write("plugins/target-restic/main.go", mainSrc("target"))
	write("plugins/shared/shared.go", "package shared\n")
	write("plugins/wip/README.md", "not yet\n")
	write("examples/hello/main.go", mainSrc("hello"))
	write("examples/othermod/go.mod", "module example.com/other\n\ngo 1.22\n")
	write("examples/othermod/main.go", mainSrc("other"))

	pkgs, err := findMainPackages(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []mainPackage{
		{"cmd/timetiles-backup", "timetiles-backup"},
		{"examples/hello", "hello"},
		{"plugins/source-postgres", "timetiles-backup-source-postgres"},
		{"plugins/target-restic", "timetiles-backup-target-restic"},
	}
	if !reflect.DeepEqual(pkgs, want) {
		t.Fatalf("findMainPackages = %v, want %v", pkgs, want)
	}
	out := t.TempDir()
	if err := buildBinaries(root, out); err != nil {
		t.Fatal(err)
	}
	for _, p := range want {
		got, err := exec.Command(filepath.Join(out, p.Name)).Output()
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		t.Logf("%s: %s", p.Name, strings.TrimSpace(string(got)))
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != len(want) {
		t.Errorf("%d entries in the output directory, want %d", len(ents), len(want))
	}
}
