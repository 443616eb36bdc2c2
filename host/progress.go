// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// ProgressEvent is a progress report of one component's stream into one
// target instance ("local", "offsite").
type ProgressEvent struct {
	Sink string
	// Done marks the final report of a stream that was stored.
	Done bool
	sdk.Progress
}

// watchProgress forwards a target's progress reports (TargetService.Progress,
// fed by restic's status lines in target-restic) to fn until ctx ends. A
// plugin built before the Progress call answers Unimplemented: no reports.
func watchProgress(ctx context.Context, t *Plugin, sink string, fn func(ProgressEvent)) {
	st, err := t.Client.Target.Progress(ctx, &pb.ProgressRequest{})
	if err != nil {
		return
	}
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if m.GetComponent() == runs.ManifestName {
				continue // the run manifest: a few bytes, not the operator's data
			}
			fn(ProgressEvent{Sink: sink, Progress: convert.ProgressFromPB(m)})
		}
	}()
}

// reportDone sends the final figures of a stream that was stored (its
// exact size), so a progress display ends at the true total however far
// the target's last report lagged.
func reportDone(fn func(ProgressEvent), runID string, res *StreamResult) {
	if fn == nil {
		return
	}
	for _, s := range res.Sinks {
		if res.Err(s.Sink) != nil {
			continue
		}
		size := res.Trailer.GetSize()
		if res.Header.GetLocalPath() != "" {
			size = s.Snapshot.Size
		}
		fn(ProgressEvent{Sink: s.Sink, Done: true, Progress: sdk.Progress{Component: res.Component, RunID: runID,
			BytesDone: size, TotalBytes: size, Elapsed: res.Duration}})
	}
}
