// SPDX-License-Identifier: Apache-2.0

package pipes

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestGrowFileHoldsSize(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if !GrowFile(w) {
		t.Fatal("GrowFile reported failure")
	}
	rc, _ := r.SyscallConn()
	var n int
	rc.Control(func(fd uintptr) { n, _ = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
	if n != Size {
		t.Fatalf("the pipe holds %d bytes, want %d", n, Size)
	}
}
