// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"bytes"
	"golang.org/x/sys/unix"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// A source relaying a child's pipe in fd mode (pg_dump's stdout, restic
// dump's) moves the bytes with tee(2): every byte arrives once and in
// order, the trailer's size and checksum are those of the bytes, also when
// the stream pipe is full for a while (slow target) and when the pipe
// reaches ReadFrom through io.Copy and os.File.WriteTo's wrapper (as
// exec.Cmd's stdout copy does).
func TestReadFromPipeUsesTee(t *testing.T) {
	data := make([]byte, 5<<20+777)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, viaCopy := range []bool{false, true} {
		src, srcW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		out, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		s, err := newSender(func(*pb.StreamMessage) error { return nil }, outW, "token", "", false)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for p := data; len(p) > 0; {
				n, _ := srcW.Write(p[:min(len(p), 100_001)])
				p = p[n:]
			}
			srcW.Close()
		}()
		got := make(chan []byte)
		go func() {
			var b bytes.Buffer
			buf := make([]byte, 64<<10)
			for {
				if b.Len() < 2<<20 {
					time.Sleep(time.Millisecond) // slow at first: the stream pipe fills
				}
				n, err := out.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					got <- b.Bytes()
					return
				}
			}
		}()
		before := teeCalls.Load()
		var n int64
		if viaCopy {
			n, err = io.Copy(s, src)
		} else {
			n, err = s.ReadFrom(src)
		}
		outW.Close()
		if err != nil {
			t.Fatalf("viaCopy=%v: %v", viaCopy, err)
		}
		received := <-got
		if n != int64(len(data)) || s.size != uint64(len(data)) || !bytes.Equal(received, data) {
			t.Fatalf("viaCopy=%v: returned %d, counted %d, received %d bytes (equal %v), want %d",
				viaCopy, n, s.size, len(received), bytes.Equal(received, data), len(data))
		}
		h, _ := NewChecksum(DefaultChecksum)
		h.Write(data)
		if !bytes.Equal(s.hash.Sum(nil), h.Sum(nil)) {
			t.Fatalf("viaCopy=%v: checksum differs from the bytes'", viaCopy)
		}
		if teeCalls.Load() == before {
			t.Fatalf("viaCopy=%v: the pipe was copied, not teed", viaCopy)
		}
		src.Close()
		out.Close()
	}
}

// A reader that is not a pipe is copied as before.
func TestReadFromNonPipeCopies(t *testing.T) {
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSender(func(*pb.StreamMessage) error { return nil }, outW, "token", "", false)
	data := bytes.Repeat([]byte("timetiles "), 300_000)
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(out); got <- b }()
	before := teeCalls.Load()
	n, err := s.ReadFrom(bytes.NewReader(data))
	outW.Close()
	if err != nil || n != int64(len(data)) || !bytes.Equal(<-got, data) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if teeCalls.Load() != before {
		t.Fatal("a non-pipe reader took the tee path")
	}
}

// A producer slower than the relay (pg_dump writes 8 KiB at a time) is
// relayed in batches: its pipe is grown to 1 MiB and the relay waits for
// bytes to gather instead of waking for every write (docs/performance.md,
// P1: the wake-ups cost more CPU than the bytes).
func TestTeeRelayBatchesASlowProducer(t *testing.T) {
	src, srcW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s, err := newSender(func(*pb.StreamMessage) error { return nil }, outW, "token", "", false)
	if err != nil {
		t.Fatal(err)
	}
	const writes, size = 400, 8 << 10
	go func() {
		chunk := make([]byte, size)
		for range writes {
			srcW.Write(chunk)
			// ~200 MB/s, as pg_dump writes: a spin (a sleep would last
			// a whole scheduler tick here).
			for t0 := time.Now(); time.Since(t0) < 40*time.Microsecond; {
			}
		}
		srcW.Close()
	}()
	go io.Copy(io.Discard, out)
	before := teeCalls.Load()
	n, err := s.ReadFrom(src)
	outW.Close()
	if err != nil || n != writes*size {
		t.Fatalf("relayed %d bytes, err %v; want %d", n, err, writes*size)
	}
	rc, _ := src.SyscallConn()
	var pipeSize int
	rc.Control(func(fd uintptr) { pipeSize, _ = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
	if pipeSize != ChunkSize {
		t.Errorf("the producer's pipe holds %d bytes, want it grown to %d", pipeSize, ChunkSize)
	}
	if calls := teeCalls.Load() - before; calls > writes/4 {
		t.Errorf("%d tee calls for %d writes: the relay woke for nearly every write instead of batching", calls, writes)
	}
}
