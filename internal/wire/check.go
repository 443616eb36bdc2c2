// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"context"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// Check asks a configured plugin to check itself. A plugin that cannot —
// one without sdk.Checker, or one built before the call existed — returns
// an error matching ErrUnimplemented.
func (c *Client) Check(ctx context.Context) ([]*pb.CheckFinding, error) {
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
	return fs, nil
}
