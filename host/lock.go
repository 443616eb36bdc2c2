package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	// gofrs/flock (v0.13.2): flock(2) with the EWOULDBLOCK/NFS details
	// handled. A flock belongs to the open file: the kernel drops it when
	// the holder exits however it exits (SIGKILL included), so a lock of a
	// dead process is taken over without any staleness heuristics.
	"github.com/gofrs/flock"
)

// DefaultStateDir holds the run lock files.
const DefaultStateDir = "/var/lib/timetiles-backup"

// EnvStateDir overrides DefaultStateDir.
const EnvStateDir = "BACKUP_STATE_DIR"

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
	return r.Cfg.GetDefault(EnvStateDir, DefaultStateDir)
}

// repositorySet names what a run lock protects: the target plugin and its
// local repository. Every command works on the local repository (offsite
// runs write it too), so one lock per local repository serialises every
// run that could conflict; restic's own repository locks (and
// --retry-lock) cover the rare case of two deployments sharing an offsite
// repository.
func (r *Runner) repositorySet() (key, display string) {
	target := r.Cfg.GetDefault("BACKUP_TARGET", DefaultTarget)
	repo := r.Cfg.Get("RESTIC_REPOSITORY")
	display = repo
	if display == "" {
		display = "(default of " + target + ")"
	}
	return target + "\x00" + repo, display
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
		return nil, Configf("cannot create the state directory %s (%v): create it, or set %s to a directory this user may write", dir, err, EnvStateDir)
	}
	path := r.LockPath()
	_, display := r.repositorySet()
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, Configf("cannot lock %s (%v): make %s writable for this user, or set %s", path, err, dir, EnvStateDir)
	}
	if !ok {
		return nil, &LockedError{Path: path, Repository: display, Holder: readHolder(path)}
	}
	h := LockHolder{PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Command: commandLine(),
		Host: r.Hostname(), Repository: display}
	if err := writeHolder(path, h); err != nil {
		r.Log.Warn("cannot record this run in its lock file", "path", path, "error", err)
	}
	r.Log.Debug("run lock taken", "path", path)
	return func() {
		// Leave no holder behind: a reader must never name a finished run.
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0); err == nil {
			f.Close()
		}
		_ = fl.Unlock()
	}, nil
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
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
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
	b, err := os.ReadFile(path)
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
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == id {
		r.Log.Info("lock conflict already alerted for this holder; no new alert", "holder", id)
		return false
	}
	if err := os.WriteFile(marker, []byte(id+"\n"), 0o600); err != nil {
		r.Log.Warn("cannot record the lock alert", "path", marker, "error", err)
	}
	return true
}
