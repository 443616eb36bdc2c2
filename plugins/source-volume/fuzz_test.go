// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// sandbox is a destination inside a directory that also holds a file the
// extraction must never touch.
type sandbox struct {
	base, dest, keep string
}

func newSandbox(t *testing.T) sandbox {
	base := t.TempDir()
	s := sandbox{base: base, dest: filepath.Join(base, "a", "b", "dest"), keep: filepath.Join(base, "outside", "keep")}
	os.MkdirAll(s.dest, 0o755)
	os.MkdirAll(filepath.Dir(s.keep), 0o755)
	os.WriteFile(s.keep, []byte("keep"), 0o644)
	return s
}

// check fails when anything outside dest was created, changed or removed.
func (s sandbox) check(t *testing.T, what string) {
	t.Helper()
	if b, err := os.ReadFile(s.keep); err != nil || string(b) != "keep" {
		t.Fatalf("%s: the file outside the destination was changed: %q %v", what, b, err)
	}
	allowed := map[string]bool{"a": true, "a/b": true, "outside": true, "outside/keep": true}
	filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(s.base, p)
		rel = filepath.ToSlash(rel)
		if err != nil || rel == "." || rel == "a/b/dest" || strings.HasPrefix(rel, "a/b/dest/") {
			return nil
		}
		if !allowed[rel] {
			t.Fatalf("%s: %s was written outside the destination", what, rel)
		}
		return nil
	})
}

// extract runs the plugin's extractor on an archive.
func extract(t *testing.T, s sandbox, archive []byte) error {
	root, err := os.OpenRoot(s.dest)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	return newExtractor(root, hclog.NewNullLogger()).run(context.Background(), bytes.NewReader(archive))
}

// declaredSize sums the sizes an archive's headers declare (a sparse entry
// declares its logical size): the fuzzer skips archives that would write
// more than a few MiB of holes as zeros.
func declaredSize(archive []byte) int64 {
	tr := tar.NewReader(bytes.NewReader(archive))
	var n int64
	for {
		h, err := tr.Next()
		if err != nil {
			return n
		}
		n += max(h.Size, 0)
		if n > 4<<20 {
			return n
		}
	}
}

// No write outside the destination, whatever the archive — built from
// fuzzed entries (type, name, link target, content).
func FuzzExtractEntries(f *testing.F) {
	f.Add(byte(tar.TypeReg), "../evil", "", byte(tar.TypeReg), "ok", "", "x")
	f.Add(byte(tar.TypeSymlink), "ln", "../../../outside", byte(tar.TypeReg), "ln/keep", "", "pwned")
	f.Add(byte(tar.TypeSymlink), "ln", "/", byte(tar.TypeReg), "ln/tmp/evil", "", "x")
	f.Add(byte(tar.TypeDir), "d/", "", byte(tar.TypeLink), "d/h", "../../../outside/keep", "")
	f.Add(byte(tar.TypeReg), "f", "", byte(tar.TypeSymlink), "f", "../../../outside/keep", "")
	f.Add(byte(tar.TypeSymlink), "s", "../../../outside/keep", byte(tar.TypeReg), "s", "", "overwrite through link")
	f.Add(byte(tar.TypeReg), "./a/../../b", "", byte(tar.TypeDir), ".", "", "")
	f.Add(byte(tar.TypeReg), "/abs", "", byte(tar.TypeReg), "a\x00b", "", "")
	f.Fuzz(func(t *testing.T, t1 byte, n1, l1 string, t2 byte, n2, l2, body string) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range []struct {
			typ        byte
			name, link string
		}{{t1, n1, l1}, {t2, n2, l2}} {
			h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
			if e.typ == tar.TypeReg || e.typ == tar.TypeRegA {
				h.Size = int64(len(body))
			}
			if tw.WriteHeader(h) != nil {
				return // not representable in a tar
			}
			if h.Size > 0 {
				tw.Write([]byte(body))
			}
		}
		if tw.Close() != nil {
			return
		}
		s := newSandbox(t)
		_ = extract(t, s, buf.Bytes())
		s.check(t, "entries")
	})
}

// The same over raw archive bytes (headers the tar writer would never
// produce: PAX records, GNU long names, odd types).
func FuzzExtractRaw(f *testing.F) {
	for _, entries := range [][]entry{
		{{typ: tar.TypeDir, name: "a/"}, {typ: tar.TypeReg, name: "a/f", body: "x"}, {typ: tar.TypeLink, name: "a/h", link: "a/f"}},
		{{typ: tar.TypeSymlink, name: "l", link: "../../../outside"}, {typ: tar.TypeReg, name: "l/keep", body: "pwned"}},
		{{typ: tar.TypeReg, name: strings.Repeat("n/", 60) + "long", body: "x"}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
			if e.typ != tar.TypeReg {
				h.Size = 0
			}
			tw.WriteHeader(h)
			io.WriteString(tw, e.body)
		}
		tw.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, archive []byte) {
		if declaredSize(archive) > 4<<20 {
			return
		}
		s := newSandbox(t)
		_ = extract(t, s, archive)
		s.check(t, "raw archive")
	})
}
