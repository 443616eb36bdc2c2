// SPDX-License-Identifier: Apache-2.0

// Package pipes sizes OS pipes: the one place that does, for the host's
// stream pipes, the SDK's relay, restic's stdin and the benchmark's raw
// pipe. A larger pipe moves bytes in larger batches, with fewer wake-ups of
// the processes at both ends (docs/performance.md).
package pipes

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Size is the buffer every pipe gets: 1 MiB, the default
// /proc/sys/fs/pipe-max-size.
const Size = 1 << 20

// Grow enlarges the pipe behind rc to Size and reports whether it now
// holds that much (the pipe-user-pages limits may refuse; the pipe then
// works as it was, only slower).
func Grow(rc syscall.RawConn) bool {
	ok := false
	_ = rc.Control(func(fd uintptr) {
		n, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, Size)
		ok = err == nil && n >= Size
	})
	return ok
}

// GrowFile is Grow for either end of a pipe. It goes through SyscallConn,
// not Fd: Fd would switch the pipe to blocking mode, and a blocked Write
// could no longer be interrupted by Close.
func GrowFile(f *os.File) bool {
	rc, err := f.SyscallConn()
	return err == nil && Grow(rc)
}
