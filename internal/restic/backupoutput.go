// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// backupOutput parses `backup --json` stdout as it arrives.
type backupOutput struct {
	mu       sync.Mutex
	progress func(Status)
	partial  []byte
	summary  *summaryJSON
}

func newBackupOutput(progress func(Status)) *backupOutput {
	return &backupOutput{progress: progress}
}

func (o *backupOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.line(o.partial[:i])
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > 1<<20 {
		o.partial = nil // not a JSON line we care about
	}
	return len(p), nil
}

func (o *backupOutput) line(b []byte) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return
	}
	var mt struct {
		MessageType string `json:"message_type"`
	}
	if json.Unmarshal(b, &mt) != nil {
		return
	}
	switch mt.MessageType {
	case "status":
		if o.progress != nil {
			var s Status
			if json.Unmarshal(b, &s) == nil {
				o.progress(s)
			}
		}
	case "summary":
		var s summaryJSON
		if json.Unmarshal(b, &s) == nil {
			o.summary = &s
		}
	}
}

func (o *backupOutput) result(res *result, err error) (*Summary, error) {
	o.mu.Lock()
	if len(o.partial) > 0 {
		o.line(o.partial)
		o.partial = nil
	}
	sj := o.summary
	o.mu.Unlock()
	var sum *Summary
	if sj != nil {
		sum = &Summary{
			SnapshotID:          sj.SnapshotID,
			FilesNew:            sj.FilesNew,
			FilesChanged:        sj.FilesChanged,
			FilesUnmodified:     sj.FilesUnmodified,
			DirsNew:             sj.DirsNew,
			DirsChanged:         sj.DirsChanged,
			DirsUnmodified:      sj.DirsUnmodified,
			DataBlobs:           sj.DataBlobs,
			TreeBlobs:           sj.TreeBlobs,
			DataAdded:           sj.DataAdded,
			DataAddedPacked:     sj.DataAddedPacked,
			TotalFilesProcessed: sj.TotalFilesProcessed,
			TotalBytesProcessed: sj.TotalBytesProcessed,
			TotalDuration:       time.Duration(sj.TotalDuration * float64(time.Second)),
		}
		if res != nil && res.stderr != nil {
			sum.Warnings = res.stderr.warnings()
		}
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindIncomplete && sum != nil {
			// Exit code 3: the snapshot exists but lacks unreadable files.
			e.SnapshotID = sum.SnapshotID
			return sum, e
		}
		return nil, err
	}
	if sum == nil || sum.SnapshotID == "" {
		return nil, &Error{Op: "backup", Message: "restic exited successfully but printed no summary with a snapshot ID"}
	}
	return sum, nil
}
