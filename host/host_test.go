// SPDX-License-Identifier: Apache-2.0

package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// testPlugins builds the synthetic source and the files target once.
func testPlugins(t testing.TB) string {
	pluginsOnce.Do(func() {
		pluginsDir, pluginsErr = os.MkdirTemp("", "host-test-plugins-")
		if pluginsErr != nil {
			return
		}
		for _, n := range []string{"source-synthetic", "target-files"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(pluginsDir, plugin.BinaryPrefix+n), "./internal/testplugins/"+n)
			cmd.Dir = testenv.RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				pluginsErr = errors.New(string(out))
				return
			}
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginsDir
}

func newTestRunner(t *testing.T, vals map[string]string) *Runner {
	t.Helper()
	base := map[string]string{
		"BACKUP_SOURCES":   "synthetic=source-synthetic",
		"BACKUP_TARGET":    "target-files",
		"BACKUP_NOTIFIERS": "none",
		"BACKUP_HOSTNAME":  "testhost",
		// The run lock and the recorded outcomes: never the machine's
		// /var/lib/timetiles-backup.
		"BACKUP_STATE_DIR": t.TempDir(),
	}
	for k, v := range vals {
		base[k] = v
	}
	log := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	if testing.Verbose() {
		log = hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Debug})
	}
	r := NewRunner(config.NewConfig(base), log, testPlugins(t))
	r.Manager.Transport = base["TIMETILES_BACKUP_TRANSPORT"]
	t.Cleanup(r.Close)
	return r
}

func synthBytes(n int64) []byte {
	cmdData, _ := io.ReadAll(io.LimitReader(newSynth(), n))
	return cmdData
}

// newSynth mirrors source-synthetic's generator.
func newSynth() io.Reader { return synthReader() }

func storedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ms, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	for _, p := range ms {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func TestBackupRestoreAcrossTransports(t *testing.T) {
	const size = 20<<20 + 12345 // not a multiple of the chunk size
	want := synthBytes(size)
	for _, tc := range []struct {
		name      string
		transport string
		offsite   bool
		path      string
	}{
		{"fd-single", "", false, "pipe"},
		{"fd-fanout", "", true, "pipe-fanout"},
		{"grpc-single", "grpc", false, "grpc"},
		{"grpc-fanout", "grpc", true, "grpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, off := t.TempDir(), t.TempDir()
			restored := filepath.Join(t.TempDir(), "restored.bin")
			r := newTestRunner(t, map[string]string{
				"TARGET_DIR_LOCAL": local, "TARGET_DIR_OFFSITE": off, "SYNTH_SIZE": "20983865",
				"TIMETILES_BACKUP_TRANSPORT": tc.transport, "SYNTH_RESTORE_TO": restored,
			})
			rep, err := r.Backup(context.Background(), BackupOptions{Offsite: tc.offsite})
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			if rep.OffsiteErr != nil {
				t.Fatalf("offsite: %v", rep.OffsiteErr)
			}
			if got := rep.Components[0].Result.Transport; got != tc.path {
				t.Fatalf("bytes took %q, want %q", got, tc.path)
			}
			if n := rep.Components[0].Result.HostCopied; tc.path == "pipe-fanout" && n != 0 {
				t.Fatalf("%d bytes of the fan-out passed through the host's memory, want 0 (tee/splice)", n)
			}
			dirs := []string{local}
			if tc.offsite {
				dirs = append(dirs, off)
			}
			for _, d := range dirs {
				files := storedFiles(t, d)
				if len(files) != 2 { // the stream and the run manifest
					t.Fatalf("%s: %d stored files, want 2", d, len(files))
				}
				found := false
				for _, b := range files {
					if bytes.Equal(b, want) {
						found = true
					}
				}
				if !found {
					t.Fatalf("%s: stored stream differs from the source's bytes", d)
				}
			}
			// Restore latest through the source and compare bytes.
			run, _, tgt, err := r.ResolveRestore(context.Background(), RestoreOptions{Selector: "latest", Instance: Local})
			if err != nil {
				t.Fatal(err)
			}
			if run.ID != rep.RunID || !run.Complete {
				t.Fatalf("latest run = %s complete=%v, want %s", run.ID, run.Complete, rep.RunID)
			}
			if _, err := r.Restore(context.Background(), run, tgt, RestoreOptions{Instance: Local}); err != nil {
				t.Fatalf("restore: %v", err)
			}
			got, err := os.ReadFile(restored)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("restored bytes differ (err %v, %d vs %d bytes)", err, len(got), len(want))
			}
		})
	}
}

func TestSourceFailureLeavesNoSnapshot(t *testing.T) {
	for _, tc := range []struct{ name, transport, mode string }{
		{"fd-error", "", "error"},
		{"fd-exit", "", "exit"},
		{"grpc-error", "grpc", "error"},
		{"grpc-exit", "grpc", "exit"},
	} {
		for _, offsite := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "", true: "-fanout"}[offsite], func(t *testing.T) {
				local, off := t.TempDir(), t.TempDir()
				r := newTestRunner(t, map[string]string{
					"TARGET_DIR_LOCAL": local, "TARGET_DIR_OFFSITE": off, "SYNTH_SIZE": "8000000",
					"SYNTH_FAIL_AFTER": "4000000", "SYNTH_MODE": tc.mode, "TIMETILES_BACKUP_TRANSPORT": tc.transport,
				})
				_, err := r.Backup(context.Background(), BackupOptions{Offsite: offsite})
				if err == nil {
					t.Fatal("backup of a failing source succeeded")
				}
				for _, d := range []string{local, off} {
					if n := len(storedFiles(t, d)); n != 0 {
						t.Fatalf("%s holds %d snapshots after a failed source, want 0", d, n)
					}
					if parts, _ := filepath.Glob(filepath.Join(d, ".part-*")); len(parts) != 0 {
						t.Fatalf("leftover partial files: %v", parts)
					}
				}
			})
		}
	}
}

func TestStalledOffsiteDoesNotHurtLocal(t *testing.T) {
	for _, transport := range []string{"", "grpc"} {
		t.Run("transport="+transport, func(t *testing.T) {
			local, off := t.TempDir(), t.TempDir()
			r := newTestRunner(t, map[string]string{
				"TARGET_DIR_LOCAL": local, "TARGET_DIR_OFFSITE": off, "SYNTH_SIZE": "30000000",
				"TARGET_STALL_OFFSITE": "1", "BACKUP_OFFSITE_STALL_TIMEOUT": "1s", "TIMETILES_BACKUP_TRANSPORT": transport,
			})
			start := time.Now()
			rep, err := r.Backup(context.Background(), BackupOptions{Offsite: true})
			if err != nil {
				t.Fatalf("local backup failed: %v", err)
			}
			if rep.OffsiteErr == nil || !strings.Contains(rep.OffsiteErr.Error(), "accepted no data") {
				t.Fatalf("offsite error = %v, want a stall", rep.OffsiteErr)
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("stall timeout not applied: took %s", time.Since(start))
			}
			if n := len(storedFiles(t, local)); n != 2 {
				t.Fatalf("local holds %d files, want stream + manifest", n)
			}
			if n := len(storedFiles(t, off)); n != 0 {
				t.Fatalf("offsite holds %d files, want 0", n)
			}
		})
	}
}

func TestChecksumRecordedInManifest(t *testing.T) {
	local := t.TempDir()
	r := newTestRunner(t, map[string]string{"TARGET_DIR": local, "SYNTH_SIZE": "3000000", "BACKUP_CHECKSUM": "sha256"})
	rep, err := r.Backup(context.Background(), BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, tgt, err := r.ListRuns(context.Background(), Local)
	if err != nil || len(all) != 1 {
		t.Fatalf("runs %v err %v", all, err)
	}
	m, err := ReadManifest(context.Background(), tgt, all[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(synthBytes(3000000))
	c := m.Components["synthetic"]
	if c.ChecksumAlgorithm != "sha256" || c.Checksum != hexs(sum[:]) || c.Size != 3000000 || m.RunID != rep.RunID {
		t.Fatalf("manifest component = %+v", c)
	}
}

// corruptStoredStream flips one byte of the stored stream of the given
// size in a target-files directory (not the manifest).
func corruptStoredStream(t *testing.T, dir string, size int) {
	t.Helper()
	for name, b := range storedFiles(t, dir) {
		if len(b) == size {
			b[1000] ^= 0xff
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRestoreRefusesCorruptedSnapshot(t *testing.T) {
	local := t.TempDir()
	restored := filepath.Join(t.TempDir(), "out.bin")
	r := newTestRunner(t, map[string]string{"TARGET_DIR": local, "SYNTH_SIZE": "2000000", "SYNTH_RESTORE_TO": restored})
	if _, err := r.Backup(context.Background(), BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	corruptStoredStream(t, local, 2000000)
	run, _, tgt, err := r.ResolveRestore(context.Background(), RestoreOptions{Selector: "latest", Instance: Local})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Restore(context.Background(), run, tgt, RestoreOptions{Instance: Local})
	if err == nil || !strings.Contains(err.Error(), "the backup recorded") {
		t.Fatalf("restore of a corrupted snapshot: err = %v", err)
	}
	if _, err := os.Stat(restored); !os.IsNotExist(err) {
		t.Fatalf("corrupted bytes were restored: %v", err)
	}
}

// Restore streams before the manifest is read (P7) and guesses the default
// checksum algorithm: a backup that recorded another one (sha256) is read
// again and verified with it — a good snapshot restores, a corrupted one is
// still refused and nothing is restored.
func TestRestoreVerifiesAChecksumOtherThanTheDefault(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		local := t.TempDir()
		restored := filepath.Join(t.TempDir(), "out.bin")
		r := newTestRunner(t, map[string]string{"TARGET_DIR": local, "SYNTH_SIZE": "2000000", "SYNTH_RESTORE_TO": restored, "BACKUP_CHECKSUM": "sha256"})
		if _, err := r.Backup(context.Background(), BackupOptions{}); err != nil {
			t.Fatal(err)
		}
		if corrupt {
			corruptStoredStream(t, local, 2000000)
		}
		run, _, tgt, err := r.ResolveRestore(context.Background(), RestoreOptions{Selector: "latest", Instance: Local})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Restore(context.Background(), run, tgt, RestoreOptions{Instance: Local})
		got, rerr := os.ReadFile(restored)
		if corrupt {
			if err == nil || !strings.Contains(err.Error(), "snapshot read back has sha256") {
				t.Fatalf("restore of a corrupted sha256 snapshot: err = %v", err)
			}
			if rerr == nil {
				t.Fatal("corrupted bytes were restored")
			}
			continue
		}
		if err != nil || !bytes.Equal(got, synthBytes(2000000)) {
			t.Fatalf("restore of a sha256 backup: err = %v, restored %d bytes (read error %v)", err, len(got), rerr)
		}
	}
}

var _ = sdk.ChunkSize

// A pin list that cannot be read fails closed: no plugin starts, pinned or
// not, rather than one running unpinned.
func TestMalformedPinsRefuseEveryPlugin(t *testing.T) {
	r := NewRunner(config.NewConfig(map[string]string{plugin.EnvPluginChecksums: "target-files"}), nil, testPlugins(t))
	defer r.Close()
	for _, name := range []string{"target-files", "source-synthetic"} {
		_, err := r.Start(context.Background(), name, "local")
		if !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), plugin.EnvPluginChecksums) {
			t.Errorf("start %s with a malformed pin list: %v", name, err)
		}
	}
}
