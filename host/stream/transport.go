// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"os"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// Transport names, as Result.Transport reports them.
const (
	// TransportPath: the source hands the targets a local directory.
	TransportPath = "path"
	// TransportPipe: one OS pipe from the writer straight to the reader.
	TransportPipe = "pipe"
	// TransportFanOut: the source writes one pipe, the host feeds one pipe
	// per target (tee/splice, or a read and a write).
	TransportFanOut = "pipe-fanout"
	// TransportChunks: gRPC chunks on the calls themselves.
	TransportChunks = "grpc"
)

// transport is one way the bytes of a stream travel from its writer (a
// source's backup, a target's read) to its readers. The calls carry the
// header and the trailer whatever the transport.
type transport interface {
	// Name is one of the Transport* names.
	Name() string
	// open hands the writer and every reader their ends of the pipes the
	// bytes take, under the token the calls then name.
	open(writer *Endpoint, readers []*sink) error
	// token names the pipe ends in the calls ("" when there are none).
	token() string
	// acceptPath tells the writer it may send a directory instead.
	acceptPath() bool
	// reader is the host's reader of the writer's call: what it checks
	// at the end depends on what passed the host. algo names the checksum
	// the host verifies when the bytes pass it ("": the size only).
	reader(recv func() (*pb.StreamMessage, error), algo string) *streamReader
	// forward reports whether the host forwards chunks to the readers.
	forward() bool
	// hostCopied counts the bytes that passed through the host's memory
	// on the way (after the stream).
	hostCopied() uint64
	// close closes the host's own pipe ends; readers keep their guards.
	close()
}

// choose picks the cheapest transport every party supports: a directory
// when dir allows it and the writer and every reader take one (the writer
// may still send bytes: then they take chunks, see afterHeader), one pipe
// from the writer to a single reader (or to the host, when there is no
// reader but the host), a pipe per reader fed by the host, gRPC chunks as
// the fallback. It is the only place the transport is decided.
func choose(writer *Endpoint, readers []*Endpoint, dir bool) transport {
	path, fd := dir && writer.Path, writer.FD != nil
	for _, r := range readers {
		path = path && r.Path
		fd = fd && r.FD != nil
	}
	switch {
	case path:
		return pathTransport{}
	case fd && len(readers) <= 1:
		return &pipeTransport{tok: newToken()}
	case fd:
		return &fanOutTransport{tok: newToken()}
	}
	return chunkTransport{}
}

// afterHeader is the transport once the writer's header came: a writer
// offered a directory that sends bytes instead sends them as chunks.
func afterHeader(t transport, h *pb.StreamHeader) transport {
	if _, ok := t.(pathTransport); ok && h.GetLocalPath() == "" {
		return chunkTransport{}
	}
	return t
}

// pathTransport: no bytes move; the header names a local directory the
// readers read themselves.
type pathTransport struct{}

func (pathTransport) Name() string                  { return TransportPath }
func (pathTransport) open(*Endpoint, []*sink) error { return nil }
func (pathTransport) token() string                 { return "" }
func (pathTransport) acceptPath() bool              { return true }
func (pathTransport) forward() bool                 { return false }
func (pathTransport) hostCopied() uint64            { return 0 }
func (pathTransport) close()                        {}
func (pathTransport) reader(recv func() (*pb.StreamMessage, error), _ string) *streamReader {
	return newTrailerReader(recv, nil)
}

// chunkTransport: the bytes come as chunks on the writer's call and the
// host forwards each to every reader's call.
type chunkTransport struct{}

func (chunkTransport) Name() string                  { return TransportChunks }
func (chunkTransport) open(*Endpoint, []*sink) error { return nil }
func (chunkTransport) token() string                 { return "" }
func (chunkTransport) acceptPath() bool              { return false }
func (chunkTransport) forward() bool                 { return true }
func (chunkTransport) hostCopied() uint64            { return 0 }
func (chunkTransport) close()                        {}
func (chunkTransport) reader(recv func() (*pb.StreamMessage, error), algo string) *streamReader {
	return newChunkReader(recv, algo)
}

// pipeTransport: one OS pipe from the writer straight to the reader; the
// bytes never enter the host. The reader gets the read end and a
// duplicate of the write end (its guard), so the read end reaches end of
// file only when the reader's SDK closes the guard after a successful
// trailer — never because the writer died. With no reader the host keeps
// the read end and reads the bytes itself (no guard: the streamReader checks the
// trailer before it reports the end).
type pipeTransport struct {
	tok  string
	host *os.File // the host's read end when it is the reader
}

func (t *pipeTransport) Name() string       { return TransportPipe }
func (t *pipeTransport) token() string      { return t.tok }
func (t *pipeTransport) acceptPath() bool   { return false }
func (t *pipeTransport) forward() bool      { return false }
func (t *pipeTransport) hostCopied() uint64 { return 0 }

func (t *pipeTransport) reader(recv func() (*pb.StreamMessage, error), algo string) *streamReader {
	if t.host != nil {
		return newPipeReader(recv, t.host, algo)
	}
	return newTrailerReader(recv, nil)
}

func (t *pipeTransport) open(writer *Endpoint, readers []*sink) error {
	r, w, err := newPipe()
	if err != nil {
		return err
	}
	defer w.Close()
	if len(readers) == 0 {
		t.host = r
	} else {
		defer r.Close()
		if err := readers[0].to.FD.Send(t.tok, r, w); err != nil {
			return err
		}
	}
	return writer.FD.Send(t.tok, w)
}

func (t *pipeTransport) close() {
	if t.host != nil {
		t.host.Close()
		t.host = nil
	}
}

// fanOutTransport: the writer writes one pipe; the host feeds one pipe per
// reader (each guarded like pipeTransport's) from it, with tee/splice for
// two readers (fanout.go).
type fanOutTransport struct {
	tok   string
	in    *os.File
	outs  []*sink
	done  chan struct{}
	moved uint64
	host  uint64
	err   error
}

func (t *fanOutTransport) Name() string       { return TransportFanOut }
func (t *fanOutTransport) token() string      { return t.tok }
func (t *fanOutTransport) acceptPath() bool   { return false }
func (t *fanOutTransport) forward() bool      { return false }
func (t *fanOutTransport) hostCopied() uint64 { return t.host }

func (t *fanOutTransport) open(writer *Endpoint, readers []*sink) error {
	r, w, err := newPipe()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := writer.FD.Send(t.tok, w); err != nil {
		r.Close()
		return err
	}
	t.in, t.outs = r, readers
	for _, s := range readers {
		tr, tw, err := newPipe()
		if err != nil {
			return err
		}
		err = s.to.FD.Send(t.tok, tr, tw)
		tr.Close()
		if err != nil {
			tw.Close()
			return err
		}
		s.pipe = tw
	}
	return nil
}

// reader starts moving the bytes; the trailer's size is checked against
// what was moved, once the writer's end of the pipe closed.
func (t *fanOutTransport) reader(recv func() (*pb.StreamMessage, error), _ string) *streamReader {
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		t.moved, t.host, t.err = fanOut(t.in, t.outs)
	}()
	return newTrailerReader(recv, t.wait)
}

func (t *fanOutTransport) wait() (uint64, error) {
	<-t.done
	return t.moved, t.err
}

func (t *fanOutTransport) close() {
	if t.done != nil && t.in != nil {
		<-t.done // the writer's end is closed or gone: the fan-out ends
	}
	if t.in != nil {
		t.in.Close()
		t.in = nil
	}
	for _, s := range t.outs {
		s.closePipe()
	}
}
