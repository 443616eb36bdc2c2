// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// PendingWrite is a Write stream opened before its bytes are known. The
// target starts on the header at once — target-restic starts `restic backup
// --stdin`, which derives the key, opens the repository and takes its lock
// — and then waits; Commit sends the bytes and the successful trailer, and
// only then does the target store anything. Abort (or Commit of a failed
// run) sends a failed trailer instead: the target discards, as for any
// stream whose source failed.
//
// Runner.Backup opens the run manifest's write this way before the
// components stream, so that a manifest costs no restic start-up of its own
// at the end of the run (docs/performance.md, P1 and P5).
type PendingWrite struct {
	ws     pb.TargetService_WriteClient
	cancel context.CancelFunc
	once   sync.Once
	snap   sdk.Snapshot
	err    error
}

// BeginWrite opens a Write stream on t and sends it the header h. The
// stream outlives ctx's cancellation: it ends with Commit or Abort (whose
// contexts bound the wait), so that even an interrupted run tells the
// target to discard rather than cutting the call.
func BeginWrite(ctx context.Context, t *Plugin, h *pb.StreamHeader) (*PendingWrite, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ws, err := t.Client.Target.Write(ctx)
	if err != nil {
		cancel()
		return nil, wire.FromStatus(err)
	}
	h = proto.Clone(h).(*pb.StreamHeader)
	h.FdToken, h.LocalPath, h.ChecksumAlgorithm = "", "", sdk.DefaultChecksum
	if err := ws.Send(&pb.WriteRequest{Message: &pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: h}}}); err != nil {
		if _, rerr := ws.CloseAndRecv(); rerr != nil {
			err = rerr // the target's own error, not the stream's io.EOF
		}
		cancel()
		return nil, wire.FromStatus(err)
	}
	return &PendingWrite{ws: ws, cancel: cancel}, nil
}

// Commit sends data and a successful trailer, and returns the snapshot the
// target stored. ctx bounds the wait (the stream itself lives as long as
// BeginWrite's context). Commit and Abort take effect once; later calls
// return the first outcome.
func (p *PendingWrite) Commit(ctx context.Context, data []byte) (sdk.Snapshot, error) {
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
func (p *PendingWrite) Abort(ctx context.Context, why error) {
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

func (p *PendingWrite) finish(data []byte, why error) (sdk.Snapshot, error) {
	defer p.cancel()
	var t *pb.StreamTrailer
	if why != nil {
		t = &pb.StreamTrailer{Success: false, Error: why.Error()}
	} else {
		h, _ := sdk.NewChecksum(sdk.DefaultChecksum)
		h.Write(data)
		t = &pb.StreamTrailer{Success: true, Size: uint64(len(data)), ChecksumAlgorithm: sdk.DefaultChecksum, Checksum: h.Sum(nil)}
	}
	msgs := make([]*pb.StreamMessage, 0, 2+len(data)/sdk.ChunkSize)
	for len(data) > 0 {
		n := min(len(data), sdk.ChunkSize)
		msgs = append(msgs, &pb.StreamMessage{Msg: &pb.StreamMessage_Chunk{Chunk: data[:n]}})
		data = data[n:]
	}
	msgs = append(msgs, &pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: t}})
	for _, m := range msgs {
		if err := p.ws.Send(&pb.WriteRequest{Message: m}); err != nil {
			break // the target ended the stream: CloseAndRecv says why
		}
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

// runManifests are the run manifest writes of a backup run, opened before
// its components stream (see PendingWrite), by sink name.
type runManifests map[string]*PendingWrite

// beginManifests opens each sink's manifest write. A sink whose write does
// not open gets none: its manifest is then written at the end as before.
func (r *Runner) beginManifests(ctx context.Context, sinks []Sink, m *runs.Manifest) runManifests {
	out := runManifests{}
	for _, s := range sinks {
		p, err := BeginWrite(ctx, s.P, manifestHeader(m))
		if err != nil {
			r.Log.Debug("run manifest write not opened early", "target", s.Name, "error", err)
			continue
		}
		out[s.Name] = p
	}
	return out
}

// commit stores sink's manifest: through its pending write, or with a
// write of its own when there is none.
func (pm runManifests) commit(ctx context.Context, r *Runner, s Sink, m *runs.Manifest) (string, error) {
	p, ok := pm[s.Name]
	if !ok {
		return r.writeManifest(ctx, s.P, m)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	snap, err := p.Commit(ctx, b)
	if err != nil {
		return "", fmt.Errorf("writing the run manifest: %w", err)
	}
	return snap.ID, nil
}

// abort discards sink's manifest write (every sink's when sink is ""),
// waiting for each target at most its stall timeout.
func (pm runManifests) abort(ctx context.Context, sinks []Sink, sink string, why error) {
	var wg sync.WaitGroup
	for _, s := range sinks {
		p, ok := pm[s.Name]
		if !ok || (sink != "" && s.Name != sink) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Even an interrupted run tells its targets to discard; a
			// target that does not answer is cancelled after a while.
			d := s.StallTimeout
			if d <= 0 {
				d = time.Minute
			}
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
			defer cancel()
			p.Abort(actx, why)
		}()
	}
	wg.Wait()
}

// manifestHeader is the stream header of a run's manifest snapshot.
func manifestHeader(m *runs.Manifest) *pb.StreamHeader {
	return &pb.StreamHeader{
		Component: runs.ManifestName, FileName: "manifest.json", MediaType: "application/json",
		RunId: m.RunID, Host: m.Host, TimeUnix: m.Time.Unix(),
		Tags: append([]string{runs.ToolTag, runs.ManifestTag, runs.RunTagPrefix + m.RunID}, m.Tags...),
	}
}
