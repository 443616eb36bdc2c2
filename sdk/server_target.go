// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"fmt"
	"os"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

type targetServer struct {
	pb.UnimplementedTargetServiceServer
	baseServer
	impl Target
}

func (s *targetServer) Info(context.Context, *pb.TargetServiceInfoRequest) (*pb.TargetServiceInfoResponse, error) {
	i, err := s.info(KindTarget)
	return &pb.TargetServiceInfoResponse{Info: i}, err
}

func (s *targetServer) Configure(ctx context.Context, req *pb.TargetServiceConfigureRequest) (*pb.TargetServiceConfigureResponse, error) {
	if err := s.configure(ctx, req.GetConfig()); err != nil {
		return nil, err
	}
	return &pb.TargetServiceConfigureResponse{}, nil
}

func (s *targetServer) Init(ctx context.Context, req *pb.InitRequest) (resp *pb.InitResponse, err error) {
	defer recoverInto(&err, "Init")
	ctx, done := s.rt.op(ctx)
	defer done()
	if req.GetOpensNext() {
		ctx = WithInitOpensNext(ctx)
	}
	if from := req.GetParamsFrom(); from != "" {
		ctx = WithInitParamsFrom(ctx, from)
	}
	created, err := s.impl.Init(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.InitResponse{Created: created}, nil
}

func (s *targetServer) Write(stream pb.TargetService_WriteServer) (err error) {
	defer recoverInto(&err, "Write")
	ctx, done := s.rt.op(stream.Context())
	defer done()
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	h := m.GetMessage().GetHeader()
	if h == nil {
		return wire.ToStatus(fmt.Errorf("protocol error: write stream must start with a header: %w", ErrInvalidConfig))
	}
	recv := func() (*pb.StreamMessage, error) {
		m, err := stream.Recv()
		return m.GetMessage(), err
	}
	r, finished, aborted, err := receive(ctx, s.rt.inbox, h, recv)
	if err != nil {
		return wire.ToStatus(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-aborted:
			cancel()
		case <-ctx.Done():
		}
	}()
	res, werr := s.impl.Write(ctx, headerFromPB(h), r)
	ferr := finished()
	if werr == nil && ferr != nil {
		// The plugin committed although the stream failed: a plugin bug
		// (it must commit only at io.EOF). Report it loudly.
		werr = fmt.Errorf("target committed snapshot %s of a failed stream (plugin bug): %w", res.Snapshot.ID, ferr)
	}
	if werr != nil {
		return wire.ToStatus(werr)
	}
	return stream.SendAndClose(&pb.WriteResponse{Snapshot: snapshotToPB(res.Snapshot), BytesAdded: res.BytesAdded})
}

func (s *targetServer) List(ctx context.Context, req *pb.ListRequest) (resp *pb.ListResponse, err error) {
	defer recoverInto(&err, "List")
	ctx, done := s.rt.op(ctx)
	defer done()
	snaps, err := s.impl.List(ctx, req.GetTags())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	resp = &pb.ListResponse{}
	for _, sn := range snaps {
		resp.Snapshots = append(resp.Snapshots, snapshotToPB(sn))
	}
	return resp, nil
}

func (s *targetServer) Read(req *pb.ReadRequest, stream pb.TargetService_ReadServer) (err error) {
	defer recoverInto(&err, "Read")
	ctx, done := s.rt.op(stream.Context())
	defer done()
	var pipe *os.File
	if req.FdToken != "" {
		files, err := s.rt.inbox.Take(ctx, req.FdToken, 1)
		if err != nil {
			return wire.ToStatus(err)
		}
		pipe = files[0]
	}
	send := func(m *pb.StreamMessage) error { return stream.Send(&pb.ReadResponse{Message: m}) }
	snd, err := newSender(send, pipe, req.FdToken, req.ChecksumAlgorithm, req.LocalPath != "")
	if err != nil {
		if pipe != nil {
			pipe.Close()
		}
		return wire.ToStatus(err)
	}
	defer unblockOnCancel(ctx, pipe)()
	rerr := s.impl.Read(ctx, ReadRequest{SnapshotID: req.SnapshotId, LocalPath: req.LocalPath}, snd)
	if rerr == nil && req.LocalPath != "" && !snd.started {
		rerr = snd.SendPath(Header{}, req.LocalPath)
	}
	if rerr != nil && !snd.started {
		// Nothing was sent: a plain error says more than a failed trailer
		// (e.g. "snapshot not found").
		if pipe != nil {
			pipe.Close()
		}
		return wire.ToStatus(rerr)
	}
	_ = snd.finish(rerr)
	return nil
}

func (s *targetServer) Prune(ctx context.Context, req *pb.PruneRequest) (resp *pb.PruneResponse, err error) {
	defer recoverInto(&err, "Prune")
	ctx, done := s.rt.op(ctx)
	defer done()
	k := req.GetKeep()
	res, err := s.impl.Prune(ctx, PruneRequest{
		Keep:   KeepPolicy{Daily: int(k.GetDaily()), Weekly: int(k.GetWeekly()), Monthly: int(k.GetMonthly())},
		DryRun: req.GetDryRun(), Host: req.GetHost(), Tags: req.GetTags(), Forget: req.GetForget(),
	})
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	resp = &pb.PruneResponse{}
	for _, sn := range res.Kept {
		resp.Kept = append(resp.Kept, snapshotToPB(sn))
	}
	for _, sn := range res.Removed {
		resp.Removed = append(resp.Removed, snapshotToPB(sn))
	}
	return resp, nil
}

func (s *targetServer) Verify(ctx context.Context, req *pb.VerifyRequest) (resp *pb.VerifyResponse, err error) {
	defer recoverInto(&err, "Verify")
	ctx, done := s.rt.op(ctx)
	defer done()
	sum, err := s.impl.Verify(ctx, VerifyRequest{ReadDataSubset: req.GetReadDataSubset()})
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.VerifyResponse{Summary: sum}, nil
}

func (s *targetServer) Copy(ctx context.Context, req *pb.CopyRequest) (resp *pb.CopyResponse, err error) {
	defer recoverInto(&err, "Copy")
	ct, ok := s.impl.(CopyTarget)
	if !ok {
		return nil, wire.ToStatus(fmt.Errorf("this target does not copy snapshots between repositories: %w", ErrUnimplemented))
	}
	ctx, done := s.rt.op(ctx)
	defer done()
	res, err := ct.Copy(ctx, CopyRequest{FromInstance: req.GetFromInstance(), SnapshotIDs: req.GetSnapshotIds()})
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	resp = &pb.CopyResponse{Warning: res.Warning}
	for _, id := range req.GetSnapshotIds() {
		if sn, ok := res.Copied[id]; ok {
			resp.Copied = append(resp.Copied, &pb.CopiedSnapshot{FromId: id, Snapshot: snapshotToPB(sn)})
		}
	}
	return resp, nil
}

// snapshotToPB converts a snapshot for the wire.
func snapshotToPB(s Snapshot) *pb.Snapshot {
	var t int64
	if !s.Time.IsZero() {
		t = s.Time.Unix()
	}
	return &pb.Snapshot{Id: s.ID, TimeUnix: t, Host: s.Host, Tags: s.Tags, Paths: s.Paths,
		Component: s.Component, RunId: s.RunID, Size: s.Size, FileName: s.FileName, BytesAdded: s.BytesAdded}
}
