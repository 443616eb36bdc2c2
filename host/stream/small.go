// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Pending is a whole small stream (a run manifest) whose Write call is
// opened before its bytes are known. The target starts on the header at
// once — target-restic starts `restic backup --stdin`, which derives the
// key, opens the repository and takes its lock — and then waits; Commit
// sends the bytes and the successful trailer, and only then does the
// target store anything. Abort sends a failed trailer instead: the target
// discards, as for any stream whose source failed.
//
// A backup run opens its manifest writes this way before the components
// stream, so that a manifest costs no restic start-up of its own at the
// end of the run (docs/performance.md, P1 and P5).
type Pending struct {
	ws     pb.TargetService_WriteClient
	w      *streamWriter
	cancel context.CancelFunc
	once   sync.Once
	snap   sdk.Snapshot
	err    error
}

// BeginWrite opens a Write call on t and sends it the header h (its bytes
// come as chunks, checksummed with sdk.DefaultChecksum). The call outlives
// ctx's cancellation: it ends with Commit or Abort (whose contexts bound
// the wait), so that even an interrupted run tells the target to discard
// rather than cutting the call.
func BeginWrite(ctx context.Context, t *Endpoint, h sdk.Header) (*Pending, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ws, err := t.Target.Write(ctx)
	if err != nil {
		cancel()
		return nil, wire.FromStatus(err)
	}
	w := newWriter(func(m *pb.StreamMessage) error { return ws.Send(&pb.WriteRequest{Message: m}) }, sdk.DefaultChecksum)
	ph := headerToPB(h)
	ph.LocalPath, ph.ChecksumAlgorithm = "", sdk.DefaultChecksum
	if err := w.Header(ph); err != nil {
		if _, rerr := ws.CloseAndRecv(); rerr != nil {
			err = rerr // the target's own error, not the call's io.EOF
		}
		cancel()
		return nil, wire.FromStatus(err)
	}
	return &Pending{ws: ws, w: w, cancel: cancel}, nil
}

// Commit sends data and a successful trailer, and returns the snapshot the
// target stored. ctx bounds the wait (the call itself lives as long as
// BeginWrite's context). Commit and Abort take effect once; later calls
// return the first outcome.
func (p *Pending) Commit(ctx context.Context, data []byte) (sdk.Snapshot, error) {
	p.once.Do(func() {
		stop := context.AfterFunc(ctx, p.cancel)
		defer stop()
		p.snap, p.err = p.finish(data, nil)
		if p.err != nil && ctx.Err() != nil {
			p.err = fmt.Errorf("%w (%v)", p.err, ctx.Err())
		}
	})
	return p.snap, p.err
}

// Abort sends a failed trailer naming why, and waits until the target has
// discarded the stream, or until ctx ends (then the call is cancelled,
// which stops the target's work too).
func (p *Pending) Abort(ctx context.Context, why error) {
	if why == nil {
		why = errors.New("aborted")
	}
	p.once.Do(func() {
		stop := context.AfterFunc(ctx, p.cancel)
		defer stop()
		_, _ = p.finish(nil, why)
		p.err = why
	})
}

func (p *Pending) finish(data []byte, why error) (sdk.Snapshot, error) {
	defer p.cancel()
	// A failed send means the target ended the call: CloseAndRecv says why.
	if why != nil {
		_ = p.w.Abort(why)
	} else if _, err := p.w.Write(data); err == nil {
		_ = p.w.Close()
	}
	resp, err := p.ws.CloseAndRecv()
	if why != nil {
		return sdk.Snapshot{}, why
	}
	if err != nil {
		return sdk.Snapshot{}, wire.FromStatus(err)
	}
	return convert.SnapshotFromPB(resp.GetSnapshot()), nil
}

// WriteBytes stores a whole small stream at once.
func WriteBytes(ctx context.Context, t *Endpoint, h sdk.Header, data []byte) (sdk.Snapshot, error) {
	p, err := BeginWrite(ctx, t, h)
	if err != nil {
		return sdk.Snapshot{}, err
	}
	return p.Commit(ctx, data)
}

// ReadBytes reads a whole small stored stream into memory, refusing more
// than limit bytes. The bytes come as chunks and are verified against the
// trailer (size and checksum).
func ReadBytes(ctx context.Context, t *Endpoint, snapshotID string, limit int) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs, err := t.Target.Read(ctx, &pb.ReadRequest{SnapshotId: snapshotID, ChecksumAlgorithm: sdk.DefaultChecksum})
	if err != nil {
		return nil, wire.FromStatus(err)
	}
	recv := func() (*pb.StreamMessage, error) {
		m, err := rs.Recv()
		return m.GetMessage(), err
	}
	if err := skipHeader(recv); err != nil {
		return nil, err
	}
	rd := newChunkReader(recv, sdk.DefaultChecksum)
	b, err := io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("snapshot %s is larger than %d bytes", snapshotID, limit)
	}
	return b, nil
}

// skipHeader reads a Read call's first message: the header, or a trailer
// that says why there is none.
func skipHeader(recv func() (*pb.StreamMessage, error)) error {
	m, err := recv()
	if err != nil {
		return wire.FromStatus(err)
	}
	if m.GetHeader() == nil {
		if err := wire.TrailerError(m.GetTrailer()); err != nil {
			return err
		}
		return fmt.Errorf("protocol error: the stream did not start with a header: %w", sdk.ErrAborted)
	}
	return nil
}

func headerToPB(h sdk.Header) *pb.StreamHeader {
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
