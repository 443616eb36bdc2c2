package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// restoreAtomically restores the tar stream r into dest so that dest holds
// either its old contents or the complete new ones, never a mixture:
//
//   - The stream is extracted into a fresh staging directory on the same
//     file system as dest. Only when it ended with io.EOF (the source's
//     successful trailer) are the contents swapped in; on any error, or a
//     cancelled context, the staging directory is removed and dest is left
//     exactly as it was.
//   - A plain directory is staged beside it (".<name>.restore-*") and
//     swapped in with one renameat2(RENAME_EXCHANGE), which is atomic.
//   - A mount point — a Docker volume's mountpoint (inPlace), or a
//     directory that is itself mounted (a bind mount, a separate disk) —
//     cannot be renamed: the stream is staged inside it
//     (".timetiles-restore-*") and its top-level entries are swapped (old
//     ones moved into ".timetiles-before-restore-*", new ones moved in); a
//     failure half-way moves everything back.
//
// The old contents are deleted once the new ones are in place: uploads can
// be large, and doubling their disk use on every restore would fill small
// disks. (A backup taken before restoring keeps them; the CLI's
// confirmation says so.) If deleting them fails, the restore still
// succeeded and a warning names what is left.
//
// A destination that is a symlink is resolved first, so the link stays and
// the directory it points to is replaced.
func restoreAtomically(ctx context.Context, dest string, inPlace bool, r io.Reader, log logger) error {
	dest, err := filepath.Abs(dest)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(dest); err == nil {
		dest = real
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fi, err := os.Stat(dest)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	case exists && !fi.IsDir():
		return fmt.Errorf("restore destination %s is not a directory", dest)
	case !exists && inPlace:
		return fmt.Errorf("the Docker volume's mountpoint %s does not exist", dest)
	case !exists:
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
	}
	if exists {
		// A file system mounted below dest would be moved with the old
		// contents and then emptied by their removal, while the restored
		// files landed beside it: refuse before touching anything.
		below, err := mountsBelow(dest)
		if err != nil {
			return err
		}
		if len(below) > 0 {
			return fmt.Errorf("restore destination %s has file systems mounted below it (%s): unmount them first, or restore into another directory (--to) and move the files", dest, strings.Join(below, ", "))
		}
	}
	if exists && !inPlace {
		mp, err := isMountPoint(dest)
		if err != nil {
			return err
		}
		if mp {
			log.Info("the restore destination is a mount point: swapping its entries instead of the directory", "path", dest)
			inPlace = true
		}
	}
	if inPlace {
		return restoreInPlace(ctx, dest, fi, r, log)
	}
	return restoreByExchange(ctx, dest, fi, r, log)
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

func restoreByExchange(ctx context.Context, dest string, fi os.FileInfo, r io.Reader, log logger) error {
	staging, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".restore-")
	if err != nil {
		return fmt.Errorf("creating a staging directory beside %s: %w", dest, err)
	}
	done := false
	defer func() {
		if !done {
			if err := os.RemoveAll(staging); err != nil {
				log.Warn("could not remove the staging directory", "path", staging, "error", err.Error())
			}
		}
	}()
	if _, err := extractInto(ctx, staging, r, log, true, metaOf(fi)); err != nil {
		return fmt.Errorf("restore into %s failed, nothing was changed: %w", dest, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if fi == nil {
		if err := os.Rename(staging, dest); err != nil {
			return err
		}
		done = true
		return nil
	}
	old := staging // after the exchange, it holds the old contents
	if err := exchange(staging, dest); err != nil {
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("swapping the restored uploads into %s: %w", dest, err)
		}
		// No RENAME_EXCHANGE on this file system: two renames, undone if
		// the second fails.
		old = fmt.Sprintf("%s.before-restore-%s", dest, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(dest, old); err != nil {
			return fmt.Errorf("moving the old uploads aside: %w", err)
		}
		if err := os.Rename(staging, dest); err != nil {
			if rerr := os.Rename(old, dest); rerr != nil {
				return fmt.Errorf("moving the restored uploads into %s: %w; moving the old ones back from %s also failed: %v", dest, err, old, rerr)
			}
			return fmt.Errorf("moving the restored uploads into %s: %w", dest, err)
		}
	}
	done = true
	if err := os.RemoveAll(old); err != nil {
		log.Warn("the uploads were restored, but the old contents could not be removed", "path", old, "error", err.Error())
	}
	return nil
}

func restoreInPlace(ctx context.Context, dest string, fi os.FileInfo, r io.Reader, log logger) (err error) {
	var st unix.Stat_t
	if err := unix.Stat(dest, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dest, Err: err}
	}
	// Put dest's mtime back after a failure: creating and removing the
	// staging directory changed it.
	resetTimes := func() {
		unix.UtimesNano(dest, []unix.Timespec{st.Atim, st.Mtim})
	}
	staging, err := os.MkdirTemp(dest, stagingPrefix)
	if err != nil {
		return fmt.Errorf("creating a staging directory in %s: %w", dest, err)
	}
	stagingName := filepath.Base(staging)
	var aside, asideName string
	defer func() {
		if err == nil {
			return
		}
		if rerr := os.RemoveAll(staging); rerr != nil {
			log.Warn("could not remove the staging directory", "path", staging, "error", rerr.Error())
		}
		if aside != "" {
			os.Remove(aside) // empty again after a rollback
		}
		resetTimes()
	}()
	top, err := extractInto(ctx, staging, r, log, false, metaOf(fi))
	if err != nil {
		return fmt.Errorf("restore into %s failed, nothing was changed: %w", dest, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	aside, err = os.MkdirTemp(dest, asidePrefix)
	if err != nil {
		return err
	}
	asideName = filepath.Base(aside)
	oldNames, err := sortedNames(dest)
	if err != nil {
		return err
	}
	var movedOld, movedNew []string
	rollback := func(cause error) error {
		var errs []error
		for _, n := range movedNew {
			if e := os.Rename(filepath.Join(dest, n), filepath.Join(staging, n)); e != nil {
				errs = append(errs, e)
			}
		}
		for _, n := range movedOld {
			if e := os.Rename(filepath.Join(aside, n), filepath.Join(dest, n)); e != nil {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("swapping the restored uploads into %s: %w; rolling back also failed (old entries are in %s, new ones in %s): %v",
				dest, cause, aside, staging, errors.Join(errs...))
		}
		return fmt.Errorf("swapping the restored uploads into %s failed, nothing was changed: %w", dest, cause)
	}
	for _, n := range oldNames {
		if n == stagingName || n == asideName {
			continue
		}
		if err := os.Rename(filepath.Join(dest, n), filepath.Join(aside, n)); err != nil {
			return rollback(err)
		}
		movedOld = append(movedOld, n)
	}
	newNames, err := sortedNames(staging)
	if err != nil {
		return rollback(err)
	}
	for _, n := range newNames {
		if err := os.Rename(filepath.Join(staging, n), filepath.Join(dest, n)); err != nil {
			return rollback(err)
		}
		movedNew = append(movedNew, n)
	}
	// Swapped: from here on the restore has succeeded.
	if err := os.Remove(staging); err != nil {
		log.Warn("could not remove the empty staging directory", "path", staging, "error", err.Error())
	}
	if err := os.RemoveAll(aside); err != nil {
		log.Warn("the uploads were restored, but the old contents could not be removed", "path", aside, "error", err.Error())
	}
	if top != nil {
		root, err := os.OpenRoot(dest)
		if err == nil {
			x := newExtractor(root, log)
			m := *top
			m.name = "."
			err = x.applyDir(&m)
			x.close()
			root.Close()
		}
		if err != nil {
			log.Warn("the uploads were restored, but the mode or mtime of their directory could not be set", "path", dest, "error", err.Error())
		}
	}
	return nil
}

// isMountPoint reports whether dir is the root of a mount (including a bind
// mount of a directory of the same file system), which rename(2) refuses.
// statx's STATX_ATTR_MOUNT_ROOT (Linux 5.8+) says so; on older kernels a
// different device than the parent's does.
func isMountPoint(dir string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, &os.PathError{Op: "statx", Path: dir, Err: err}
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	parent := filepath.Dir(dir)
	if parent == dir {
		return true, nil
	}
	var pst unix.Stat_t
	if err := unix.Stat(parent, &pst); err != nil {
		return false, &os.PathError{Op: "stat", Path: parent, Err: err}
	}
	return unix.Mkdev(stx.Dev_major, stx.Dev_minor) != pst.Dev, nil
}

// mountsBelow lists the mount points strictly below dir, from
// /proc/self/mountinfo (its fifth field, with spaces and other special
// characters octal-escaped).
func mountsBelow(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("checking for mounts below %s: %w", dir, err)
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if mp := unescapeMountinfo(f[4]); strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	return out, nil
}

// unescapeMountinfo decodes the \NNN octal escapes of /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
