// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// buildExamplePlugin builds the example third-party target
// (examples/target-dir, a module of its own that uses only the SDK) into a
// plugin directory of its own, as its author would install it.
func buildExamplePlugin(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "timetiles-backup-target-dir")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(testenv.RepoRoot(), "examples", "target-dir")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/target-dir: %v\n%s", err, out)
	}
	return dir, bin
}

// thirdPartyEnv backs up the uploads tree into the example target.
func thirdPartyEnv(t *testing.T) (e *env, pluginDir, bin, repo string) {
	e = newEnv(t, false)
	pluginDir, bin = buildExamplePlugin(t)
	repo = filepath.Join(e.dir, "dir-repo")
	maps.Copy(e.vars, map[string]string{
		"BACKUP_SOURCES": "uploads=source-volume", "BACKUP_TARGET": "target-dir",
		"DIR_TARGET_PATH": repo, "BACKUP_NOTIFIERS": "none",
	})
	return e, pluginDir, bin, repo
}

func storedSnapshots(t *testing.T, repo string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(repo, "snapshots", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// A plugin built outside this module, dropped into a plugin directory, is
// discovered, listed and used for a backup and a restore through the CLI.
func TestThirdPartyPluginDiscoveredAndUsed(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e, pluginDir, bin, repo := thirdPartyEnv(t)
	flag := "--plugin-dir=" + pluginDir

	r := e.run("plugins", flag)
	var row string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "target-dir ") {
			row = strings.Join(strings.Fields(l), " ")
		}
	}
	if row != "target-dir target 1.0.0 [1] ok (fd) "+bin {
		t.Fatalf("`plugins` lists the example as %q, want it found and usable at %s:\n%s%s", row, bin, r.stdout, r.stderr)
	}

	wantUploads := filepath.Join(e.dir, "uploads-before")
	copyTree(t, e.uploads, wantUploads)
	if r := e.run("backup", flag); r.code != 0 {
		t.Fatalf("backup into target-dir: exit %d\n%s", r.code, r.stderr)
	}
	if n := storedSnapshots(t, repo); n != 2 {
		t.Fatalf("target-dir holds %d snapshots, want the uploads and the run manifest", n)
	}
	r = e.run("backup", "list", "--json", flag)
	var runs []runJSON
	if r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 1 || !runs[0].Complete || runs[0].Components["uploads"] == "" {
		t.Fatalf("backup list --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	os.RemoveAll(filepath.Join(e.uploads, "2024"))
	os.WriteFile(filepath.Join(e.uploads, "added-later.txt"), []byte("x"), 0o644)
	if r := e.run("restore", flag, "--yes", "latest"); r.code != 0 {
		t.Fatalf("restore from target-dir: exit %d\n%s", r.code, r.stderr)
	}
	testenv.CompareTrees(t, wantUploads, e.uploads)
}

// BACKUP_PLUGIN_CHECKSUMS pins a plugin binary: the pinned binary runs, a
// changed one is refused before it runs, with a message naming the plugin,
// and a pin that cannot be read is a configuration error.
func TestPluginChecksumPins(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e, pluginDir, bin, repo := thirdPartyEnv(t)
	flag := "--plugin-dir=" + pluginDir
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	e.vars["BACKUP_PLUGIN_CHECKSUMS"] = "target-dir=" + hex.EncodeToString(sum[:])
	if r := e.run("backup", flag); r.code != 0 {
		t.Fatalf("backup with a matching pin: exit %d\n%s", r.code, r.stderr)
	}
	if n := storedSnapshots(t, repo); n != 2 {
		t.Fatalf("%d snapshots after a backup with a matching pin, want 2", n)
	}

	// The binary changes under its pin (a tampered or unplanned upgrade).
	if err := os.WriteFile(bin, append(b, "tampered"...), 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.run("backup", flag)
	want := "plugin target-dir at " + bin + " does not match its pinned SHA-256 checksum: reinstall it or update the pin"
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) {
		t.Fatalf("backup with a changed pinned binary: exit %d, want %d and %q:\n%s", r.code, ExitFailure, want, r.stderr)
	}
	if n := storedSnapshots(t, repo); n != 2 {
		t.Fatalf("%d snapshots after the refused backup, want still 2", n)
	}
	r = e.run("plugins", flag)
	if r.code != ExitFailure || !strings.Contains(oneLine(r.stdout), "target-dir target - - skipped: incompatible plugin: "+want) {
		t.Fatalf("`plugins` with a changed pinned binary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	e.vars["BACKUP_PLUGIN_CHECKSUMS"] = "target-dir"
	r = e.run("backup", flag)
	if r.code != ExitUsage || !strings.Contains(r.stderr, `BACKUP_PLUGIN_CHECKSUMS entry "target-dir" is not name=sha256`) {
		t.Fatalf("backup with a pin that cannot be read: exit %d, want %d:\n%s", r.code, ExitUsage, r.stderr)
	}
}
