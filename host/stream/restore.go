// SPDX-License-Identifier: Apache-2.0

package stream

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
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// RestoreOptions say where a source restores a component.
type RestoreOptions struct {
	Component   string
	ToDatabase  string
	ToDirectory string
	// ReplaceDatabase lets a restore into ToDatabase replace an existing
	// database that is not empty.
	ReplaceDatabase bool
	// Scratch: a restore test into a scratch database.
	Scratch bool
}

func (o RestoreOptions) pb() *pb.RestoreOptions {
	return &pb.RestoreOptions{Component: o.Component, ToDatabase: o.ToDatabase, ToDirectory: o.ToDirectory,
		ReplaceDatabase: o.ReplaceDatabase, Scratch: o.Scratch}
}

// Expect is what the backup recorded about a stream (the run manifest):
// the bytes read back must match it before the source may commit.
type Expect struct {
	Size              uint64
	ChecksumAlgorithm string
	// Checksum in hex; empty when none was recorded.
	Checksum string
}

// ChecksumGuessError: the record, read while the stream already flowed,
// names another checksum algorithm than the one the read used. The source
// was told to abort; read again with Algorithm.
type ChecksumGuessError struct{ Algorithm string }

func (e ChecksumGuessError) Error() string {
	return "the backup recorded a " + e.Algorithm + " checksum; reading again to verify it"
}

// Restore streams a snapshot from target t into src's restore. The target
// checksums the bytes with algo; expect, called once the stream's trailer
// arrived, returns what the backup recorded (nil: nothing), possibly read
// meanwhile by another goroutine — the source sees the end of the stream
// only after the check. Bytes that differ from the record are never
// committed: the source is told to abort (it then rolls back). It returns
// the notes the source sent with its answer (sdk.RestoreNote), or the real
// cause of the failure, once (restoreCause).
func Restore(ctx context.Context, t, src *Endpoint, snapshotID, algo string, opts RestoreOptions, expect func() (*Expect, error)) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := choose(t, []*Endpoint{src}, false) // a directory is restored by RestorePath
	defer tr.close()
	if err := tr.open(t, []*sink{{to: src}}); err != nil {
		return nil, err
	}
	rs, err := t.Target.Read(ctx, &pb.ReadRequest{SnapshotId: snapshotID, FdToken: tr.token(), ChecksumAlgorithm: algo})
	var first *pb.ReadResponse
	if err == nil {
		first, err = rs.Recv()
	}
	if err != nil {
		return nil, fmt.Errorf("reading snapshot %s: %w", snapshotID, wire.FromStatus(err))
	}
	hdr := first.GetMessage().GetHeader()
	if hdr == nil {
		return nil, fmt.Errorf("reading snapshot %s: %w", snapshotID, wire.TrailerError(first.GetMessage().GetTrailer()))
	}
	hdr = proto.Clone(hdr).(*pb.StreamHeader)
	hdr.Component, hdr.FdToken, hdr.LocalPath = opts.Component, tr.token(), ""
	rst, err := src.Source.Restore(ctx)
	if err == nil {
		err = rst.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Options{Options: opts.pb()}})
	}
	w := newWriter(func(m *pb.StreamMessage) error {
		return rst.Send(&pb.RestoreRequest{Msg: &pb.RestoreRequest_Stream{Stream: m}})
	}, "")
	if err == nil {
		err = w.Header(hdr)
	}
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
	}
	// The host counts what it forwards; the source verifies the checksum.
	rd := tr.reader(func() (*pb.StreamMessage, error) {
		m, err := rs.Recv()
		return m.GetMessage(), err
	}, "")
	var readErr error
	sourceGone := false
	for readErr == nil {
		b, err := rd.Next()
		if err != nil {
			break
		}
		if _, err := w.Write(b); err != nil {
			readErr = fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
			sourceGone = true // it ended the call: CloseAndRecv says why
		}
	}
	trailer, _ := rd.Trailer()
	if readErr == nil {
		if err := rd.Err(); err != nil {
			readErr = fmt.Errorf("reading snapshot %s: %w", snapshotID, err)
		}
	}
	if readErr == nil {
		readErr = checkExpected(trailer, expect)
	}
	if readErr != nil {
		_ = w.Abort(readErr)
	} else {
		_ = w.Finish(trailer)
	}
	resp, err := rst.CloseAndRecv()
	var srcErr error
	if err != nil {
		srcErr = fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
	}
	if err := restoreCause(readErr, srcErr, sourceGone); err != nil {
		return nil, err
	}
	return resp.GetNotes(), nil
}

// checkExpected compares the trailer of the bytes read back with what the
// backup recorded.
func checkExpected(t Trailer, expect func() (*Expect, error)) error {
	if expect == nil {
		return nil
	}
	e, err := expect()
	switch {
	case err != nil:
		return err
	case e == nil:
		return nil
	case e.Checksum != "" && e.ChecksumAlgorithm != t.ChecksumAlgorithm:
		return ChecksumGuessError{e.ChecksumAlgorithm}
	case t.Size != e.Size:
		return fmt.Errorf("snapshot read back has %d bytes, the backup recorded %d: %w", t.Size, e.Size, sdk.ErrAborted)
	}
	if e.Checksum != "" {
		want, _ := hex.DecodeString(e.Checksum)
		if !bytes.Equal(want, t.Checksum) {
			return fmt.Errorf("snapshot read back has %s %x, the backup recorded %s: %w",
				t.ChecksumAlgorithm, t.Checksum, e.Checksum, sdk.ErrAborted)
		}
	}
	return nil
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

// RestorePath has the target restore a directory snapshot natively into
// the directory the source names. A source that stages
// (RestorePathResponse.staged) names a staging directory and is told
// afterwards whether to swap it in — only after the target's restore
// succeeded — or to remove it, so that the destination holds its old
// contents or the complete new ones.
func RestorePath(ctx context.Context, t, src *Endpoint, snapshotID string, opts RestoreOptions) error {
	resp, err := src.Source.RestorePath(ctx, &pb.RestorePathRequest{Options: opts.pb(), StagingAllowed: true})
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, wire.FromStatus(err))
	}
	rerr := ReadInto(ctx, t, snapshotID, resp.Path)
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
	fin, ferr := src.Source.FinishRestorePath(fctx, &pb.FinishRestorePathRequest{Options: opts.pb(), Path: resp.Path, Commit: rerr == nil})
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
