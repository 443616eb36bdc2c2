// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// entry is one member of a hand-made tar.
type entry struct {
	typ        byte
	name, link string
	body       string
}

func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestMaliciousArchives restores archives that try to write outside the
// destination. Each one must fail (leaving the destination as it was) or,
// where harmless, succeed without anything outside being created or
// changed.
func TestMaliciousArchives(t *testing.T) {
	type tc struct {
		name    string
		entries func(sandbox string) []entry
		wantErr string // "" = must succeed
		check   func(t *testing.T, dest string)
	}
	cases := []tc{
		{"dot-dot name", func(string) []entry {
			return []entry{{typ: tar.TypeReg, name: "../evil", body: "x"}}
		}, `".." component`, nil},
		{"dot-dot inside a name", func(string) []entry {
			return []entry{{typ: tar.TypeDir, name: "a/"}, {typ: tar.TypeReg, name: "a/../../evil", body: "x"}}
		}, `".." component`, nil},
		{"absolute name", func(sb string) []entry {
			return []entry{{typ: tar.TypeReg, name: sb + "/abs/evil", body: "x"}}
		}, "absolute name", nil},
		{"absolute symlink, then a file through it", func(sb string) []entry {
			return []entry{
				{typ: tar.TypeSymlink, name: "link", link: sb + "/outside"},
				{typ: tar.TypeReg, name: "link/evil", body: "x"},
			}
		}, "through", nil},
		{"relative symlink escaping, then a file through it", func(string) []entry {
			return []entry{
				{typ: tar.TypeSymlink, name: "link", link: "../outside"},
				{typ: tar.TypeReg, name: "link/evil", body: "x"},
			}
		}, "through", nil},
		{"symlink escaping, then a directory through it", func(string) []entry {
			return []entry{
				{typ: tar.TypeSymlink, name: "link", link: "../outside"},
				{typ: tar.TypeDir, name: "link/newdir/"},
			}
		}, "through", nil},
		{"symlink inside the tree, then a file through it (never followed)", func(string) []entry {
			return []entry{
				{typ: tar.TypeDir, name: "real/"},
				{typ: tar.TypeSymlink, name: "alias", link: "real"},
				{typ: tar.TypeReg, name: "alias/file", body: "x"},
			}
		}, "through", nil},
		{"hard link to an absolute outside path", func(sb string) []entry {
			return []entry{{typ: tar.TypeLink, name: "hl", link: sb + "/outside/secret"}}
		}, "hard link", nil},
		{"hard link to a relative outside path", func(string) []entry {
			return []entry{{typ: tar.TypeLink, name: "hl", link: "../outside/secret"}}
		}, "hard link", nil},
		{"hard link through an escaping symlink", func(string) []entry {
			return []entry{
				{typ: tar.TypeSymlink, name: "out", link: "../outside"},
				{typ: tar.TypeLink, name: "hl", link: "out/secret"},
			}
		}, "through", nil},
		{"a file replacing an escaping symlink is written as a new file", func(string) []entry {
			return []entry{
				{typ: tar.TypeSymlink, name: "victim", link: "../outside/secret"},
				{typ: tar.TypeReg, name: "victim", body: "pwned"},
			}
		}, "", func(t *testing.T, dest string) {
			fi, err := os.Lstat(filepath.Join(dest, "victim"))
			b, _ := os.ReadFile(filepath.Join(dest, "victim"))
			if err != nil || !fi.Mode().IsRegular() || string(b) != "pwned" {
				t.Errorf("victim: %v %v %q, want a regular file 'pwned'", fi, err, b)
			}
		}},
		{"symlinks may point anywhere: they are data", func(sb string) []entry {
			return []entry{
				{typ: tar.TypeSymlink, name: "abs", link: sb + "/outside/secret"},
				{typ: tar.TypeSymlink, name: "rel", link: "../../outside/secret"},
			}
		}, "", func(t *testing.T, dest string) {
			for _, n := range []string{"abs", "rel"} {
				if target, err := os.Readlink(filepath.Join(dest, n)); err != nil || !strings.HasSuffix(target, "outside/secret") {
					t.Errorf("%s: %q %v", n, target, err)
				}
			}
		}},
		{"hard link inside the tree", func(string) []entry {
			return []entry{
				{typ: tar.TypeReg, name: "a.txt", body: "shared"},
				{typ: tar.TypeLink, name: "b.txt", link: "a.txt"},
			}
		}, "", func(t *testing.T, dest string) {
			a, _ := os.Stat(filepath.Join(dest, "a.txt"))
			b, err := os.Stat(filepath.Join(dest, "b.txt"))
			if err != nil || !os.SameFile(a, b) {
				t.Errorf("b.txt is not a hard link to a.txt: %v", err)
			}
		}},
		{"device and FIFO entries are skipped", func(string) []entry {
			return []entry{
				{typ: tar.TypeChar, name: "null"},
				{typ: tar.TypeFifo, name: "fifo"},
				{typ: tar.TypeReg, name: "ok", body: "ok"},
			}
		}, "", func(t *testing.T, dest string) {
			for _, n := range []string{"null", "fifo"} {
				if _, err := os.Lstat(filepath.Join(dest, n)); !os.IsNotExist(err) {
					t.Errorf("%s was created: %v", n, err)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sandbox := t.TempDir()
			outside := filepath.Join(sandbox, "outside")
			dest := filepath.Join(sandbox, "dest")
			os.MkdirAll(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
			os.MkdirAll(dest, 0o755)
			os.WriteFile(filepath.Join(dest, "keep.txt"), []byte("keep"), 0o644)
			for _, p := range []string{filepath.Join(outside, "secret"), outside, filepath.Join(dest, "keep.txt"), dest} {
				os.Chtimes(p, time.Time{}, time.Unix(1600000000, 0))
			}
			before := manifest(t, sandbox)
			beforeOutside := manifest(t, outside)

			s, _ := hostSource(t, dest)
			err := s.Restore(context.Background(), sdk.RestoreRequest{Component: "uploads"}, bytes.NewReader(makeTar(t, c.entries(sandbox))))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Restore = %v, want an error containing %q", err, c.wantErr)
				}
				// Nothing anywhere in the sandbox changed, dest included.
				sameManifest(t, "sandbox", before, manifest(t, sandbox))
			} else {
				if err != nil {
					t.Fatalf("Restore: %v", err)
				}
				c.check(t, dest)
				sameManifest(t, "outside", beforeOutside, manifest(t, outside))
				if names := dirNames(t, sandbox); len(names) != 2 {
					t.Errorf("sandbox holds %v, want only dest and outside", names)
				}
			}
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join(outside, "secret"), &st) == nil && st.Nlink != 1 {
				t.Errorf("outside/secret got a hard link (nlink %d)", st.Nlink)
			}
			for _, p := range []string{filepath.Join(sandbox, "evil"), filepath.Join(sandbox, "abs"), filepath.Join(outside, "evil"), filepath.Join(outside, "newdir")} {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("%s was created outside the destination", p)
				}
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"./": ".", ".": ".", "a/b/": "a/b", "./a//b": "a/b", "a/./b": "a/b", "日本語 ファイル.txt": "日本語 ファイル.txt",
		"..": "", "../x": "", "a/..": "", "a/../b": "", "/x": "", "/": "", "": "",
	} {
		got, err := cleanName(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
