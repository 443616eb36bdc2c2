// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"

	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/host/stream"
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
func watchProgress(ctx context.Context, t *plugin.Plugin, sink string, fn func(ProgressEvent)) {
	_ = t.Target().WatchProgress(ctx, func(p sdk.Progress) {
		if p.Component == runs.ManifestName {
			return // the run manifest: a few bytes, not the operator's data
		}
		fn(ProgressEvent{Sink: sink, Progress: p})
	})
}

// reportDone sends the final figures of a stream that was stored (its
// exact size), so a progress display ends at the true total however far
// the target's last report lagged.
func reportDone(fn func(ProgressEvent), runID string, res *stream.Result) {
	if fn == nil {
		return
	}
	for _, s := range res.Sinks {
		if res.Err(s.Sink) != nil {
			continue
		}
		size := res.Size(s)
		fn(ProgressEvent{Sink: s.Sink, Done: true, Progress: sdk.Progress{Component: res.Component, RunID: runID,
			BytesDone: size, TotalBytes: size, Elapsed: res.Duration}})
	}
}
