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
// unix socket inside the calling process and returns a connection to it.
// It runs the same server code as a plugin process does (framing, trailers,
// the guard that delays end of file until a successful trailer), without
// the process: for tests. fdChannel, when not nil, is the plugin's end of
// an fd channel, as a plugin process inherits it; ServeInProcess takes it
// over. stop cancels the calls in flight, closes the connection and stops
// the server. (host/plugin's ServeInProcess adds the host's end of the fd
// channel and the client; the conformance kit uses that.)
func ServeInProcess(kind string, impl Plugin, fdChannel *os.File) (conn *grpc.ClientConn, stop func(), err error) {
	closeFD := func() {
		if fdChannel != nil {
			fdChannel.Close()
		}
	}
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
		closeFD()
		return nil, nil, fmt.Errorf("in-process plugin: %T is not a %s plugin", impl, kind)
	}
	dir, err := os.MkdirTemp("", "timetiles-backup-inprocess-")
	if err != nil {
		closeFD()
		return nil, nil, err
	}
	lis, err := net.Listen("unix", filepath.Join(dir, "plugin.sock"))
	if err != nil {
		closeFD()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := &pluginRuntime{root: ctx, cancel: cancel}
	if fdChannel != nil {
		rt.inbox = wire.InboxFrom(fdChannel)
	}
	srv := grpc.NewServer(wire.ServerOptions()...)
	_ = (&grpcPlugin{kind: kind, impl: impl, rt: rt}).GRPCServer(nil, srv)
	go func() { _ = srv.Serve(lis) }()
	conn, err = grpc.NewClient("unix://"+lis.Addr().String(),
		append(wire.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		cancel()
		srv.Stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return conn, func() {
		cancel()
		conn.Close()
		srv.Stop()
		os.RemoveAll(dir)
	}, nil
}
