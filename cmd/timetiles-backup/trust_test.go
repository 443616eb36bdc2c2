// SPDX-License-Identifier: Apache-2.0
package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host"
)

// hangingHolder starts a backup that holds the run lock until the test
// ends (a synthetic source that hangs half-way) and waits for its restic.
func (e *env) hangingHolder() {
	e.t.Helper()
	saved := map[string]string{}
	for k, v := range map[string]string{"BACKUP_SOURCES": "synthetic=source-synthetic", "SYNTH_SIZE": "64000000", "SYNTH_FAIL_AFTER": "4000000", "SYNTH_MODE": "hang"} {
		saved[k] = e.vars[k]
		e.vars[k] = v
	}
	holder, _, _ := e.command(context.Background(), "backup")
	if err := holder.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = holder.Wait(); close(done) }()
	e.t.Cleanup(func() { holder.Process.Kill(); <-done })
	waitFor(e.t, "the holder's restic", func() bool { return findProcess(holder.Process.Pid, "restic") != 0 })
	for k, v := range saved {
		if v == "" {
			delete(e.vars, k)
		} else {
			e.vars[k] = v
		}
	}
}

// The run lock is keyed on the repository the file system finds: a
// symlink to the repository, or another spelling of its path, is the same
// repository and waits for the same lock.
func TestRunLockKeyedOnResolvedRepository(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("baseline: %d %s", r.code, r.stderr)
	}
	e.hangingHolder()
	link := filepath.Join(e.dir, "repo-link")
	if err := os.Symlink(e.repo, link); err != nil {
		t.Fatal(err)
	}
	before := len(e.snapshots())
	for _, spelling := range []string{link, "local:" + link, e.repo + "/", filepath.Join(e.dir, "state", "..", "repo")} {
		e.vars["RESTIC_REPOSITORY"] = spelling
		r := e.run("backup")
		if r.code != 1 || !strings.Contains(r.stderr, "another timetiles-backup run holds the lock") {
			t.Errorf("backup of %s while a run holds %s: exit %d, want 1 naming the holder\n%s", spelling, e.repo, r.code, r.stderr)
		}
	}
	if n := len(e.snapshots()); n != before {
		t.Errorf("%d snapshots after the refused runs, want %d", n, before)
	}
}

// The lock file is never opened through a symbolic link nor a hard link: a
// link planted in the state directory must not make a root run create,
// write or truncate the file it points at.
func TestLockFileNeverFollowsLinks(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	state := e.vars["BACKUP_STATE_DIR"]
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	lockPath := host.NewRunner(host.NewConfig(e.vars), hclog.NewNullLogger(), "").LockPath()
	victim := filepath.Join(e.dir, "precious")
	const content = "root's precious file\n"
	for _, plant := range []struct {
		name string
		link func(victim, path string) error
		want string
	}{
		{"symlink", os.Symlink, "is a symbolic link"},
		{"hard link", os.Link, "has 2 names"},
	} {
		if err := os.WriteFile(victim, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(lockPath)
		if err := plant.link(victim, lockPath); err != nil {
			t.Fatal(err)
		}
		r := e.run("backup")
		if r.code != 2 || !strings.Contains(r.stderr, lockPath) || !strings.Contains(r.stderr, plant.want) || !strings.Contains(r.stderr, "rm "+lockPath) {
			t.Errorf("%s as lock file: exit %d, want 2 naming %s (%q) and the fix\n%s", plant.name, r.code, lockPath, plant.want, r.stderr)
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != content {
			t.Errorf("%s as lock file: the file it points at now holds %q (%v)", plant.name, b, err)
		}
		if n := len(e.snapshots()); n != 0 {
			t.Errorf("%s as lock file: %d snapshots, want 0", plant.name, n)
		}
	}
	// Removed, as the message says: the run works.
	os.Remove(lockPath)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("after removing the link: exit %d\n%s", r.code, r.stderr)
	}
}
