// SPDX-License-Identifier: Apache-2.0

//go:build linux

package sdk

import (
	"errors"
	"io"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/timetiles/timetiles-backup/internal/pipes"
)

// pipeFile is the read end of a pipe as io.Copy may hand it to ReadFrom: an
// *os.File, or the wrapper os.File.WriteTo passes on (it hides WriteTo but
// keeps SyscallConn) — which is what exec.Cmd's copy of a child's stdout
// into a non-file writer (restic dump into a stream) ends up as.
type pipeFile interface {
	io.Reader
	SyscallConn() (syscall.RawConn, error)
}

// teeFrom moves a pipe's bytes into the stream pipe (fd mode) without
// copying them through this process: tee(2) links the source pipe's pages
// into the stream pipe, then reading the same bytes from the source (which
// consumes them) feeds the checksum. A plugin relaying a child's output
// (pg_dump's dump, restic dump's file) thus costs one copy to user space
// and no page allocation, instead of a read and a write — measured in
// docs/performance.md. handled is false when r is not a pipe (or tee is not
// supported); nothing was read then.
func (s *sender) teeFrom(r io.Reader) (n int64, handled bool, err error) {
	pf, ok := r.(pipeFile)
	if !ok || s.pipe == nil || s.path {
		return 0, false, nil
	}
	src, err := pf.SyscallConn()
	if err != nil || !isPipe(src) {
		return 0, false, nil
	}
	dst, err := s.pipe.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	// A child's stdout pipe holds 64 KiB by default: every 64 KiB the
	// child, this process and the stream's reader would wake each other.
	// At 1 MiB that happens 16 times less often (measured in
	// docs/performance.md, P1). Failure only costs speed.
	// Batching (below) needs room to batch in: only a pipe that really
	// holds 1 MiB (pipe-user-pages limits may refuse) waits for a batch.
	batch := 0
	if pipes.Grow(src) {
		batch = teeBatch
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, ChunkSize)
	}
	buf := s.buf[:cap(s.buf)]
	for {
		k, err := tee(src, dst, len(buf))
		if errors.Is(err, unix.EINVAL) && n == 0 {
			return 0, false, nil // e.g. both ends on one pipe: copy instead
		}
		if err != nil {
			return n, true, err
		}
		if k == 0 {
			return n, true, nil // end of the source pipe
		}
		if _, err := io.ReadFull(pf, buf[:k]); err != nil {
			return n, true, err
		}
		s.hash.Write(buf[:k])
		s.size += uint64(k)
		n += int64(k)
		teeCalls.Add(1)
		if k < batch {
			// The producer is slower than this relay (pg_dump writes 8 KiB
			// at a time): going back to the pipe at once would wake this
			// process, and the stream's reader after it, for every write.
			// Letting a batch gather cuts the wake-ups (and their CPU) by
			// an order of magnitude; the pipe (1 MiB) absorbs the wait, so
			// a fast producer — one that fills the batch — never waits.
			time.Sleep(teeWait)
		}
	}
}

// teeBatch is the amount below which the relay waits teeWait before
// looking again: at most 1 MiB arrives per wait, so a producer faster than
// 1 GB/s fills the pipe and is not slowed down by it either. docs/performance.md (P1) has the before/after figures.
const (
	teeBatch = 256 << 10
	teeWait  = time.Millisecond
)

func isPipe(rc syscall.RawConn) bool {
	var st unix.Stat_t
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = unix.Fstat(int(fd), &st) }); cerr != nil || err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFIFO
}

// tee duplicates up to max bytes from the front of pipe src into pipe dst
// without consuming them (pipes.Tee).
func tee(src, dst syscall.RawConn, max int) (int, error) { return pipes.Tee(src, dst, max) }
