// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// TestBashCompletion sources the bash completion the package installs
// (packaging/completion.bash) in a real bash, sets the words as bash would
// for a half-typed line, calls the completion function and reads COMPREPLY:
// commands, subcommands, the options of --help, the shell tool's component
// names and option values come back from the built CLI.
func TestBashCompletion(t *testing.T) {
	bin := testenv.BuildBinaries(t)
	script := filepath.Join(testenv.RepoRoot(), "packaging", "completion.bash")
	complete := func(words ...string) []string {
		t.Helper()
		line := strings.Join(words, " ")
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + script + "\n" +
			"COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n" +
			"COMP_LINE='" + line + "'; COMP_POINT=${#COMP_LINE}\n" +
			"_timetiles_backup\n" +
			`printf '%s\n' "${COMPREPLY[@]}"` + "\n" +
			"complete -p timetiles-backup >&2\n"
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir()}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash completion of %q: %v", line, err)
		}
		got := strings.Fields(string(out))
		sort.Strings(got)
		return got
	}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"timetiles-backup", "ba"}, []string{"backup"}},
		{[]string{"timetiles-backup", "backup", "l"}, []string{"list"}},
		{[]string{"timetiles-backup", "backup", "--of"}, []string{"--offsite"}},
		{[]string{"timetiles-backup", "backup", "f"}, []string{"full"}},
		{[]string{"timetiles-backup", "backup", "d"}, []string{"database", "db"}},
		{[]string{"timetiles-backup", "restore", "--fo"}, []string{"--force"}},
		{[]string{"timetiles-backup", "restore", "la"}, []string{"latest"}},
		{[]string{"timetiles-backup", "backup", "list", "--j"}, []string{"--json"}},
		{[]string{"timetiles-backup", "config", "--log-level", "d"}, []string{"debug"}},
	} {
		got := complete(c.words...)
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q completes to %q, want %q", strings.Join(c.words, " "), got, c.want)
		}
	}
	all := complete("timetiles-backup", "")
	for _, want := range []string{"backup", "restore", "plugins", "version", "config", "init", "alert"} {
		if !contains(all, want) {
			t.Errorf("the commands complete to %q, lacking %s", all, want)
		}
	}
}

// TestZshCompletion runs the zsh completion function the package installs
// (packaging/_timetiles-backup) in a real zsh with the words of a
// half-typed line, compadd recording what it is given.
func TestZshCompletion(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed (scripts/install-deps.sh installs it)")
	}
	bin := testenv.BuildBinaries(t)
	fn, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "packaging", "_timetiles-backup"))
	if err != nil {
		t.Fatal(err)
	}
	prog := "compadd() { shift $(( ${@[(i)--]} )); print -l -- \"$@\" }\n_files() { print FILES }\n" +
		"_timetiles_backup() {\n" + string(fn) + "\n}\n" +
		"words=(timetiles-backup backup --of); CURRENT=3; _timetiles_backup\n" +
		"words=(timetiles-backup backup f); CURRENT=3; _timetiles_backup\n"
	cmd := exec.Command("zsh", "-f", "-c", prog)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "--offsite full" {
		t.Errorf("zsh completion gave %q, want --offsite full", got)
	}
}
