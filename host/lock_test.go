// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host/config"
)

func lockRunner(t *testing.T, state, repo string) *Runner {
	t.Helper()
	return NewRunner(config.NewConfig(map[string]string{config.EnvStateDir: state, "RESTIC_REPOSITORY": repo}), hclog.NewNullLogger(), "")
}

func TestRunLock(t *testing.T) {
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state", "nested")
	a := lockRunner(t, state, "/srv/repo-a")
	unlock, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(state); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v", st, err)
	}
	// The holder is recorded in the lock file.
	h := readHolder(a.LockPath())
	if h == nil || h.PID != os.Getpid() || h.Started.IsZero() || h.Repository != "/srv/repo-a" {
		t.Fatalf("holder %+v", h)
	}

	// A second run of the same repository fails at once, naming the holder.
	b := lockRunner(t, state, "/srv/repo-a")
	_, lockErr := b.Lock(ctx)
	err = lockErr
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrRunLocked) {
		t.Fatalf("second lock: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"pid " + strconv.Itoa(os.Getpid()), "started " + h.Started.Local().Format("2006-01-02 15:04:05"), "/srv/repo-a", a.LockPath()} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if errors.Is(err, config.ErrConfig) {
		t.Errorf("a lock conflict is a failure, not a configuration error")
	}

	// Another repository has its own lock.
	c := lockRunner(t, state, "/srv/repo-c")
	unlockC, err := c.Lock(ctx)
	if err != nil {
		t.Fatalf("other repository: %v", err)
	}
	unlockC()

	// Alerts: once per holder.
	if !b.LockAlertDue(lockErr) || b.LockAlertDue(lockErr) || b.LockAlertDue(lockErr) {
		t.Errorf("a lock conflict must alert exactly once per holder")
	}
	if !b.LockAlertDue(errors.New("other failure")) {
		t.Errorf("other failures always alert")
	}

	unlock()
	if b, _ := os.ReadFile(a.LockPath()); len(b) != 0 {
		t.Errorf("released lock file still names a holder: %q", b)
	}
	unlock2, err := b.Lock(ctx)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	unlock2()
}

func TestRunLockStateDirErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	r := lockRunner(t, filepath.Join(file, "sub"), "/srv/r")
	_, err := r.Lock(context.Background())
	if !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), config.EnvStateDir) {
		t.Fatalf("want a configuration error naming %s, got %v", config.EnvStateDir, err)
	}
}

func TestParseLockHolder(t *testing.T) {
	for _, in := range []string{"", "{", `{"pid":0}`, `{"pid":-3}`, "null", `{"pid":"x"}`} {
		if h, err := ParseLockHolder([]byte(in)); err == nil {
			t.Errorf("%q parsed as %+v", in, h)
		}
	}
	dead := 4194000
	for pidAlive(dead) {
		dead++
	}
	h, err := ParseLockHolder([]byte(`{"pid":` + strconv.Itoa(dead) + `,"started":"2026-01-02T03:04:05Z","command":"timetiles-backup backup"}`))
	if err != nil || h.PID != dead || h.Command != "timetiles-backup backup" {
		t.Fatalf("%+v %v", h, err)
	}
	le := &LockedError{Path: "/x.lock", Repository: "/r", Holder: h}
	if !strings.Contains(le.Error(), "not visible from here") {
		t.Errorf("a lock held by a pid that does not exist here: %s", le)
	}
}

// The alert marker next to a lock file is never written through a
// symbolic link either.
func TestLockAlertMarkerNeverFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "precious")
	os.WriteFile(victim, []byte("keep\n"), 0o644)
	lockPath := filepath.Join(dir, "run-x.lock")
	os.Symlink(victim, lockPath+".alerted")
	r := lockRunner(t, dir, "/srv/r")
	err := &LockedError{Path: lockPath, Repository: "/srv/r", Holder: &LockHolder{PID: 1}}
	r.LockAlertDue(err)
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Fatalf("the marker was written through its symlink: %q", b)
	}
}

// Spellings of one local repository resolve to one key; remote ones stay.
func TestResolveRepository(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "repo")
	os.Mkdir(real, 0o700)
	os.Symlink(real, filepath.Join(dir, "link"))
	for _, in := range []string{real, real + "/", filepath.Join(dir, "link"), "local:" + filepath.Join(dir, "link"), dir + "/x/../repo"} {
		if got := resolveRepository(in); got != real {
			t.Errorf("%s resolves to %s, want %s", in, got, real)
		}
	}
	// Not created yet: the existing prefix is resolved.
	if got := resolveRepository(filepath.Join(dir, "link", "new")); got != filepath.Join(real, "new") {
		t.Errorf("a repository to be created resolves to %s", got)
	}
	for _, in := range []string{"s3:host/bucket/x", "rest:https://h/r", "sftp:u@h:/r", ""} {
		if got := resolveRepository(in); got != in {
			t.Errorf("%s resolves to %s", in, got)
		}
	}
}

// The default repository and the same path named explicitly share a lock.
func TestRunLockDefaultRepositoryIsItsPath(t *testing.T) {
	state := t.TempDir()
	if a, b := lockRunner(t, state, ""), lockRunner(t, state, DefaultResticRepository); a.LockPath() != b.LockPath() {
		t.Fatalf("default repository locks %s, the same path named locks %s", a.LockPath(), b.LockPath())
	}
}
