// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

type baseServer struct {
	impl Plugin
	rt   *pluginRuntime
}

// infoToPB converts Info for the wire, adding the SDK's own capabilities.
func infoToPB(kind string, i Info, fd bool) *pb.PluginInfo {
	keys := make([]*pb.ConfigKey, len(i.ConfigKeys))
	for n, k := range i.ConfigKeys {
		keys[n] = &pb.ConfigKey{Name: k.Name, Secret: k.Secret, Description: k.Description, DefaultValue: k.Default, Executable: k.Executable, WrittenPath: k.WrittenPath}
	}
	versions := i.APIVersions
	if len(versions) == 0 {
		versions = []uint32{APIVersion}
	}
	caps := slices.Clone(i.Capabilities)
	if fd && kind != KindNotifier && !slices.Contains(caps, CapFD) {
		caps = append(caps, CapFD)
	}
	specs := make([]*pb.ComponentSpec, len(i.ComponentSpecs))
	for n, c := range i.ComponentSpecs {
		specs[n] = &pb.ComponentSpec{Name: c.Name, RestoreKind: restoreKindToPB[c.Restore], BackupFirst: c.BackupFirst}
	}
	return &pb.PluginInfo{
		Name: i.Name, Kind: kind, PluginVersion: i.Version, ApiVersions: versions,
		Description: i.Description, ConfigKeys: keys, Capabilities: caps, Components: i.Components,
		ComponentSpecs: specs,
	}
}

var restoreKindToPB = map[RestoreKind]pb.RestoreKind{
	RestoreStream:    pb.RestoreKind_RESTORE_KIND_STREAM,
	RestoreDatabase:  pb.RestoreKind_RESTORE_KIND_DATABASE,
	RestoreDirectory: pb.RestoreKind_RESTORE_KIND_DIRECTORY,
}

func (s *baseServer) info(kind string) (info *pb.PluginInfo, err error) {
	defer recoverInto(&err, "Info")
	return infoToPB(kind, s.impl.Info(), s.rt.inbox != nil), nil
}

func (s *baseServer) configure(ctx context.Context, req *pb.PluginConfig) (err error) {
	defer recoverInto(&err, "Configure")
	ctx, done := s.rt.op(ctx)
	defer done()
	v := req.GetApiVersion()
	if v == 0 {
		v = APIVersion
	}
	vals := req.GetValues()
	if vals == nil {
		vals = map[string]string{}
	}
	return wire.ToStatus(s.impl.Configure(ctx, Config{Instance: req.GetInstance(), Values: vals, APIVersion: v}))
}

// ---- Source ----

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

// ---- Target ----

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

// ---- Notifier ----

type notifierServer struct {
	pb.UnimplementedNotifierServiceServer
	baseServer
	impl Notifier
}

func (s *notifierServer) Info(context.Context, *pb.NotifierServiceInfoRequest) (*pb.NotifierServiceInfoResponse, error) {
	i, err := s.info(KindNotifier)
	return &pb.NotifierServiceInfoResponse{Info: i}, err
}

func (s *notifierServer) Configure(ctx context.Context, req *pb.NotifierServiceConfigureRequest) (*pb.NotifierServiceConfigureResponse, error) {
	if err := s.configure(ctx, req.GetConfig()); err != nil {
		return nil, err
	}
	return &pb.NotifierServiceConfigureResponse{}, nil
}

func (s *notifierServer) Notify(ctx context.Context, req *pb.NotifyRequest) (resp *pb.NotifyResponse, err error) {
	defer recoverInto(&err, "Notify")
	ctx, done := s.rt.op(ctx)
	defer done()
	delivered, err := s.impl.Notify(ctx, eventFromPB(req.GetEvent()))
	if err != nil && len(delivered) == 0 {
		return nil, wire.ToStatus(err)
	}
	resp = &pb.NotifyResponse{Delivered: delivered}
	if err != nil {
		resp.Error = err.Error() // partial delivery: keep both
	}
	return resp, nil
}

// eventFromPB converts a wire event.
func eventFromPB(p *pb.Event) Event {
	return Event{Kind: p.GetKind(), Severity: p.GetSeverity(), Subject: p.GetSubject(), Body: p.GetBody(),
		Component: p.GetComponent(), RunID: p.GetRunId(), Repository: p.GetRepository(), Error: p.GetError(),
		Hostname: p.GetHostname(), Time: time.Unix(p.GetTimeUnix(), 0)}
}

// unblockOnCancel makes a write blocked on a full pipe return when ctx ends
// (the reader may be gone or stuck), so a cancelled plugin call never hangs.
func unblockOnCancel(ctx context.Context, pipe *os.File) (stop func() bool) {
	if pipe == nil {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() { _ = pipe.SetWriteDeadline(time.Now()) })
}
