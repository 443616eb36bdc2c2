// SPDX-License-Identifier: Apache-2.0

package host

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/timetiles/timetiles-backup/host/config"
)

// State is what `timetiles-backup status` cannot read from the
// repositories: the outcome of the last backup, of the last verify of each
// repository and of the last restore drill. Backup, verify and
// `verify --restore-test` record it in BACKUP_STATE_DIR, in one small JSON
// file per repository set (next to the run lock, keyed like it), while
// holding the run lock; status only reads it.
type State struct {
	LastBackup *BackupRecord `json:"last_backup,omitempty"`
	// LastVerify by repository ("local", "offsite").
	LastVerify      map[string]*VerifyRecord `json:"last_verify,omitempty"`
	LastRestoreTest *RestoreTestRecord       `json:"last_restore_test,omitempty"`
}

// BackupRecord is the outcome of one `backup` invocation.
type BackupRecord struct {
	Time       time.Time `json:"time"`
	Finished   time.Time `json:"finished"`
	RunID      string    `json:"run_id,omitempty"`
	ExitStatus int       `json:"exit_status"`
	// Offsite: the run wrote the offsite repository too; OffsiteOK: it
	// completed there.
	Offsite   bool   `json:"offsite,omitempty"`
	OffsiteOK bool   `json:"offsite_ok,omitempty"`
	Error     string `json:"error,omitempty"`
}

// VerifyRecord is the outcome of `backup verify` in one repository.
type VerifyRecord struct {
	Time  time.Time `json:"time"`
	OK    bool      `json:"ok"`
	Run   string    `json:"run,omitempty"`
	Error string    `json:"error,omitempty"`
}

// RestoreTestRecord is the outcome of the last restore drill
// (`backup verify --restore-test`).
type RestoreTestRecord struct {
	Time      time.Time     `json:"time"`
	OK        bool          `json:"ok"`
	Run       string        `json:"run,omitempty"`
	Component string        `json:"component,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
	Error     string        `json:"error,omitempty"`
}

// StatePath is the state file of this configuration's repository set.
func (r *Runner) StatePath() string {
	key, _ := r.repositorySet()
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(r.StateDir(), "state-"+hex.EncodeToString(sum[:8])+".json")
}

// ReadState reads the state file; a missing file is an empty state.
func (r *Runner) ReadState() (*State, error) {
	st := &State{}
	b, err := os.ReadFile(r.StatePath())
	if os.IsNotExist(err) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading the state file: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return &State{}, fmt.Errorf("state file %s is damaged (%v): it is rewritten by the next backup or verify", r.StatePath(), err)
	}
	return st, nil
}

// UpdateState changes the state file (read, change, atomic rewrite). Call
// it while holding the run lock: the lock serialises the writers. Errors
// go to the log only: a state file that cannot be written must not fail
// the backup or verify that reports into it. It returns the new state.
func (r *Runner) UpdateState(change func(*State)) *State {
	st, err := r.ReadState()
	if err != nil {
		r.Log.Warn("state file unreadable; starting a new one", "error", err)
	}
	change(st)
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		if err = os.MkdirAll(r.StateDir(), 0o700); err == nil {
			err = config.WriteFileAtomic(r.StatePath(), append(b, '\n'), 0o600)
		}
	}
	if err != nil {
		r.Log.Warn("cannot record the outcome in the state file", "path", r.StatePath(), "error", err)
	}
	return st
}

// LockHolderNow returns the run currently holding this configuration's run
// lock, or nil when none does. It never takes the lock itself in a way a
// starting run could notice: the lock file is only probed (with a shared
// flock, released at once) when it still names a holder, which a finished
// run never leaves behind — only one that was killed.
func (r *Runner) LockHolderNow() *LockHolder {
	path := r.LockPath()
	h := readHolder(path)
	if h == nil {
		return nil
	}
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryRLock()
	if err == nil && ok {
		_ = fl.Unlock()
		return nil // a holder that died without clearing the file
	}
	return h
}
