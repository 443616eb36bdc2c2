// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"fmt"
	"io"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

// ReadTo reads a stored stream through target t into w, never holding it
// in memory: over an OS pipe the host reads when the target has an fd
// channel, else as gRPC chunks. The target checksums the bytes with algo,
// and so does the reader: ReadTo succeeds only when the target's trailer is
// successful and its size and checksum match the bytes that came. It
// returns the trailer and the host's own checksum of the bytes.
func ReadTo(ctx context.Context, t *Endpoint, snapshotID, algo string, w io.Writer) (Trailer, []byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := choose(t, nil, false) // the host is the reader
	defer tr.close()
	if err := tr.open(t, nil); err != nil {
		return Trailer{}, nil, err
	}
	fail := func(err error) (Trailer, []byte, error) {
		return Trailer{}, nil, fmt.Errorf("reading snapshot %s: %w", snapshotID, err)
	}
	rs, err := t.Target.Read(ctx, &pb.ReadRequest{SnapshotId: snapshotID, FdToken: tr.token(), ChecksumAlgorithm: algo})
	if err != nil {
		return fail(wire.FromStatus(err))
	}
	recv := func() (*pb.StreamMessage, error) {
		m, err := rs.Recv()
		return m.GetMessage(), err
	}
	if err := skipHeader(recv); err != nil {
		return fail(err)
	}
	rd := tr.reader(recv, algo)
	if _, err := io.Copy(w, rd); err != nil {
		return fail(err)
	}
	trailer, _ := rd.Trailer()
	return trailer, rd.Sum(), nil
}

// ReadInto has target t restore a directory snapshot natively into dir.
func ReadInto(ctx context.Context, t *Endpoint, snapshotID, dir string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs, err := t.Target.Read(ctx, &pb.ReadRequest{SnapshotId: snapshotID, LocalPath: dir})
	if err != nil {
		return wire.FromStatus(err)
	}
	recv := func() (*pb.StreamMessage, error) {
		m, err := rs.Recv()
		return m.GetMessage(), err
	}
	if err := skipHeader(recv); err != nil {
		return fmt.Errorf("restoring snapshot %s into %s: %w", snapshotID, dir, err)
	}
	rd := newTrailerReader(recv, nil)
	if err := rd.drain(); err != nil && !rd.failedTrailer() {
		return fmt.Errorf("restoring snapshot %s into %s: %w", snapshotID, dir, err)
	} else if err != nil {
		return err // the target's own words
	}
	return nil
}
