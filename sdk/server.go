// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
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
