// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/timetiles/timetiles-backup/internal/wire"
)

// ServeInProcess serves impl, a plugin of the given kind, over gRPC on a
// unix socket inside the calling process and returns a client for it, with
// an fd channel when fd is true. It runs the same server code as a plugin
// process does (framing, trailers, the guard that delays end of file until
// a successful trailer), without the process: for tests and the conformance
// kit (sdk/conformance). stop cancels the calls in flight, closes the
// connection and stops the server.
func ServeInProcess(kind string, impl Plugin, fd bool) (c *wire.Client, stop func(), err error) {
	var ok bool
	switch kind {
	case KindSource:
		_, ok = impl.(Source)
	case KindTarget:
		_, ok = impl.(Target)
	case KindNotifier:
		_, ok = impl.(Notifier)
	}
	if !ok {
		return nil, nil, fmt.Errorf("in-process plugin: %T is not a %s plugin", impl, kind)
	}
	dir, err := os.MkdirTemp("", "timetiles-backup-inprocess-")
	if err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("unix", filepath.Join(dir, "plugin.sock"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := &pluginRuntime{root: ctx, cancel: cancel}
	var fdc *wire.FDChannel
	if fd {
		var child *os.File
		if fdc, child, err = wire.NewFDChannelPair(); err != nil {
			cancel()
			lis.Close()
			os.RemoveAll(dir)
			return nil, nil, err
		}
		rt.inbox = wire.InboxFrom(child)
	}
	srv := grpc.NewServer(wire.ServerOptions()...)
	_ = (&grpcPlugin{kind: kind, impl: impl, rt: rt}).GRPCServer(nil, srv)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("unix://"+lis.Addr().String(),
		append(wire.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		cancel()
		srv.Stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	c = wire.NewClient(kind, conn)
	c.FD = fdc
	return c, func() {
		cancel()
		conn.Close()
		srv.Stop()
		if fdc != nil {
			fdc.Close()
		}
		os.RemoveAll(dir)
	}, nil
}
