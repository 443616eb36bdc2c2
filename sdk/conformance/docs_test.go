// SPDX-License-Identifier: Apache-2.0

package conformance_test

import (
	"bytes"
	"go/format"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/sdk"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

const repoRoot = "../.."

// minimalPlugin returns the complete source plugin of docs/plugins.md.
func minimalPlugin(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "plugins.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- minimal-source-plugin")
	if !ok {
		t.Fatal("docs/plugins.md has no minimal-source-plugin block")
	}
	_, after, _ = strings.Cut(after, "```go\n")
	code, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("the minimal-source-plugin block is not closed")
	}
	return code
}

// The SDK's package documentation shows the same plugin, so that what
// pkg.go.dev shows is the tested code too.
func TestSDKDocShowsTheTestedPlugin(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "sdk", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "// # A complete source plugin\n")
	if !ok {
		t.Fatal("sdk/doc.go has no complete source plugin")
	}
	var code strings.Builder
	for _, l := range strings.Split(after, "\n") {
		switch {
		case strings.HasPrefix(l, "//\t"):
			code.WriteString(strings.TrimPrefix(l, "//\t") + "\n")
		case l == "//" && code.Len() > 0:
			code.WriteString("\n")
		}
	}
	if code.String() != minimalPlugin(t) {
		t.Errorf("sdk/doc.go's plugin differs from docs/plugins.md's:\n%s", code.String())
	}
}

// goLines counts the lines of Go that are neither blank nor comments.
func goLines(code string) int {
	n := 0
	for _, l := range strings.Split(code, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "//") {
			n++
		}
	}
	return n
}

// buildSource compiles a single-file plugin in this module.
func buildSource(t *testing.T, code, name string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), plugin.BinaryPrefix+name)
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The documented minimal source plugin is complete (it builds), small (the
// issue's target: at most 40 lines of Go) and correct (it passes the kit).
func TestDocsMinimalSourcePlugin(t *testing.T) {
	code := minimalPlugin(t)
	if formatted, err := format.Source([]byte(code)); err != nil || !bytes.Equal(formatted, []byte(code)) {
		t.Errorf("the documented plugin is not gofmt-clean (%v)", err)
	}
	lines := goLines(code)
	t.Logf("minimal source plugin: %d lines of Go (non-blank, non-comment)", lines)
	if lines > 40 {
		t.Errorf("the minimal source plugin needs %d lines of Go; the target is at most 40", lines)
	}
	bin := buildSource(t, code, "source-file")

	want := make([]byte, 1<<20+17)
	rand.NewChaCha8([32]byte{4}).Read(want)
	file := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(file, want, 0o600); err != nil {
		t.Fatal(err)
	}
	conformance.RunSource(t, conformance.SourceFixture{
		Binary: bin,
		Config: func(t *testing.T) map[string]string { return map[string]string{"FILE_PATH": file} },
		FailingConfig: func(t *testing.T) map[string]string {
			return map[string]string{"FILE_PATH": filepath.Join(t.TempDir(), "missing")}
		},
		Disturb: func(t *testing.T) {
			if err := os.WriteFile(file, []byte("changed after the backup"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		CheckRestored: func(t *testing.T, _ sdk.RestoreRequest) {
			got, err := os.ReadFile(file)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("restored file: %d bytes (%v), want the %d backed up", len(got), err, len(want))
			}
			if _, err := os.Stat(file + ".part"); !os.IsNotExist(err) {
				t.Errorf("a restore left %s.part behind", file)
			}
		},
	})
}
