// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// gone reports whether every pid has exited (a zombie has exited too).
func gone(pids []int) bool {
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && (b[i+2] == 'Z' || b[i+2] == 'X') {
			continue
		}
		return false
	}
	return true
}

// TestSIGTERMMidBackupEndsEveryChildPromptly: SIGTERM while a source
// streams into restic (restic 0.18 ignores SIGINT while it reads stdin).
// Every child — plugins and restic — ends, no snapshot is committed, and
// the run says restic was killed rather than waited for. How long it took is
// printed, not asserted (the machine is shared).
func TestSIGTERMMidBackupEndsEveryChildPromptly(t *testing.T) {
	e, alerts := faultEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "1000000000000" // ~1 TB: still streaming when the signal comes
	e.vars["SYNTH_PATTERN"] = "repeat"
	var children []int
	var signalled time.Time
	var allGone time.Duration
	r := e.runCtx(context.Background(), func(pid int) {
		waitFor(t, "restic to read the stream", func() bool {
			return streamRead(pid) > 64<<20
		})
		children = testenv.ChildProcesses(pid)
		signalled = time.Now()
		syscall.Kill(pid, syscall.SIGTERM)
		for !gone(children) {
			if time.Since(signalled) > 30*time.Second {
				t.Errorf("children still running 30 s after SIGTERM")
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		allGone = time.Since(signalled)
	}, "backup", "--log-level", "debug")
	exited := time.Since(signalled)
	t.Logf("SIGTERM mid-stream: %d children (plugins, restic) all gone %v after the signal; the CLI exited after %v",
		len(children), allGone.Round(time.Millisecond), exited.Round(time.Millisecond))
	if r.code != ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s", r.code, r.stderr)
	}
	if n := len(e.snapshots()); n != 0 {
		t.Errorf("%d snapshots after an interrupted first backup, want none", n)
	}
	// The mechanism: the restic blocked reading stdin (the run manifest's,
	// waiting for the run to end) was killed after the short stdin grace,
	// not waited for the general one.
	if !strings.Contains(r.stderr, "restic did not stop on SIGINT: killed (SIGKILL) after the grace") ||
		!strings.Contains(r.stderr, "kill_grace="+restic.StdinKillGrace.String()) {
		t.Errorf("no restic was killed after the %v stdin grace:\n%s", restic.StdinKillGrace, r.stderr)
	}
	testenv.WaitNoLeftoverProcesses(t, 10*time.Second, leftoverNames...)
	assertAlert(t, alerts(), 1, "Backup Failed", "interrupted by a signal")
}

// streamRead is how much the restic processes of a stdin backup under root
// have read so far (/proc/PID/io rchar).
func streamRead(root int) int64 {
	var total int64
	for _, pid := range testenv.ChildProcesses(root) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmdline), "--stdin") {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "rchar: "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				total += n
			}
		}
	}
	return total
}

// TestFailedOrInterruptedRestoreLeavesNoResticLock: a restore whose source
// fails at once (restic dump is still starting or streaming when the CLI
// ends), and a restore SIGTERMed while restic dump streams: each ends, every
// child is gone, and the repository holds no restic lock (`restic list
// locks`), so nothing meets a stale lock later.
func TestFailedOrInterruptedRestoreLeavesNoResticLock(t *testing.T) {
	e, _ := faultEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "4000000000" // 4 GB, deduplicated to 1 MiB: streams for seconds
	e.vars["SYNTH_PATTERN"] = "repeat"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	noLocks := func(what string) {
		t.Helper()
		if locks, err := e.restic().Locks(context.Background()); err != nil || len(locks) != 0 {
			t.Errorf("%s: restic locks left: %+v %v", what, locks, err)
		}
	}
	// The source cannot write where it restores: it fails before reading.
	e.vars["SYNTH_RESTORE_TO"] = filepath.Join(e.dir, "no-such-dir", "restored.bin")
	for i := 0; i < 3; i++ {
		r := e.run("restore", "latest", "--yes", "--no-safety-backup")
		if r.code != 1 || !strings.Contains(r.stderr, "no such file or directory") {
			t.Fatalf("failing restore: exit %d\n%s", r.code, r.stderr)
		}
		noLocks(fmt.Sprintf("failed restore #%d", i+1))
	}

	e.vars["SYNTH_RESTORE_TO"] = filepath.Join(e.dir, "restored.bin")
	var children []int
	r := e.runCtx(context.Background(), func(pid int) {
		waitFor(t, "restic dump to stream", func() bool {
			return dumpWritten(pid) > 64<<20
		})
		children = testenv.ChildProcesses(pid)
		syscall.Kill(pid, syscall.SIGTERM)
	}, "restore", "latest", "--yes", "--no-safety-backup")
	if r.code != ExitInterrupted {
		t.Fatalf("exit %d after SIGTERM, want 130\n%s", r.code, r.stderr)
	}
	waitFor(t, "every child of the restore to end", func() bool { return gone(children) })
	noLocks("interrupted restore")
	if _, err := os.Stat(e.vars["SYNTH_RESTORE_TO"]); err == nil {
		t.Error("the interrupted restore was committed")
	}
}

// dumpWritten is how much the restic dump processes under root have
// written so far (/proc/PID/io wchar).
func dumpWritten(root int) int64 {
	var total int64
	for _, pid := range testenv.ChildProcesses(root) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmdline), "\x00dump\x00") {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "wchar: "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				total += n
			}
		}
	}
	return total
}
