// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// restoreAtomically restores the tar stream r into dest so that dest holds
// either its old contents or the complete new ones, never a mixture: the
// stream is extracted into a stage (see prepareStage) that is swapped in
// only when the stream ended with io.EOF (the source's successful trailer);
// on any error, or a cancelled context, the stage is removed and dest is
// left exactly as it was. A target's native restore (restic restore) goes
// through the same stage: StageRestorePath and FinishRestorePath.
func restoreAtomically(ctx context.Context, dest string, inPlace bool, r io.Reader, log logger) (err error) {
	st, err := prepareStage(dest, inPlace, log)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			st.abort()
		}
	}()
	top, err := extractInto(ctx, st.dir, r, log, !st.inPlace, metaOf(st.fi))
	if err != nil {
		return fmt.Errorf("restore into %s failed, nothing was changed: %w", st.dest, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return st.commit(top)
}

// stage is a restore in progress: the new contents are put into dir, on
// the destination's file system, and then swapped in by commit or removed
// by abort.
//
//   - A plain directory is staged beside it (".<name>.restore-*") and
//     swapped in with one renameat2(RENAME_EXCHANGE), which is atomic
//     (two renames where the file system lacks it: dest moved to
//     ".<name>.before-restore-*", the stage moved to dest).
//   - A mount point — a Docker volume's mountpoint (inPlace), or a
//     directory that is itself mounted (a bind mount, a separate disk) —
//     cannot be renamed: the contents are staged inside it
//     (".timetiles-restore-*") and its top-level entries are swapped: the
//     old ones are moved into ".timetiles-before-restore-*", the stage is
//     renamed ".timetiles-restored-*" (the commit point), and the new
//     entries are moved out of it. A failure before the commit point moves
//     the old entries back; after it, the restore completes.
//
// Whatever an interrupted restore (even SIGKILL) leaves of these names is
// put right by the next restore or backup (recoverLeftovers): rolled back
// before the commit point, completed after it.
//
// The old contents are deleted once the new ones are in place: uploads can
// be large, and doubling their disk use on every restore would fill small
// disks. (A backup taken before restoring keeps them; the CLI's
// confirmation says so.) If deleting them fails, the restore still
// succeeded and a warning names what is left.
type stage struct {
	dest    string      // the destination, symlinks resolved
	dir     string      // where the new contents go
	inPlace bool        // the destination's entries are swapped
	fi      os.FileInfo // the destination's; nil if it did not exist
	st      unix.Stat_t // the destination's times (inPlace), reset after a failure
	log     logger
}

// prepareStage creates the staging directory for a restore into dest,
// after putting right what an interrupted restore left there. A
// destination that is a symlink is resolved first, so the link stays and
// the directory it points to is replaced.
func prepareStage(dest string, inPlace bool, log logger) (*stage, error) {
	dest, err := filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(dest); err == nil {
		dest = real
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := recoverLeftovers(dest, log); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dest)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, err
	case exists && !fi.IsDir():
		return nil, fmt.Errorf("restore destination %s is not a directory", dest)
	case !exists && inPlace:
		return nil, fmt.Errorf("the Docker volume's mountpoint %s does not exist", dest)
	case !exists:
		fi = nil
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return nil, err
		}
	}
	if exists {
		// A file system mounted below dest would be moved with the old
		// contents and then emptied by their removal, while the restored
		// files landed beside it: refuse before touching anything.
		below, err := mountsBelow(dest)
		if err != nil {
			return nil, err
		}
		if len(below) > 0 {
			return nil, fmt.Errorf("restore destination %s has file systems mounted below it (%s): unmount them first, or restore into another directory (--to) and move the files", dest, strings.Join(below, ", "))
		}
	}
	if exists && !inPlace {
		mp, err := isMountPoint(dest)
		if err != nil {
			return nil, err
		}
		if mp {
			log.Info("the restore destination is a mount point: swapping its entries instead of the directory", "path", dest)
			inPlace = true
		}
	}
	s := &stage{dest: dest, inPlace: inPlace, fi: fi, log: log}
	if inPlace {
		if err := unix.Stat(dest, &s.st); err != nil {
			return nil, &os.PathError{Op: "stat", Path: dest, Err: err}
		}
		s.dir, err = os.MkdirTemp(dest, stagingPrefix)
		if err != nil {
			return nil, fmt.Errorf("creating a staging directory in %s: %w", dest, err)
		}
		return s, nil
	}
	s.dir, err = os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+siblingStaging)
	if err != nil {
		return nil, fmt.Errorf("creating a staging directory beside %s: %w", dest, err)
	}
	// The stage becomes dest: it gets dest's owner and mode until the
	// restore sets the snapshot's.
	if m := metaOf(fi); m != nil {
		if m.owner && os.Geteuid() == 0 {
			_ = os.Lchown(s.dir, m.uid, m.gid)
		}
		_ = os.Chmod(s.dir, m.mode)
	}
	return s, nil
}

// Names beside a plain destination: "." + its name + one of these.
const (
	siblingStaging = ".restore-"
	siblingAside   = ".before-restore-"
	// committedPrefix names, inside a mount point, a stage past its commit
	// point (all old entries moved aside).
	committedPrefix = ".timetiles-restored-"
)

// abort removes the stage: the destination stays as it was.
func (s *stage) abort() {
	if err := os.RemoveAll(s.dir); err != nil {
		s.log.Warn("could not remove the staging directory", "path", s.dir, "error", err.Error())
	}
	if s.inPlace {
		unix.UtimesNano(s.dest, []unix.Timespec{s.st.Atim, s.st.Mtim})
	}
}

// commit swaps the stage in; top is the metadata for the destination
// directory itself when its entries are swapped (nil: leave it). On an
// error the destination is as it was, and the stage is removed.
func (s *stage) commit(top *dirMeta) error {
	if s.inPlace {
		return s.commitInPlace(top)
	}
	return s.commitByExchange()
}

func (s *stage) commitByExchange() error {
	dest, staging := s.dest, s.dir
	if s.fi == nil {
		if err := os.Rename(staging, dest); err != nil {
			s.abort()
			return err
		}
		return nil
	}
	old := staging // after the exchange, it holds the old contents
	if err := exchange(staging, dest); err != nil {
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
			s.abort()
			return fmt.Errorf("swapping the restored uploads into %s failed, nothing was changed: %w", dest, err)
		}
		// No RENAME_EXCHANGE on this file system: two renames, undone if
		// the second fails (or by recoverLeftovers if interrupted between).
		old = filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+siblingAside+strings.TrimPrefix(filepath.Base(staging), "."+filepath.Base(dest)+siblingStaging))
		if err := os.Rename(dest, old); err != nil {
			s.abort()
			return fmt.Errorf("moving the old uploads aside failed, nothing was changed: %w", err)
		}
		if err := os.Rename(staging, dest); err != nil {
			if rerr := os.Rename(old, dest); rerr != nil {
				return fmt.Errorf("moving the restored uploads into %s: %w; moving the old ones back from %s also failed: %v", dest, err, old, rerr)
			}
			s.abort()
			return fmt.Errorf("moving the restored uploads into %s failed, nothing was changed: %w", dest, err)
		}
	}
	if err := os.RemoveAll(old); err != nil {
		s.log.Warn("the uploads were restored, but the old contents could not be removed", "path", old, "error", err.Error())
	}
	return nil
}

func (s *stage) commitInPlace(top *dirMeta) (err error) {
	dest, staging := s.dest, s.dir
	suffix := strings.TrimPrefix(filepath.Base(staging), stagingPrefix)
	aside := filepath.Join(dest, asidePrefix+suffix)
	committed := filepath.Join(dest, committedPrefix+suffix)
	if err := os.Mkdir(aside, 0o700); err != nil {
		s.abort()
		return err
	}
	skip := map[string]bool{filepath.Base(staging): true, filepath.Base(aside): true}
	oldNames, err := sortedNames(dest)
	if err != nil {
		os.Remove(aside)
		s.abort()
		return err
	}
	var movedOld []string
	rollback := func(cause error) error {
		var errs []error
		for _, n := range movedOld {
			if e := os.Rename(filepath.Join(aside, n), filepath.Join(dest, n)); e != nil {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("swapping the restored uploads into %s: %w; rolling back also failed (old entries are in %s, new ones in %s; the next restore or backup puts them back): %v",
				dest, cause, aside, staging, errors.Join(errs...))
		}
		os.Remove(aside)
		s.abort()
		return fmt.Errorf("swapping the restored uploads into %s failed, nothing was changed: %w", dest, cause)
	}
	for _, n := range oldNames {
		if skip[n] {
			continue
		}
		if err := os.Rename(filepath.Join(dest, n), filepath.Join(aside, n)); err != nil {
			return rollback(err)
		}
		movedOld = append(movedOld, n)
	}
	// The commit point: from here on the restore completes (recoverLeftovers
	// finishes it if this process dies).
	if err := os.Rename(staging, committed); err != nil {
		return rollback(err)
	}
	if err := finishInPlace(dest, committed, aside, s.log); err != nil {
		return fmt.Errorf("the restored uploads are committed but not all moved into %s yet (the next restore or backup completes it): %w", dest, err)
	}
	if top != nil {
		root, err := os.OpenRoot(dest)
		if err == nil {
			x := newExtractor(root, s.log)
			m := *top
			m.name = "."
			err = x.applyDir(&m)
			x.close()
			root.Close()
		}
		if err != nil {
			s.log.Warn("the uploads were restored, but the mode or mtime of their directory could not be set", "path", dest, "error", err.Error())
		}
	}
	return nil
}

// finishInPlace moves the entries of a committed stage into dest and
// removes the stage and the old entries.
func finishInPlace(dest, committed, aside string, log logger) error {
	newNames, err := sortedNames(committed)
	if err != nil {
		return err
	}
	for _, n := range newNames {
		if err := os.Rename(filepath.Join(committed, n), filepath.Join(dest, n)); err != nil {
			return err
		}
	}
	if err := os.Remove(committed); err != nil {
		log.Warn("could not remove the empty staging directory", "path", committed, "error", err.Error())
	}
	if err := os.RemoveAll(aside); err != nil {
		log.Warn("the uploads were restored, but the old contents could not be removed", "path", aside, "error", err.Error())
	}
	return nil
}

// metaOf returns the owner and mode of an existing directory, to give the
// new contents when the archive has no root entry.
func metaOf(fi os.FileInfo) *dirMeta {
	if fi == nil {
		return &dirMeta{mode: 0o755}
	}
	m := &dirMeta{mode: fi.Mode().Perm() | fi.Mode()&(os.ModeSetgid|os.ModeSetuid|os.ModeSticky)}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		m.uid, m.gid, m.owner = int(st.Uid), int(st.Gid), true
	}
	return m
}

// exchange swaps two paths atomically; a variable so that a test can
// simulate a file system without RENAME_EXCHANGE.
var exchange = func(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

// sortedNames lists a directory's entries, sorted.
func sortedNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}
