// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Exists reports whether the repository exists and opens with the password.
// A missing repository is (false, nil); a wrong password, missing
// permissions or an unreachable backend are errors — never false.
// It runs `cat config --no-lock`, which reads and decrypts the config
// without writing a lock.
func (r *Repo) Exists(ctx context.Context) (bool, error) {
	_, err := r.run(ctx, invocation{op: "cat config", args: []string{"cat", "config"}, json: true, noLock: true})
	switch {
	case err == nil:
		return true, nil
	case IsRepoMissing(err):
		return false, nil
	default:
		return false, err
	}
}

// Init creates the repository with repository format version 2
// (compression). An existing repository is not an error: restic reports
// "config file already exists" (local, rest, sftp) or "repository master key
// and config already initialized" (S3 and other backends); Init then checks
// with Exists that the password opens it and returns (false, nil).
func (r *Repo) Init(ctx context.Context) (created bool, err error) {
	created, err = r.Create(ctx)
	if err == nil && !created {
		if _, err := r.Exists(ctx); err != nil {
			return false, err
		}
	}
	return created, err
}

// Create is Init without the password check of an existing repository: for
// a caller that opens the repository next anyway (a backup), which then
// fails with the same error. restic refuses `init` of an existing
// repository before deriving any key, so Create costs no key derivation
// (~0.6 s of CPU) when the repository exists.
func (r *Repo) Create(ctx context.Context) (created bool, err error) {
	_, err = r.run(ctx, invocation{op: "init", args: []string{"init", "--repository-version", "2"}, json: true})
	if err == nil {
		return true, nil
	}
	var e *Error
	if errors.As(err, &e) && isAlreadyInitialized(e.Message) {
		return false, nil
	}
	return false, err
}

// ForgetOptions configure Forget.
type ForgetOptions struct {
	KeepDaily, KeepWeekly, KeepMonthly int
	// GroupBy is restic's --group-by; empty means "host,tags" (not restic's
	// default host,paths), so that path changes do not split groups.
	GroupBy string
	// Host and Tags restrict which snapshots are considered (empty: all).
	Host string
	Tags []string
	// Prune also removes the data no longer referenced (forget --prune).
	Prune bool
	// DryRun only reports what would be removed.
	DryRun bool
}

// ForgetResult is forget's JSON report.
type ForgetResult struct {
	Groups []ForgetGroup
}

// ForgetGroup is one snapshot group of `forget --json`.
type ForgetGroup struct {
	Tags    []string     `json:"tags"`
	Host    string       `json:"host"`
	Paths   []string     `json:"paths"`
	Keep    []Snapshot   `json:"keep"`
	Remove  []Snapshot   `json:"remove"`
	Reasons []KeepReason `json:"reasons"`
}

// KeepReason says why a snapshot is kept. restic prints the snapshot without
// its ID; it is the snapshot with the same time and tree in Keep.
type KeepReason struct {
	Snapshot Snapshot `json:"snapshot"`
	Matches  []string `json:"matches"` // e.g. "daily snapshot", "last snapshot"
}

// Kept returns the IDs of all kept snapshots.
func (f *ForgetResult) Kept() []string {
	return f.ids(func(g ForgetGroup) []Snapshot { return g.Keep })
}

// Removed returns the IDs of all removed (or, with DryRun, to be removed) snapshots.
func (f *ForgetResult) Removed() []string {
	return f.ids(func(g ForgetGroup) []Snapshot { return g.Remove })
}

func (f *ForgetResult) ids(sel func(ForgetGroup) []Snapshot) []string {
	var ids []string
	for _, g := range f.Groups {
		for _, s := range sel(g) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// Forget applies the retention policy (and prunes with opts.Prune).
//
// restic's exit code is not enough here: with a backend that refuses deletes
// (rest-server --append-only), restic 0.18 `forget` without --prune prints
// "Remove(<snapshot/…>) failed: unexpected HTTP response (403): 403
// Forbidden" and "unable to remove snapshot/… from the repository" but exits
// 0. Forget therefore also fails (KindPermissionDenied, or KindOther) when
// such lines appear on stderr; the parsed result is returned with the error.
// (restic 0.16 retries such deletes for about a minute and then exits 1.)
func (r *Repo) Forget(ctx context.Context, opts ForgetOptions) (*ForgetResult, error) {
	if opts.KeepDaily <= 0 && opts.KeepWeekly <= 0 && opts.KeepMonthly <= 0 {
		return nil, errors.New("restic: forget needs at least one of KeepDaily, KeepWeekly, KeepMonthly")
	}
	args := []string{"forget"}
	for _, k := range []struct {
		flag string
		n    int
	}{{"--keep-daily", opts.KeepDaily}, {"--keep-weekly", opts.KeepWeekly}, {"--keep-monthly", opts.KeepMonthly}} {
		if k.n > 0 {
			args = append(args, k.flag, strconv.Itoa(k.n))
		}
	}
	groupBy := opts.GroupBy
	if groupBy == "" {
		groupBy = "host,tags"
	}
	args = append(args, "--group-by", groupBy)
	fa, err := SnapshotFilter{Tags: opts.Tags, Host: opts.Host}.args()
	if err != nil {
		return nil, err
	}
	args = append(args, fa...)
	if opts.Prune {
		args = append(args, "--prune")
	}
	if opts.DryRun {
		args = append(args, "--dry-run")
	}
	res, err := r.run(ctx, invocation{op: "forget", args: args, json: true, lock: true})
	if res == nil {
		return nil, err
	}
	result := &ForgetResult{}
	var groups []ForgetGroup
	// No JSON at all when there are no snapshots to consider.
	if perr := decodeJSONLine(res.stdout, '[', &groups); perr == nil {
		result.Groups = groups
	}
	if err != nil {
		return result, err
	}
	if err := removalFailure("forget", res); err != nil {
		return result, err
	}
	return result, nil
}

// Check runs `restic check`, reading readDataSubset of the pack data
// ("5%", "1/10", "500M"; empty: structure only).
func (r *Repo) Check(ctx context.Context, readDataSubset string) error {
	args := []string{"check"}
	if readDataSubset != "" {
		args = append(args, "--read-data-subset", readDataSubset)
	}
	_, err := r.run(ctx, invocation{op: "check", args: args, json: true, lock: true})
	return err
}

// Unlock removes stale locks: those of processes on this host that no longer
// exist and those older than 30 minutes (restic's definition). With
// removeAll it removes every lock — only safe when no restic runs.
func (r *Repo) Unlock(ctx context.Context, removeAll bool) error {
	args := []string{"unlock"}
	if removeAll {
		args = append(args, "--remove-all")
	}
	_, err := r.run(ctx, invocation{op: "unlock", args: args, json: true})
	return err
}

// LockInfo is a lock file of the repository (`restic cat lock ID`).
type LockInfo struct {
	ID        string    `json:"-"`
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
	UID       uint32    `json:"uid"`
	GID       uint32    `json:"gid"`
}

// DeadOnHost reports whether the lock belongs to a process of host that no
// longer exists on this machine (restic's own "stale" test, minus its
// 30-minute age rule). host must be this machine's hostname (os.Hostname,
// which is what restic writes into locks — not the backup --host).
func (l LockInfo) DeadOnHost(host string) bool {
	return l.Hostname == host && !processAlive(l.PID)
}

// Locks lists the repository's locks: `list locks` and then `cat lock ID`
// for each (both with --no-lock; about 0.8 s each, four at a time). A lock
// that vanishes in between is skipped.
func (r *Repo) Locks(ctx context.Context) ([]LockInfo, error) {
	res, err := r.run(ctx, invocation{op: "list locks", args: []string{"list", "locks"}, noLock: true})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, l := range strings.Split(string(res.stdout), "\n") {
		if l = strings.TrimSpace(l); len(l) == 64 {
			ids = append(ids, l)
		}
	}
	locks := make([]*LockInfo, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := r.run(ctx, invocation{op: "cat lock", args: []string{"cat", "lock", id}, noLock: true})
			if err != nil {
				if !IsNotFound(err) && !strings.Contains(err.Error(), "does not exist") &&
					!strings.Contains(err.Error(), "no such file") {
					errs[i] = err
				}
				return
			}
			var li LockInfo
			if err := json.Unmarshal(res.stdout, &li); err != nil {
				errs[i] = &Error{Op: "cat lock", Message: fmt.Sprintf("cannot parse lock %s: %v", shortID(id), err)}
				return
			}
			li.ID = id
			locks[i] = &li
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []LockInfo
	for _, l := range locks {
		if l != nil {
			out = append(out, *l)
		}
	}
	return out, nil
}
