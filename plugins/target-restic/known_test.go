// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

type bufStream struct {
	h   sdk.Header
	buf bytes.Buffer
}

func (b *bufStream) Start(h sdk.Header) (io.Writer, error) { b.h = h; return &b.buf, nil }

// A restore lists the repository and then reads snapshots: the snapshots
// List returned are read with restic dump alone, without a lookup of their
// own; one List did not return is still looked up.
func TestReadOfListedSnapshotRunsDumpOnly(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "restic.log")
	wrapper := filepath.Join(dir, "restic")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\nexec " + testenv.Tool(t, "restic") + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tg, err := configure(t, "local", map[string]string{"BACKUP_RESTIC_BIN": wrapper, "RESTIC_PASSWORD": "pw", "RESTIC_REPOSITORY": filepath.Join(dir, "repo")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("timetiles dump "), 10000)
	res, err := tg.Write(context.Background(), sdk.Header{FileName: "timetiles.pgdump", Component: "db", Tags: []string{"db"}}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	calls := func() (snapshots, dumps int) {
		b, _ := os.ReadFile(log)
		for _, l := range strings.Split(string(b), "\n") {
			f := " " + l + " "
			if strings.Contains(f, " snapshots ") {
				snapshots++
			}
			if strings.Contains(f, " dump ") {
				dumps++
			}
		}
		os.Remove(log)
		return
	}
	read := func(tg *Target) {
		t.Helper()
		var out bufStream
		if err := tg.Read(context.Background(), sdk.ReadRequest{SnapshotID: res.Snapshot.ID}, &out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.buf.Bytes(), data) || out.h.FileName != "timetiles.pgdump" || len(out.h.Tags) != 1 || out.h.Tags[0] != "db" {
			t.Fatalf("read back %d bytes, header %+v", out.buf.Len(), out.h)
		}
	}
	calls()
	if _, err := tg.List(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	read(tg)
	if s, d := calls(); s != 1 || d != 1 {
		t.Fatalf("List then Read ran restic snapshots %d times and dump %d times, want 1 and 1", s, d)
	}
	fresh, err := configure(t, "local", map[string]string{"BACKUP_RESTIC_BIN": wrapper, "RESTIC_PASSWORD": "pw", "RESTIC_REPOSITORY": filepath.Join(dir, "repo")})
	if err != nil {
		t.Fatal(err)
	}
	calls()
	read(fresh)
	if s, d := calls(); s != 1 || d != 1 {
		t.Fatalf("Read of an unlisted snapshot ran restic snapshots %d times and dump %d times, want 1 and 1", s, d)
	}
}
