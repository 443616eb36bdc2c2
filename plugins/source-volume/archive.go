// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Names of the temporary directories a restore creates inside a Docker
// volume's mountpoint (see restoreInPlace). If a restore was killed, they
// may be left over; a backup skips them.
const (
	stagingPrefix = ".timetiles-restore-"
	asidePrefix   = ".timetiles-before-restore-"
)

type tarStats struct {
	files, dirs, symlinks, skipped int
	bytes                          int64
}

// archiver writes a directory tree as a tar stream (archive/tar, PAX format:
// sub-second mtimes, long and unicode names, large ids).
//
// It walks with file descriptors: every directory is opened relative to its
// parent's descriptor with O_NOFOLLOW, entries are lstat'ed, opened and
// readlink'ed relative to it (fstatat/openat/readlinkat). The uploads
// directory is writable by TimeTiles' web container while the backup runs
// as root on the host, so no rename or symlink swap inside it can make the
// backup follow a link or read anything outside the tree: symlinks are
// archived as links and never followed.
//
// The output is deterministic for an unchanged tree (entries sorted by
// name; no atime, ctime or user names), which lets a deduplicating target
// store a second backup of unchanged uploads almost for free. Hard links
// are archived as separate regular files; sockets, FIFOs and devices are
// skipped with a warning; extended attributes and ACLs are not archived.
type archiver struct {
	ctx   context.Context
	tw    *tar.Writer
	log   logger
	hook  func(rel string)
	buf   []byte
	stats tarStats
}

// writeTar archives dir into w. Memory use is constant apart from the names
// of one directory at a time (needed to sort them).
func writeTar(ctx context.Context, dir string, w io.Writer, log logger, hook func(string)) (tarStats, error) {
	a := &archiver{ctx: ctx, tw: tar.NewWriter(w), log: log, hook: hook, buf: make([]byte, 256<<10)}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return a.stats, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	if err := a.dir(fd, "."); err != nil {
		return a.stats, err
	}
	if err := a.tw.Close(); err != nil { // the end-of-archive marker
		return a.stats, err
	}
	return a.stats, nil
}

// dir archives the open directory fd (closed on return) and everything below.
func (a *archiver) dir(fd int, rel string) error {
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: rel, Err: err}
	}
	name := rel + "/"
	if rel == "." {
		name = "./"
	}
	if err := a.tw.WriteHeader(header(tar.TypeDir, name, &st)); err != nil {
		return err
	}
	a.stats.dirs++
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", rel, err)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		if rel == "." && (strings.HasPrefix(n, stagingPrefix) || strings.HasPrefix(n, asidePrefix) || strings.HasPrefix(n, committedPrefix)) {
			a.log.Warn("skipping a directory left by an interrupted restore; remove it once you have checked it", "path", n)
			a.stats.skipped++
			continue
		}
		if err := a.entry(fd, rel, n); err != nil {
			return err
		}
	}
	return nil
}

// entry archives the entry n of the directory dirfd (at rel).
func (a *archiver) entry(dirfd int, rel, n string) error {
	p := n
	if rel != "." {
		p = rel + "/" + n
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return a.vanished(p, "lstat", err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if a.hook != nil {
			a.hook(p)
		}
		fd, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return a.vanished(p, "open", err)
		}
		return a.dir(fd, p)
	case unix.S_IFREG:
		return a.file(dirfd, p, n)
	case unix.S_IFLNK:
		target, err := readlinkat(dirfd, n)
		if err != nil {
			return a.vanished(p, "readlink", err)
		}
		h := header(tar.TypeSymlink, p, &st)
		h.Linkname = target
		if err := a.tw.WriteHeader(h); err != nil {
			return err
		}
		a.stats.symlinks++
		return nil
	default:
		a.log.Warn("skipping an entry that is not a file, directory or symlink", "path", p, "mode", fmt.Sprintf("%#o", st.Mode))
		a.stats.skipped++
		return nil
	}
}

// vanished turns "it is gone" (uploads change while a backup runs) into a
// warning, and any other error into a failure. ELOOP and ENOTDIR mean the
// entry was replaced by a symlink or a file of another type since it was
// listed: it is skipped too rather than followed.
func (a *archiver) vanished(p, op string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		a.log.Warn("skipping an entry that vanished or changed type during the backup", "path", p, "error", err.Error())
		a.stats.skipped++
		return nil
	}
	return fmt.Errorf("cannot back up %s: %w", p, &os.PathError{Op: op, Path: p, Err: err})
}

// file archives the regular file n of dirfd. Its size, mode and mtime come
// from the open descriptor, so they match the bytes read.
func (a *archiver) file(dirfd int, p, n string) error {
	if a.hook != nil {
		a.hook(p)
	}
	// O_NONBLOCK: if the file was replaced by a FIFO, opening it must not
	// hang (it is then skipped below).
	fd, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return a.vanished(p, "open", err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return a.vanished(p, "open", unix.ENOTDIR)
	}
	h := header(tar.TypeReg, p, &st)
	h.Size = st.Size
	if err := a.tw.WriteHeader(h); err != nil {
		return err
	}
	var done int64
	for done < h.Size {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		n, rerr := f.Read(a.buf[:min(int64(len(a.buf)), h.Size-done)])
		if n > 0 {
			if _, err := a.tw.Write(a.buf[:n]); err != nil {
				return err
			}
			done += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("cannot back up %s: %w", p, rerr)
		}
	}
	if done < h.Size {
		// The file shrank while it was read: its header is written, so pad
		// with zeros like GNU tar does, and say so.
		a.log.Warn("file shrank while it was read; padded with zeros (it is being changed: back it up again later)", "path", p, "size", h.Size, "read", done)
		clear(a.buf)
		for done < h.Size {
			n, err := a.tw.Write(a.buf[:min(int64(len(a.buf)), h.Size-done)])
			if err != nil {
				return err
			}
			done += int64(n)
		}
	} else {
		var after unix.Stat_t
		if unix.Fstat(fd, &after) == nil && (after.Size != st.Size || after.Mtim != st.Mtim) {
			a.log.Warn("file changed while it was read; its first bytes as of the start were archived", "path", p)
		}
	}
	a.stats.files++
	a.stats.bytes += h.Size
	return nil
}

// header builds a PAX header from lstat/fstat data. Owners are numeric
// (containers write uploads as a numeric uid); names, atime and ctime are
// left out so that the archive of an unchanged tree is identical.
func header(typ byte, name string, st *unix.Stat_t) *tar.Header {
	mode := int64(st.Mode & 0o7777) // permission, setuid, setgid and sticky bits, as in tar
	if typ == tar.TypeSymlink {
		mode = 0o777
	}
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Uid:      int(st.Uid),
		Gid:      int(st.Gid),
		ModTime:  time.Unix(st.Mtim.Unix()),
		Format:   tar.FormatPAX,
	}
}

// readlinkat reads a symlink's target, growing the buffer as needed.
func readlinkat(dirfd int, n string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		k, err := unix.Readlinkat(dirfd, n, b)
		if err != nil {
			return "", err
		}
		if k < size {
			return string(b[:k]), nil
		}
	}
}
