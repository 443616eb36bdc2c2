// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Trailer is what the writer of a stream reported at its end.
type Trailer struct {
	Size              uint64
	ChecksumAlgorithm string
	Checksum          []byte
	// Files counts the regular files of a directory stream.
	Files uint64
}

func trailerFromPB(t *pb.StreamTrailer) Trailer {
	return Trailer{Size: t.GetSize(), ChecksumAlgorithm: t.GetChecksumAlgorithm(), Checksum: t.GetChecksum(), Files: t.GetFiles()}
}

func (t Trailer) pb() *pb.StreamTrailer {
	return &pb.StreamTrailer{Success: true, Size: t.Size, ChecksumAlgorithm: t.ChecksumAlgorithm, Checksum: t.Checksum, Files: t.Files}
}

// failedTrailer is the trailer that aborts a stream, naming why.
func failedTrailer(why error) *pb.StreamTrailer {
	return &pb.StreamTrailer{Success: false, Error: why.Error()}
}

// streamReader reads one stream after its header: the bytes and then the trailer.
// It is the only place the host decides that a stream ended well: Read (and
// Next) return io.EOF only after a successful trailer, whose size — and,
// when the reader hashes, checksum — match the bytes that came, followed by
// the end of the call. A failed trailer, a call cut short, a message after
// the trailer, a size or checksum that differs: each is an error wrapping
// sdk.ErrAborted, and the reader keeps returning it. Bytes are never
// returned together with an error.
//
// The bytes come one of three ways:
//   - as gRPC chunks on the call itself (newChunkReader);
//   - through an OS pipe the host reads (newPipeReader); the trailer is
//     received meanwhile, and a failed one stops a Read that waits;
//   - past the host (a pipe between two plugins, a directory): only the
//     trailer is read (newTrailerReader), and the size is checked against
//     what the host moved when it moved the bytes itself (fan-out).
type streamReader struct {
	recv func() (*pb.StreamMessage, error)
	// chunk mode
	chunks bool
	cur    []byte
	// pipe mode
	pipe    io.Reader
	pending chan struct{} // closed when the trailer goroutine is done
	pmu     sync.Mutex
	perr    error // the trailer goroutine's verdict (nil: success)
	// trailer-only mode: what the host moved itself, when it did
	moved func() (uint64, error)

	size    uint64
	algo    string
	hash    hash.Hash // nil: no checksum check
	trailer *pb.StreamTrailer
	err     error
}

// newChunkReader reads a stream whose bytes come as chunks from recv. algo
// names the checksum to verify ("" verifies the size only: a host that
// forwards the chunks to a plugin which verifies them itself).
func newChunkReader(recv func() (*pb.StreamMessage, error), algo string) *streamReader {
	return &streamReader{recv: recv, chunks: true, algo: algo, hash: newHash(algo)}
}

// newPipeReader reads a stream whose bytes come through pipe (the host's
// read end, which it closes when done) while recv brings the trailer.
func newPipeReader(recv func() (*pb.StreamMessage, error), pipe io.Reader, algo string) *streamReader {
	r := &streamReader{recv: recv, pipe: pipe, algo: algo, hash: newHash(algo), pending: make(chan struct{})}
	go func() {
		defer close(r.pending)
		err := r.receiveTrailer()
		r.pmu.Lock()
		r.perr = err
		r.pmu.Unlock()
		if err != nil {
			if d, ok := pipe.(interface{ SetReadDeadline(time.Time) error }); ok {
				_ = d.SetReadDeadline(time.Now()) // wake a Read waiting for bytes
			}
		}
	}()
	return r
}

// newTrailerReader reads a stream whose bytes do not pass the host, or
// pass it outside the call: only the trailer comes on recv. moved, when
// set, waits until the host has moved the bytes and says how many.
func newTrailerReader(recv func() (*pb.StreamMessage, error), moved func() (uint64, error)) *streamReader {
	return &streamReader{recv: recv, moved: moved}
}

func newHash(algo string) hash.Hash {
	if algo == "" {
		return nil
	}
	h, err := sdk.NewChecksum(algo)
	if err != nil {
		return nil
	}
	return h
}

// Trailer returns the trailer that came (also a failed one), and whether
// one came.
func (r *streamReader) Trailer() (Trailer, bool) {
	return trailerFromPB(r.trailer), r.trailer != nil
}

// Sum returns the reader's own checksum of the bytes (nil when it does not
// hash).
func (r *streamReader) Sum() []byte {
	if r.hash == nil {
		return nil
	}
	return r.hash.Sum(nil)
}

// Read implements io.Reader over the stream's bytes.
func (r *streamReader) Read(p []byte) (int, error) {
	if r.pipe != nil {
		return r.readPipe(p)
	}
	for len(r.cur) == 0 {
		b, err := r.Next()
		if err != nil {
			return 0, err
		}
		r.cur = b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Next returns the next chunk as it came (the caller must not keep it
// past the next call), or the stream's end: io.EOF after a good trailer,
// else the error. Not for pipe readers.
func (r *streamReader) Next() ([]byte, error) {
	for r.err == nil {
		m, err := r.recv()
		if err != nil {
			r.err = cut(err)
			break
		}
		switch v := m.GetMsg().(type) {
		case *pb.StreamMessage_Chunk:
			if !r.chunks {
				r.err = fmt.Errorf("protocol error: chunks on a stream whose bytes take a pipe or a path: %w", sdk.ErrAborted)
				break
			}
			if len(v.Chunk) == 0 {
				continue
			}
			r.size += uint64(len(v.Chunk))
			if r.hash != nil {
				r.hash.Write(v.Chunk)
			}
			return v.Chunk, nil
		case *pb.StreamMessage_Trailer:
			r.trailer = v.Trailer
			r.err = r.end()
		default:
			r.err = fmt.Errorf("protocol error: %T inside a stream: %w", v, sdk.ErrAborted)
		}
	}
	return nil, r.err
}

func (r *streamReader) readPipe(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.pipe.Read(p)
	if n > 0 {
		r.size += uint64(n)
		if r.hash != nil {
			r.hash.Write(p[:n])
		}
		if err == io.EOF {
			err = nil // the end is looked at on the next call, after the trailer
		}
	}
	switch {
	case err == nil && n > 0:
		return n, nil
	case err == nil:
		return 0, nil
	case err == io.EOF:
		<-r.pending
		r.pmu.Lock()
		r.err = r.perr
		r.pmu.Unlock()
		if r.err == nil {
			r.err = r.check()
		}
	default:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Only a failed trailer sets the deadline: it is the cause.
			<-r.pending
			r.pmu.Lock()
			r.err = r.perr
			r.pmu.Unlock()
		}
		if r.err == nil {
			r.err = fmt.Errorf("reading the stream pipe: %v: %w", err, sdk.ErrAborted)
		}
	}
	return 0, r.err
}

// receiveTrailer is the pipe reader's message side: one trailer, then the
// end of the call.
func (r *streamReader) receiveTrailer() error {
	m, err := r.recv()
	if err != nil {
		return cut(err)
	}
	t := m.GetTrailer()
	if t == nil {
		return fmt.Errorf("protocol error: %T on a stream whose bytes take a pipe: %w", m.GetMsg(), sdk.ErrAborted)
	}
	r.trailer = t
	if err := wire.TrailerError(t); err != nil {
		return err
	}
	return r.ended()
}

// end checks a trailer that came on the call (chunk and trailer-only
// modes).
func (r *streamReader) end() error {
	if err := wire.TrailerError(r.trailer); err != nil {
		return err
	}
	if err := r.ended(); err != nil {
		return err
	}
	if r.moved != nil {
		n, err := r.moved()
		if err != nil {
			return fmt.Errorf("forwarding the stream: %w", err)
		}
		r.size = n
	}
	return r.check()
}

// ended checks that the trailer was the call's last message.
func (r *streamReader) ended() error {
	m, err := r.recv()
	switch {
	case err == io.EOF:
		return nil
	case err != nil:
		return fmt.Errorf("stream did not end after its trailer: %v: %w", wire.FromStatus(err), sdk.ErrAborted)
	}
	return fmt.Errorf("protocol error: %T after the trailer: %w", m.GetMsg(), sdk.ErrAborted)
}

// check compares a successful trailer with what came.
func (r *streamReader) check() error {
	t := r.trailer
	if !r.counts() {
		return io.EOF
	}
	if t.Size != r.size {
		return fmt.Errorf("trailer says %d bytes, %d arrived: %w", t.Size, r.size, sdk.ErrAborted)
	}
	if r.hash != nil && len(t.Checksum) > 0 && (t.ChecksumAlgorithm == r.algo || t.ChecksumAlgorithm == "") && !bytes.Equal(r.hash.Sum(nil), t.Checksum) {
		return fmt.Errorf("checksum mismatch (%s): the bytes that arrived are not the ones the writer sent: %w", t.ChecksumAlgorithm, sdk.ErrAborted)
	}
	return io.EOF
}

// counts reports whether the reader saw the bytes (or their count).
func (r *streamReader) counts() bool { return r.chunks || r.pipe != nil || r.moved != nil }

// Err is the stream's final state once it ended: nil after a good trailer.
func (r *streamReader) Err() error {
	if r.err == io.EOF {
		return nil
	}
	if r.err == nil {
		return errors.New("stream not read to its end")
	}
	return r.err
}

// cut explains a call that ended before the trailer.
func cut(err error) error {
	if err == io.EOF {
		return fmt.Errorf("stream ended without a trailer: %w", sdk.ErrAborted)
	}
	return cutError{wire.FromStatus(err)}
}

// cutError is a call that failed mid-stream: it matches both its own kind
// (a plugin that crashed: sdk.ErrUnavailable) and sdk.ErrAborted, without
// saying "stream aborted" once more.
type cutError struct{ err error }

func (e cutError) Error() string   { return "stopped mid-stream: " + e.err.Error() }
func (e cutError) Unwrap() []error { return []error{e.err, sdk.ErrAborted} }

// drain reads the stream to its end and returns its final state.
func (r *streamReader) drain() error {
	for {
		if _, err := r.Next(); err != nil {
			return r.Err()
		}
	}
}

// failedTrailer reports whether the stream ended with a failed trailer.
func (r *streamReader) failedTrailer() bool { return r.trailer != nil && !r.trailer.Success }
