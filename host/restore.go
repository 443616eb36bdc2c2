// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"

	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/sdk"
)

// StreamRestore restores a snapshot from a target through a source: as a
// directory (the target restores natively into the directory the source
// names) when the backup took that way, else as a stream. When the run
// manifest recorded the stream's size and checksum, the bytes read back
// must match them or the source is told to abort (it then rolls back), so
// a corrupted or wrong snapshot is never restored.
func StreamRestore(ctx context.Context, t, src *plugin.Plugin, snap sdk.Snapshot, mc *runs.ManifestComponent, opts stream.RestoreOptions) error {
	dir := bothRestorePaths(t, src)
	if mc != nil {
		dir = mc.Directory
	}
	if dir {
		return stream.RestorePath(ctx, t.Endpoint(), src.Endpoint(), snap.ID, opts)
	}
	algo := ""
	if mc != nil {
		algo = mc.ChecksumAlgorithm
	}
	return restoreStream(ctx, t, src, snap, algo, func() (*runs.ManifestComponent, error) { return mc, nil }, opts)
}

// bothRestorePaths reports whether t and src could both restore a directory
// natively. Only then does the manifest decide, before any byte moves,
// which of the two ways (native directory or stream) a restore takes.
func bothRestorePaths(t, src *plugin.Plugin) bool { return src.Has(sdk.CapPath) && t.Has(sdk.CapPath) }

// restoreStream streams snap into src's restore, the target checksumming
// with algo; manifest, called once the stream's trailer arrived, returns
// what the backup recorded (restore does not wait for the manifest before
// starting). A record naming another algorithm fails with
// stream.ChecksumGuessError.
func restoreStream(ctx context.Context, t, src *plugin.Plugin, snap sdk.Snapshot, algo string, manifest func() (*runs.ManifestComponent, error), opts stream.RestoreOptions) error {
	notes, err := stream.Restore(ctx, t.Endpoint(), src.Endpoint(), snap.ID, algo, opts, func() (*stream.Expect, error) {
		mc, err := manifest()
		if err != nil || mc == nil {
			return nil, err
		}
		return &stream.Expect{Size: mc.Size, ChecksumAlgorithm: mc.ChecksumAlgorithm, Checksum: mc.Checksum}, nil
	})
	addRestoreNotes(ctx, notes)
	return err
}

// Runner.Restore collects the notes a source sends with its restore's
// response (sdk.RestoreNote: e.g. the undo database it kept) through the
// restore's context, whichever way the stream took.
type restoreNotesKey struct{}

func withRestoreNotes(ctx context.Context) (context.Context, *[]string) {
	var notes []string
	return context.WithValue(ctx, restoreNotesKey{}, &notes), &notes
}

func addRestoreNotes(ctx context.Context, notes []string) {
	if p, ok := ctx.Value(restoreNotesKey{}).(*[]string); ok {
		*p = append(*p, notes...)
	}
}
