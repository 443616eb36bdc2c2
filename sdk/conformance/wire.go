// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// The kit plays the host's part on the wire: it asks for streams, sends
// them, and checks their framing message by message.

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "conformance-" + hex.EncodeToString(b)
}

func sum256(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// stream is a backup (or read) stream as it arrived.
type stream struct {
	header  *pb.StreamHeader
	data    []byte
	trailer *pb.StreamTrailer
	// framing lists protocol violations, in order.
	framing []string
}

func (s *stream) violation(format string, args ...any) {
	s.framing = append(s.framing, fmt.Sprintf(format, args...))
}

// recvFunc receives the next stream message of a backup or read call.
type recvFunc func() (*pb.StreamMessage, error)

// collect reads header, chunks and trailer from recv and checks the
// framing: a header first (a failed trailer alone is allowed when the
// producer failed before starting), chunks only on the gRPC path, exactly
// one trailer, then the end of the call.
func collect(recv recvFunc, fd bool) (*stream, error) {
	s := &stream{}
	var buf bytes.Buffer
	for {
		m, err := recv()
		if err == io.EOF {
			if s.trailer == nil {
				s.violation("the stream ended without a trailer")
			}
			s.data = buf.Bytes()
			return s, nil
		}
		if err != nil {
			s.data = buf.Bytes()
			return s, wire.FromStatus(err)
		}
		if s.trailer != nil {
			s.violation("a %s message came after the trailer", msgKind(m))
			continue
		}
		switch v := m.GetMsg().(type) {
		case *pb.StreamMessage_Header:
			if s.header != nil {
				s.violation("a second header")
			}
			s.header = v.Header
		case *pb.StreamMessage_Chunk:
			if s.header == nil {
				s.violation("a chunk before the header")
			}
			if fd {
				s.violation("a gRPC chunk on a pipe stream (the bytes belong in the pipe)")
			}
			if len(v.Chunk) > sdk.ChunkSize {
				s.violation("a chunk of %d bytes, more than sdk.ChunkSize", len(v.Chunk))
			}
			buf.Write(v.Chunk)
		case *pb.StreamMessage_Trailer:
			s.trailer = v.Trailer
			if s.header == nil && v.Trailer.GetSuccess() {
				s.violation("a successful trailer without a header")
			}
		default:
			s.violation("an empty stream message")
		}
	}
}

func msgKind(m *pb.StreamMessage) string {
	switch m.GetMsg().(type) {
	case *pb.StreamMessage_Header:
		return "header"
	case *pb.StreamMessage_Chunk:
		return "chunk"
	case *pb.StreamMessage_Trailer:
		return "trailer"
	}
	return "empty"
}

// pipeReader drains a pipe's read end in the background.
type pipeReader struct {
	r    *os.File
	done chan struct{}
	data bytes.Buffer
	err  error
}

func readPipe(r *os.File) *pipeReader {
	p := &pipeReader{r: r, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_, p.err = io.Copy(&p.data, r)
	}()
	return p
}

// wait returns the bytes once every writer closed the pipe.
func (p *pipeReader) wait(d time.Duration) ([]byte, error) {
	select {
	case <-p.done:
		p.r.Close()
		return p.data.Bytes(), p.err
	case <-time.After(d):
		p.r.Close()
		return nil, fmt.Errorf("the stream pipe was not closed %s after the trailer: the plugin (or a child it started) still holds it open", d)
	}
}

// givePipe hands the plugin the write end of a new pipe under a new token
// and returns the token and the read end.
func givePipe(in *instance) (string, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	token := newToken()
	err = in.c.FD.Send(token, w)
	w.Close()
	if err != nil {
		r.Close()
		return "", nil, err
	}
	return token, r, nil
}

// receive starts a call that sends a stream — on the pipe path with a new
// pipe for its bytes, whose token call gets — and collects the stream.
func receive(in *instance, fd bool, call func(token string) (recvFunc, error)) (*stream, error) {
	var pr *pipeReader
	token := ""
	if fd {
		t, r, err := givePipe(in)
		if err != nil {
			return nil, err
		}
		token, pr = t, readPipe(r)
	}
	recv, err := call(token)
	if err != nil {
		if pr != nil {
			pr.r.Close()
		}
		return nil, wire.FromStatus(err)
	}
	s, err := collect(recv, fd)
	if pr != nil {
		if err != nil {
			pr.r.Close()
			return s, err
		}
		data, perr := pr.wait(30 * time.Second)
		if perr != nil {
			return s, perr
		}
		s.data = data
	}
	if err == nil && s.header != nil && s.header.LocalPath == "" && s.header.FdToken != token {
		s.violation("the header names fd token %q, the call %q", s.header.FdToken, token)
	}
	return s, err
}

// backup asks a source for a component over transport and collects the
// stream. With acceptPath the source may hand a directory instead.
func backup(ctx context.Context, in *instance, component string, fd, acceptPath bool) (*stream, error) {
	return receive(in, fd, func(token string) (recvFunc, error) {
		bs, err := in.c.Source.Backup(ctx, &pb.BackupRequest{Component: component, ChecksumAlgorithm: sdk.ChecksumSHA256,
			AcceptPath: acceptPath, FdToken: token})
		return func() (*pb.StreamMessage, error) { m, err := bs.Recv(); return m.GetMessage(), err }, err
	})
}

// checkTrailer checks a successful stream's trailer against its bytes.
func checkTrailer(s *stream) error {
	t := s.trailer
	var errs []string
	if !t.GetSuccess() {
		errs = append(errs, fmt.Sprintf("the trailer reports failure: %q", t.GetError()))
	}
	if t.GetError() != "" && t.GetSuccess() {
		errs = append(errs, fmt.Sprintf("a successful trailer carries an error %q", t.GetError()))
	}
	if t.GetSize() != uint64(len(s.data)) {
		errs = append(errs, fmt.Sprintf("the trailer says %d bytes, %d arrived", t.GetSize(), len(s.data)))
	}
	if t.GetChecksumAlgorithm() != sdk.ChecksumSHA256 {
		errs = append(errs, fmt.Sprintf("the trailer's checksum algorithm is %q, %q was asked for", t.GetChecksumAlgorithm(), sdk.ChecksumSHA256))
	} else if !bytes.Equal(t.GetChecksum(), sum256(s.data)) {
		errs = append(errs, fmt.Sprintf("the trailer's sha256 %x is not the sha256 of the bytes, %x", t.GetChecksum(), sum256(s.data)))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// how a sent stream ends.
const (
	endSuccess     = "success"
	endFailed      = "failed trailer"
	endCancel      = "cancelled call"
	endBadChecksum = "trailer with a wrong checksum"
)

// sendStream sends header, data and the ending through a pipe (fd) or as
// gRPC chunks: the host's side of a Target's Write and a Source's Restore.
// cut is how many bytes go before an abnormal ending.
type sendStream struct {
	header *pb.StreamHeader
	data   []byte
	fd     bool
	end    string
	cut    int
}

// errNotStopped says a receiver went on after its call was cancelled.
var errNotStopped = errors.New("the receiver did not stop")

// run drives one call: send delivers a stream message; cancel cancels the
// call. After a cancel, run waits until the receiver has stopped (it
// released the pipe, its children exited) and returns errNotStopped if it
// does not within stopTimeout.
func (s sendStream) run(in *instance, token string, send func(*pb.StreamMessage) error, cancel func()) error {
	data := s.data
	if s.end == endFailed || s.end == endCancel {
		data = data[:s.cut]
	}
	h := proto.Clone(s.header).(*pb.StreamHeader)
	h.ChecksumAlgorithm = sdk.ChecksumSHA256
	before := descendants(in.pid)
	var werr chan error
	var w *os.File
	if s.fd {
		var r *os.File
		var err error
		if r, w, err = os.Pipe(); err != nil {
			return err
		}
		defer w.Close()
		// The receiver gets the read end and a guard (a second write end)
		// it closes only after a successful trailer: end of file never
		// comes from a writer that merely stopped.
		err = in.c.FD.Send(token, r, w)
		r.Close()
		if err != nil {
			return err
		}
		h.FdToken = token
		werr = make(chan error, 1)
		go func() {
			_, err := w.Write(data)
			if s.end != endCancel {
				w.Close() // with the cancel, w tells when the receiver let go
			}
			werr <- err
		}()
	}
	if err := send(&pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: h}}); err != nil {
		return err
	}
	if !s.fd {
		for d := data; len(d) > 0; {
			n := min(len(d), sdk.ChunkSize)
			if err := send(&pb.StreamMessage{Msg: &pb.StreamMessage_Chunk{Chunk: d[:n]}}); err != nil {
				return err
			}
			d = d[n:]
		}
	} else if err := <-werr; err != nil && s.end == endSuccess {
		return fmt.Errorf("writing the stream pipe: %w", err)
	}
	tr := &pb.StreamTrailer{Success: true, Size: uint64(len(data)), ChecksumAlgorithm: sdk.ChecksumSHA256, Checksum: sum256(data)}
	switch s.end {
	case endCancel:
		cancel()
		if !in.settle(before, w) {
			return errNotStopped
		}
		return nil
	case endFailed:
		tr = &pb.StreamTrailer{Success: false, Size: uint64(len(data)), Error: "conformance: the source failed"}
	case endBadChecksum:
		tr.Checksum = sum256(append([]byte("not"), data...))
	}
	return send(&pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: tr}})
}

// write sends a stream to a target's Write. stuck is errNotStopped when a
// cancelled Write went on.
func write(in *instance, s sendStream) (resp *pb.WriteResponse, err, stuck error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	ws, err := in.c.Target.Write(ctx)
	if err != nil {
		return nil, wire.FromStatus(err), nil
	}
	serr := s.run(in, newToken(), func(m *pb.StreamMessage) error {
		return ws.Send(&pb.WriteRequest{Message: m})
	}, cancel)
	if serr == errNotStopped {
		stuck = serr
	}
	resp, err = ws.CloseAndRecv()
	if err == nil && serr != nil && serr != io.EOF {
		err = serr
	}
	return resp, wire.FromStatus(err), stuck
}

// restore sends a stream to a source's Restore. stuck is errNotStopped
// when a cancelled Restore went on.
func restore(in *instance, opts *pb.RestoreOptions, s sendStream) (err, stuck error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	rs, err := in.c.Source.Restore(ctx)
	if err != nil {
		return wire.FromStatus(err), nil
	}
	if err := rs.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Options{Options: opts}}); err != nil {
		_, err = rs.CloseAndRecv()
		return wire.FromStatus(err), nil
	}
	serr := s.run(in, newToken(), func(m *pb.StreamMessage) error {
		return rs.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Stream{Stream: m}})
	}, cancel)
	if serr == errNotStopped {
		stuck = serr
	}
	_, err = rs.CloseAndRecv()
	if err == nil && serr != nil && serr != io.EOF {
		err = serr
	}
	return wire.FromStatus(err), stuck
}

// read reads a snapshot back from a target over transport.
func read(in *instance, id string, fd bool) (*stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return receive(in, fd, func(token string) (recvFunc, error) {
		rs, err := in.c.Target.Read(ctx, &pb.ReadRequest{SnapshotId: id, ChecksumAlgorithm: sdk.ChecksumSHA256, FdToken: token})
		return func() (*pb.StreamMessage, error) { m, err := rs.Recv(); return m.GetMessage(), err }, err
	})
}

// list returns the IDs of a target's snapshots and the snapshots by ID.
func list(t interface{ Fatalf(string, ...any) }, in *instance) map[string]sdk.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := in.c.Target.List(ctx, &pb.ListRequest{})
	if err != nil {
		t.Fatalf("List: %v", wire.FromStatus(err))
	}
	out := map[string]sdk.Snapshot{}
	for _, s := range resp.Snapshots {
		out[s.Id] = convert.SnapshotFromPB(s)
	}
	return out
}

func newIDs(before, after map[string]sdk.Snapshot) []string {
	var ids []string
	for id := range after {
		if _, ok := before[id]; !ok {
			ids = append(ids, id)
		}
	}
	return ids
}
