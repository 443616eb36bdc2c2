// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// fakeCall is the part of a client call the fakes below share.
type fakeCall struct{ ctx context.Context }

func (c fakeCall) Header() (metadata.MD, error) { return nil, nil }
func (c fakeCall) Trailer() metadata.MD         { return nil }
func (c fakeCall) CloseSend() error             { return nil }
func (c fakeCall) Context() context.Context     { return c.ctx }
func (c fakeCall) SendMsg(any) error            { return nil }
func (c fakeCall) RecvMsg(any) error            { return nil }

// stalledSource sends its header, then nothing until its call is
// cancelled (a dump waiting for a lock).
type stalledSource struct{ pb.SourceServiceClient }

type stalledBackup struct {
	fakeCall
	sent bool
}

func (stalledSource) Backup(ctx context.Context, _ *pb.BackupRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[pb.BackupResponse], error) {
	return &stalledBackup{fakeCall: fakeCall{ctx}}, nil
}

func (b *stalledBackup) Recv() (*pb.BackupResponse, error) {
	if !b.sent {
		b.sent = true
		return &pb.BackupResponse{Message: &pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: &pb.StreamHeader{}}}}, nil
	}
	<-b.ctx.Done()
	return nil, status.FromContextError(b.ctx.Err()).Err()
}

// deadTarget's Write call ends at once with an error (the target died).
type deadTarget struct{ pb.TargetServiceClient }

type deadWrite struct{ fakeCall }

func (deadTarget) Write(ctx context.Context, _ ...grpc.CallOption) (grpc.ClientStreamingClient[pb.WriteRequest, pb.WriteResponse], error) {
	return deadWrite{fakeCall{ctx}}, nil
}

func (deadWrite) Send(*pb.WriteRequest) error { return nil }
func (deadWrite) RecvMsg(any) error {
	return status.Error(codes.Unavailable, "target process died")
}
func (w deadWrite) CloseAndRecv() (*pb.WriteResponse, error) { return nil, w.RecvMsg(nil) }

// A Backup whose only target's call has ended while the source sends
// nothing stops the source and returns with the target's error, instead
// of waiting for the source's trailer forever.
func TestBackupStopsSourceWhenEveryTargetFailed(t *testing.T) {
	src := &Endpoint{Name: "source-stalled", Source: stalledSource{}}
	sinks := []Sink{{Name: "local", Target: &Endpoint{Name: "target-dead", Target: deadTarget{}}}}
	res := Backup(context.Background(), src, sinks, Spec{Component: "db"})
	if res.SourceErr == nil || !strings.Contains(res.SourceErr.Error(), "target process died") {
		t.Fatalf("source error %v, want the target's", res.SourceErr)
	}
	if strings.Contains(res.SourceErr.Error(), "canceled") {
		t.Errorf("the cancelled source is reported instead of the cause: %v", res.SourceErr)
	}
	if err := res.Err("local"); err == nil || !strings.Contains(err.Error(), "target local") {
		t.Errorf("sink error %v, want the target's", err)
	}
}
