// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"fmt"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// The Check call on the wire: the plugin's side (the servers answer it for
// a plugin that implements Checker) and the host's (Client.Check).

func (s *baseServer) check(ctx context.Context) (fs []*pb.CheckFinding, err error) {
	defer recoverInto(&err, "Check")
	c, ok := s.impl.(Checker)
	if !ok {
		return nil, ToStatus(fmt.Errorf("this plugin cannot check itself: %w", ErrUnimplemented))
	}
	ctx, done := s.rt.op(ctx)
	defer done()
	findings, err := c.Check(ctx)
	if err != nil {
		return nil, ToStatus(err)
	}
	return FindingsToPB(findings), nil
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

// Check asks a configured plugin to check itself (Checker). A plugin that
// cannot — one without Checker, or one built before the call existed —
// returns an error matching ErrUnimplemented.
func (c *Client) Check(ctx context.Context) ([]Finding, error) {
	var fs []*pb.CheckFinding
	var err error
	switch c.Kind {
	case KindSource:
		var r *pb.SourceServiceCheckResponse
		r, err = c.Source.Check(ctx, &pb.SourceServiceCheckRequest{})
		fs = r.GetFindings()
	case KindTarget:
		var r *pb.TargetServiceCheckResponse
		r, err = c.Target.Check(ctx, &pb.TargetServiceCheckRequest{})
		fs = r.GetFindings()
	default:
		var r *pb.NotifierServiceCheckResponse
		r, err = c.Notifier.Check(ctx, &pb.NotifierServiceCheckRequest{})
		fs = r.GetFindings()
	}
	if err != nil {
		return nil, FromStatus(err)
	}
	return FindingsFromPB(fs), nil
}

var severityToPB = map[Severity]pb.CheckSeverity{
	SeverityOK:      pb.CheckSeverity_CHECK_SEVERITY_OK,
	SeverityWarning: pb.CheckSeverity_CHECK_SEVERITY_WARNING,
	SeverityError:   pb.CheckSeverity_CHECK_SEVERITY_ERROR,
}

// FindingsToPB converts findings for the wire.
func FindingsToPB(fs []Finding) []*pb.CheckFinding {
	out := make([]*pb.CheckFinding, len(fs))
	for i, f := range fs {
		out[i] = &pb.CheckFinding{Name: f.Name, Severity: severityToPB[f.Severity], Detail: f.Detail, Problem: f.Problem, Fix: f.Fix}
	}
	return out
}

// FindingsFromPB converts wire findings. An unset or unknown severity (a
// newer plugin's) is an error when the finding names a problem, else ok.
func FindingsFromPB(fs []*pb.CheckFinding) []Finding {
	out := make([]Finding, len(fs))
	for i, f := range fs {
		sev := SeverityOK
		switch f.GetSeverity() {
		case pb.CheckSeverity_CHECK_SEVERITY_OK:
		case pb.CheckSeverity_CHECK_SEVERITY_WARNING:
			sev = SeverityWarning
		default:
			if f.GetSeverity() == pb.CheckSeverity_CHECK_SEVERITY_ERROR || f.GetProblem() != "" {
				sev = SeverityError
			}
		}
		out[i] = Finding{Name: f.GetName(), Severity: sev, Detail: f.GetDetail(), Problem: f.GetProblem(), Fix: f.GetFix()}
	}
	return out
}
