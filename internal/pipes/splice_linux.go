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
			// TIOCINQ is FIONREAD: the bytes waiting in src.
			if avail, _ := unix.IoctlGetInt(int(sfd), unix.TIOCINQ); avail > 0 {
				dstFull = true
				return true
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
