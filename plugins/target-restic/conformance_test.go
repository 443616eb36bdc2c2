// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

// The built plugin passes the third-party conformance kit against real
// restic repositories: a temporary local one for each check, and a
// rest-server --append-only repository whose refusal to prune is reported
// as permission denied (a write-only offsite key).
func TestConformance(t *testing.T) {
	restic := testenv.Tool(t, "restic")
	bin := conformance.Build(t, ".", "target-restic")
	conformance.RunTarget(t, conformance.TargetFixture{
		Binary: bin,
		Config: func(t *testing.T) map[string]string {
			return map[string]string{
				"RESTIC_REPOSITORY": filepath.Join(t.TempDir(), "repo"), "RESTIC_PASSWORD": "conformance-pw",
				"BACKUP_RESTIC_BIN": restic, "RESTIC_CACHE_DIR": filepath.Join(t.TempDir(), "cache"),
			}
		},
		Denied: func(t *testing.T) (map[string]string, conformance.Op) {
			addr := startAppendOnlyRestServer(t)
			return map[string]string{
				"RESTIC_REPOSITORY": "rest:http://" + addr + "/repo", "RESTIC_PASSWORD": "conformance-pw",
				"BACKUP_RESTIC_BIN": restic, "RESTIC_CACHE_DIR": filepath.Join(t.TempDir(), "cache"),
			}, conformance.OpPrune
		},
	})
}

// startAppendOnlyRestServer runs rest-server --append-only on a free
// loopback port for the test and returns its address.
func startAppendOnlyRestServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.Command(testenv.Tool(t, "rest-server"), "--append-only", "--no-auth", "--listen", addr, "--path", t.TempDir())
	srv.Stdout, srv.Stderr = io.Discard, io.Discard
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i > 100 {
			t.Fatalf("rest-server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
