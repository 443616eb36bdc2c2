// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Distinctive secrets: they must never show up in an error or a log line.
const (
	testPassword  = "pw-S3cr3t+/&=%?-XYZZY-7f3a\"q"
	testAWSSecret = "aws-secret-QWERTY-991-zz"
)

func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

var (
	toolsOnce sync.Once
	toolsErr  error
)

// ensureTools builds the pinned binaries with scripts/tools.sh when missing
// (slow once, cached in .tools/).
func ensureTools(t testing.TB, names ...string) string {
	t.Helper()
	root := moduleRoot(t)
	bin := filepath.Join(root, ".tools", "bin")
	want := map[string]string{"restic": "restic", "restic-0.16": "restic-floor", "rest-server": "rest-server"}
	var missing []string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(bin, n)); err != nil {
			missing = append(missing, want[n])
		}
	}
	if len(missing) > 0 {
		toolsOnce.Do(func() {
			args := append([]string{filepath.Join(root, "scripts", "tools.sh")}, missing...)
			cmd := exec.Command("bash", args...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				toolsErr = err
				t.Logf("tools.sh output:\n%s", out)
			}
		})
		if toolsErr != nil {
			t.Fatalf("scripts/tools.sh %v: %v", missing, toolsErr)
		}
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(bin, n)); err != nil {
			t.Fatalf("%s missing after scripts/tools.sh: %v", n, err)
		}
	}
	return bin
}

type resticBin struct {
	name string // "0.18" or "0.16"
	path string
}

func resticBinaries(t testing.TB) []resticBin {
	bin := ensureTools(t, "restic", "restic-0.16")
	return []resticBin{
		{"0.18", filepath.Join(bin, "restic")},
		{"0.16", filepath.Join(bin, "restic-0.16")},
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestRepo(t testing.TB, binary, repository string) (*Repo, *syncBuffer) {
	logs := &syncBuffer{}
	return &Repo{
		Binary:     binary,
		Repository: repository,
		Password:   testPassword,
		Env:        []string{"AWS_ACCESS_KEY_ID=test-access-key-id", "AWS_SECRET_ACCESS_KEY=" + testAWSSecret},
		Host:       "testhost",
		KillGrace:  1500 * time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "restic-test", Level: hclog.Trace, Output: logs,
		}),
	}, logs
}

func assertNoSecrets(t testing.TB, what, s string) {
	t.Helper()
	for _, sec := range []string{testPassword, testAWSSecret, "S3cr3t", "QWERTY-991"} {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains a secret (%q): %s", what, sec, s)
		}
	}
}

// testContext is the context of a test's restic commands. It has no
// deadline of its own (a loaded machine is slow, and a slow restic is not a
// failure): it ends a little before the test binary's -timeout, so a hang
// fails with the operation that hung rather than a panic dump.
func testContext(t testing.TB) context.Context {
	ctx := context.Background()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if at, ok := d.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, at.Add(-30*time.Second))
			t.Cleanup(cancel)
		}
	}
	return ctx
}

// writeScript writes an executable shell script (a fake restic).
func writeScript(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-restic")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
