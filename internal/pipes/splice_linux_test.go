// SPDX-License-Identifier: Apache-2.0

package pipes

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// fullPipe returns a pipe whose buffer is full (nothing reads it yet).
func fullPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	// os.Pipe's files are non-blocking (Go's poller): write until EAGAIN.
	rc, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	var werr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if _, werr = syscall.Write(int(fd), buf); werr != nil {
				return
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if werr != syscall.EAGAIN {
		t.Fatal(werr)
	}
	return r, w
}

// TestMoveSeesTheEndOfSrcWhileDstIsFull: tee(2)/splice(2) answer EAGAIN,
// not 0, at the end of an empty src when dst is full. Tee and Splice must
// then wait for dst, not for src (which never becomes readable again), and
// report the end once dst has room. This hung the two-target fan-out.
func TestMoveSeesTheEndOfSrcWhileDstIsFull(t *testing.T) {
	for _, op := range []struct {
		name string
		f    func(src, dst syscall.RawConn, max int) (int, error)
	}{{"tee", Tee}, {"splice", Splice}} {
		t.Run(op.name, func(t *testing.T) {
			sr, sw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer sr.Close()
			sw.Close() // src: empty, no writer: at its end
			dr, dw := fullPipe(t)
			src, _ := sr.SyscallConn()
			dst, _ := dw.SyscallConn()

			waiting := make(chan string, 4)
			waitHook = func(which string) { waiting <- which }
			defer func() { waitHook = nil }()
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := op.f(src, dst, 1<<20)
				done <- result{n, err}
			}()
			// The move waits (dst is full) before anything reads dst.
			var which string
			select {
			case which = <-waiting:
			case r := <-done:
				t.Fatalf("returned %d, %v while dst was full", r.n, r.err)
			}
			if which != "dst" {
				t.Fatalf("waits for %s, want dst: src is at its end and will never be readable again", which)
			}
			go io.Copy(io.Discard, dr) // room in dst
			select {
			case r := <-done:
				if r.n != 0 || r.err != nil {
					t.Fatalf("got %d, %v; want 0, nil (the end of src)", r.n, r.err)
				}
			case <-time.After(time.Minute): // a bound on a hang, not a measurement
				t.Fatal("still waiting a minute after dst had room: the end of src was missed")
			}
		})
	}
}
