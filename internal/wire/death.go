// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// ErrPluginDied marks a call that failed because the plugin's process
// ended under it (killed, crashed, out of memory). errors.Is also matches
// ErrUnavailable for such an error.
var ErrPluginDied = errors.New("plugin died")

// DeathOptions make a call that fails because the plugin process died say
// so. gRPC alone says "error reading from server: EOF" or "connection
// closed", which names neither the plugin nor what happened. dead reports
// whether the plugin's process has ended or is ending; it is asked only
// when a call fails as Unavailable or Internal, when the plugin's end of
// the connection is already closed, so a dying process already says so
// then (host/plugin processEnded).
func DeathOptions(plugin string, dead func() bool) []grpc.DialOption {
	explain := func(err error) error {
		// A connection cut by the death is Unavailable, sometimes Internal
		// (a stream reset).
		if code := status.Code(err); err == nil || (code != codes.Unavailable && code != codes.Internal) || !dead() {
			return err
		}
		return &diedError{msg: "plugin " + plugin + " exited unexpectedly (killed or crashed; its last log lines, if any, are above)"}
	}
	// Only the plugin API's calls: go-plugin's own (its stdio and
	// controller services) expect gRPC's errors as they are.
	ours := func(method string) bool { return strings.HasPrefix(method, "/"+servicePrefix) }
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if !ours(method) {
			return err
		}
		return explain(err)
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if !ours(method) {
			return s, err
		}
		if err != nil {
			return nil, explain(err)
		}
		return deathStream{ClientStream: s, explain: explain}, nil
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream)}
}

// servicePrefix starts the full name of every service of the plugin API.
var servicePrefix = strings.TrimSuffix(pb.SourceService_ServiceDesc.ServiceName, "SourceService")

// diedError is a call's error when its plugin died. It keeps gRPC's code
// (Unavailable) for code that asks status.Code, and matches ErrUnavailable
// and ErrPluginDied with errors.Is.
type diedError struct{ msg string }

func (e *diedError) Error() string { return e.msg }
func (e *diedError) Unwrap() []error {
	return []error{ErrUnavailable, ErrPluginDied}
}
func (e *diedError) GRPCStatus() *status.Status { return status.New(codes.Unavailable, e.msg) }

// deathStream explains the error a stream's receive ends with (a send on
// a broken stream returns io.EOF, and the receive has the cause).
type deathStream struct {
	grpc.ClientStream
	explain func(error) error
}

func (s deathStream) RecvMsg(m any) error { return s.explain(s.ClientStream.RecvMsg(m)) }
