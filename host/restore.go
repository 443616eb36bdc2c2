// SPDX-License-Identifier: Apache-2.0

package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// StreamRestore reads a snapshot from a target and feeds it to a source's
// restore. When the run manifest recorded the stream's size and checksum,
// the bytes read back must match them or the source is told to abort (it
// then rolls back), so a corrupted or wrong snapshot is never restored.
func StreamRestore(ctx context.Context, t, src *Plugin, snap sdk.Snapshot, mc *runs.ManifestComponent, opts *pb.RestoreOptions) error {
	dir := bothRestorePaths(t, src)
	if mc != nil {
		dir = mc.Directory
	}
	if dir {
		return restorePath(ctx, t, src, snap, opts)
	}
	algo := ""
	if mc != nil {
		algo = mc.ChecksumAlgorithm
	}
	return streamRestore(ctx, t, src, snap, algo, func() (*runs.ManifestComponent, error) { return mc, nil }, opts)
}

// bothRestorePaths reports whether t and src could both restore a directory
// natively. Only then does the manifest decide, before any byte moves,
// which of the two ways (native directory or stream) a restore takes.
func bothRestorePaths(t, src *Plugin) bool { return src.Has(sdk.CapPath) && t.Has(sdk.CapPath) }

// errChecksumGuess: the manifest, read while the stream already flowed,
// recorded another checksum algorithm than the one the read used.
type errChecksumGuess struct{ algo string }

func (e errChecksumGuess) Error() string {
	return "the backup recorded a " + e.algo + " checksum; reading again to verify it"
}

// streamRestore streams snap into src's restore. The target checksums the
// bytes with algo; manifest, called once the stream's trailer arrived,
// returns what the backup recorded (possibly read meanwhile by another
// goroutine: restore does not wait for the manifest before starting, and
// the source sees the end of the stream only after the check).
func streamRestore(ctx context.Context, t, src *Plugin, snap sdk.Snapshot, algo string, manifest func() (*runs.ManifestComponent, error), opts *pb.RestoreOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	useFD := t.Client.FD != nil && src.Client.FD != nil
	token := ""
	if useFD {
		token = newToken()
		r, w, err := newPipe()
		if err != nil {
			return err
		}
		err = t.Client.FD.Send(token, w)
		if err == nil {
			// The source gets the read end and a guard: end of file only
			// after the host forwards a successful trailer.
			err = src.Client.FD.Send(token, r, w)
		}
		r.Close()
		w.Close()
		if err != nil {
			return err
		}
	}
	rs, err := t.Client.Target.Read(ctx, &pb.ReadRequest{SnapshotId: snap.ID, FdToken: token, ChecksumAlgorithm: algo})
	var first *pb.ReadResponse
	if err == nil {
		first, err = rs.Recv()
	}
	if err != nil {
		return fmt.Errorf("reading snapshot %s: %w", snap.ID, wire.FromStatus(err))
	}
	hdr := first.GetMessage().GetHeader()
	if hdr == nil {
		return fmt.Errorf("reading snapshot %s: %w", snap.ID, wire.TrailerError(first.GetMessage().GetTrailer()))
	}
	hdr = proto.Clone(hdr).(*pb.StreamHeader)
	hdr.Component = opts.Component
	if !useFD {
		hdr.FdToken = ""
	}
	rst, err := src.Client.Source.Restore(ctx)
	if err == nil {
		err = rst.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Options{Options: opts}})
	}
	if err == nil {
		err = rst.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Stream{Stream: &pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: hdr}}}})
	}
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
	}
	var trailer *pb.StreamTrailer
	var readErr error
	var size uint64
	sourceGone := false
	for trailer == nil && readErr == nil {
		m, err := rs.Recv()
		if err != nil {
			readErr = fmt.Errorf("reading snapshot %s: %w", snap.ID, wire.FromStatus(err))
			break
		}
		msg := m.GetMessage()
		switch v := msg.GetMsg().(type) {
		case *pb.StreamMessage_Chunk:
			size += uint64(len(v.Chunk))
			if err := rst.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Stream{Stream: msg}}); err != nil {
				readErr = fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
				sourceGone = true // it ended the call: CloseAndRecv says why
			}
		case *pb.StreamMessage_Trailer:
			trailer = v.Trailer
		}
	}
	if readErr == nil {
		mc, err := manifest()
		switch {
		case err != nil:
			readErr = err
		case mc != nil && mc.Checksum != "" && mc.ChecksumAlgorithm != trailer.GetChecksumAlgorithm():
			readErr = errChecksumGuess{mc.ChecksumAlgorithm}
		default:
			readErr = checkRestoreTrailer(trailer, mc, size, useFD)
		}
	}
	final := trailer
	if readErr != nil {
		final = &pb.StreamTrailer{Success: false, Error: readErr.Error()}
	}
	_ = rst.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Stream{Stream: &pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: final}}}})
	resp, err := rst.CloseAndRecv()
	var srcErr error
	if err != nil {
		srcErr = fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
	} else {
		addRestoreNotes(ctx, resp.GetNotes())
	}
	return restoreCause(readErr, srcErr, sourceGone)
}

// restoreCause picks the error a failed restore reports: the real cause,
// once. When the source (pg_restore, psql, a full disk, a permission
// denied) failed on its own, its error is the cause: the read side then
// only saw the consumer go away (restic's "broken pipe", a send on a
// closed stream), which would hide it. When the read failed first (a
// damaged repository, a checksum mismatch), the source's error merely
// echoes the abort the host sent it, and the read error is the cause.
func restoreCause(readErr, srcErr error, sourceGone bool) error {
	switch {
	case readErr == nil:
		return srcErr
	case srcErr == nil:
		return readErr
	case sourceGone || consumerGone(readErr):
		return srcErr
	}
	return readErr
}

// consumerGone reports whether a read error only says that the source
// stopped reading: restic's write into the stream pipe failed with EPIPE
// (the text crosses gRPC, hence the match on it).
func consumerGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), syscall.EPIPE.Error())
}

func checkRestoreTrailer(t *pb.StreamTrailer, mc *runs.ManifestComponent, got uint64, fd bool) error {
	if err := wire.TrailerError(t); err != nil {
		return err
	}
	if !fd && got != t.Size {
		return fmt.Errorf("snapshot read back: trailer says %d bytes, %d arrived: %w", t.Size, got, sdk.ErrAborted)
	}
	if mc == nil {
		return nil
	}
	if t.Size != mc.Size {
		return fmt.Errorf("snapshot read back has %d bytes, the backup recorded %d: %w", t.Size, mc.Size, sdk.ErrAborted)
	}
	if mc.Checksum != "" && t.ChecksumAlgorithm == mc.ChecksumAlgorithm {
		want, _ := hex.DecodeString(mc.Checksum)
		if !bytes.Equal(want, t.Checksum) {
			return fmt.Errorf("snapshot read back has %s %x, the backup recorded %s: %w",
				t.ChecksumAlgorithm, t.Checksum, mc.Checksum, sdk.ErrAborted)
		}
	}
	return nil
}

// restorePath has the target restore a directory snapshot natively into
// the directory the source names. A source that stages (RestorePathResponse
// .staged) names a staging directory and is told afterwards whether to swap
// it in — only after the target's restore succeeded — or to remove it, so
// that the destination holds its old contents or the complete new ones.
func restorePath(ctx context.Context, t, src *Plugin, snap sdk.Snapshot, opts *pb.RestoreOptions) error {
	resp, err := src.Client.Source.RestorePath(ctx, &pb.RestorePathRequest{Options: opts, StagingAllowed: true})
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
	}
	rerr := ReadInto(ctx, t, snap.ID, resp.Path)
	if !resp.Staged {
		return rerr
	}
	if rerr == nil && ctx.Err() != nil {
		rerr = ctx.Err()
	}
	fctx := ctx
	if rerr != nil {
		// Removing the staging directory must happen even when the restore
		// was interrupted.
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
	}
	fin, ferr := src.Client.Source.FinishRestorePath(fctx, &pb.FinishRestorePathRequest{Options: opts, Path: resp.Path, Commit: rerr == nil})
	if ferr == nil && rerr != nil && fin.GetSummary() != "" {
		// Say what became of the destination: nothing changed.
		return fmt.Errorf("%w; %s", rerr, fin.GetSummary())
	}
	if ferr != nil {
		ferr = fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(ferr))
		if rerr != nil {
			return fmt.Errorf("%w (removing the staging directory %s also failed: %v)", rerr, resp.Path, ferr)
		}
		return ferr
	}
	return rerr
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
