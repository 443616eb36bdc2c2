// SPDX-License-Identifier: Apache-2.0

package pipes

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Tee duplicates up to max bytes from the front of pipe src into pipe dst
// without consuming them (tee(2): the pages are shared, not copied),
// waiting through Go's poller — so deadlines and closing the files work —
// while src is empty or dst is full. It returns 0 at the end of src.
func Tee(src, dst syscall.RawConn, max int) (int, error) {
	return move(src, dst, func(sfd, dfd uintptr) (int64, error) {
		return unix.Tee(int(sfd), int(dfd), max, unix.SPLICE_F_NONBLOCK)
	})
}

// Splice moves up to max bytes from the front of pipe src into pipe dst
// (splice(2): the pages change pipes, nothing is copied), waiting like Tee.
// It returns 0 at the end of src.
func Splice(src, dst syscall.RawConn, max int) (int, error) {
	return move(src, dst, func(sfd, dfd uintptr) (int64, error) {
		return unix.Splice(int(sfd), nil, int(dfd), nil, max, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	})
}

func move(src, dst syscall.RawConn, op func(sfd, dfd uintptr) (int64, error)) (int, error) {
	var n int64
	var err error
	try := func(sfd, dfd uintptr) {
		for {
			n, err = op(sfd, dfd)
			if err != unix.EINTR {
				return
			}
		}
	}
	for {
		dstFull := false
		rerr := src.Read(func(sfd uintptr) bool {
			if cerr := dst.Control(func(dfd uintptr) { try(sfd, dfd) }); cerr != nil {
				err = cerr
				return true
			}
			if err != unix.EAGAIN {
				return true
			}
			// EAGAIN: src is empty (wait for data) or dst is full.
			// TIOCINQ is FIONREAD: the bytes waiting in src. At the end of
			// src (empty, no writer left) the kernel still answers EAGAIN
			// while dst is full (it checks src, then dst), and src will
			// never become readable again: wait for dst then, and the next
			// try returns 0.
			if avail, _ := unix.IoctlGetInt(int(sfd), unix.TIOCINQ); avail > 0 || hungUp(sfd) {
				dstFull = true
				return true
			}
			if waitHook != nil {
				waitHook("src")
			}
			return false
		})
		if rerr != nil {
			return 0, rerr
		}
		if !dstFull {
			return int(n), err
		}
		// dst is full: wait until its reader takes something. A full pipe
		// always wakes its writers when read from.
		if waitHook != nil {
			waitHook("dst")
		}
		werr := dst.Write(func(dfd uintptr) bool {
			if cerr := src.Control(func(sfd uintptr) { try(sfd, dfd) }); cerr != nil {
				err = cerr
				return true
			}
			return err != unix.EAGAIN
		})
		if werr != nil {
			return 0, werr
		}
		if err != unix.EAGAIN {
			return int(n), err
		}
	}
}

// hungUp reports whether pipe fd has no writer left (poll's POLLHUP on a
// read end): an empty src is then at its end, not waiting for data.
func hungUp(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0
}

// waitHook, when set (tests), is called before move waits for "src" to be
// readable or "dst" to be writable.
var waitHook func(which string)
