// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	// gofrs/flock (v0.13.2): flock(2) with the EWOULDBLOCK/NFS details
	// handled. A flock belongs to the open file: the kernel drops it when
	// the holder exits however it exits (SIGKILL included), so a lock of a
	// dead process is taken over without any staleness heuristics.
	"github.com/gofrs/flock"

	"github.com/timetiles/timetiles-backup/host/config"
)

// LockHolder is what a run writes into its lock file, so that a second run
// can name it.
type LockHolder struct {
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	Command    string    `json:"command"`
	Host       string    `json:"host"`
	Repository string    `json:"repository"`
}

// LockedError is returned by Lock when another run holds the lock.
type LockedError struct {
	Path       string
	Repository string
	// Holder is nil when the lock file could not be read (it is being
	// written at this very moment, or was damaged).
	Holder *LockHolder
}

func (e *LockedError) Error() string {
	if e.Holder == nil || e.Holder.PID == 0 {
		return fmt.Sprintf("another timetiles-backup run holds the lock of repository %s (lock file %s): wait for it to finish", e.Repository, e.Path)
	}
	h := e.Holder
	alive := ""
	if !pidAlive(h.PID) {
		// The kernel holds the lock for a live open file only: the holder
		// lives in another PID namespace (a container).
		alive = ", not visible from here (another container?)"
	}
	return fmt.Sprintf("another timetiles-backup run holds the lock of repository %s: pid %d%s, %q, started %s (%s ago); wait for it to finish or stop it — the lock is released when that process ends (lock file %s)",
		e.Repository, h.PID, alive, h.Command, h.Started.Local().Format("2006-01-02 15:04:05 MST"),
		time.Since(h.Started).Round(time.Second), e.Path)
}

// Is makes errors.Is(err, sdk.ErrLocked)-style checks possible with ErrRunLocked.
func (e *LockedError) Is(target error) bool { return target == ErrRunLocked }

// ErrRunLocked matches a *LockedError with errors.Is.
var ErrRunLocked = errors.New("another run holds the lock")

// StateDir is the directory of lock files and other small state.
func (r *Runner) StateDir() string {
	return r.Cfg.GetDefault(config.EnvStateDir, config.DefaultStateDir)
}

// repositorySet names what a run lock protects: the target plugin and its
// local repository. Every command works on the local repository (offsite
// runs write it too), so one lock per local repository serialises every
// run that could conflict; restic's own repository locks (and
// --retry-lock) cover the rare case of two deployments sharing an offsite
// repository.
//
// The key is the repository as the file system finds it: a local path is
// made absolute and its symbolic links are resolved, so that two spellings
// of one repository (a symlink, "local:", "..", a trailing slash) share one
// lock.
func (r *Runner) repositorySet() (key, display string) {
	target := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	repo := r.Cfg.Get("RESTIC_REPOSITORY")
	display = repo
	if display == "" {
		display = "(default of " + target + ")"
		if target == config.DefaultTarget {
			// The same repository as when it is named explicitly.
			repo = DefaultResticRepository
		}
	}
	return target + "\x00" + resolveRepository(repo), display
}

// DefaultResticRepository is target-restic's default RESTIC_REPOSITORY (a
// test keeps it equal to what the plugin declares).
const DefaultResticRepository = "/opt/timetiles/backups/restic-repo"

// remoteRepository matches restic's repository strings that name a backend
// other than a local directory (restic's location parsers; anything else is
// a local path).
var remoteRepository = regexp.MustCompile(`^(s3|rest|sftp|b2|azure|gs|swift|rclone):`)

// resolveRepository returns a local repository's real path: absolute, with
// every symbolic link of its longest existing prefix resolved (a
// repository that does not exist yet resolves to where it will be
// created). Remote repositories are returned as they are.
func resolveRepository(repo string) string {
	if repo == "" || remoteRepository.MatchString(repo) {
		return repo
	}
	p := strings.TrimPrefix(repo, "local:")
	abs, err := filepath.Abs(p)
	if err != nil {
		return repo
	}
	// Resolve the longest existing prefix; keep the rest as written.
	rest := ""
	for cur := abs; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// LockPath is the lock file of this configuration's repository set.
func (r *Runner) LockPath() string {
	key, _ := r.repositorySet()
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(r.StateDir(), "run-"+hex.EncodeToString(sum[:8])+".lock")
}

// Lock takes the run lock of this configuration's repository set: one
// backup, prune, restore or verify at a time. It fails at once with a
// *LockedError naming the holder when another run has it; a lock left by a
// process that died (even by SIGKILL) is free, because the kernel releases
// it with the process. Call the returned function to release it (process
// exit releases it too).
func (r *Runner) Lock(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := r.StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, config.Configf("cannot create the state directory %s (%v): create it, or set %s to a directory this user may write", dir, err, config.EnvStateDir)
	}
	path := r.LockPath()
	_, display := r.repositorySet()
	// O_NOFOLLOW: a symbolic link planted in a state directory others may
	// write must not make this run create or truncate the file it points
	// at. The file opened is then checked to be this user's own regular
	// file with one name (no hard link to another file either).
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if errors.Is(err, syscall.ELOOP) {
		return nil, config.Configf("lock file %s is a symbolic link, which a run never follows: remove it (rm %s) and keep %s writable by this user only (chmod 700 %s), or set %s", path, path, dir, dir, config.EnvStateDir)
	}
	if err != nil {
		return nil, config.Configf("cannot lock %s (%v): make %s writable for this user, or set %s", path, err, dir, config.EnvStateDir)
	}
	if !ok {
		return nil, &LockedError{Path: path, Repository: display, Holder: readHolder(path)}
	}
	if err := checkOwnFile(fl, path); err != nil {
		_ = fl.Unlock()
		return nil, config.Configf("%v: remove it (rm %s) and keep %s writable by this user only (chmod 700 %s), or set %s", err, path, dir, dir, config.EnvStateDir)
	}
	h := LockHolder{PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Command: commandLine(),
		Host: r.Hostname(), Repository: display}
	if err := writeHolder(path, h); err != nil {
		r.Log.Warn("cannot record this run in its lock file", "path", path, "error", err)
	}
	r.Log.Debug("run lock taken", "path", path)
	return func() {
		// Leave no holder behind: a reader must never name a finished run.
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0); err == nil {
			f.Close()
		}
		_ = fl.Unlock()
	}, nil
}

// checkOwnFile checks that the lock file opened is a regular file with one
// name, owned by this process's user.
func checkOwnFile(fl *flock.Flock, path string) error {
	fi, err := fl.Stat()
	if err != nil {
		return fmt.Errorf("cannot check lock file %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("lock file %s is not a regular file", path)
	case ok && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("lock file %s belongs to uid %d, not to this user (uid %d)", path, st.Uid, os.Geteuid())
	case ok && st.Nlink != 1:
		return fmt.Errorf("lock file %s has %d names (a hard link)", path, st.Nlink)
	}
	return nil
}

func commandLine() string {
	// argv carries no secrets (they travel in the env file and the
	// environment), so it is safe to record.
	args := append([]string{"timetiles-backup"}, os.Args[1:]...)
	return strings.Join(args, " ")
}

func writeHolder(path string, h LockHolder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readHolder reads a lock file's holder, or nil.
func readHolder(path string) *LockHolder {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<16))
	if err != nil {
		return nil
	}
	h, err := ParseLockHolder(b)
	if err != nil {
		return nil
	}
	return h
}

// ParseLockHolder decodes a lock file's content.
func ParseLockHolder(b []byte) (*LockHolder, error) {
	var h LockHolder
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	if h.PID <= 0 {
		return nil, errors.New("lock file names no process")
	}
	return &h, nil
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// LockAlertDue reports whether a lock conflict should raise an alert: the
// first time a run finds a given holder in its way, yes (a run that hangs
// for a day must be heard of); every later conflict with the same holder,
// no — a cron job retried every hour must not become an alert storm.
// Errors that are not lock conflicts are always due.
func (r *Runner) LockAlertDue(err error) bool {
	var le *LockedError
	if !errors.As(err, &le) {
		return true
	}
	id := "unknown"
	if le.Holder != nil {
		id = fmt.Sprintf("%d@%s", le.Holder.PID, le.Holder.Started.UTC().Format(time.RFC3339))
	}
	marker := le.Path + ".alerted"
	if b, err := readNoFollow(marker); err == nil && strings.TrimSpace(string(b)) == id {
		r.Log.Info("lock conflict already alerted for this holder; no new alert", "holder", id)
		return false
	}
	if err := writeNoFollow(marker, []byte(id+"\n")); err != nil {
		r.Log.Warn("cannot record the lock alert", "path", marker, "error", err)
	}
	return true
}

// readNoFollow reads a small state file, never through a symbolic link.
func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<16))
}

// writeNoFollow writes a small state file (0600), never through a symbolic
// link.
func writeNoFollow(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
