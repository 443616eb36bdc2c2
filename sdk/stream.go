// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync/atomic"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

// ChunkSize is the size of the gRPC chunk messages of the fallback path and
// of the copy buffers. 1 MiB: large enough that per-message costs vanish,
// small enough to keep every process's memory flat (measured in bench/).
const ChunkSize = wire.ChunkSize

// teeCalls counts the tee(2) rounds of teeFrom (tests check the path is
// taken).
var teeCalls atomic.Int64

// sender writes one stream: header, bytes (to an OS pipe or as gRPC chunks),
// trailer. It counts and checksums the bytes on the way.
type sender struct {
	send    func(*pb.StreamMessage) error
	pipe    *os.File // fd mode: bytes go here
	token   string
	hash    hash.Hash
	algo    string
	size    uint64
	files   uint64
	buf     []byte // chunk mode: pending bytes; fd mode: ReadFrom buffer
	msg     pb.StreamMessage
	chunk   pb.StreamMessage_Chunk
	started bool
	path    bool
	accepts bool
}

func newSender(send func(*pb.StreamMessage) error, pipe *os.File, token, algo string, acceptPath bool) (*sender, error) {
	h, err := NewChecksum(algo)
	if err != nil {
		return nil, err
	}
	if algo == "" {
		algo = DefaultChecksum
	}
	s := &sender{send: send, pipe: pipe, token: token, hash: h, algo: algo, accepts: acceptPath}
	s.msg.Msg = &s.chunk
	return s, nil
}

func headerToPB(h Header) *pb.StreamHeader {
	var t int64
	if !h.Time.IsZero() {
		t = h.Time.Unix()
	}
	return &pb.StreamHeader{
		Component: h.Component, FileName: h.FileName, MediaType: h.MediaType,
		Metadata: h.Metadata, LocalPath: h.LocalPath, RunId: h.RunID, Tags: h.Tags,
		Host: h.Host, TimeUnix: t,
	}
}

// headerFromPB converts a wire header.
func headerFromPB(h *pb.StreamHeader) Header {
	if h == nil {
		return Header{}
	}
	var t time.Time
	if h.TimeUnix != 0 {
		t = time.Unix(h.TimeUnix, 0)
	}
	return Header{
		Component: h.Component, FileName: h.FileName, MediaType: h.MediaType,
		Metadata: h.Metadata, LocalPath: h.LocalPath, RunID: h.RunId, Tags: h.Tags,
		Host: h.Host, Time: t,
	}
}

func (s *sender) Start(h Header) (io.Writer, error) {
	if s.started {
		return nil, errors.New("stream already started")
	}
	s.started = true
	ph := headerToPB(h)
	ph.LocalPath = ""
	ph.ChecksumAlgorithm = s.algo
	if s.pipe != nil {
		ph.FdToken = s.token
	}
	if err := s.send(&pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: ph}}); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sender) AcceptsPath() bool { return s.accepts }

func (s *sender) SendPath(h Header, dir string) error {
	if !s.accepts {
		return errors.New("the receiver does not accept a local path; stream bytes with Start")
	}
	if s.started {
		return errors.New("stream already started")
	}
	s.started, s.path = true, true
	ph := headerToPB(h)
	ph.LocalPath = dir
	return s.send(&pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: ph}})
}

func (s *sender) Write(p []byte) (int, error) {
	if s.path {
		return 0, errors.New("stream was sent as a local path")
	}
	s.hash.Write(p)
	s.size += uint64(len(p))
	if s.pipe != nil {
		return s.pipe.Write(p)
	}
	n := len(p)
	for len(p) > 0 {
		if s.buf == nil {
			s.buf = make([]byte, 0, ChunkSize)
		}
		k := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
		if len(s.buf) == cap(s.buf) {
			if err := s.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// ReadFrom reads straight into the chunk buffer. Bytes that come with an
// error (including io.EOF) are always sent before the error is looked at.
// In fd mode a pipe's bytes are moved with tee(2) instead (teeFrom).
func (s *sender) ReadFrom(r io.Reader) (int64, error) {
	if n, handled, err := s.teeFrom(r); handled {
		return n, err
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, ChunkSize)
	}
	var total int64
	for {
		n, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
		if n > 0 {
			total += int64(n)
			data := s.buf[len(s.buf) : len(s.buf)+n]
			s.hash.Write(data)
			s.size += uint64(n)
			if s.pipe != nil {
				if _, werr := s.pipe.Write(data); werr != nil {
					return total, werr
				}
			} else {
				s.buf = s.buf[:len(s.buf)+n]
				if len(s.buf) == cap(s.buf) {
					if ferr := s.flush(); ferr != nil {
						return total, ferr
					}
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

func (s *sender) flush() error {
	if s.pipe != nil || len(s.buf) == 0 {
		return nil
	}
	s.chunk.Chunk = s.buf
	err := s.send(&s.msg)
	s.buf = s.buf[:0]
	return err
}

// finish flushes, closes the pipe and sends the trailer for err.
func (s *sender) finish(err error) error {
	if err == nil && !s.started {
		err = errors.New("plugin returned without starting the stream")
	}
	if err == nil {
		err = s.flush()
	}
	if s.pipe != nil {
		if cerr := s.pipe.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	t := &pb.StreamTrailer{Success: err == nil, Size: s.size, ChecksumAlgorithm: s.algo, Files: s.files}
	if !s.path {
		t.Checksum = s.hash.Sum(nil)
	}
	if err != nil {
		t.Error = err.Error()
	}
	if serr := s.send(&pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: t}}); serr != nil && err == nil {
		err = serr
	}
	return err
}

// chunkReader reads a gRPC chunk stream after its header. It returns io.EOF
// only after a successful trailer whose size and checksum match what came.
type chunkReader struct {
	recv    func() (*pb.StreamMessage, error)
	cur     []byte
	size    uint64
	hash    hash.Hash // nil when the header named an unknown algorithm
	trailer *pb.StreamTrailer
	err     error
}

func newChunkReader(recv func() (*pb.StreamMessage, error), algo string) *chunkReader {
	h, _ := NewChecksum(algo)
	return &chunkReader{recv: recv, hash: h}
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		m, err := r.recv()
		if err != nil {
			r.err = fmt.Errorf("stream cut short after %d bytes: %v: %w", r.size, wire.FromStatus(err), ErrAborted)
			return 0, r.err
		}
		switch v := m.Msg.(type) {
		case *pb.StreamMessage_Chunk:
			r.cur = v.Chunk
			r.size += uint64(len(v.Chunk))
			if r.hash != nil {
				r.hash.Write(v.Chunk)
			}
		case *pb.StreamMessage_Trailer:
			r.trailer = v.Trailer
			r.err = r.check(v.Trailer)
			return 0, r.err
		default:
			r.err = fmt.Errorf("protocol error: unexpected %T inside a stream: %w", m.Msg, ErrAborted)
			return 0, r.err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) check(t *pb.StreamTrailer) error {
	if err := wire.TrailerError(t); err != nil {
		return err
	}
	if t.Size != r.size {
		return fmt.Errorf("stream size mismatch: trailer says %d bytes, received %d: %w", t.Size, r.size, ErrAborted)
	}
	if r.hash != nil && len(t.Checksum) > 0 && !bytes.Equal(r.hash.Sum(nil), t.Checksum) {
		return fmt.Errorf("stream checksum mismatch (%s): %w", t.ChecksumAlgorithm, ErrAborted)
	}
	return io.EOF
}

// receive returns the reader for a stream whose header h has been read, for
// a receiver (a Target's Write, a Source's Restore). In fd mode the reader
// is the pipe itself (an *os.File a plugin may hand to a child process);
// its end of file comes only once the SDK closes the guard after a
// successful trailer. done reports the stream's final state; abort is
// closed when the stream fails, so the plugin's context can be cancelled.
func receive(ctx context.Context, inbox *wire.Inbox, h *pb.StreamHeader,
	recv func() (*pb.StreamMessage, error)) (r io.Reader, done func() error, abort <-chan struct{}, err error) {
	aborted := make(chan struct{})
	if h.LocalPath != "" {
		// A directory stream: only the trailer follows.
		m, err := recv()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("directory stream: %v: %w", wire.FromStatus(err), ErrAborted)
		}
		t := m.GetTrailer()
		if err := wire.TrailerError(t); err != nil {
			return nil, nil, nil, err
		}
		return nil, func() error { return nil }, aborted, nil
	}
	if h.FdToken == "" {
		cr := newChunkReader(recv, h.ChecksumAlgorithm)
		return cr, func() error {
			if cr.trailer == nil || cr.err != io.EOF {
				if cr.err != nil && cr.err != io.EOF {
					return cr.err
				}
				return fmt.Errorf("plugin returned before reading the whole stream: %w", ErrAborted)
			}
			return nil
		}, aborted, nil
	}
	files, err := inbox.Take(ctx, h.FdToken, 2)
	if err != nil {
		return nil, nil, nil, err
	}
	pipe, guard := files[0], files[1]
	result := make(chan error, 1)
	go func() {
		m, err := recv()
		var terr error
		if err != nil {
			terr = fmt.Errorf("stream cut short: %v: %w", wire.FromStatus(err), ErrAborted)
		} else {
			terr = wire.TrailerError(m.GetTrailer())
		}
		if terr == nil {
			guard.Close() // the reader now sees end of file after the last byte
		} else {
			close(aborted)
			_ = pipe.SetReadDeadline(time.Now()) // wake a plain Go reader
		}
		result <- terr
	}()
	var final error
	var got bool
	return pipe, func() error {
		// The plugin is done with the stream: close the read end before
		// waiting for the trailer, so that a writer still sending (the
		// source, or the host's fan-out to this target) gets EPIPE at
		// once. A target that failed half-way (disk full, an offsite server
		// refusing the upload) must not leave the writer blocked on a full
		// pipe until the host's stall timeout.
		pipe.Close()
		if !got {
			select {
			case final = <-result:
			case <-ctx.Done():
				final = fmt.Errorf("stream: %w", ErrAborted)
			}
			got = true
		}
		guard.Close()
		return final
	}, aborted, nil
}
