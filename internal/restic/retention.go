// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"context"
	"errors"
	"strings"
)

// ForgetSnapshots removes exactly the snapshots ids (`restic forget -- ID…`)
// and nothing else; it does not prune. Callers prune separately (Prune) and
// only after ForgetSnapshots succeeded: restic 0.18's `forget --prune` goes
// on to prune even when it could not remove the snapshots (a key that may
// delete locks but not snapshots: "unable to remove snapshot/… from the
// repository", then "1 snapshots have been removed, running prune"), and a
// prune that believes live data unused must never run.
//
// A backend refusing the deletes is an error of KindPermissionDenied even
// when restic exits 0 (see Forget).
func (r *Repo) ForgetSnapshots(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return err
		}
	}
	args := append([]string{"forget", "--"}, ids...)
	res, err := r.run(ctx, invocation{op: "forget", args: args, json: true, lock: true})
	if err != nil {
		return err
	}
	return removalFailure("forget", res)
}

// Prune removes the data no snapshot references any more (`restic prune`).
func (r *Repo) Prune(ctx context.Context) error {
	res, err := r.run(ctx, invocation{op: "prune", args: []string{"prune"}, json: true, lock: true})
	if err != nil {
		return err
	}
	return removalFailure("prune", res)
}

// removalFailure turns the "could not remove" warnings of a command that
// exited 0 into an error: restic 0.18 reports refused deletes of forget on
// stderr and exits 0.
func removalFailure(op string, res *result) error {
	w := res.stderr.warnings()
	if len(w) == 0 {
		return nil
	}
	text := strings.Join(w, "\n")
	if !hasPermissionText(text) && !strings.Contains(text, "unable to remove") {
		return nil
	}
	kind := KindOther
	if hasPermissionText(text) {
		kind = KindPermissionDenied
	}
	return &Error{Op: op, ExitCode: 0, Kind: kind,
		Message: "restic exited 0 but could not remove files: " + oneLine(strings.Join(limitLines(w, 6), "\n"))}
}

// CanDelete reports whether the credentials may delete files of the
// repository, without risking an exclusive lock that could not be removed
// again. It runs `restic cat config` with restic's ordinary (shared) lock
// and looks at what restic says when it removes that lock: under a
// "no-delete" S3 key or similar restic prints "Remove(<lock/…>) failed:
// Access Denied" and "error while unlocking: …" but exits 0.
//
// Why it matters: an exclusive lock (forget, prune, check) taken with such
// a key stays behind for ever and makes every later backup fail as
// "repository is locked" — while the shared locks such keys leave behind
// are harmless to other shared locks (backups) and go away with `restic
// unlock` run with a key that may delete (or an S3 lifecycle rule on
// locks/). Under the "delete only locks/*" recipe CanDelete reports true:
// deletes elsewhere are then refused at the operation itself, and restic
// removes its exclusive lock.
//
// A probe under a no-delete key leaves one more shared lock behind. A
// repository the key may not even read fails with KindPermissionDenied.
func (r *Repo) CanDelete(ctx context.Context) (bool, error) {
	res, err := r.run(ctx, invocation{op: "cat config", args: []string{"cat", "config"}, json: true, lock: true})
	if err != nil {
		return false, err
	}
	for _, l := range res.stderr.warnings() {
		if strings.Contains(l, "lock") && hasPermissionText(l) {
			return false, nil
		}
	}
	text := strings.Join(res.stderr.warnings(), "\n")
	if strings.Contains(text, "error while unlocking") {
		return false, &Error{Op: "cat config", Kind: KindOther, Message: "could not remove its lock: " + oneLine(text)}
	}
	return true, nil
}

// CheckOptions configure CheckWith.
type CheckOptions struct {
	// ReadDataSubset is restic's --read-data-subset ("5%", "1/10", "500M");
	// empty checks the structure only.
	ReadDataSubset string
	// NoLock runs without a lock (--no-lock): for repositories where an
	// exclusive lock could not be removed again (CanDelete false). The
	// check may then report unreferenced data of a backup running at the
	// same time, never lose data: check only reads.
	NoLock bool
}

// CheckWith runs `restic check` with options.
func (r *Repo) CheckWith(ctx context.Context, o CheckOptions) error {
	if strings.HasPrefix(o.ReadDataSubset, "-") {
		return errors.New("restic: invalid --read-data-subset " + o.ReadDataSubset)
	}
	args := []string{"check"}
	if o.ReadDataSubset != "" {
		args = append(args, "--read-data-subset", o.ReadDataSubset)
	}
	_, err := r.run(ctx, invocation{op: "check", args: args, json: true, lock: !o.NoLock, noLock: o.NoLock})
	return err
}
