// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TIMETILES_BACKUP_CPUPROFILE makes the CLI and each plugin it launches
// write a CPU profile (gzip-compressed pprof) into the directory: how
// docs/performance.md attributes a backup's CPU.
func TestCPUProfileOfHostAndPlugins(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	dir := t.TempDir()
	cmd, _, stderr := e.command(context.Background(), "backup", "uploads")
	cmd.Env = append(cmd.Env, "TIMETILES_BACKUP_CPUPROFILE="+dir)
	if err := cmd.Run(); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	got := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cpu.pprof"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s is not a gzip-compressed pprof profile (%d bytes, %v)", f, len(b), err)
		}
		name := filepath.Base(f)
		got[name[:strings.LastIndex(name, "-")]] = true
	}
	for _, want := range []string{"timetiles-backup", "timetiles-backup-source-volume", "timetiles-backup-target-restic"} {
		if !got[want] {
			t.Errorf("no CPU profile of %s in %v", want, files)
		}
	}
}
