// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// TestSPDXScript runs scripts/spdx.sh on a scratch repository: --check
// lists the files without the header, a run adds it (after a #! line,
// keeping the mode), generated code is left alone, a second run changes
// nothing.
func TestSPDXScript(t *testing.T) {
	repo := t.TempDir()
	files := map[string]string{
		"a.go":           "package a\n",
		"b.go":           "// SPDX-License-Identifier: Apache-2.0\n\npackage b\n",
		"gen/x/x.pb.go":  "package x\n",
		"scripts/run.sh": "#!/bin/sh\necho hi\n",
	}
	for name, body := range files {
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o755)
	}
	script, _ := os.ReadFile(filepath.Join(testenv.RepoRoot(), "scripts", "spdx.sh"))
	os.WriteFile(filepath.Join(repo, "scripts", "spdx.sh"), script, 0o755)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(repo, "scripts", "spdx.sh"), args...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	out, err := run("--check")
	if err == nil || !strings.Contains(out, "a.go\n") || !strings.Contains(out, "scripts/run.sh\n") || strings.Contains(out, "b.go") || strings.Contains(out, "x.pb.go") {
		t.Fatalf("--check: %v\n%s", err, out)
	}
	if out, err := run(); err != nil {
		t.Fatalf("spdx.sh: %v %s", err, out)
	}
	for name, want := range map[string]string{
		"a.go":           "// SPDX-License-Identifier: Apache-2.0\n\npackage a\n",
		"b.go":           files["b.go"],
		"gen/x/x.pb.go":  files["gen/x/x.pb.go"],
		"scripts/run.sh": "#!/bin/sh\n# SPDX-License-Identifier: Apache-2.0\necho hi\n",
	} {
		got, _ := os.ReadFile(filepath.Join(repo, name))
		if string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if st, _ := os.Stat(filepath.Join(repo, "scripts", "run.sh")); st.Mode()&0o111 == 0 {
		t.Error("the script lost its executable bit")
	}
	if out, err := run("--check"); err != nil {
		t.Errorf("--check after a run: %v %s", err, out)
	}
}
