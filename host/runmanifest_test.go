// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// The run manifest's write is open while the components stream (the
// target prepares it meanwhile), and is discarded when the run does not
// complete: here the source hangs half-way, both targets hold a pending
// component stream and a pending manifest, and after the run is cancelled
// neither stored anything nor left a partial file.
func TestManifestWriteOpensEarlyAndAbortsWithTheRun(t *testing.T) {
	for _, transport := range []string{"", "grpc"} {
		t.Run("transport="+transport, func(t *testing.T) {
			local, off := t.TempDir(), t.TempDir()
			r := newTestRunner(t, map[string]string{
				"TARGET_DIR_LOCAL": local, "TARGET_DIR_OFFSITE": off, "SYNTH_SIZE": "8000000",
				"SYNTH_FAIL_AFTER": "3000000", "SYNTH_MODE": "hang", "TIMETILES_BACKUP_TRANSPORT": transport,
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := r.Backup(ctx, BackupOptions{Offsite: true})
				done <- err
			}()
			parts := func(d string) []string {
				m, _ := filepath.Glob(filepath.Join(d, ".part-*"))
				return m
			}
			deadline := time.Now().Add(testenv.Patience)
			for len(parts(local)) < 2 || len(parts(off)) < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("while the component streams: local has %v, offsite %v; want a component and a manifest write pending in each",
						parts(local), parts(off))
				}
				select {
				case err := <-done:
					t.Fatalf("backup ended before the source hung: %v", err)
				case <-time.After(20 * time.Millisecond):
				}
			}
			cancel()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("a cancelled run reported success")
				}
			case <-time.After(testenv.Patience):
				t.Fatal("the cancelled run did not end")
			}
			// A cancelled call's target cleans up on its own time: wait.
			for deadline := time.Now().Add(testenv.Patience); len(parts(local))+len(parts(off)) > 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("partial files left: %v %v", parts(local), parts(off))
				}
			}
			for _, d := range []string{local, off} {
				if n := len(storedFiles(t, d)); n != 0 {
					t.Fatalf("%s holds %d snapshots after a cancelled run, want 0", d, n)
				}
			}
		})
	}
}

// A pending write commits exactly the bytes given, once.
func TestPendingWriteCommit(t *testing.T) {
	dir := t.TempDir()
	r := newTestRunner(t, map[string]string{"TARGET_DIR": dir})
	tgt, err := r.Start(context.Background(), "target-files", Local)
	if err != nil {
		t.Fatal(err)
	}
	m := &runs.Manifest{Tool: runs.ToolTag, RunID: "20240101T000000Z-abcd", Host: "h", Time: time.Unix(1700000000, 0)}
	p, err := stream.BeginWrite(context.Background(), tgt.Endpoint(), manifestHeader(m))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(`{"run":"one"}`)
	snap, err := p.Commit(context.Background(), want)
	if err != nil || snap.ID == "" {
		t.Fatalf("commit: %v %+v", err, snap)
	}
	if again, err := p.Commit(context.Background(), []byte("other")); err != nil || again.ID != snap.ID {
		t.Fatalf("a second commit wrote again: %v %+v", err, again)
	}
	got, err := os.ReadFile(filepath.Join(dir, snap.ID+".bin"))
	if err != nil || string(got) != string(want) {
		t.Fatalf("stored %q (%v), want %q", got, err, want)
	}
	var meta struct{ Tags []string }
	b, _ := os.ReadFile(filepath.Join(dir, snap.ID+".json"))
	if err := json.Unmarshal(b, &meta); err != nil || len(meta.Tags) != 3 || meta.Tags[1] != runs.ManifestTag {
		t.Fatalf("manifest snapshot tags %v (%v)", meta.Tags, err)
	}
}

// Sources start concurrently with the targets; one that cannot start still
// fails the run before any component streams, and names itself.
func TestMissingSourceFailsBeforeAnyStream(t *testing.T) {
	dir := t.TempDir()
	r := newTestRunner(t, map[string]string{
		"TARGET_DIR":     dir,
		"BACKUP_SOURCES": "synthetic=source-synthetic,other=source-missing,third=source-synthetic",
	})
	_, err := r.Backup(context.Background(), BackupOptions{})
	if err == nil || !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), "source-missing") {
		t.Fatalf("err = %v, want a configuration error naming source-missing", err)
	}
	if n := len(storedFiles(t, dir)); n != 0 {
		t.Fatalf("%d snapshots stored although a source could not start", n)
	}
}
