// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

type sourceServer struct {
	pb.UnimplementedSourceServiceServer
	baseServer
	impl Source
}

func (s *sourceServer) Info(context.Context, *pb.SourceServiceInfoRequest) (*pb.SourceServiceInfoResponse, error) {
	i, err := s.info(KindSource)
	return &pb.SourceServiceInfoResponse{Info: i}, err
}

func (s *sourceServer) Configure(ctx context.Context, req *pb.SourceServiceConfigureRequest) (*pb.SourceServiceConfigureResponse, error) {
	if err := s.configure(ctx, req.GetConfig()); err != nil {
		return nil, err
	}
	return &pb.SourceServiceConfigureResponse{}, nil
}

func (s *sourceServer) Backup(req *pb.BackupRequest, stream pb.SourceService_BackupServer) (err error) {
	defer recoverInto(&err, "Backup")
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
	send := func(m *pb.StreamMessage) error { return stream.Send(&pb.BackupResponse{Message: m}) }
	snd, err := newSender(send, pipe, req.FdToken, req.ChecksumAlgorithm, req.AcceptPath)
	if err != nil {
		if pipe != nil {
			pipe.Close()
		}
		return wire.ToStatus(err)
	}
	defer unblockOnCancel(ctx, pipe)()
	berr := s.impl.Backup(ctx, BackupRequest{Component: req.Component}, snd)
	if berr == nil && ctx.Err() != nil {
		berr = fmt.Errorf("backup interrupted: %w", ctx.Err())
	}
	if berr != nil {
		Logger.Error("backup failed", "component", req.Component, "error", berr)
	}
	// The trailer carries the outcome; the call itself succeeds so the host
	// reads it. A failed send means the host is gone: nothing to report.
	_ = snd.finish(berr)
	return nil
}

func (s *sourceServer) Restore(stream pb.SourceService_RestoreServer) (err error) {
	defer recoverInto(&err, "Restore")
	ctx, done := s.rt.op(stream.Context())
	defer done()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return wire.ToStatus(fmt.Errorf("protocol error: restore must start with options: %w", ErrInvalidConfig))
	}
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	h := m.GetStream().GetHeader()
	if h == nil {
		return wire.ToStatus(fmt.Errorf("protocol error: restore stream must start with a header: %w", ErrInvalidConfig))
	}
	recv := func() (*pb.StreamMessage, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if m.GetStream() == nil {
			return nil, errors.New("protocol error: expected a stream message")
		}
		return m.GetStream(), nil
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
	req := RestoreRequest{Component: opts.Component, ToDatabase: opts.ToDatabase, ToDirectory: opts.ToDirectory,
		Scratch: opts.GetScratch(), ReplaceDatabase: opts.GetReplaceDatabase(), Header: headerFromPB(h)}
	ctx, restoreNotes := withNotes(ctx)
	rerr := s.impl.Restore(ctx, req, r)
	ferr := finished()
	if rerr == nil && ferr != nil {
		rerr = ferr
	}
	if rerr != nil {
		return wire.ToStatus(rerr)
	}
	return stream.SendAndClose(&pb.RestoreResponse{Summary: "restored " + h.GetFileName(), Notes: restoreNotes()})
}

func (s *sourceServer) RestorePath(ctx context.Context, req *pb.RestorePathRequest) (resp *pb.RestorePathResponse, err error) {
	defer recoverInto(&err, "RestorePath")
	ps, ok := s.impl.(PathSource)
	if !ok {
		return nil, wire.ToStatus(fmt.Errorf("source does not restore directories natively: %w", ErrUnimplemented))
	}
	ctx, done := s.rt.op(ctx)
	defer done()
	o := req.GetOptions()
	rreq := RestoreRequest{Component: o.GetComponent(), ToDatabase: o.GetToDatabase(), ToDirectory: o.GetToDirectory()}
	if sps, ok := s.impl.(StagingPathSource); ok && req.GetStagingAllowed() {
		p, err := sps.StageRestorePath(ctx, rreq)
		if err != nil {
			return nil, wire.ToStatus(err)
		}
		return &pb.RestorePathResponse{Path: p, Staged: true}, nil
	}
	p, err := ps.RestorePath(ctx, rreq)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.RestorePathResponse{Path: p}, nil
}

func (s *sourceServer) FinishRestorePath(ctx context.Context, req *pb.FinishRestorePathRequest) (resp *pb.FinishRestorePathResponse, err error) {
	defer recoverInto(&err, "FinishRestorePath")
	sps, ok := s.impl.(StagingPathSource)
	if !ok {
		return nil, wire.ToStatus(fmt.Errorf("source does not stage native restores: %w", ErrUnimplemented))
	}
	ctx, done := s.rt.op(ctx)
	defer done()
	o := req.GetOptions()
	rreq := RestoreRequest{Component: o.GetComponent(), ToDatabase: o.GetToDatabase(), ToDirectory: o.GetToDirectory()}
	if err := sps.FinishRestorePath(ctx, rreq, req.GetPath(), req.GetCommit()); err != nil {
		return nil, wire.ToStatus(err)
	}
	what := "the destination was not changed (the staging directory was removed)"
	if req.GetCommit() {
		what = "the restored directory was swapped in"
	}
	return &pb.FinishRestorePathResponse{Summary: what}, nil
}
