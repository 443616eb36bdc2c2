// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// runStdin runs the CLI with the given standard input (a pipe, as in a
// script: `echo y | timetiles-backup restore latest`).
func (e *env) runStdin(stdin string, args ...string) result {
	e.t.Helper()
	cmd, stdout, stderr := e.command(context.Background(), args...)
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if testing.Verbose() {
		e.t.Logf("$ echo %q | timetiles-backup %s → %d\n%s%s", stdin, strings.Join(args, " "), code, stdout, stderr)
	}
	return result{code, stdout.String(), stderr.String()}
}

// TestShellToolCommandSurface: what operators of the shell tool type keeps
// working — `backup database`, `backup full` (no alert), `restore latest
// --force`, a "y" line on stdin answering the [y/N] prompt (anything else
// or no input refuses), and the outcome lines verify and prune ended with.
func TestShellToolCommandSurface(t *testing.T) {
	e := newEnv(t, true)
	alerts := func() string { b, _ := os.ReadFile(e.vars["BACKUP_ALERT_LOG"]); return string(b) }

	mustRun(t, e.run("backup", "database"), 0, "backup database")
	mustRun(t, e.run("backup", "full"), 0, "backup full")
	if a := alerts(); a != "" {
		t.Errorf("the shell tool's component names alerted:\n%s", a)
	}
	var runs []runJSON
	r := mustRun(t, e.run("backup", "list", "--json"), 0, "list")
	if err := unmarshalRuns(r.stdout, &runs); err != nil || len(runs) != 2 {
		t.Fatalf("list: %v %s", err, r.stdout)
	}
	if len(runs[0].Components) != 2 || runs[0].Components["db"] == "" || runs[0].Components["uploads"] == "" {
		t.Errorf("backup full stored %v, want db and uploads", runs[0].Components)
	}
	if len(runs[1].Components) != 1 || runs[1].Components["db"] == "" {
		t.Errorf("backup database stored %v, want db", runs[1].Components)
	}

	// The confirmation, answered on stdin. Restores go into a scratch
	// directory and database: what is asked is the same. The scratch
	// directory is outside the env file's (e.dir), which --to refuses.
	scratch := t.TempDir()
	to := func(n string) []string {
		return []string{"restore", "latest", "--component", "uploads", "--to", filepath.Join(scratch, n)}
	}
	for _, answer := range []string{"n\n", "yes please\n", "\n"} {
		r = e.runStdin(answer, to("refused")...)
		if r.code != 1 || !strings.Contains(r.stdout, "Restore cancelled; nothing was changed.") || !strings.Contains(r.stderr, "[y/N]") {
			t.Errorf("answer %q: exit %d\n%s%s", answer, r.code, r.stdout, r.stderr)
		}
	}
	r = e.runStdin("", to("refused")...)
	if r.code != 2 || !strings.Contains(r.stderr, `answer the [y/N] prompt with a "y" line, or pass --yes (or --force)`) {
		t.Errorf("no answer: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(scratch, "refused")); err == nil {
		t.Errorf("a refused restore wrote %s", filepath.Join(scratch, "refused"))
	}
	r = e.runStdin("y\n", to("confirmed")...)
	if r.code != 0 {
		t.Fatalf("echo y | restore: exit %d\n%s", r.code, r.stderr)
	}
	testenv.CompareTrees(t, e.uploads, filepath.Join(scratch, "confirmed"))
	r = e.run(append(to("forced"), "--force")...)
	if r.code != 0 {
		t.Fatalf("restore --force: exit %d\n%s", r.code, r.stderr)
	}
	testenv.CompareTrees(t, e.uploads, filepath.Join(scratch, "forced"))

	// verify and prune end with the shell tool's outcome lines.
	r = mustRun(t, e.run("backup", "verify"), 0, "verify")
	if !strings.Contains(r.stdout, "\nLocal repository verified\n") {
		t.Errorf("verify does not say \"Local repository verified\":\n%s", r.stdout)
	}
	e.vars["BACKUP_KEEP_DAILY"], e.vars["BACKUP_KEEP_WEEKLY"], e.vars["BACKUP_KEEP_MONTHLY"] = "1", "0", "0"
	r = mustRun(t, e.run("backup", "prune"), 0, "prune")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if lines[0] != "Applying retention policy…" || !strings.HasPrefix(lines[len(lines)-1], "Local repository pruned: 1 run (") {
		t.Errorf("prune does not start and end with the shell tool's lines:\n%s", r.stdout)
	}
	if a := alerts(); a != "" {
		t.Errorf("alerts:\n%s", a)
	}
}
