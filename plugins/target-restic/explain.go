// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/sdk"
)

// sdkErr turns a restic failure into what the operator reads: the problem
// with this repository in plain words and the fix, with the SDK kind the
// host acts on (an expected permission denial of a write-only offsite key
// is told apart from a failure). restic's exit codes (3 incomplete, 10 no
// repository, 11 locked, 12 wrong password, 130 interrupted; older restic
// versions are told apart by text: internal/restic/errors.go) arrive here
// as restic.Kind.
func (t *Target) sdkErr(err error) error {
	if err == nil {
		return nil
	}
	var re *restic.Error
	if !errors.As(err, &re) {
		return err
	}
	loc, repoVar, backupCmd := t.describeRepo()
	said := re.Message
	if said == "" {
		said = re.Error()
	}
	exit := ""
	if re.ExitCode > 0 {
		exit = fmt.Sprintf(", exit code %d", re.ExitCode)
	}
	switch re.Kind {
	case restic.KindRepoMissing:
		return fmt.Errorf("no repository at %s: run `%s` (creates it) or check %s (restic %s%s): %w",
			loc, backupCmd, repoVar, re.Op, exit, sdk.ErrNotFound)
	case restic.KindWrongPassword:
		pwVar := "RESTIC_PASSWORD"
		if t.repo.Password == "" && t.repo.PasswordFile != "" {
			pwVar = "RESTIC_PASSWORD_FILE"
		}
		return fmt.Errorf("%s does not open %s: set the password this repository was created with (restic %s%s): %w",
			pwVar, loc, re.Op, exit, sdk.ErrUnauthenticated)
	case restic.KindLocked:
		return fmt.Errorf("repository %s is locked by another restic process and stayed locked for %s (BACKUP_RESTIC_RETRY_LOCK): %s — "+
			"let that process finish; locks of crashed runs of this machine are removed automatically, others show with `restic list locks` "+
			"and go with `restic unlock` once no backup runs anywhere (restic %s%s): %w",
			loc, t.repo.RetryLock, oneLine(said), re.Op, exit, sdk.ErrLocked)
	case restic.KindIncomplete:
		return fmt.Errorf("restic could not read every file (exit code 3): snapshot %s in %s is incomplete and is not part of a complete run; "+
			"make the files readable for the user running the backup and run the backup again: %s",
			re.SnapshotID, loc, oneLine(said))
	case restic.KindInterrupted:
		return fmt.Errorf("restic %s in %s was interrupted before it finished: nothing was committed (%s): %w",
			re.Op, loc, oneLine(re.Error()), sdk.ErrAborted)
	case restic.KindPermissionDenied:
		return fmt.Errorf("%w (%w)", err, sdk.ErrPermissionDenied)
	case restic.KindNotFound:
		return fmt.Errorf("%w (%w)", err, sdk.ErrNotFound)
	}
	// Failures without an exit code of their own (exit 1): name the
	// repository, and the fix where restic's text tells the problem.
	switch {
	case strings.Contains(said, "no space left on device"):
		return fmt.Errorf("the disk holding %s is full: free space there (or point %s at a larger disk) and run the command again; nothing of this run was committed: %w", loc, repoVar, err)
	case strings.Contains(said, "is damaged") || strings.Contains(said, "ciphertext verification failed"):
		return fmt.Errorf("repository %s is damaged (a file of it does not decrypt): `timetiles-backup backup verify` shows the extent; restore the repository from a copy (the offsite repository holds the same backups) or fix the disk: %w", loc, err)
	}
	return fmt.Errorf("repository %s: %w", loc, err)
}

// withUnreadable puts the files restic could not read (its warnings) into
// an incomplete-snapshot error, so the operator learns which ones.
func withUnreadable(err error, sum *restic.Summary) error {
	var re *restic.Error
	if sum == nil || len(sum.Warnings) == 0 || !errors.As(err, &re) || re.Kind != restic.KindIncomplete {
		return err
	}
	w := sum.Warnings
	more := ""
	if len(w) > 5 {
		w, more = w[:5], fmt.Sprintf(" (and %d more)", len(sum.Warnings)-5)
	}
	re.Message = strings.Join(w, "; ") + more
	return err
}

// describeRepo names the repository, the variable that sets it and the
// command that creates it.
func (t *Target) describeRepo() (loc, repoVar, backupCmd string) {
	loc = redactURL(t.repo.Repository)
	if t.instance == "offsite" {
		return loc, "RESTIC_OFFSITE_REPOSITORY", "timetiles-backup backup --offsite"
	}
	return loc, "RESTIC_REPOSITORY", "timetiles-backup backup"
}

func oneLine(s string) string {
	out := make([]rune, 0, len(s))
	space := false
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' || r == ' ' {
			if !space && len(out) > 0 {
				out = append(out, ' ')
			}
			space = true
			continue
		}
		space = false
		out = append(out, r)
	}
	if len(out) > 400 {
		return string(out[:400]) + "…"
	}
	return string(out)
}

// clearDeadLocks removes the repository locks that runs of this machine
// left when they were killed (restic ≥ 0.17 reading stdin only stops when
// killed, and then leaves its lock), and only those
// (restic.Repo.UnlockDead). It runs before every backup (from Init), prune
// and verify: a dead exclusive lock would otherwise hold a backup for
// BACKUP_RESTIC_RETRY_LOCK and then fail it, and any dead lock blocks prune
// and check. Failures (e.g. a write-only key may not delete locks) are
// logged; the command then meets the lock and says so.
func (t *Target) clearDeadLocks(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	dead, err := t.repo.UnlockDead(ctx)
	if restic.IsRepoMissing(err) {
		return // no repository, no locks: the command itself says so, once
	}
	if err != nil {
		sdk.Logger.Warn("cannot remove locks of crashed runs", "repository", redactURL(t.repo.Repository), "error", err)
		return
	}
	for _, l := range dead {
		sdk.Logger.Info("removed the lock of a crashed run", "repository", redactURL(t.repo.Repository),
			"pid", l.PID, "created", l.Time.Format(time.RFC3339), "exclusive", l.Exclusive)
	}
}
