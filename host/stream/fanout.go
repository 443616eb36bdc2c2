// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/timetiles/timetiles-backup/internal/pipes"
	"github.com/timetiles/timetiles-backup/sdk"
)

// fanOut feeds every live sink's pipe from the source pipe. A sink that
// takes nothing for its stall timeout is dropped; the others go on. With
// two sinks (local and offsite, the case --offsite makes) the bytes never
// pass through this process: tee(2) links the source pipe's pages into the
// first sink's pipe, then splice(2) moves the same pages into the second
// (fanOutTee). Otherwise they are read once and written to each sink.
// It returns the bytes moved and how many of them passed through this
// process.
func fanOut(in *os.File, sinks []*sink) (total, viaHost uint64, err error) {
	if len(sinks) == 2 {
		if n, drained, ok, err := fanOutTee(in, sinks); ok {
			return n, drained, err
		}
	}
	n, err := fanOutCopy(in, sinks, 0)
	return n, n, err
}

// sinkWriteFailed records a failed write into a sink's pipe: EPIPE means
// the target stopped reading on its own (its answer says why); anything
// else (the stall timeout) aborts the sink.
func sinkWriteFailed(s *sink, werr error) {
	if errors.Is(werr, syscall.EPIPE) {
		s.stop()
		return
	}
	if errors.Is(werr, os.ErrDeadlineExceeded) {
		werr = fmt.Errorf("accepted no data for %s", s.StallTimeout)
	}
	s.abort(fmt.Errorf("target %s: %w: aborted", s.Name, werr))
}

// fanOutTee is fanOut for two sinks without copying: per batch, tee(2)
// duplicates up to 1 MiB from the front of the source pipe into sink a's
// pipe without consuming it, then splice(2) moves exactly those bytes into
// sink b's pipe (consuming them, so the two stay in lockstep: tee only
// ever copies from the front). When one sink fails, the other gets
// spliced alone; when both failed, the rest is drained. ok is false when
// the pipes do not support it (nothing was moved then).
func fanOutTee(in *os.File, sinks []*sink) (total, viaHost uint64, ok bool, err error) {
	src, err := in.SyscallConn()
	if err != nil {
		return 0, 0, false, nil
	}
	a, b := sinks[0], sinks[1]
	var ac, bc syscall.RawConn
	if a.pipe != nil {
		if ac, err = a.pipe.SyscallConn(); err != nil {
			return 0, 0, false, nil
		}
	}
	if b.pipe != nil {
		if bc, err = b.pipe.SyscallConn(); err != nil {
			return 0, 0, false, nil
		}
	}
	started := false
	for {
		switch {
		case a.live() && b.live():
			a.armStall()
			k, terr := pipes.Tee(src, ac, pipes.Size)
			if errors.Is(terr, unix.EINVAL) && !started {
				return 0, 0, false, nil // not pipes after all: copy instead
			}
			started = true
			if terr != nil {
				if !isWriteSide(terr) {
					return total, viaHost, true, terr
				}
				sinkWriteFailed(a, terr)
				continue
			}
			if k == 0 {
				return total, viaHost, true, nil
			}
			for moved := 0; moved < k; {
				b.armStall()
				m, serr := pipes.Splice(src, bc, k-moved)
				if serr != nil || m == 0 {
					if serr != nil && !isWriteSide(serr) {
						return total + uint64(moved), viaHost, true, serr
					}
					if serr == nil {
						serr = io.ErrUnexpectedEOF
					}
					sinkWriteFailed(b, serr)
					// a already has these bytes: consume them.
					d, derr := io.CopyN(io.Discard, in, int64(k-moved))
					viaHost += uint64(d)
					if derr != nil {
						return total + uint64(moved) + uint64(d), viaHost, true, derr
					}
					break
				}
				moved += m
			}
			total += uint64(k)
		case a.live() || b.live():
			st, rc := a, ac
			if !a.live() {
				st, rc = b, bc
			}
			st.armStall()
			m, serr := pipes.Splice(src, rc, pipes.Size)
			if errors.Is(serr, unix.EINVAL) && !started {
				return 0, 0, false, nil
			}
			started = true
			if serr != nil {
				if !isWriteSide(serr) {
					return total, viaHost, true, serr
				}
				sinkWriteFailed(st, serr)
				continue
			}
			if m == 0 {
				return total, viaHost, true, nil
			}
			total += uint64(m)
		default:
			// Keep draining so the source is not blocked; it will be told
			// to stop by the failed sinks' aborts.
			n, err := fanOutCopy(in, nil, total)
			return n, viaHost + n - total, true, err
		}
	}
}

// isWriteSide reports whether a tee/splice error is the sink's (its
// reader is gone, or it stalled): the source's errors end the fan-out.
func isWriteSide(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrDeadlineExceeded)
}

// fanOutCopy reads the source pipe and writes every chunk into each live
// sink's pipe. total is what was moved before.
func fanOutCopy(in *os.File, sinks []*sink, total uint64) (uint64, error) {
	buf := make([]byte, sdk.ChunkSize)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			total += uint64(n)
			for _, st := range sinks {
				if !st.live() {
					continue
				}
				st.armStall()
				if _, werr := st.pipe.Write(buf[:n]); werr != nil {
					sinkWriteFailed(st, werr)
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
