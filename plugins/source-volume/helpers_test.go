// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// recLog records what the plugin logs.
type recLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *recLog) add(level, msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%s %s %v", level, msg, args))
}
func (l *recLog) Debug(msg string, args ...any) { l.add("DEBUG", msg, args...) }
func (l *recLog) Info(msg string, args ...any)  { l.add("INFO", msg, args...) }
func (l *recLog) Warn(msg string, args ...any)  { l.add("WARN", msg, args...) }

func (l *recLog) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.HasPrefix(s, "WARN ") {
			out = append(out, s)
		}
	}
	return out
}

// testStream is a BackupStream that collects what the plugin sends: it is
// the receiving end the SDK would otherwise connect to a target.
type testStream struct {
	accepts  bool
	w        io.Writer
	started  []sdk.Header
	pathHdrs []sdk.Header
	paths    []string
}

func (s *testStream) Start(h sdk.Header) (io.Writer, error) {
	s.started = append(s.started, h)
	return s.w, nil
}
func (s *testStream) AcceptsPath() bool { return s.accepts }
func (s *testStream) SendPath(h sdk.Header, dir string) error {
	if !s.accepts {
		return errors.New("SendPath while AcceptsPath is false")
	}
	s.pathHdrs = append(s.pathHdrs, h)
	s.paths = append(s.paths, dir)
	return nil
}

// configured returns a source configured with values, logging into a recLog.
func configured(t *testing.T, values map[string]string) (*volumeSource, *recLog) {
	t.Helper()
	s := newSource()
	l := &recLog{}
	s.log = l
	if err := s.Configure(context.Background(), sdk.Config{Values: values, APIVersion: sdk.APIVersion}); err != nil {
		t.Fatalf("Configure(%v): %v", values, err)
	}
	return s, l
}

// hostSource is a source whose UPLOAD_HOST_DIR is dir.
func hostSource(t *testing.T, dir string) (*volumeSource, *recLog) {
	return configured(t, map[string]string{keyHostDir: dir})
}

// backupTar runs a tar backup of s and returns the stream.
func backupTar(t *testing.T, s *volumeSource) []byte {
	t.Helper()
	var buf bytes.Buffer
	out := &testStream{w: &buf}
	if err := s.Backup(context.Background(), sdk.BackupRequest{Component: "uploads"}, out); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if len(out.started) != 1 || len(out.paths) != 0 {
		t.Fatalf("Backup started %d byte streams and sent %d paths, want 1 and 0", len(out.started), len(out.paths))
	}
	h := out.started[0]
	if h.Component != "uploads" || h.FileName != "uploads.tar" || h.MediaType != "application/x-tar" {
		t.Errorf("stream header = %+v, want component uploads, uploads.tar, application/x-tar", h)
	}
	return buf.Bytes()
}

// tarEntries lists the headers of a tar stream.
func tarEntries(t *testing.T, data []byte) []*tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var hs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		hs = append(hs, h)
	}
}

// failingReader returns data, then err instead of io.EOF: a stream whose
// source failed or that was cut short.
func failingReader(data []byte, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data), &errReader{err})
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// manifest is testenv.TreeManifest or a fatal error.
func manifest(t *testing.T, dir string) map[string]testenv.Entry {
	t.Helper()
	m, err := testenv.TreeManifest(dir)
	if err != nil {
		t.Fatalf("TreeManifest(%s): %v", dir, err)
	}
	return m
}

// sameManifest reports the differences between two manifests.
func sameManifest(t *testing.T, what string, want, got map[string]testenv.Entry) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		w, inW := want[k]
		g, inG := got[k]
		switch {
		case !inG:
			t.Errorf("%s: %s missing", what, k)
		case !inW:
			t.Errorf("%s: unexpected %s (%s)", what, k, g.Type)
		case w.Type != g.Type || w.Perm != g.Perm || w.SHA256 != g.SHA256 || w.Target != g.Target || !w.MTime.Equal(g.MTime):
			t.Errorf("%s: %s is %+v, want %+v", what, k, g, w)
		}
	}
}

// dirNames lists a directory.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := sortedNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// writeFakeDocker writes a docker CLI stand-in (no Docker engine runs here)
// that records its argv, one per line, into argvFile, prints stdout and
// stderr as recorded from a real docker, and exits with code.
func writeFakeDocker(t *testing.T, stdout, stderr string, code int) (docker, argvFile string) {
	t.Helper()
	dir := t.TempDir()
	argvFile = filepath.Join(dir, "argv")
	out, errf := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	if err := os.WriteFile(out, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(errf, []byte(stderr), 0o644); err != nil {
		t.Fatal(err)
	}
	docker = filepath.Join(dir, "docker")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s'\ncat '%s'\ncat '%s' >&2\nexit %d\n", argvFile, out, errf, code)
	if err := os.WriteFile(docker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return docker, argvFile
}
