package host

import (
	"context"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/sdk"
)

// ProgressEvent is a progress report of one component's stream into one
// target instance ("local", "offsite").
type ProgressEvent struct {
	Sink string
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
			fn(ProgressEvent{Sink: sink, Progress: sdk.ProgressFromPB(m)})
		}
	}()
}
