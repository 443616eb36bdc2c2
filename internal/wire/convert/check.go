// SPDX-License-Identifier: Apache-2.0

package convert

import (
	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/sdk"
)

// FindingsFromPB converts the findings of a plugin's Check. An unset or
// unknown severity (a newer plugin's) is an error when the finding names a
// problem, else ok.
func FindingsFromPB(fs []*pb.CheckFinding) []sdk.Finding {
	out := make([]sdk.Finding, len(fs))
	for i, f := range fs {
		sev := sdk.SeverityOK
		switch f.GetSeverity() {
		case pb.CheckSeverity_CHECK_SEVERITY_OK:
		case pb.CheckSeverity_CHECK_SEVERITY_WARNING:
			sev = sdk.SeverityWarning
		default:
			if f.GetSeverity() == pb.CheckSeverity_CHECK_SEVERITY_ERROR || f.GetProblem() != "" {
				sev = sdk.SeverityError
			}
		}
		out[i] = sdk.Finding{Name: f.GetName(), Severity: sev, Detail: f.GetDetail(), Problem: f.GetProblem(), Fix: f.GetFix()}
	}
	return out
}
