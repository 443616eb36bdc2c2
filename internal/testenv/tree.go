// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Entry describes one file system entry of a tree, as seen by os.Lstat.
type Entry struct {
	Type   string      // "file", "dir", "symlink" or "other"
	Perm   fs.FileMode // permission bits plus setuid/setgid/sticky (not for symlinks)
	Size   int64       // files only
	SHA256 string      // files only, hex
	Target string      // symlinks only, as stored (not resolved)
	MTime  time.Time
}

// TreeManifest describes every entry below dir (the root itself excluded),
// keyed by slash-separated path relative to dir. Symlinks are not followed.
func TreeManifest(dir string) (map[string]Entry, error) {
	m := map[string]Entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		fi, err := d.Info() // lstat
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		e := Entry{
			Perm:  fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
			MTime: fi.ModTime(),
		}
		switch {
		case fi.Mode().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			if e.SHA256, err = fileSHA256(p); err != nil {
				return err
			}
		case fi.IsDir():
			e.Type = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type, e.Perm = "symlink", 0
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			e.Type = "other"
		}
		m[filepath.ToSlash(rel)] = e
		return nil
	})
	return m, err
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CompareTrees reports with t.Errorf every difference between the trees at
// want and got (roots excluded): missing and unexpected entries, type, file
// size and sha256, permission bits, mtime to the second (directories and
// symlinks included) and symlink targets. The contents of a directory that
// is missing or unexpected as a whole are reported as one difference.
func CompareTrees(t testing.TB, want, got string) {
	t.Helper()
	wm, err := TreeManifest(want)
	if err != nil {
		t.Fatalf("testenv.CompareTrees: reading %s: %v", want, err)
	}
	gm, err := TreeManifest(got)
	if err != nil {
		t.Fatalf("testenv.CompareTrees: reading %s: %v", got, err)
	}
	keys := make([]string, 0, len(wm)+len(gm))
	for k := range wm {
		keys = append(keys, k)
	}
	for k := range gm {
		if _, ok := wm[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)

	// A directory reported as a whole (missing, unexpected, or of another
	// type): what lies below it is not reported again.
	skipped := map[string]bool{}
	underSkipped := func(k string) bool {
		for d := path.Dir(k); d != "."; d = path.Dir(d) {
			if skipped[d] {
				return true
			}
		}
		return false
	}
	countUnder := func(m map[string]Entry, dir string) int {
		n := 0
		for k := range m {
			if strings.HasPrefix(k, dir+"/") {
				n++
			}
		}
		return n
	}
	for _, k := range keys {
		if underSkipped(k) {
			continue
		}
		w, inWant := wm[k]
		g, inGot := gm[k]
		switch {
		case !inGot:
			if w.Type == "dir" {
				skipped[k] = true
				t.Errorf("%s: directory missing (with %d entries below it)", k, countUnder(wm, k))
			} else {
				t.Errorf("%s: %s missing", k, w.Type)
			}
			continue
		case !inWant:
			if g.Type == "dir" {
				skipped[k] = true
				t.Errorf("%s: unexpected directory (with %d entries below it)", k, countUnder(gm, k))
			} else {
				t.Errorf("%s: unexpected %s", k, g.Type)
			}
			continue
		case w.Type != g.Type:
			t.Errorf("%s: is a %s, want a %s", k, g.Type, w.Type)
			if w.Type == "dir" || g.Type == "dir" {
				skipped[k] = true
			}
			continue
		}
		if w.Perm != g.Perm {
			t.Errorf("%s: mode %04o, want %04o", k, unixPerm(g.Perm), unixPerm(w.Perm))
		}
		if w.Size != g.Size {
			t.Errorf("%s: size %d, want %d", k, g.Size, w.Size)
		} else if w.SHA256 != g.SHA256 {
			t.Errorf("%s: content differs (sha256 %.12s…, want %.12s…)", k, g.SHA256, w.SHA256)
		}
		if w.Target != g.Target {
			t.Errorf("%s: symlink target %q, want %q", k, g.Target, w.Target)
		}
		if w.MTime.Unix() != g.MTime.Unix() {
			t.Errorf("%s: mtime %s, want %s", k, g.MTime.UTC().Format(time.RFC3339Nano), w.MTime.UTC().Format(time.RFC3339Nano))
		}
	}
}

// unixPerm turns permission and special bits into the usual octal number.
func unixPerm(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// MakeUploadsTree fills dir (created if needed) with a deterministic,
// realistic uploads tree of about 200 files (~4.5 MiB): three directory
// levels, sizes from 0 bytes to 100 KiB plus one 2 MiB file of pseudo-random
// bytes, an empty directory, unicode/space/quote/leading-dash names, a
// relative symlink to a file, a symlink to a directory inside the tree, a
// dangling symlink, modes 0600/0644/0755 and a 0750 directory, and distinct
// explicit mtimes (with nanoseconds) on every entry, symlinks and directories
// included. Two calls produce trees that CompareTrees finds equal.
func MakeUploadsTree(t testing.TB, dir string) {
	t.Helper()
	if err := makeUploadsTree(dir); err != nil {
		t.Fatalf("testenv.MakeUploadsTree(%s): %v", dir, err)
	}
}

func makeUploadsTree(root string) error {
	type file struct {
		path string
		size int
		perm fs.FileMode
	}
	var files []file
	// sizeFor spreads sizes over empty, tiny, small and 100 KiB files.
	sizeFor := func(i int) int {
		switch i % 10 {
		case 0:
			return 0
		case 1, 2, 3, 4:
			return 1 + i*7%97
		case 5, 6, 7:
			return 1024 + i*131%4096
		case 8:
			return 16 << 10
		default:
			return 100 << 10
		}
	}
	n := 0
	add := func(path string, size int, perm fs.FileMode) {
		files = append(files, file{path, size, perm})
		n++
	}
	for _, month := range []string{"2024/01", "2024/02", "2024/03", "2025/01"} {
		count := 40
		if month == "2025/01" {
			count = 20
		}
		for i := 1; i <= count; i++ {
			perm := fs.FileMode(0o644)
			if i%9 == 0 {
				perm = 0o600
			}
			add(fmt.Sprintf("media/%s/photo-%03d.jpg", month, i), sizeFor(n), perm)
		}
	}
	for i := 1; i <= 20; i++ {
		add(fmt.Sprintf("imports/csv/events-%03d.csv", i), sizeFor(n), 0o644)
	}
	for i := 1; i <= 10; i++ {
		add(fmt.Sprintf("imports/geojson/layer %02d.geojson", i), sizeFor(n), 0o644)
	}
	for i := 1; i <= 20; i++ {
		add(fmt.Sprintf("thumbnails/thumb_%03d.webp", i), 1+i*53%900, 0o644)
	}
	add("documents/Zürich café/日本語 ファイル.txt", 321, 0o644)
	add("documents/Zürich café/Größe – résumé.pdf", 100<<10, 0o644)
	add("documents/with space/report final (v2).pdf", 4096, 0o644)
	add("documents/ñandú.csv", 77, 0o644)
	add("documents/-leading-dash.txt", 12, 0o644)
	add(`documents/it's "quoted" & $HOME.txt`, 5, 0o644)
	add("documents/emoji 🎉.txt", 0, 0o644)
	add("private/api-keys.json", 200, 0o600)
	add("private/notes.md", 1500, 0o600)
	add("private/sub/deeper.txt", 30, 0o600)
	add("scripts/refresh-cache.sh", 90, 0o755)
	add("scripts/report.py", 400, 0o755)
	add("big/large-video.bin", 2<<20, 0o644)

	for i, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, fileContent(i, f.path, f.size), f.perm); err != nil {
			return err
		}
		if err := os.Chmod(p, f.perm); err != nil { // undo the umask
			return err
		}
	}
	for _, d := range []string{"empty", "media/2024/04-empty-month"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	links := [][2]string{
		{"links/latest-photo.jpg", "../media/2024/01/photo-001.jpg"}, // relative, to a file
		{"links/media-2024", "../media/2024"},                        // to a directory in the tree
		{"links/dangling", "../does-not-exist.txt"},                  // dangling
		{"media/2025/current", "01"},                                 // same-directory link
	}
	for _, l := range links {
		p := filepath.Join(root, filepath.FromSlash(l[0]))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		os.Remove(p)
		if err := os.Symlink(l[1], p); err != nil {
			return err
		}
	}

	// Directory modes (0755 regardless of umask, private/ 0750), then mtimes:
	// everything but directories first, then directories deepest first, since
	// creating entries changes a directory's mtime.
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			perm := fs.FileMode(0o755)
			if rel, _ := filepath.Rel(root, p); rel == "private" {
				perm = 0o750
			}
			if err := os.Chmod(p, perm); err != nil {
				return err
			}
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	base := time.Date(2024, 3, 10, 8, 0, 0, 0, time.UTC)
	mtime := func(i int) unix.Timespec {
		return unix.NsecToTimespec(base.Add(time.Duration(i)*(time.Hour+17*time.Second) + time.Duration(i*7919%1000000)*time.Microsecond + 123).UnixNano())
	}
	setTime := func(i int, p string) error {
		ts := mtime(i)
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}
	isDir := func(p string) bool {
		fi, err := os.Lstat(p)
		return err == nil && fi.IsDir()
	}
	for i, p := range paths {
		if !isDir(p) {
			if err := setTime(i, p); err != nil {
				return fmt.Errorf("set mtime of %s: %w", p, err)
			}
		}
	}
	for i := len(paths) - 1; i >= 0; i-- {
		if isDir(paths[i]) {
			if err := setTime(i, paths[i]); err != nil {
				return fmt.Errorf("set mtime of %s: %w", paths[i], err)
			}
		}
	}
	return nil
}

// fileContent returns size deterministic bytes: text for small files and
// text-like names, pseudo-random (incompressible) bytes otherwise.
func fileContent(i int, name string, size int) []byte {
	b := make([]byte, size)
	text := size < 1024 || strings.HasSuffix(name, ".csv") || strings.HasSuffix(name, ".txt") ||
		strings.HasSuffix(name, ".md") || strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".py")
	if text {
		line := fmt.Sprintf("%d,%s,Zürich café ✓\n", i, name)
		for j := range b {
			b[j] = line[j%len(line)]
		}
		return b
	}
	r := rand.New(rand.NewPCG(uint64(i)+1, 0x7469_6d65_7469_6c65))
	for j := 0; j < size; j += 8 {
		v := r.Uint64()
		for k := 0; k < 8 && j+k < size; k++ {
			b[j+k] = byte(v >> (8 * k))
		}
	}
	return b
}
