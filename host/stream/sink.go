// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Sink is one target instance a stream is written to.
type Sink struct {
	// Name of the instance: "local" or "offsite".
	Name   string
	Target *Endpoint
	// StallTimeout aborts this sink (and only this one) when it accepts no
	// bytes for this long while others do. Zero means no limit.
	StallTimeout time.Duration
}

// SinkResult is the outcome of one stream in one sink.
type SinkResult struct {
	Sink       string
	Snapshot   sdk.Snapshot
	BytesAdded uint64
	Err        error
}

// sink is one target's Write call during a backup.
type sink struct {
	Sink
	to     *Endpoint
	ws     pb.TargetService_WriteClient
	w      *streamWriter
	cancel context.CancelFunc
	ch     chan []byte // chunk transport: chunks for sendLoop
	done   chan struct{}
	pipe   *os.File // fan-out: the host's write end of this target's pipe

	mu  sync.Mutex
	err error
	// stopped: the target closed its end of the pipe before the stream
	// ended — it failed on its own (disk full, a server refusing the
	// upload); its own error comes with its answer (finish).
	stopped bool

	// ended is closed once the target's Write call has ended (its answer
	// is resp or respErr) or when it never opened. A call that ends
	// before the host sent its trailer is a failed target.
	ended   chan struct{}
	resp    *pb.WriteResponse
	respErr error
}

func newSink(s Sink) *sink {
	return &sink{Sink: s, to: s.Target, done: make(chan struct{}), ended: make(chan struct{})}
}

// begin opens the target's Write call and sends it the header.
func (s *sink) begin(ctx context.Context, h *pb.StreamHeader) {
	sctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	ws, err := s.to.Target.Write(sctx)
	if err == nil {
		s.w = newWriter(func(m *pb.StreamMessage) error { return ws.Send(&pb.WriteRequest{Message: m}) }, "")
		err = s.w.Header(h)
	}
	if err != nil {
		s.fail(fmt.Errorf("target %s: %w", s.Name, wire.FromStatus(err)))
		cancel()
		close(s.ended)
		return
	}
	s.ws = ws
	go s.await()
}

// await receives the target's answer while the stream goes on, so that
// the end of its call is seen when it comes (the target died or failed
// on its own), not only once the host sends the trailer. (gRPC lets one
// goroutine receive while another sends on the same call.)
func (s *sink) await() {
	defer close(s.ended)
	resp := new(pb.WriteResponse)
	if err := s.ws.RecvMsg(resp); err != nil {
		s.respErr = err
		return
	}
	s.resp = resp
}

// endErr is why the target's call ended before the host's trailer; call
// it once ended is closed.
func (s *sink) endErr() error {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped && s.respErr != nil {
		return fmt.Errorf("target %s: %w", s.Name, wire.FromStatus(s.respErr))
	}
	if err := s.failed(); err != nil {
		return err
	}
	if s.respErr != nil {
		return fmt.Errorf("target %s: %w", s.Name, wire.FromStatus(s.respErr))
	}
	return fmt.Errorf("target %s ended its call before the end of the stream", s.Name)
}

func (s *sink) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// abort fails the sink and cancels its call.
func (s *sink) abort(err error) {
	s.fail(err)
	if s.cancel != nil {
		s.cancel()
	}
}

// stop records that the target stopped reading its pipe on its own.
func (s *sink) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.fail(fmt.Errorf("target %s stopped reading the stream: %w", s.Name, sdk.ErrAborted))
}

func (s *sink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *sink) live() bool { return s.pipe != nil && s.failed() == nil }

func (s *sink) armStall() {
	if s.StallTimeout > 0 {
		_ = s.pipe.SetWriteDeadline(time.Now().Add(s.StallTimeout))
	}
}

func (s *sink) closePipe() {
	if s.pipe != nil {
		s.pipe.Close()
		s.pipe = nil
	}
}

// startSending starts the goroutine that sends the chunks the host
// forwards (chunk transport).
func (s *sink) startSending() {
	if s.ws == nil {
		return
	}
	s.ch = make(chan []byte, 2)
	go func() {
		defer close(s.done)
		for b := range s.ch {
			if _, err := s.w.Write(b); err != nil {
				// deliver also waits on s.done: closing it (deferred) lets
				// the producer go on without this loop draining s.ch.
				s.fail(fmt.Errorf("target %s: %w", s.Name, wire.FromStatus(err)))
				return
			}
		}
	}()
}

// deliver hands a chunk to the sink's sender, waiting at most the stall
// timeout; a sink that stalls is aborted (the others go on).
func (s *sink) deliver(b []byte, timer **time.Timer) {
	if s.ch == nil || s.failed() != nil {
		return
	}
	if s.StallTimeout <= 0 {
		select {
		case s.ch <- b:
		case <-s.done:
		}
		return
	}
	select {
	case s.ch <- b:
		return
	case <-s.done:
		return
	default:
	}
	if *timer == nil {
		*timer = time.NewTimer(s.StallTimeout)
	} else {
		(*timer).Reset(s.StallTimeout)
	}
	defer (*timer).Stop()
	select {
	case s.ch <- b:
	case <-s.done:
	case <-(*timer).C:
		s.abort(fmt.Errorf("target %s accepted no data for %s: aborted", s.Name, s.StallTimeout))
	}
}

// finish sends the trailer (t: the commit; nil: the abort, why) and waits
// for the target's answer, which comes after it has committed or
// discarded.
func (s *sink) finish(t *Trailer, why error) SinkResult {
	r := SinkResult{Sink: s.Name}
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
		t, why = nil, err
	}
	if s.StallTimeout > 0 && t != nil {
		// The commit (restic uploading what it still buffers, then the
		// index and the snapshot) gets the stall timeout too: restic
		// retries an unreachable backend for 15 minutes.
		timer := time.AfterFunc(s.StallTimeout, func() {
			s.abort(fmt.Errorf("target %s did not finish storing within %s after the end of the stream: aborted", s.Name, s.StallTimeout))
		})
		defer timer.Stop()
	}
	var err error
	if t != nil {
		err = s.w.Finish(*t)
	} else {
		err = s.w.Abort(why)
	}
	if err != nil && err != io.EOF && s.failed() == nil {
		s.fail(fmt.Errorf("target %s: %w", s.Name, wire.FromStatus(err)))
	}
	_ = s.ws.CloseSend() // as CloseAndRecv; await receives the answer
	<-s.ended
	resp, err := s.resp, s.respErr
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped && err != nil {
		r.Err = fmt.Errorf("target %s: %w", s.Name, wire.FromStatus(err))
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
		r.Err = fmt.Errorf("target %s: %w", s.Name, wire.FromStatus(err))
		return r
	}
	if t == nil {
		r.Err = fmt.Errorf("target %s reported success for an aborted stream", s.Name)
		return r
	}
	r.Snapshot = convert.SnapshotFromPB(resp.GetSnapshot())
	r.BytesAdded = resp.GetBytesAdded()
	return r
}
