// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/repo": "/srv/repo", "local:/srv/repo": "/srv/repo", "relative/repo": "relative/repo",
		"s3:s3.amazonaws.com/b/p": "", "rest:http://h/r": "", "sftp:u@h:/r": "", "": "",
	} {
		got, ok := localPath(in)
		if got != want || ok != (want != "") {
			t.Errorf("localPath(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// holdLock starts `restic backup --stdin` (in the UTS namespace of
// hostname when set) and returns once its lock is in the repository (a
// complete lock file, renamed into place: restic writes it under a
// temporary name first, and one killed before the rename leaves no lock);
// kill ends it.
func holdLock(t *testing.T, r *Repo, hostname string) (pid int, kill func()) {
	t.Helper()
	before := testenv.ResticLocks(r.Repository)
	var cmd *exec.Cmd
	if hostname != "" {
		cmd = exec.Command("unshare", "--uts", "sh", "-c", `hostname "$1" && exec "$2" backup --stdin --stdin-filename held -q`, "sh", hostname, r.Binary)
	} else {
		cmd = exec.Command(r.Binary, "backup", "--stdin", "--stdin-filename", "held", "-q")
	}
	cmd.Env = []string{"RESTIC_REPOSITORY=" + r.Repository, "RESTIC_PASSWORD=" + r.Password, "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill = func() {
		_ = cmd.Process.Kill()
		<-exited
		stdin.Close()
	}
	t.Cleanup(kill)
	testenv.WaitForWhile(t, fmt.Sprintf("the lock of restic (pid %d)", cmd.Process.Pid), func() bool {
		return len(testenv.ResticLocks(r.Repository)) > len(before)
	}, func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	})
	return cmd.Process.Pid, kill
}

// UnlockDead removes the locks of dead restic processes of this host and no
// other: not a live one, not a dead one of another host.
func TestUnlockDeadRemovesOnlyOurDeadLocks(t *testing.T) {
	bin := resticBinaries(t)[0].path
	ctx := testContext(t)
	r, _ := newTestRepo(t, bin, filepath.Join(t.TempDir(), "repo"))
	if _, err := r.Init(ctx); err != nil {
		t.Fatal(err)
	}
	// No locks: nothing runs, nothing is removed.
	if dead, err := r.UnlockDead(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("UnlockDead on an unlocked repository: %v %v", dead, err)
	}

	deadPID, killDead := holdLock(t, r, "")
	killDead() // SIGKILL mid-stream: its lock stays behind
	livePID, _ := holdLock(t, r, "")
	withOther := false
	if os.Geteuid() == 0 {
		if err := exec.Command("unshare", "--uts", "true").Run(); err == nil {
			_, killOther := holdLock(t, r, "some-other-host")
			killOther()
			withOther = true
		}
	}
	if !withOther {
		t.Log("unshare --uts unavailable: the other-host case is not exercised")
	}

	host, _ := os.Hostname()
	// A dead lock of another host alone is never a reason to unlock.
	dead, err := r.UnlockDead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].PID != deadPID || dead[0].Hostname != host {
		t.Fatalf("removed %+v, want the lock of dead pid %d", dead, deadPID)
	}
	locks, err := r.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	var hosts []string
	for _, l := range locks {
		pids = append(pids, l.PID)
		hosts = append(hosts, l.Hostname)
	}
	if slices.Contains(pids, deadPID) || !slices.Contains(pids, livePID) {
		t.Fatalf("locks after UnlockDead: %+v; want the live pid %d kept and dead pid %d gone", locks, livePID, deadPID)
	}
	if withOther && !slices.Contains(hosts, "some-other-host") {
		t.Fatalf("the dead lock of another host was removed: %+v", locks)
	}
	// Only foreign and live locks left: UnlockDead does nothing.
	if dead, err := r.UnlockDead(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("second UnlockDead: %+v %v", dead, err)
	}
	if err := syscall.Kill(livePID, 0); err != nil {
		t.Fatalf("the live holder died: %v", err)
	}
}
