// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Each restic exit code the operator can meet, caused for real, reads as
// the problem with this repository and its fix.
func TestResticFailuresReadAsProblemAndFix(t *testing.T) {
	bin := testenv.Tool(t, "restic")
	ctx := context.Background()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	vals := map[string]string{"BACKUP_RESTIC_BIN": bin, "RESTIC_PASSWORD": "right-pw-123", "RESTIC_REPOSITORY": repo, "BACKUP_RESTIC_RETRY_LOCK": "1s"}

	t.Run("repository missing (10)", func(t *testing.T) {
		tg, err := configure(t, "local", vals)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tg.List(ctx, nil)
		want := "no repository at " + repo + ": run `timetiles-backup backup` (creates it) or check RESTIC_REPOSITORY (restic snapshots, exit code 10)"
		if !errors.Is(err, sdk.ErrNotFound) || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v\nwant %q", err, want)
		}
		off, err := configure(t, "offsite", map[string]string{"BACKUP_RESTIC_BIN": bin, "RESTIC_PASSWORD": "x-pw-123", "RESTIC_OFFSITE_REPOSITORY": filepath.Join(dir, "nowhere")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = off.List(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), "run `timetiles-backup backup --offsite` (creates it) or check RESTIC_OFFSITE_REPOSITORY") {
			t.Fatalf("offsite: %v", err)
		}
	})

	tg, err := configure(t, "local", vals)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Init(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("wrong password (12)", func(t *testing.T) {
		bad := map[string]string{}
		for k, v := range vals {
			bad[k] = v
		}
		bad["RESTIC_PASSWORD"] = "wrong-pw-456"
		wrong, err := configure(t, "local", bad)
		if err != nil {
			t.Fatal(err)
		}
		_, err = wrong.List(ctx, nil)
		want := "RESTIC_PASSWORD does not open " + repo + ": set the password this repository was created with"
		if !errors.Is(err, sdk.ErrUnauthenticated) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "wrong-pw-456") {
			t.Fatalf("err = %v\nwant %q", err, want)
		}
		pwFile := filepath.Join(dir, "pw")
		os.WriteFile(pwFile, []byte("also-wrong\n"), 0o600)
		delete(bad, "RESTIC_PASSWORD")
		bad["RESTIC_PASSWORD_FILE"] = pwFile
		wrong, err = configure(t, "local", bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = wrong.List(ctx, nil); err == nil || !strings.Contains(err.Error(), "RESTIC_PASSWORD_FILE does not open") {
			t.Fatalf("password file: %v", err)
		}
	})

	t.Run("locked (11) and a crashed run's lock", func(t *testing.T) {
		// A live backup holds a lock: verify (check, exclusive) waits
		// BACKUP_RESTIC_RETRY_LOCK and then says who holds it.
		live := holdResticLock(t, bin, repo, "right-pw-123")
		_, err := tg.Verify(ctx, sdk.VerifyRequest{})
		if !errors.Is(err, sdk.ErrLocked) || !strings.Contains(err.Error(), "repository "+repo+" is locked by another restic process and stayed locked for 1s (BACKUP_RESTIC_RETRY_LOCK)") ||
			!strings.Contains(err.Error(), "already locked") || !strings.Contains(err.Error(), "restic unlock") {
			t.Fatalf("err = %v", err)
		}
		// Killed, its lock stays behind; the next verify removes it (a
		// dead process of this host) without waiting for it.
		live.kill()
		repoHandle := &restic.Repo{Binary: bin, Repository: repo, Password: "right-pw-123"}
		if locks, err := repoHandle.Locks(ctx); err != nil || len(locks) != 1 {
			t.Fatalf("after SIGKILL: locks %+v %v, want the dead holder's lock", locks, err)
		}
		start := time.Now()
		if _, err := tg.Verify(ctx, sdk.VerifyRequest{}); err != nil {
			t.Fatalf("verify after the holder died: %v", err)
		}
		if locks, err := repoHandle.Locks(ctx); err != nil || len(locks) != 0 {
			t.Fatalf("locks after verify: %+v %v", locks, err)
		}
		t.Logf("verify with a dead lock took %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("interrupted (130)", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() { pw.Write(make([]byte, 1<<20)) }()
		// Interrupted while restic backs up (it holds its lock), not
		// before restic started; the stream never ends by itself.
		go func() {
			for len(testenv.ResticLocks(repo)) == 0 && cctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
		}()
		_, err := tg.Write(cctx, sdk.Header{Component: "db", FileName: "db.dump"}, pr)
		pw.Close()
		if !errors.Is(err, sdk.ErrAborted) || !strings.Contains(err.Error(), "restic backup in "+repo+" was interrupted before it finished: nothing was committed") {
			t.Fatalf("err = %v", err)
		}
		if snaps, err := tg.List(ctx, nil); err != nil || len(snaps) != 0 {
			t.Fatalf("snapshots after the interrupt: %v %v", snaps, err)
		}
	})

	t.Run("incomplete snapshot (3)", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to drop CAP_DAC_OVERRIDE with setpriv")
		}
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("setpriv (util-linux) not installed")
		}
		// restic without the capabilities that let root read anything.
		wrapper := filepath.Join(dir, "restic-nocaps")
		os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+setpriv+" --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search "+bin+" \"$@\"\n"), 0o755)
		v := map[string]string{}
		for k, val := range vals {
			v[k] = val
		}
		v["BACKUP_RESTIC_BIN"] = wrapper
		nocaps, err := configure(t, "local", v)
		if err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(dir, "uploads")
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "ok.txt"), []byte("fine"), 0o644)
		os.WriteFile(filepath.Join(src, "locked.txt"), []byte("unreadable"), 0o000)
		_, err = nocaps.Write(ctx, sdk.Header{Component: "uploads", LocalPath: src}, nil)
		if err == nil || !strings.Contains(err.Error(), "restic could not read every file (exit code 3): snapshot ") ||
			!strings.Contains(err.Error(), "is incomplete and is not part of a complete run") || !strings.Contains(err.Error(), "locked.txt") {
			t.Fatalf("err = %v", err)
		}
	})
}

type lockHolder struct{ kill func() }

// holdResticLock starts a real `restic backup --stdin` and returns once its
// lock exists; kill SIGKILLs it (the lock stays behind).
func holdResticLock(t *testing.T, bin, repo, password string) *lockHolder {
	t.Helper()
	cmd := exec.Command(bin, "backup", "--stdin", "-q")
	cmd.Env = []string{"RESTIC_REPOSITORY=" + repo, "RESTIC_PASSWORD=" + password, "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &lockHolder{kill: func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		stdin.Close()
	}}
	t.Cleanup(h.kill)
	// A complete lock: restic writes it under a temporary name first, and
	// one killed before the rename leaves no lock behind.
	testenv.WaitFor(t, "the lock of restic backup", func() bool { return len(testenv.ResticLocks(repo)) > 0 })
	return h
}
