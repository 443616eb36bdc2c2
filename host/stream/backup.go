// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Spec is the snapshot metadata the host adds to every stream.
type Spec struct {
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

// Result is the outcome of one component's stream.
type Result struct {
	Component string
	// Header is the source's header (LocalPath set: a directory).
	Header sdk.Header
	// Trailer is the source's trailer (zero when none came).
	Trailer Trailer
	// SourceErr is set when the source failed or was cut short; then no
	// sink committed anything.
	SourceErr error
	Sinks     []SinkResult
	Duration  time.Duration
	// Transport the bytes took (TransportPath, TransportPipe,
	// TransportFanOut, TransportChunks).
	Transport string
	// HostCopied counts the stream's bytes that passed through the host's
	// memory on the fan-out path (0 when tee/splice moved them all).
	HostCopied uint64
}

// Err returns the error for a sink, counting a source failure.
func (r *Result) Err(sink string) error {
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

// Sink returns the result of one sink (zero when it has none).
func (r *Result) Sink(name string) SinkResult {
	for _, s := range r.Sinks {
		if s.Sink == name {
			return s
		}
	}
	return SinkResult{}
}

// Size is what the sink stored: the stream's bytes, or for a directory what
// the target read from it.
func (r *Result) Size(s SinkResult) uint64 {
	if r.Header.LocalPath != "" {
		return s.Snapshot.Size
	}
	return r.Trailer.Size
}

// Backup streams one component from src into every sink at once.
//
// The bytes take the transport choose picks. Whatever it is, a target
// commits only after the source's successful trailer: if the source fails
// or is cut short, every target is told to abort and nothing is stored. A
// failing sink does not affect the others.
func Backup(ctx context.Context, src *Endpoint, sinks []Sink, spec Spec) *Result {
	start := time.Now()
	res := &Result{Component: spec.Component}
	defer func() { res.Duration = time.Since(start) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	targets := make([]*Endpoint, len(sinks))
	ss := make([]*sink, len(sinks))
	for i, s := range sinks {
		targets[i], ss[i] = s.Target, newSink(s)
	}
	// The source's call has its own context: it is cancelled when every
	// target has failed (watchSinks), the targets' calls are not.
	srcCtx, cancelSrc := context.WithCancel(ctx)
	defer cancelSrc()
	tr := choose(src, targets, true)
	defer func() { tr.close() }()
	if err := tr.open(src, ss); err != nil {
		res.SourceErr = fmt.Errorf("setting up stream pipes: %w", err)
		return res
	}

	bs, err := src.Source.Backup(srcCtx, &pb.BackupRequest{
		Component: spec.Component, FdToken: tr.token(), AcceptPath: tr.acceptPath(), ChecksumAlgorithm: spec.Checksum,
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
			res.Trailer = trailerFromPB(t)
			res.SourceErr = wire.TrailerError(t)
			if res.SourceErr == nil {
				res.SourceErr = errors.New("sent no header")
			}
			res.SourceErr = fmt.Errorf("source %s: %w", src.Name, res.SourceErr)
		} else {
			res.SourceErr = fmt.Errorf("protocol error: source %s did not start with a header", src.Name)
		}
		return res
	}
	if hdr.LocalPath != "" && !tr.acceptPath() {
		res.SourceErr = fmt.Errorf("protocol error: source %s sent a directory the targets cannot read", src.Name)
		return res
	}
	tr = afterHeader(tr, hdr)
	res.Header, res.Transport = convert.HeaderFromPB(hdr), tr.Name()

	// Open one Write call per sink and send it the header.
	for _, s := range ss {
		th := proto.Clone(hdr).(*pb.StreamHeader)
		th.Component = spec.Component
		th.RunId, th.Tags, th.Host = spec.RunID, spec.Tags, spec.Host
		if !spec.Time.IsZero() {
			th.TimeUnix = spec.Time.Unix()
		}
		th.FdToken = tr.token()
		s.begin(ctx, th)
		if tr.forward() {
			s.startSending()
		}
	}

	streaming := make(chan struct{})
	allFailed := watchSinks(ss, streaming, cancelSrc)

	// Move the bytes: read the source's call to its trailer, forwarding
	// chunks when they come on it.
	// The host counts what it forwards; the targets verify the checksum.
	rd := tr.reader(func() (*pb.StreamMessage, error) {
		m, err := bs.Recv()
		return m.GetMessage(), err
	}, "")
	var stall *time.Timer
	for {
		b, err := rd.Next()
		if err != nil {
			break
		}
		for _, s := range ss {
			s.deliver(b, &stall)
		}
	}
	close(streaming)
	trailer, _ := rd.Trailer()
	res.Trailer = trailer
	srcErr := rd.Err()
	targetsGone := srcErr != nil && allFailed.Load()
	switch {
	case targetsGone:
		// The source was stopped because nothing could be stored: the
		// targets' failures are the cause.
		srcErr = sinksEndErr(ss)
	case srcErr != nil:
		srcErr = fmt.Errorf("source %s: %w", src.Name, srcErr)
	}
	res.SourceErr = srcErr
	if srcErr != nil && spec.SourceFailed != nil {
		spec.SourceFailed(srcErr)
	}
	tr.close() // the host's pipe ends: targets still hold their guards
	res.HostCopied = tr.hostCopied()

	// Commit or abort every sink.
	var final *Trailer
	if srcErr == nil {
		final = &trailer
	}
	var wg sync.WaitGroup
	results := make([]SinkResult, len(ss))
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.finish(final, srcErr)
		}()
	}
	wg.Wait()
	res.Sinks = results
	if _, single := tr.(*pipeTransport); srcErr != nil && single && !targetsGone {
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

// watchSinks cancels the source (cancelSrc) as soon as every sink's call
// has ended while the stream still goes on (until streaming is closed):
// nothing can be stored then, and a source that is not writing (a dump
// waiting for a lock) would otherwise be waited for forever. One failed
// sink does not stop the others. The result is true once it cancelled.
func watchSinks(ss []*sink, streaming <-chan struct{}, cancelSrc context.CancelFunc) *atomic.Bool {
	var all atomic.Bool
	if len(ss) == 0 {
		return &all
	}
	go func() {
		for _, s := range ss {
			select {
			case <-s.ended:
			case <-streaming:
				return
			}
		}
		all.Store(true)
		cancelSrc()
	}()
	return &all
}

// sinksEndErr is the error of a stream whose every target's call ended
// before its end: each target's own error.
func sinksEndErr(ss []*sink) error {
	if len(ss) == 1 {
		return ss[0].endErr()
	}
	msgs := make([]string, len(ss))
	errs := make([]any, len(ss))
	for i, s := range ss {
		msgs[i], errs[i] = "%w", s.endErr()
	}
	return fmt.Errorf("every target failed: "+strings.Join(msgs, "; "), errs...)
}
