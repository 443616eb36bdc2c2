// SPDX-License-Identifier: Apache-2.0

package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/pipes"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Sink is one target instance a stream is written to.
type Sink struct {
	// Name of the instance: "local" or "offsite".
	Name string
	P    *Plugin
	// StallTimeout aborts this sink (and only this one) when it accepts no
	// bytes for this long while others do. Zero means no limit.
	StallTimeout time.Duration
}

// StreamSpec is the snapshot metadata the host adds to every stream.
type StreamSpec struct {
	Component string
	RunID     string
	Host      string
	Time      time.Time
	Tags      []string
	Checksum  string
	// SourceFailed, if set, is called as soon as the source has failed,
	// before the sinks are told to abort (which can take restic's kill
	// grace): the runner aborts its pending manifest writes meanwhile.
	SourceFailed func(error)
}

// SinkResult is the outcome of one stream in one sink.
type SinkResult struct {
	Sink       string
	Snapshot   sdk.Snapshot
	BytesAdded uint64
	Err        error
}

// StreamResult is the outcome of one component's stream.
type StreamResult struct {
	Component string
	Header    *pb.StreamHeader
	Trailer   *pb.StreamTrailer
	// SourceErr is set when the source failed or was cut short; then no
	// sink committed anything.
	SourceErr error
	Sinks     []SinkResult
	Duration  time.Duration
	// Transport the bytes took: "pipe" (source → target directly),
	// "pipe-fanout" (through the host into a pipe per target), "grpc"
	// (chunks) or "path" (a local directory).
	Transport string
	// HostCopied counts the stream's bytes that passed through the host's
	// memory on the fan-out path (0 when tee/splice moved them all).
	HostCopied uint64
}

// Err returns the error for a sink, counting a source failure.
func (r *StreamResult) Err(sink string) error {
	if r.SourceErr != nil {
		return r.SourceErr
	}
	for _, s := range r.Sinks {
		if s.Sink == sink {
			return s.Err
		}
	}
	return fmt.Errorf("no result for %s", sink)
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	pipes.GrowFile(w) // 1 MiB: data moves in large batches, with fewer wake-ups
	return r, w, nil
}

type sinkStream struct {
	sink   Sink
	ws     pb.TargetService_WriteClient
	cancel context.CancelFunc
	ch     chan *pb.StreamMessage
	done   chan struct{}
	w      *os.File // fan-out mode: the host's write end
	err    error
	mu     sync.Mutex
	// stopped: the target closed its end of the pipe before the stream
	// ended — it failed on its own (disk full, a server refusing the
	// upload); its own error comes with its answer (finish).
	stopped bool
}

func (s *sinkStream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *sinkStream) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// StreamBackup streams one component from src into every sink at once.
//
// Bytes take the cheapest path every party supports: a local directory
// (source and all targets have CapPath), one OS pipe from the source
// straight to a single target (CapFD), an OS pipe per target fed by the
// host (several targets), or gRPC chunks (fallback). Whatever the path, a
// target commits only after the source's successful trailer: if the source
// fails or is cut short, every target is told to abort and nothing is
// stored. A failing sink does not affect the others.
func StreamBackup(ctx context.Context, src *Plugin, sinks []Sink, spec StreamSpec) *StreamResult {
	start := time.Now()
	res := &StreamResult{Component: spec.Component}
	defer func() { res.Duration = time.Since(start) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	usePath, useFD := src.Has(sdk.CapPath), src.Client.FD != nil
	for _, s := range sinks {
		usePath = usePath && s.P.Has(sdk.CapPath)
		useFD = useFD && s.P.Client.FD != nil
	}
	if usePath {
		useFD = false
	}
	token := ""
	var fanIn *os.File
	streams := make([]*sinkStream, len(sinks))
	for i, s := range sinks {
		streams[i] = &sinkStream{sink: s, done: make(chan struct{})}
	}
	closeAll := func() {
		if fanIn != nil {
			fanIn.Close()
		}
		for _, st := range streams {
			if st.w != nil {
				st.w.Close()
				st.w = nil
			}
		}
	}
	defer closeAll()
	if useFD {
		token = newToken()
		if err := setupPipes(token, src, streams, &fanIn); err != nil {
			res.SourceErr = fmt.Errorf("setting up stream pipes: %w", err)
			return res
		}
	}

	bs, err := src.Client.Source.Backup(ctx, &pb.BackupRequest{
		Component: spec.Component, FdToken: token, AcceptPath: usePath, ChecksumAlgorithm: spec.Checksum,
	})
	var first *pb.BackupResponse
	if err == nil {
		first, err = bs.Recv()
	}
	if err != nil {
		res.SourceErr = fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
		return res
	}
	hdr := first.GetMessage().GetHeader()
	if hdr == nil {
		if t := first.GetMessage().GetTrailer(); t != nil {
			res.Trailer = t
			res.SourceErr = fmt.Errorf("source %s: %w", src.Name, wire.TrailerError(t))
			if res.SourceErr == nil {
				res.SourceErr = fmt.Errorf("source %s sent no header", src.Name)
			}
		} else {
			res.SourceErr = fmt.Errorf("protocol error: source %s did not start with a header", src.Name)
		}
		return res
	}
	res.Header = hdr
	pathMode := hdr.LocalPath != ""
	switch {
	case pathMode:
		res.Transport = "path"
	case useFD && fanIn != nil:
		res.Transport = "pipe-fanout"
	case useFD:
		res.Transport = "pipe"
	default:
		res.Transport = "grpc"
	}

	// Open one Write stream per sink and send it the header.
	for _, st := range streams {
		sctx, scancel := context.WithCancel(ctx)
		st.cancel = scancel
		th := proto.Clone(hdr).(*pb.StreamHeader)
		th.Component = spec.Component
		th.RunId, th.Tags, th.Host = spec.RunID, spec.Tags, spec.Host
		if !spec.Time.IsZero() {
			th.TimeUnix = spec.Time.Unix()
		}
		th.FdToken = ""
		if useFD && !pathMode {
			th.FdToken = token
		}
		ws, err := st.sink.P.Client.Target.Write(sctx)
		if err == nil {
			err = ws.Send(&pb.WriteRequest{Message: &pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: th}}})
		}
		if err != nil {
			st.fail(fmt.Errorf("target %s: %w", st.sink.Name, wire.FromStatus(err)))
			scancel()
			continue
		}
		st.ws = ws
	}

	// Move the bytes.
	var copied uint64
	copyDone := make(chan error, 1)
	switch {
	case fanIn != nil && !pathMode:
		go func() {
			n, viaHost, err := fanOut(fanIn, streams)
			copied, res.HostCopied = n, viaHost
			copyDone <- err
		}()
	default:
		copyDone <- nil
	}
	if !useFD && !pathMode {
		for _, st := range streams {
			if st.ws != nil {
				st.ch = make(chan *pb.StreamMessage, 2)
				go st.sendLoop()
			}
		}
	}

	var trailer *pb.StreamTrailer
	var srcErr error
	var stall *time.Timer
	for trailer == nil && srcErr == nil {
		m, err := bs.Recv()
		if err != nil {
			srcErr = fmt.Errorf("source %s stopped mid-stream: %w", src.Name, wire.FromStatus(err))
			break
		}
		switch v := m.GetMessage().GetMsg().(type) {
		case *pb.StreamMessage_Chunk:
			if useFD || pathMode {
				srcErr = fmt.Errorf("protocol error: source %s sent chunks on an fd or path stream", src.Name)
				break
			}
			copied += uint64(len(v.Chunk))
			for _, st := range streams {
				if st.ch == nil || st.failed() != nil {
					continue
				}
				if !st.deliver(m.GetMessage(), &stall) {
					st.fail(fmt.Errorf("target %s accepted no data for %s: aborted", st.sink.Name, st.sink.StallTimeout))
					st.cancel()
				}
			}
		case *pb.StreamMessage_Trailer:
			trailer = v.Trailer
		default:
			srcErr = fmt.Errorf("protocol error: source %s sent %T mid-stream", src.Name, v)
		}
	}
	res.Trailer = trailer
	if srcErr == nil {
		srcErr = wire.TrailerError(trailer)
		if srcErr != nil {
			srcErr = fmt.Errorf("source %s: %w", src.Name, srcErr)
		}
	}
	if err := <-copyDone; err != nil && srcErr == nil {
		srcErr = fmt.Errorf("forwarding the stream: %w", err)
	}
	if srcErr == nil && !useFD && !pathMode && copied != trailer.Size {
		srcErr = fmt.Errorf("source %s: trailer says %d bytes, %d arrived: %w", src.Name, trailer.Size, copied, sdk.ErrAborted)
	}
	if srcErr == nil && fanIn != nil && !pathMode && copied != trailer.Size {
		srcErr = fmt.Errorf("source %s: trailer says %d bytes, %d arrived: %w", src.Name, trailer.Size, copied, sdk.ErrAborted)
	}
	res.SourceErr = srcErr
	if srcErr != nil && spec.SourceFailed != nil {
		spec.SourceFailed(srcErr)
	}
	closeAll() // the host's pipe ends: targets still hold their guards

	// Commit or abort every sink.
	final := trailer
	if srcErr != nil {
		final = &pb.StreamTrailer{Success: false, Error: srcErr.Error()}
	}
	var wg sync.WaitGroup
	results := make([]SinkResult, len(streams))
	for i, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = st.finish(final)
		}()
	}
	wg.Wait()
	res.Sinks = results
	if srcErr != nil && useFD && fanIn == nil && !pathMode && len(results) == 1 {
		// One pipe from the source straight to the target: a target that
		// failed on its own closed the pipe, and the source's next write
		// failed (EPIPE). The target's failure is the cause; a target that
		// was aborted because the source failed says ErrAborted instead.
		if terr := results[0].Err; terr != nil && !errors.Is(terr, sdk.ErrAborted) {
			res.SourceErr = fmt.Errorf("%w (the source then stopped: %v)", terr, srcErr)
		}
	}
	return res
}

func setupPipes(token string, src *Plugin, streams []*sinkStream, fanIn **os.File) error {
	if len(streams) == 1 {
		// One pipe from the source straight to the target. The target gets
		// the read end and a duplicate of the write end (its guard), so the
		// read end reaches EOF only when the target's SDK closes the guard
		// after a successful trailer — never because the source died.
		r, w, err := newPipe()
		if err != nil {
			return err
		}
		defer r.Close()
		defer w.Close()
		if err := streams[0].sink.P.Client.FD.Send(token, r, w); err != nil {
			return err
		}
		return src.Client.FD.Send(token, w)
	}
	// Several targets: the source writes one pipe, the host copies it into
	// one pipe per target (each guarded the same way).
	r, w, err := newPipe()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := src.Client.FD.Send(token, w); err != nil {
		r.Close()
		return err
	}
	*fanIn = r
	for _, st := range streams {
		tr, tw, err := newPipe()
		if err != nil {
			return err
		}
		err = st.sink.P.Client.FD.Send(token, tr, tw)
		tr.Close()
		if err != nil {
			tw.Close()
			return err
		}
		st.w = tw
	}
	return nil
}

// fanOut feeds every live sink's pipe from the source pipe. A sink that
// takes nothing for its stall timeout is dropped; the others go on. With
// two sinks (local and offsite, the case --offsite makes) the bytes never
// pass through this process: tee(2) links the source pipe's pages into the
// first sink's pipe, then splice(2) moves the same pages into the second
// (fanOutTee). Otherwise they are read once and written to each sink.
// It returns the bytes moved and how many of them passed through this
// process.
func fanOut(in *os.File, streams []*sinkStream) (total, viaHost uint64, err error) {
	if len(streams) == 2 {
		if n, drained, ok, err := fanOutTee(in, streams); ok {
			return n, drained, err
		}
	}
	n, err := fanOutCopy(in, streams, 0)
	return n, n, err
}

// sinkWriteFailed records a failed write into a sink's pipe: EPIPE means
// the target stopped reading on its own (its answer says why); anything
// else (the stall timeout) aborts the sink.
func sinkWriteFailed(st *sinkStream, werr error) {
	if errors.Is(werr, syscall.EPIPE) {
		st.mu.Lock()
		st.stopped = true
		st.mu.Unlock()
		st.fail(fmt.Errorf("target %s stopped reading the stream: %w", st.sink.Name, sdk.ErrAborted))
		return
	}
	if errors.Is(werr, os.ErrDeadlineExceeded) {
		werr = fmt.Errorf("accepted no data for %s", st.sink.StallTimeout)
	}
	st.fail(fmt.Errorf("target %s: %w: aborted", st.sink.Name, werr))
	if st.cancel != nil {
		st.cancel()
	}
}

func (s *sinkStream) live() bool { return s.w != nil && s.failed() == nil }

func (s *sinkStream) armStall() {
	if s.sink.StallTimeout > 0 {
		_ = s.w.SetWriteDeadline(time.Now().Add(s.sink.StallTimeout))
	}
}

// fanOutTee is fanOut for two sinks without copying: per batch, tee(2)
// duplicates up to 1 MiB from the front of the source pipe into sink a's
// pipe without consuming it, then splice(2) moves exactly those bytes into
// sink b's pipe (consuming them, so the two stay in lockstep: tee only
// ever copies from the front). When one sink fails, the other gets
// spliced alone; when both failed, the rest is drained. ok is false when
// the pipes do not support it (nothing was moved then).
func fanOutTee(in *os.File, streams []*sinkStream) (total, viaHost uint64, ok bool, err error) {
	src, err := in.SyscallConn()
	if err != nil {
		return 0, 0, false, nil
	}
	a, b := streams[0], streams[1]
	var ac, bc syscall.RawConn
	if a.w != nil {
		if ac, err = a.w.SyscallConn(); err != nil {
			return 0, 0, false, nil
		}
	}
	if b.w != nil {
		if bc, err = b.w.SyscallConn(); err != nil {
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
func fanOutCopy(in *os.File, streams []*sinkStream, total uint64) (uint64, error) {
	buf := make([]byte, sdk.ChunkSize)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			total += uint64(n)
			for _, st := range streams {
				if !st.live() {
					continue
				}
				st.armStall()
				if _, werr := st.w.Write(buf[:n]); werr != nil {
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

// deliver hands a chunk to the sink's sender, waiting at most the stall
// timeout. It reports false when the sink stalled.
func (s *sinkStream) deliver(m *pb.StreamMessage, timer **time.Timer) bool {
	if s.sink.StallTimeout <= 0 {
		select {
		case s.ch <- m:
			return true
		case <-s.done:
			return true
		}
	}
	select {
	case s.ch <- m:
		return true
	case <-s.done:
		return true
	default:
	}
	if *timer == nil {
		*timer = time.NewTimer(s.sink.StallTimeout)
	} else {
		(*timer).Reset(s.sink.StallTimeout)
	}
	defer (*timer).Stop()
	select {
	case s.ch <- m:
		return true
	case <-s.done:
		return true
	case <-(*timer).C:
		return false
	}
}

func (s *sinkStream) sendLoop() {
	defer close(s.done)
	for m := range s.ch {
		if err := s.ws.Send(&pb.WriteRequest{Message: m}); err != nil {
			// deliver also waits on s.done: closing it (deferred) lets
			// every producer go on without this loop draining s.ch.
			s.fail(fmt.Errorf("target %s: %w", s.sink.Name, wire.FromStatus(err)))
			return
		}
	}
}

// finish sends the trailer (the commit, or the abort) and waits for the
// target's answer, which comes after it has committed or discarded.
func (s *sinkStream) finish(t *pb.StreamTrailer) SinkResult {
	r := SinkResult{Sink: s.sink.Name}
	if s.cancel != nil {
		defer s.cancel()
	}
	if s.ch != nil {
		close(s.ch)
		<-s.done
	}
	if s.ws == nil {
		r.Err = s.failed()
		return r
	}
	if err := s.failed(); err != nil {
		t = &pb.StreamTrailer{Success: false, Error: err.Error()}
	}
	if s.sink.StallTimeout > 0 && t.Success {
		// The commit (restic uploading what it still buffers, then the
		// index and the snapshot) gets the stall timeout too: restic
		// retries an unreachable backend for 15 minutes.
		timer := time.AfterFunc(s.sink.StallTimeout, func() {
			s.fail(fmt.Errorf("target %s did not finish storing within %s after the end of the stream: aborted", s.sink.Name, s.sink.StallTimeout))
			s.cancel()
		})
		defer timer.Stop()
	}
	if err := s.ws.Send(&pb.WriteRequest{Message: &pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: t}}}); err != nil && err != io.EOF {
		if e := s.failed(); e == nil {
			s.fail(fmt.Errorf("target %s: %w", s.sink.Name, wire.FromStatus(err)))
		}
	}
	resp, err := s.ws.CloseAndRecv()
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped && err != nil {
		r.Err = fmt.Errorf("target %s: %w", s.sink.Name, wire.FromStatus(err))
		return r
	}
	if prior := s.failed(); prior != nil {
		r.Err = prior
		if err == nil {
			r.Err = fmt.Errorf("%w (and the target committed %s anyway)", prior, resp.GetSnapshot().GetId())
		}
		return r
	}
	if err != nil {
		r.Err = fmt.Errorf("target %s: %w", s.sink.Name, wire.FromStatus(err))
		return r
	}
	if !t.Success {
		r.Err = fmt.Errorf("target %s reported success for an aborted stream", s.sink.Name)
		return r
	}
	r.Snapshot = convert.SnapshotFromPB(resp.GetSnapshot())
	r.BytesAdded = resp.GetBytesAdded()
	return r
}

// WriteBytes stores a small in-memory stream (e.g. a run manifest).
func WriteBytes(ctx context.Context, t *Plugin, h *pb.StreamHeader, data []byte) (sdk.Snapshot, error) {
	p, err := BeginWrite(ctx, t, h)
	if err != nil {
		return sdk.Snapshot{}, err
	}
	return p.Commit(ctx, data)
}

// ReadBytes reads a small stored stream fully into memory, refusing more
// than limit bytes.
func ReadBytes(ctx context.Context, t *Plugin, snapshotID string, limit int) ([]byte, error) {
	rs, err := t.Client.Target.Read(ctx, &pb.ReadRequest{SnapshotId: snapshotID})
	if err != nil {
		return nil, wire.FromStatus(err)
	}
	var buf bytes.Buffer
	for {
		m, err := rs.Recv()
		if err != nil {
			return nil, wire.FromStatus(err)
		}
		switch v := m.GetMessage().GetMsg().(type) {
		case *pb.StreamMessage_Chunk:
			if buf.Len()+len(v.Chunk) > limit {
				return nil, fmt.Errorf("snapshot %s is larger than %d bytes", snapshotID, limit)
			}
			buf.Write(v.Chunk)
		case *pb.StreamMessage_Trailer:
			if err := wire.TrailerError(v.Trailer); err != nil {
				return nil, err
			}
			return buf.Bytes(), nil
		}
	}
}
