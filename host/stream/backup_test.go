// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"io"
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

// deadTarget's Write call ends at once with an error (the target died);
// died, when set, is closed then.
type deadTarget struct {
	pb.TargetServiceClient
	died chan struct{}
}

type deadWrite struct {
	fakeCall
	died chan struct{}
}

func (d deadTarget) Write(ctx context.Context, _ ...grpc.CallOption) (grpc.ClientStreamingClient[pb.WriteRequest, pb.WriteResponse], error) {
	return deadWrite{fakeCall{ctx}, d.died}, nil
}

func (deadWrite) Send(*pb.WriteRequest) error { return nil }
func (w deadWrite) RecvMsg(any) error {
	if w.died != nil {
		close(w.died)
	}
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

// waitingSource sends its header, then its successful trailer once start
// is closed, unless its call is cancelled first.
type waitingSource struct {
	pb.SourceServiceClient
	start <-chan struct{}
}

type waitingBackup struct {
	fakeCall
	start <-chan struct{}
	n     int
}

func (s waitingSource) Backup(ctx context.Context, _ *pb.BackupRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[pb.BackupResponse], error) {
	return &waitingBackup{fakeCall: fakeCall{ctx}, start: s.start}, nil
}

func (b *waitingBackup) Recv() (*pb.BackupResponse, error) {
	b.n++
	switch b.n {
	case 1:
		return &pb.BackupResponse{Message: &pb.StreamMessage{Msg: &pb.StreamMessage_Header{Header: &pb.StreamHeader{}}}}, nil
	case 2:
		select {
		case <-b.start:
			return &pb.BackupResponse{Message: &pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: &pb.StreamTrailer{Success: true}}}}, nil
		case <-b.ctx.Done():
			return nil, status.FromContextError(b.ctx.Err()).Err()
		}
	}
	return nil, io.EOF
}

// liveTarget answers its Write call with a snapshot once the host closed
// its side.
type liveTarget struct{ pb.TargetServiceClient }

type liveWrite struct {
	fakeCall
	closed chan struct{}
}

func (liveTarget) Write(ctx context.Context, _ ...grpc.CallOption) (grpc.ClientStreamingClient[pb.WriteRequest, pb.WriteResponse], error) {
	return &liveWrite{fakeCall{ctx}, make(chan struct{})}, nil
}

func (w *liveWrite) Send(*pb.WriteRequest) error { return nil }
func (w *liveWrite) CloseSend() error {
	close(w.closed)
	return nil
}
func (w *liveWrite) RecvMsg(m any) error {
	select {
	case <-w.closed:
		m.(*pb.WriteResponse).Snapshot = &pb.Snapshot{Id: "live-snapshot"}
		return nil
	case <-w.ctx.Done():
		return status.FromContextError(w.ctx.Err()).Err()
	}
}
func (w *liveWrite) CloseAndRecv() (*pb.WriteResponse, error) {
	_ = w.CloseSend()
	m := new(pb.WriteResponse)
	return m, w.RecvMsg(m)
}

// One target whose call ended does not fail the stream while another
// target still takes it: the source goes on to its trailer (sent once the
// dead target's call has ended) and the live target stores it. (The
// source may send it before the host has seen that call end, so this does
// not tell an early cancel apart every time.)
func TestBackupGoesOnWhileOneTargetLives(t *testing.T) {
	died := make(chan struct{})
	src := &Endpoint{Name: "source-waiting", Source: waitingSource{start: died}}
	sinks := []Sink{
		{Name: "local", Target: &Endpoint{Name: "target-live", Target: liveTarget{}}},
		{Name: "offsite", Target: &Endpoint{Name: "target-dead", Target: deadTarget{died: died}}},
	}
	res := Backup(context.Background(), src, sinks, Spec{Component: "db"})
	if res.SourceErr != nil {
		t.Fatalf("source error %v, want none", res.SourceErr)
	}
	if r := res.Sink("local"); r.Err != nil || r.Snapshot.ID != "live-snapshot" {
		t.Errorf("live target: %+v, want its snapshot", r)
	}
	if err := res.Err("offsite"); err == nil || !strings.Contains(err.Error(), "target process died") {
		t.Errorf("dead target: %v, want its error", err)
	}
}
