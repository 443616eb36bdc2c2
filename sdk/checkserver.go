// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"fmt"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

// The plugin's side of the Check call: the servers answer it for a plugin
// that implements Checker. The host's side is internal/wire/check.go
// (the call) and internal/wire/convert (the findings).

func (s *baseServer) check(ctx context.Context) (fs []*pb.CheckFinding, err error) {
	defer recoverInto(&err, "Check")
	c, ok := s.impl.(Checker)
	if !ok {
		return nil, wire.ToStatus(fmt.Errorf("this plugin cannot check itself: %w", ErrUnimplemented))
	}
	ctx, done := s.rt.op(ctx)
	defer done()
	findings, err := c.Check(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return findingsToPB(findings), nil
}

func (s *sourceServer) Check(ctx context.Context, _ *pb.SourceServiceCheckRequest) (*pb.SourceServiceCheckResponse, error) {
	fs, err := s.check(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.SourceServiceCheckResponse{Findings: fs}, nil
}

func (s *targetServer) Check(ctx context.Context, _ *pb.TargetServiceCheckRequest) (*pb.TargetServiceCheckResponse, error) {
	fs, err := s.check(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.TargetServiceCheckResponse{Findings: fs}, nil
}

func (s *notifierServer) Check(ctx context.Context, _ *pb.NotifierServiceCheckRequest) (*pb.NotifierServiceCheckResponse, error) {
	fs, err := s.check(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.NotifierServiceCheckResponse{Findings: fs}, nil
}

var severityToPB = map[Severity]pb.CheckSeverity{
	SeverityOK:      pb.CheckSeverity_CHECK_SEVERITY_OK,
	SeverityWarning: pb.CheckSeverity_CHECK_SEVERITY_WARNING,
	SeverityError:   pb.CheckSeverity_CHECK_SEVERITY_ERROR,
}

// findingsToPB converts findings for the wire.
func findingsToPB(fs []Finding) []*pb.CheckFinding {
	out := make([]*pb.CheckFinding, len(fs))
	for i, f := range fs {
		out[i] = &pb.CheckFinding{Name: f.Name, Severity: severityToPB[f.Severity], Detail: f.Detail, Problem: f.Problem, Fix: f.Fix}
	}
	return out
}
