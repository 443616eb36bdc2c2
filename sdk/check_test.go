// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

type checkingNotifier struct{ findings []Finding }

func (checkingNotifier) Info() Info                              { return Info{Name: "notify-checking"} }
func (checkingNotifier) Configure(context.Context, Config) error { return nil }
func (checkingNotifier) Notify(context.Context, Event) ([]string, error) {
	return nil, nil
}
func (n checkingNotifier) Check(context.Context) ([]Finding, error) { return n.findings, nil }

type plainNotifier struct{ checkingNotifier }

// plainNotifier hides Check: a plugin without Checker.
func (plainNotifier) Check() {}

// The findings a plugin reports reach the host as they were; a plugin
// without Checker, and one built before the Check call existed (its
// server has no such method), both answer ErrUnimplemented.
func TestCheckOverTheWire(t *testing.T) {
	want := []Finding{
		Verified("topic", "publishes to a topic on https://ntfy.sh"),
		Warning("channels", "no channel", "set one"),
		Problem("script", "missing", "install it"),
	}
	conn, stop, err := ServeInProcess(KindNotifier, checkingNotifier{findings: want}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c := wire.NewClient(KindNotifier, conn)
	got, err := c.Check(context.Background())
	if err != nil || len(got) != len(want) {
		t.Fatalf("Check = %v, %v; want %v", got, err, want)
	}
	sev := map[Severity]pb.CheckSeverity{SeverityOK: pb.CheckSeverity_CHECK_SEVERITY_OK,
		SeverityWarning: pb.CheckSeverity_CHECK_SEVERITY_WARNING, SeverityError: pb.CheckSeverity_CHECK_SEVERITY_ERROR}
	for i, w := range want {
		g := got[i]
		if g.GetName() != w.Name || g.GetSeverity() != sev[w.Severity] || g.GetDetail() != w.Detail || g.GetProblem() != w.Problem || g.GetFix() != w.Fix {
			t.Errorf("finding %d = %v, want %v", i, g, w)
		}
	}

	conn, stop2, err := ServeInProcess(KindNotifier, plainNotifier{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	c = wire.NewClient(KindNotifier, conn)
	if _, err := c.Check(context.Background()); !errors.Is(err, ErrUnimplemented) {
		t.Errorf("Check of a plugin without Checker: %v, want ErrUnimplemented", err)
	}

	// A plugin built before Check: its server knows only the older calls.
	lis, err := net.Listen("unix", filepath.Join(t.TempDir(), "old.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	desc := pb.SourceService_ServiceDesc
	var methods []grpc.MethodDesc
	for _, m := range desc.Methods {
		if m.MethodName != "Check" {
			methods = append(methods, m)
		}
	}
	desc.Methods = methods
	srv.RegisterService(&desc, &sourceServer{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err = grpc.NewClient("unix://"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := wire.NewClient(KindSource, conn).Check(context.Background()); !errors.Is(err, ErrUnimplemented) {
		t.Errorf("Check of a plugin built before the call: %v, want ErrUnimplemented", err)
	}
}
