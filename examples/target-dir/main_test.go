// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

func config(t *testing.T) map[string]string {
	return map[string]string{"DIR_TARGET_PATH": filepath.Join(t.TempDir(), "repo")}
}

// The plugin passes the conformance kit in process (fast, debuggable)...
func TestConformanceInProcess(t *testing.T) {
	conformance.RunTarget(t, conformance.TargetFixture{
		New:    func() sdk.Target { return &dirTarget{} },
		Config: config,
	})
}

// ...and as the binary the host launches.
func TestConformanceBinary(t *testing.T) {
	conformance.RunTarget(t, conformance.TargetFixture{
		Binary: conformance.Build(t, ".", "target-dir"),
		Config: config,
	})
}

// Verify finds a stored stream that changed on disk.
func TestVerifyFindsDamage(t *testing.T) {
	ctx := context.Background()
	d := &dirTarget{}
	if err := d.Configure(ctx, sdk.Config{Values: config(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Init(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := d.Write(ctx, sdk.Header{FileName: "x"}, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := d.Verify(ctx, sdk.VerifyRequest{}); err != nil || sum != "1 snapshots verified" {
		t.Fatalf("Verify = %q, %v", sum, err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "data", res.Snapshot.ID), []byte("hellO"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Verify(ctx, sdk.VerifyRequest{}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Verify of a damaged snapshot: %v", err)
	}
}

// A relative or missing directory is a configuration error.
func TestConfigureNeedsAbsoluteDirectory(t *testing.T) {
	for _, v := range []string{"", "relative/dir"} {
		err := (&dirTarget{}).Configure(context.Background(), sdk.Config{Values: map[string]string{"DIR_TARGET_PATH": v}})
		if err == nil || !strings.Contains(err.Error(), "DIR_TARGET_PATH") {
			t.Errorf("Configure(%q) = %v", v, err)
		}
	}
}
