// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"testing"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/sdk"
)

// A finding from a newer plugin with an unknown severity is an error when
// it names a problem, else ok; known severities keep their meaning.
func TestFindingsFromPB(t *testing.T) {
	got := FindingsFromPB([]*pb.CheckFinding{
		{Name: "a", Severity: pb.CheckSeverity(9), Problem: "broken", Fix: "fix it"},
		{Name: "b", Detail: "fine"},
		{Name: "c", Severity: pb.CheckSeverity_CHECK_SEVERITY_WARNING, Problem: "meh", Fix: "do"},
	})
	want := []sdk.Finding{
		{Name: "a", Severity: sdk.SeverityError, Problem: "broken", Fix: "fix it"},
		{Name: "b", Severity: sdk.SeverityOK, Detail: "fine"},
		{Name: "c", Severity: sdk.SeverityWarning, Problem: "meh", Fix: "do"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
