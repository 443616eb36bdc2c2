// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// termProbeTimeout bounds how long the prompts wait to learn whether the
// terminal answers queries at all: a local terminal answers in about a
// millisecond, one over SSH in a network round trip. A terminal that never
// answers (a serial console, some web and CI terminals) costs this, once.
const termProbeTimeout = 250 * time.Millisecond

// terminalAnswers asks the terminal f for the cursor position (CSI 6n, which
// every terminal that answers queries at all answers) and reports whether
// the reply ("ESC [ row ; col R") arrived within timeout; the reply is
// consumed, so it never reaches a prompt as keystrokes. Echo and line
// buffering are off while it waits, as termenv does for its own query; a
// process in the background of its terminal does not ask (the terminal
// would stop it).
//
// termenv's background-colour query waits up to 5 s (its constant
// OSCTimeout) for a first byte, and offers no way to wait less: this probe
// is the condition under which it is asked.
func terminalAnswers(f *os.File, timeout time.Duration) bool {
	fd := int(f.Fd())
	if pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err != nil || pgrp != unix.Getpgrp() {
		return false
	}
	saved, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return false
	}
	quiet := *saved
	quiet.Lflag &^= unix.ECHO | unix.ICANON
	quiet.Cc[unix.VMIN], quiet.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return false
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, saved) //nolint:errcheck // best effort, as termenv
	if _, err := f.WriteString("\x1b[6n"); err != nil {
		return false
	}
	deadline := time.Now().Add(timeout)
	var b [1]byte
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		if _, err := unix.Read(fd, b[:]); err != nil {
			return false
		}
		if b[0] == 'R' {
			return true
		}
	}
}
