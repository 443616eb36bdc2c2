// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// CheckDeadline is how long a plugin may take to answer Check
// (sdk.Checker): `timetiles-backup init` waits for every plugin in turn.
const CheckDeadline = 30 * time.Second

// runCheck asks a configured plugin to check itself and checks the answer:
// within CheckDeadline, at least one finding, each named, what was
// verified said for an ok, the problem said for a warning or an error,
// and a fix for every error. A plugin without sdk.Checker answers
// ErrUnimplemented (init then says it cannot check itself); the subtest
// is skipped. ok reports whether the plugin implements Check.
func runCheck(t *testing.T, in *instance) (fs []sdk.Finding, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CheckDeadline)
	defer cancel()
	start := time.Now()
	fs, err := in.checker().Check(ctx)
	took := time.Since(start)
	switch {
	case errors.Is(err, sdk.ErrUnimplemented):
		t.Log("the plugin does not implement sdk.Checker: `timetiles-backup init` says that it cannot check itself")
		return nil, false
	case ctx.Err() != nil:
		t.Fatalf("contract: Check must answer within %s (init waits for it); it did not: %v", CheckDeadline, err)
	case err != nil:
		t.Fatalf("Check failed instead of reporting findings: %v", err)
	}
	if len(fs) == 0 {
		t.Errorf("contract: Check must report what it verified; it reported nothing")
	}
	for i, f := range fs {
		switch {
		case f.Name == "":
			t.Errorf("contract: every finding names what was checked; finding %d (%s) has no name", i, f)
		case f.Severity == sdk.SeverityOK && f.Detail == "":
			t.Errorf("contract: an ok finding says what was verified; %q says nothing", f.Name)
		case f.Severity != sdk.SeverityOK && f.Problem == "":
			t.Errorf("contract: a %s finding says what is wrong; %q says nothing", f.Severity, f.Name)
		case f.Severity == sdk.SeverityError && f.Fix == "":
			t.Errorf("contract: every error finding says how to fix it; %q (%s) has no fix", f.Name, f.Problem)
		}
	}
	t.Logf("Check answered in %s: %d finding(s)", took.Round(time.Millisecond), len(fs))
	for _, f := range fs {
		t.Logf("  %s", f)
	}
	return fs, true
}

// checker is the typed client of the instance's kind (host/plugin), as
// the host asks it.
func (in *instance) checker() sdk.Checker {
	info := convert.InfoFromPB(in.info)
	switch in.kind {
	case sdk.KindSource:
		return plugin.NewSource(in.c, info)
	case sdk.KindTarget:
		return plugin.NewTarget(in.c, info)
	}
	return plugin.NewNotifier(in.c, info)
}

// hasError reports whether fs holds an error finding.
func hasError(fs []sdk.Finding) bool {
	for _, f := range fs {
		if f.Severity == sdk.SeverityError {
			return true
		}
	}
	return false
}
