// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"sync"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// Progress reports on a stream a Target is writing: the host shows it to
// the operator (bytes, rate, ETA per component). In the fd and path data
// paths the host never sees the bytes, so only the target can tell.
type Progress struct {
	// Component and RunID of the stream, from its Header.
	Component string
	RunID     string
	// BytesDone so far; TotalBytes when known (0: unknown, e.g. a stream).
	BytesDone, TotalBytes uint64
	FilesDone, TotalFiles uint64
	Elapsed               time.Duration
}

// progressHub fans progress reports out to the host's Progress calls. A
// slow listener misses reports (each carries totals, so the next one makes
// up for it); a plugin is never slowed down by reporting.
var progressHub struct {
	mu   sync.Mutex
	subs map[chan Progress]struct{}
}

// ReportProgress publishes a progress report of a running Write to the host,
// when it listens (TargetService.Progress). Cheap: call it whenever new
// figures arrive, e.g. from restic's --json status lines.
func ReportProgress(p Progress) {
	progressHub.mu.Lock()
	defer progressHub.mu.Unlock()
	for ch := range progressHub.subs {
		select {
		case ch <- p:
		default:
		}
	}
}

func subscribeProgress() (chan Progress, func()) {
	ch := make(chan Progress, 16)
	progressHub.mu.Lock()
	if progressHub.subs == nil {
		progressHub.subs = map[chan Progress]struct{}{}
	}
	progressHub.subs[ch] = struct{}{}
	progressHub.mu.Unlock()
	return ch, func() {
		progressHub.mu.Lock()
		delete(progressHub.subs, ch)
		progressHub.mu.Unlock()
	}
}

// Progress streams the plugin's progress reports until the host cancels.
func (s *targetServer) Progress(_ *pb.ProgressRequest, stream pb.TargetService_ProgressServer) error {
	ch, unsubscribe := subscribeProgress()
	defer unsubscribe()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case p := <-ch:
			if err := stream.Send(progressToPB(p)); err != nil {
				return err
			}
		}
	}
}

// progressToPB converts a report for the wire.
func progressToPB(p Progress) *pb.ProgressResponse {
	return &pb.ProgressResponse{Component: p.Component, RunId: p.RunID, BytesDone: p.BytesDone, TotalBytes: p.TotalBytes,
		FilesDone: p.FilesDone, TotalFiles: p.TotalFiles, SecondsElapsed: p.Elapsed.Seconds()}
}
