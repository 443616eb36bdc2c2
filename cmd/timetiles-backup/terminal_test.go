// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// TestVersionOnSilentTerminal runs `version` on a real pseudo-terminal whose
// other end never answers a query (as a serial console or a scripted SSH
// session): the command must not probe the terminal (bubbletea's init asks
// for the background colour and waits 5 s for an answer; internal/quietterm
// stops it), so nothing but the version line reaches the screen and the
// command returns long before any probe's timeout.
func TestVersionOnSilentTerminal(t *testing.T) {
	bin := testenv.BuildBinaries(t)
	cmd := exec.Command(filepath.Join(bin, "timetiles-backup"), "version")
	// TERM=xterm-256color is a terminal termenv would query.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TERM=xterm-256color", "COLORTERM=truecolor"}
	start := time.Now()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatalf("start on a pty: %v", err)
	}
	defer ptmx.Close()
	// Read everything the command writes, answering nothing; the read ends
	// with EIO when the command has exited and closed its side.
	var out bytes.Buffer
	_, err = io.Copy(&out, ptmx)
	if err != nil && !errors.Is(err, syscall.EIO) && !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read the pty: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("version: %v\n%q", err, out.String())
	}
	elapsed := time.Since(start)
	t.Logf("version on a silent terminal returned in %v", elapsed)
	if bytes.ContainsRune(out.Bytes(), 0x1b) {
		t.Errorf("escape sequences written to the terminal: %q", out.String())
	}
	if !strings.HasPrefix(out.String(), "timetiles-backup ") {
		t.Errorf("output %q, want the version line", out.String())
	}
	// A probe waits 5 s for an answer; the bound is as far below it as it
	// can be (a loaded machine may take seconds to start a process) while
	// any probe's wait still fails it. No escape sequence (above) is the
	// check that does not depend on time.
	if elapsed > 4*time.Second {
		t.Errorf("version took %v on a terminal that does not answer: something waited for the terminal", elapsed)
	}
}
