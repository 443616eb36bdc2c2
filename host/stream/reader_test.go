// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/sdk"
)

// messages is a call that delivers ms in order, then end (io.EOF when nil).
func messages(end error, ms ...*pb.StreamMessage) func() (*pb.StreamMessage, error) {
	return func() (*pb.StreamMessage, error) {
		if len(ms) == 0 {
			if end == nil {
				end = io.EOF
			}
			return nil, end
		}
		m := ms[0]
		ms = ms[1:]
		return m, nil
	}
}

func chunk(b []byte) *pb.StreamMessage {
	return &pb.StreamMessage{Msg: &pb.StreamMessage_Chunk{Chunk: b}}
}

func trailer(t *pb.StreamTrailer) *pb.StreamMessage {
	return &pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: t}}
}

// goodTrailer is the trailer a writer sends for data.
func goodTrailer(data []byte) *pb.StreamTrailer {
	h, _ := sdk.NewChecksum(sdk.ChecksumXXH3)
	h.Write(data)
	return &pb.StreamTrailer{Success: true, Size: uint64(len(data)), ChecksumAlgorithm: sdk.ChecksumXXH3, Checksum: h.Sum(nil)}
}

// readAll reads r to its end, checking that no Read returns bytes
// together with an error.
func readAll(t *testing.T, r io.Reader) ([]byte, error) {
	t.Helper()
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		if n > 0 && err != nil {
			t.Fatalf("Read returned %d bytes together with %v", n, err)
		}
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

var data = []byte("the bytes of a small stream, in three chunks")

func TestReaderGoodStream(t *testing.T) {
	r := newChunkReader(messages(nil, chunk(data[:10]), chunk(data[10:20]), chunk(data[20:]), trailer(goodTrailer(data))), sdk.ChecksumXXH3)
	got, err := readAll(t, r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %q, %v; want the bytes and io.EOF", got, err)
	}
	if r.Err() != nil {
		t.Fatalf("Err() = %v after a good stream", r.Err())
	}
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after the end = %v, want io.EOF again", err)
	}
}

// Each of these must end in an error wrapping sdk.ErrAborted, never in
// io.EOF: the check named fails the stream.
func TestReaderRefusesABadStream(t *testing.T) {
	bad := goodTrailer(data)
	bad.Checksum = append([]byte(nil), bad.Checksum...)
	bad.Checksum[0] ^= 1
	short := goodTrailer(data)
	short.Size--
	for _, tc := range []struct {
		name string
		recv func() (*pb.StreamMessage, error)
		want string
	}{
		{"truncated: the call ends without a trailer", messages(nil, chunk(data[:10])), "without a trailer"},
		{"truncated: the call fails", messages(errors.New("connection reset"), chunk(data[:10])), "connection reset"},
		{"wrong size", messages(nil, chunk(data), trailer(short)), "trailer says"},
		{"wrong checksum", messages(nil, chunk(data), trailer(bad)), "checksum mismatch"},
		{"failed trailer", messages(nil, chunk(data), trailer(&pb.StreamTrailer{Error: "pg_dump: disk full"})), "pg_dump: disk full"},
		{"chunk after the trailer", messages(nil, chunk(data), trailer(goodTrailer(data)), chunk([]byte("more"))), "after the trailer"},
		{"header inside the stream", messages(nil, &pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: &pb.StreamHeader{}}}), "inside a stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newChunkReader(tc.recv, sdk.ChecksumXXH3)
			_, err := readAll(t, r)
			if err == nil || !errors.Is(err, sdk.ErrAborted) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want an abort naming %q", err, tc.want)
			}
			if r.Err() == nil {
				t.Fatal("Err() is nil after a bad stream")
			}
			if _, again := r.Read(make([]byte, 1)); again == io.EOF || again == nil {
				t.Fatalf("a second Read says %v: a bad stream must stay bad", again)
			}
		})
	}
}

// A byte source may return its last bytes together with io.EOF: they count
// (size and checksum), and the reader hands them out without the error.
func TestReaderCountsBytesThatComeWithEOF(t *testing.T) {
	r := newPipeReader(messages(nil, trailer(goodTrailer(data))), iotest.DataErrReader(bytes.NewReader(data)), sdk.ChecksumXXH3)
	got, err := readAll(t, r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %q, %v; want every byte and the end", got, err)
	}
	if want := goodTrailer(data).Checksum; !bytes.Equal(r.Sum(), want) {
		t.Fatalf("Sum = %x, want %x", r.Sum(), want)
	}
}

// Over a pipe, a size or checksum that differs from the trailer's fails.
func TestPipeReaderChecksTheTrailer(t *testing.T) {
	short := goodTrailer(data)
	short.Size++
	r := newPipeReader(messages(nil, trailer(short)), bytes.NewReader(data), sdk.ChecksumXXH3)
	if _, err := readAll(t, r); err == nil || !strings.Contains(err.Error(), "trailer says") {
		t.Fatalf("err = %v, want a size mismatch", err)
	}
	bad := goodTrailer(data)
	bad.Checksum[0] ^= 1
	r = newPipeReader(messages(nil, trailer(bad)), bytes.NewReader(data), sdk.ChecksumXXH3)
	if _, err := readAll(t, r); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("err = %v, want a checksum mismatch", err)
	}
}

// A failed trailer stops a Read that waits on a pipe whose writer keeps it
// open (a target that failed but did not close its end).
func TestPipeReaderWakesOnAFailedTrailer(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	release := make(chan struct{})
	recv := func() (*pb.StreamMessage, error) {
		<-release
		return trailer(&pb.StreamTrailer{Error: "restic: repository damaged"}), nil
	}
	r := newPipeReader(recv, pr, "")
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		done <- err
	}()
	close(release)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "repository damaged") {
			t.Fatalf("err = %v, want the trailer's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still waits on the pipe after a failed trailer")
	}
}

// Where the bytes pass the host outside the call (fan-out), the trailer's
// size is compared with what the host moved.
func TestTrailerReaderComparesWhatTheHostMoved(t *testing.T) {
	r := newTrailerReader(messages(nil, trailer(goodTrailer(data))), func() (uint64, error) { return uint64(len(data)) - 1, nil })
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "trailer says") {
		t.Fatalf("err = %v, want a size mismatch", err)
	}
	r = newTrailerReader(messages(nil, chunk(data), trailer(goodTrailer(data))), nil)
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "chunks on a stream") {
		t.Fatalf("err = %v, want a protocol error for chunks on a pipe stream", err)
	}
	r = newTrailerReader(messages(nil, trailer(goodTrailer(data))), func() (uint64, error) { return uint64(len(data)), nil })
	if _, err := r.Next(); err != io.EOF || r.Err() != nil {
		t.Fatalf("Next = %v, Err = %v; want io.EOF and nil", err, r.Err())
	}
}
