// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// ptySession runs the CLI on a pseudo-terminal, as an operator would.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{} // the process exited
	read chan struct{} // everything it printed has been read
	code int
	// queried: when the terminal was first asked something.
	queried time.Time
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]`)

func (e *env) startPTY(args ...string) *ptySession {
	e.t.Helper()
	return e.startPTYAnswering(true, args...)
}

// startPTYAnswering is startPTY on a terminal that answers the queries or,
// without answer, one that never does (a serial console, some web and CI
// terminals); s.queried is when the first query arrived.
func (e *env) startPTYAnswering(answer bool, args ...string) *ptySession {
	e.t.Helper()
	cmd, _, _ := e.command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.Env = append(cmd.Env, "TERM=xterm-256color")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	s := &ptySession{t: e.t, cmd: cmd, tty: tty, done: make(chan struct{}), read: make(chan struct{})}
	go func() {
		// The read fails (EIO) once the process and everything it started
		// closed the terminal: all output is in s.out then.
		defer close(s.read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			// Answer the queries a terminal answers (background colour,
			// cursor position), or the form waits for them to time out.
			if q := buf[:n]; bytes.Contains(q, []byte("\x1b]11;?")) || bytes.Contains(q, []byte("\x1b[6n")) {
				s.mu.Lock()
				if s.queried.IsZero() {
					s.queried = time.Now()
				}
				s.mu.Unlock()
			}
			if bytes.Contains(buf[:n], []byte("\x1b]11;?")) {
				if answer {
					io.WriteString(tty, "\x1b]11;rgb:0000/0000/0000\x1b\\")
				}
			}
			if bytes.Contains(buf[:n], []byte("\x1b[6n")) && answer {
				io.WriteString(tty, "\x1b[1;1R")
			}
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		}
		close(s.done)
	}()
	e.t.Cleanup(func() { cmd.Process.Kill(); tty.Close() })
	return s
}

// screen is everything printed so far, without terminal escapes.
func (s *ptySession) screen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansiRE.ReplaceAllString(s.out.String(), "")
}

func (s *ptySession) waitFor(re string) {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(testenv.Patience)
	for time.Now().Before(deadline) {
		if rx.MatchString(s.screen()) {
			return
		}
		select {
		case <-s.done:
			if rx.MatchString(s.screen()) {
				return
			}
			s.t.Fatalf("exited (%d) before %q appeared:\n%s", s.code, re, s.screen())
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.t.Fatalf("%q did not appear:\n%s", re, s.screen())
}

// send types keys. The caller has waited for the prompt they answer
// (waitFor): huh focuses a field before it draws it, and bubbletea reads
// keys in order, so keys typed once the prompt shows are never lost.
func (s *ptySession) send(keys string) {
	s.t.Helper()
	if _, err := io.WriteString(s.tty, keys); err != nil {
		s.t.Fatal(err)
	}
}

func (s *ptySession) wait() int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(testenv.Patience):
		s.t.Fatalf("still running:\n%s", s.screen())
	}
	select {
	case <-s.read:
	case <-time.After(testenv.Patience):
		s.t.Fatalf("the terminal is still open after the process exited:\n%s", s.screen())
	}
	return s.code
}

// TestRestorePickerSafetyBackupAndHooks drives `restore` with no argument
// through a pseudo-terminal: the picker lists the runs with their sizes,
// the operator picks the older one and confirms; the pre command stops
// "the application", a safety backup of the current state is taken and
// named, the restore happens, the post command starts "the application".
// Then the safety backup is restored back: the state from before.
func TestRestorePickerSafetyBackupAndHooks(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, true)
	hooks := writeHook(t, e)
	e.vars["BACKUP_PRE_RESTORE_COMMAND"] = "sh hook.sh pre"
	e.vars["BACKUP_POST_RESTORE_COMMAND"] = "sh hook.sh post"

	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	stateA := testenv.TableDigests(t, e.pg, "timetiles")
	uploadsA := filepath.Join(e.dir, "uploads-A")
	copyTree(t, e.uploads, uploadsA)
	var runs []runJSON
	if r := e.run("backup", "list", "--json"); r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 1 {
		t.Fatalf("list: %s", r.stdout)
	}
	runA := runs[0].RunID

	// Day two: data changed, another backup; then more changes (state B).
	e.pg.Psql(t, "timetiles", "UPDATE datasets SET title = title || ' (edited)'; DELETE FROM events WHERE id % 5 = 0;")
	testenv.NextSecond(t) // the next run sorts after this one
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("second backup: %s", r.stderr)
	}
	e.pg.Psql(t, "timetiles", "CREATE TABLE after_last_backup(x int); INSERT INTO after_last_backup VALUES (42);")
	os.WriteFile(filepath.Join(e.uploads, "uploaded-after-backup.txt"), []byte("new upload"), 0o644)
	stateB := testenv.TableDigests(t, e.pg, "timetiles")
	uploadsB := filepath.Join(e.dir, "uploads-B")
	copyTree(t, e.uploads, uploadsB)

	// The picker: leaving it changes nothing (exit 1: the operator said no).
	s := e.startPTY("restore")
	s.waitFor(`Choose a restore point`)
	s.send("\x03") // ctrl+c
	if code := s.wait(); code != ExitFailure || !strings.Contains(s.screen(), "nothing was changed") {
		t.Fatalf("esc at the picker: exit %d\n%s", code, s.screen())
	}
	if _, err := os.Stat(hooks); err == nil {
		t.Fatal("a hook ran for a cancelled restore")
	}

	s = e.startPTY("restore")
	s.waitFor(`Choose a restore point`)
	// Both runs, newest first, with components, sizes and the repository.
	s.waitFor(`(?s)` + regexp.QuoteMeta(runA) + ` +db [0-9.]+ [KMG]iB, uploads [0-9.]+ [KMG]?i?B +\[local\]`)
	screen := s.screen()
	if i, j := strings.Index(screen, runA), strings.LastIndex(screen, "  2"); i < 0 || j < 0 {
		t.Fatalf("picker:\n%s", screen)
	}
	s.send("\x1b[B") // down: the older run (A)
	s.send("\r")
	s.waitFor(`Restore run ` + regexp.QuoteMeta(runA))
	s.waitFor(`OVERWRITES the production database and the uploads directory`)
	s.waitFor(`safety backup of db and uploads is taken before anything is overwritten`)
	s.send("y")
	code := s.wait()
	out := s.screen()
	if code != 0 {
		t.Fatalf("restore through the picker: exit %d\n%s", code, out)
	}
	m := regexp.MustCompile(`Safety backup: run (\S+) \(undo with: timetiles-backup restore (\S+)\)`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || !strings.Contains(out, "Restored db and uploads from run "+runA) {
		t.Fatalf("output does not name the safety backup:\n%s", out)
	}
	safetyRun := m[1]
	got := testenv.TableDigests(t, e.pg, "timetiles")
	for table, digest := range stateA {
		// (pg_restore --clean leaves tables the dump does not know.)
		if got[table] != digest {
			t.Fatalf("table %s is not as in run A after restoring it", table)
		}
	}
	testenv.CompareTrees(t, uploadsA, e.uploads)
	b, _ := os.ReadFile(hooks)
	wantHooks := "pre " + runA + " db,uploads  " + e.dir + "\npost " + runA + " db,uploads success " + e.dir + "\n"
	if string(b) != wantHooks {
		t.Fatalf("hooks.log:\n%q\nwant\n%q", b, wantHooks)
	}

	// The safety run is a complete, tagged run in the local repository.
	if r := e.run("backup", "list", "--json"); r.code != 0 || unmarshalRuns(r.stdout, &runs) != nil || len(runs) != 3 || runs[0].RunID != safetyRun || !runs[0].Complete {
		t.Fatalf("list after the restore: %s", r.stdout)
	}
	tagged := 0
	for _, sn := range e.snapshots() {
		if contains(sn.Tags, "run:"+safetyRun) && contains(sn.Tags, "purpose:safety") {
			tagged++
		}
	}
	if tagged != 3 { // db, uploads, manifest
		t.Fatalf("%d snapshots of the safety run carry purpose:safety, want 3", tagged)
	}

	// Undo: restore the safety backup; state B is back.
	os.Remove(hooks)
	r := e.run("restore", safetyRun, "--yes", "--no-safety-backup")
	if r.code != 0 || strings.Contains(r.stdout, "Safety backup: run") {
		t.Fatalf("restoring the safety backup: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := testenv.TableDigests(t, e.pg, "timetiles"); !equalDigests(got, stateB) {
		t.Fatal("the database is not state B after restoring the safety backup")
	}
	testenv.CompareTrees(t, uploadsB, e.uploads)

	// A restore beside production overwrites nothing: no hooks, no safety
	// backup.
	n := len(e.snapshots())
	os.Remove(hooks)
	r = e.run("restore", runA, "--yes", "--to-database", "inspect", "--to", filepath.Join(t.TempDir(), "inspect"))
	if r.code != 0 || strings.Contains(r.stdout, "Safety backup") || strings.Contains(r.stdout, "Running BACKUP_") {
		t.Fatalf("scratch restore: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(hooks); err == nil || len(e.snapshots()) != n {
		t.Fatal("a scratch restore ran the hooks or took a safety backup")
	}
}

// TestRestoreHooksWhenTheRestoreFails: the post command runs even when the
// restore fails, and a failing pre command stops the restore before
// anything is touched.
func TestRestoreHooksWhenTheRestoreFails(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "300000"
	e.vars["SYNTH_RESTORE_TO"] = filepath.Join(e.dir, "restored.bin")
	hooks := writeHook(t, e)
	e.vars["BACKUP_POST_RESTORE_COMMAND"] = "sh hook.sh post"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}

	// A pre command that fails: nothing restored, no safety backup, post runs.
	e.vars["BACKUP_PRE_RESTORE_COMMAND"] = "echo stopping; exit 3"
	r := e.run("restore", "latest", "--yes")
	if b, _ := os.ReadFile(hooks); r.code != 1 || !strings.HasSuffix(string(b), " synthetic failure "+e.dir+"\n") || !strings.Contains(r.stderr, "BACKUP_PRE_RESTORE_COMMAND failed") ||
		!strings.Contains(r.stderr, "nothing was restored") || !strings.Contains(r.stderr, "stopping") {
		t.Fatalf("failing pre command: exit %d, hooks %q\n%s%s", r.code, b, r.stdout, r.stderr)
	}
	if _, err := os.Stat(e.vars["SYNTH_RESTORE_TO"]); err == nil {
		t.Fatal("restored although the pre command failed")
	}
	if n := len(e.snapshots()); n != 2 {
		t.Fatalf("%d snapshots: a safety backup was taken although the pre command failed", n)
	}

	// The restore itself fails (the source cannot write where it restores):
	// post still runs and the output names the safety backup.
	os.Remove(hooks)
	e.vars["BACKUP_PRE_RESTORE_COMMAND"] = "true"
	e.vars["SYNTH_RESTORE_TO"] = filepath.Join(e.dir, "no-such-dir", "restored.bin")
	r = e.run("restore", "latest", "--yes")
	b, _ := os.ReadFile(hooks)
	if r.code != 1 || !strings.HasSuffix(string(b), " synthetic failure "+e.dir+"\n") || !regexp.MustCompile(`The state before this restore is safety backup run \S+: timetiles-backup restore \S+`).MatchString(r.stderr) {
		t.Fatalf("failing restore: exit %d, hooks %q\n%s%s", r.code, b, r.stdout, r.stderr)
	}
}

// writeHook writes hook.sh, which logs its argument and the restore's
// variables to hooks.log, into TIMETILES_DIR (where hooks run).
func writeHook(t *testing.T, e *env) string {
	e.vars["TIMETILES_DIR"] = e.dir
	script := `echo "$1 $TIMETILES_RESTORE_RUN $TIMETILES_RESTORE_COMPONENTS $TIMETILES_RESTORE_RESULT $(pwd)" >> hooks.log` + "\n"
	if err := os.WriteFile(filepath.Join(e.dir, "hook.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(e.dir, "hooks.log")
}

func equalDigests(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRestoreCancelledPromptExits1: an operator who leaves the restore
// point picker or the confirmation (ctrl+c), or answers no, gets exit 1
// ("nothing was changed"), never 130, which is reserved for SIGINT/SIGTERM
// (docs/failures.md); nothing is restored and no hook runs.
func TestRestoreCancelledPromptExits1(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, repository
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	restored := filepath.Join(e.dir, "restored.bin")
	e.vars["SYNTH_RESTORE_TO"] = restored
	hooks := writeHook(t, e)
	e.vars["BACKUP_PRE_RESTORE_COMMAND"] = "sh hook.sh pre"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	untouched := func(what string) {
		t.Helper()
		if _, err := os.Stat(restored); err == nil {
			t.Fatalf("%s: restored although cancelled", what)
		}
		if _, err := os.Stat(hooks); err == nil {
			t.Fatalf("%s: a hook ran for a cancelled restore", what)
		}
	}

	// ctrl+c in the picker.
	s := e.startPTY("restore")
	s.waitFor(`Choose a restore point`)
	s.send("\x03")
	if code := s.wait(); code != ExitFailure || !strings.Contains(s.screen(), "Restore cancelled; nothing was changed.") {
		t.Fatalf("ctrl+c at the picker: exit %d, want 1\n%s", code, s.screen())
	}
	untouched("picker")

	// ctrl+c at the confirmation, then "n" (Cancel) at it.
	for _, key := range []string{"\x03", "n"} {
		s = e.startPTY("restore")
		s.waitFor(`Choose a restore point`)
		s.send("\r")
		s.waitFor(`Restore run `)
		s.send(key)
		if code := s.wait(); code != ExitFailure || !strings.Contains(s.screen(), "Restore cancelled; nothing was changed.") {
			t.Fatalf("%q at the confirmation: exit %d, want 1\n%s", key, code, s.screen())
		}
		untouched("confirmation")
	}

	// The [y/N] line on stdin (not a terminal) answered "n".
	r := e.runStdin("n\n", "restore", "latest")
	if r.code != ExitFailure || !strings.Contains(r.stdout, "Restore cancelled; nothing was changed.") {
		t.Fatalf("\"n\" on stdin: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	untouched("stdin")
}

// TestPickerOnSilentTerminal: on a terminal that never answers queries (a
// serial console, some web and CI terminals) the picker appears without
// waiting for the colour query's 5 s timeout: the terminal is probed once
// for the picker and the confirmation together, is never asked for its
// colours, and the prompts work.
func TestPickerOnSilentTerminal(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, repository
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "1000"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	s := e.startPTYAnswering(false, "restore")
	s.waitFor(`Choose a restore point`)
	shown := time.Now()
	s.mu.Lock()
	queried := s.queried
	s.mu.Unlock()
	if queried.IsZero() {
		t.Fatalf("the picker did not ask the terminal anything:\n%q", s.out.String())
	}
	// The probe's bound is 250 ms; 4 s leaves a loaded machine room while
	// the colour query's own wait (termenv: 5 s) fails. No colour query
	// and one probe (below) are the checks that do not depend on time.
	wait := shown.Sub(queried)
	t.Logf("picker shown %v after the first query on a silent terminal", wait)
	if wait > 4*time.Second {
		t.Errorf("the picker appeared %v after the first query: it waited for a terminal that never answers", wait)
	}
	s.send("\r")
	s.waitFor(`Restore run `)
	s.send("\x03")
	if code := s.wait(); code != ExitFailure || !strings.Contains(s.screen(), "Restore cancelled; nothing was changed.") {
		t.Fatalf("ctrl+c at the confirmation: exit %d, want 1\n%s", code, s.screen())
	}
	s.mu.Lock()
	probes, colours := bytes.Count(s.out.Bytes(), []byte("\x1b[6n")), bytes.Count(s.out.Bytes(), []byte("\x1b]11;?"))
	s.mu.Unlock()
	if probes != 1 || colours != 0 {
		t.Errorf("the silent terminal was probed %d times (want once for both prompts) and asked for its colours %d times (want never)", probes, colours)
	}
}
