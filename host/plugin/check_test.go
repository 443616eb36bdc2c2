// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"
	"errors"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
)

// checkingTarget is fakeTarget with a check of its own.
type checkingTarget struct{ fakeTarget }

func (*checkingTarget) Check(context.Context) ([]sdk.Finding, error) {
	return []sdk.Finding{
		sdk.Verified("repository", "/x opens with the password"),
		sdk.Warning("space", "90% full", "free space"),
		sdk.Problem("restic", "restic 0.14.0 is too old", "install restic ≥ 0.16.0"),
	}, nil
}

// TestCheckClient: the typed client returns a plugin's findings as the
// plugin made them, and ErrUnimplemented for a plugin without sdk.Checker.
func TestCheckClient(t *testing.T) {
	impl := &checkingTarget{}
	w, stop, err := ServeInProcess(sdk.KindTarget, impl, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	want, _ := impl.Check(context.Background())
	got, err := NewTarget(w, impl.Info()).Check(context.Background())
	if err != nil || len(got) != len(want) {
		t.Fatalf("Check = %v, %v; want %v", got, err, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	plain := &fakeTarget{}
	w, stop2, err := ServeInProcess(sdk.KindTarget, plain, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if fs, err := NewTarget(w, plain.Info()).Check(context.Background()); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("Check of a target without sdk.Checker = %v, %v; want ErrUnimplemented", fs, err)
	}
}
