// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// Plugin kinds (package sdk re-exports them).
const (
	KindSource   = "source"
	KindTarget   = "target"
	KindNotifier = "notifier"
)

// ChunkSize is the size of the gRPC chunk messages of the fallback path and
// of the copy buffers (package sdk re-exports it).
const ChunkSize = 1 << 20

// MaxMessageSize bounds gRPC messages: a chunk plus framing.
const MaxMessageSize = ChunkSize + 64<<10

// Client is the host's handle on a running plugin of any kind: the gRPC
// clients of its service and its fd channel.
type Client struct {
	Kind     string
	Source   pb.SourceServiceClient
	Target   pb.TargetServiceClient
	Notifier pb.NotifierServiceClient
	// FD is the plugin's fd channel, or nil when bytes go over gRPC.
	FD *FDChannel
}

// NewClient wraps a gRPC connection to a plugin of the given kind.
func NewClient(kind string, c *grpc.ClientConn) *Client {
	cl := &Client{Kind: kind}
	switch kind {
	case KindSource:
		cl.Source = pb.NewSourceServiceClient(c)
	case KindTarget:
		cl.Target = pb.NewTargetServiceClient(c)
	case KindNotifier:
		cl.Notifier = pb.NewNotifierServiceClient(c)
	}
	return cl
}

// Flow-control windows of the gRPC chunk transport, both ways. gRPC's
// default grows the windows with its bandwidth estimate up to 16 MiB per
// stream, and the bytes in flight then stay in the heap of the host and
// of the plugins (P4 measured the host at 65 MiB for a 4 GiB stream). Four
// chunks in flight per stream keep loopback busy with a bounded heap
// (docs/performance.md, P4).
const (
	streamWindow = 4 * ChunkSize
	connWindow   = 8 * ChunkSize
)

// DialOptions are the gRPC dial options of the host's plugin connections.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(CallOptions()...),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow)}
}

// ServerOptions are the gRPC server options of a plugin.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow)}
}

// CallOptions raise gRPC's message limits to fit a chunk.
func CallOptions() []grpc.CallOption {
	return []grpc.CallOption{grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)}
}

// Info asks the plugin who it is.
func (c *Client) Info(ctx context.Context) (*pb.PluginInfo, error) {
	var info *pb.PluginInfo
	var err error
	switch c.Kind {
	case KindSource:
		var r *pb.SourceServiceInfoResponse
		r, err = c.Source.Info(ctx, &pb.SourceServiceInfoRequest{})
		info = r.GetInfo()
	case KindTarget:
		var r *pb.TargetServiceInfoResponse
		r, err = c.Target.Info(ctx, &pb.TargetServiceInfoRequest{})
		info = r.GetInfo()
	default:
		var r *pb.NotifierServiceInfoResponse
		r, err = c.Notifier.Info(ctx, &pb.NotifierServiceInfoRequest{})
		info = r.GetInfo()
	}
	if err != nil {
		return nil, FromStatus(err)
	}
	return info, nil
}

// Configure sends the plugin its configuration.
func (c *Client) Configure(ctx context.Context, pc *pb.PluginConfig) error {
	var err error
	switch c.Kind {
	case KindSource:
		_, err = c.Source.Configure(ctx, &pb.SourceServiceConfigureRequest{Config: pc})
	case KindTarget:
		_, err = c.Target.Configure(ctx, &pb.TargetServiceConfigureRequest{Config: pc})
	default:
		_, err = c.Notifier.Configure(ctx, &pb.NotifierServiceConfigureRequest{Config: pc})
	}
	return FromStatus(err)
}

// Notify delivers an event through a notifier plugin and returns the
// channels that took it; a partial delivery returns both.
func (c *Client) Notify(ctx context.Context, e *pb.Event) ([]string, error) {
	resp, err := c.Notifier.Notify(ctx, &pb.NotifyRequest{Event: e})
	if err != nil {
		return nil, FromStatus(err)
	}
	if resp.GetError() != "" {
		return resp.GetDelivered(), errors.New(resp.GetError())
	}
	return resp.GetDelivered(), nil
}
