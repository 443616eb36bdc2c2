// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dirMeta is the metadata of a directory, applied after its contents.
type dirMeta struct {
	name     string
	mode     fs.FileMode
	uid, gid int
	owner    bool // uid/gid are known
	mtime    time.Time
}

// extractor extracts a tar stream into a fresh, empty directory.
//
// Nothing may be written outside that directory, whatever the archive says.
// All writes go through an os.Root (Go 1.24+), which resolves every name
// with openat/mkdirat/symlinkat/linkat relative to the directory's
// descriptor and refuses any name, "..", or symlink that would leave it;
// that is the guarantee, rather than hand-written path checks. On top of it
// the extractor
//   - rejects absolute names and ".." components outright (an archive made
//     by this plugin never has them: it is not ours, so nothing is restored);
//   - never extracts through a symlink: every parent of an entry must be a
//     real directory (os.Root alone would follow a symlink that stays
//     inside the root), and an entry replacing a symlink removes the link
//     and creates a new file with O_EXCL instead of writing through it;
//   - recreates symlinks as symlinks, whatever they point to (a link's
//     target is data), and never follows them;
//   - accepts hard links only to files already extracted inside the root.
type extractor struct {
	root  *os.Root
	log   logger
	chown bool // running as root: restore numeric owners

	dirs    map[string]bool // names known to be real directories
	pending []*dirMeta      // directories, in archive order
	byName  map[string]*dirMeta
	top     *dirMeta // the archive's "./" entry

	cwd     string // directory of the cached descriptor below
	cwdFile *os.File

	files, ndirs, symlinks, links, skipped int
	bytes                                  int64
}

func newExtractor(root *os.Root, log logger) *extractor {
	return &extractor{root: root, log: log, chown: os.Geteuid() == 0,
		dirs: map[string]bool{".": true}, byName: map[string]*dirMeta{}}
}

func (x *extractor) close() {
	if x.cwdFile != nil {
		x.cwdFile.Close()
		x.cwdFile = nil
	}
}

// ctxReader fails reads once ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// cleanName validates an archive name and returns it slash-separated and
// clean ("." for the root). Absolute names and ".." components are errors.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") || filepath.IsAbs(name) {
		return "", fmt.Errorf("absolute name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("name %q has a \"..\" component", name)
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("name %q has a NUL byte", name)
	}
	clean := path.Clean(name)
	if clean != "." && !filepath.IsLocal(clean) { // belt and braces: the standard library's check
		return "", fmt.Errorf("name %q is not local", name)
	}
	return clean, nil
}

// run extracts every entry of r, then applies the directories' metadata.
func (x *extractor) run(ctx context.Context, r io.Reader) error {
	defer x.close()
	tr := tar.NewReader(ctxReader{ctx, r})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the tar stream: %w", err)
		}
		if err := x.entry(ctx, tr, h); err != nil {
			return err
		}
	}
	x.close()
	// Directories last, deepest first, so that creating their contents does
	// not change their mtimes and a read-only directory was writable while
	// it was filled.
	for i := len(x.pending) - 1; i >= 0; i-- {
		if err := x.applyDir(x.pending[i]); err != nil {
			return err
		}
	}
	x.log.Info("uploads extracted", "files", x.files, "dirs", x.ndirs, "symlinks", x.symlinks, "hardlinks", x.links, "bytes", x.bytes, "skipped", x.skipped)
	return nil
}

func (x *extractor) entry(ctx context.Context, tr *tar.Reader, h *tar.Header) error {
	switch h.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	default:
		x.log.Warn("skipping an archive entry that is not a file, directory or link", "name", h.Name, "type", string(h.Typeflag))
		x.skipped++
		return nil
	}
	name, err := cleanName(h.Name)
	if err != nil {
		return fmt.Errorf("refusing the archive: %w", err)
	}
	meta := &dirMeta{name: name, mode: fs.FileMode(h.Mode).Perm() | tarModeBits(h.Mode), uid: h.Uid, gid: h.Gid, owner: true, mtime: h.ModTime}
	if name == "." {
		if h.Typeflag != tar.TypeDir {
			return fmt.Errorf("refusing the archive: its root entry %q is not a directory", h.Name)
		}
		x.top = meta
		return nil
	}
	if err := x.parents(name, true); err != nil {
		return err
	}
	isDir := h.Typeflag == tar.TypeDir
	existing, err := x.clear(name, isDir)
	if err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if !existing {
			if err := x.root.Mkdir(name, 0o700); err != nil {
				return err
			}
		}
		x.dirs[name] = true
		if old := x.byName[name]; old != nil {
			*old = *meta
		} else {
			x.byName[name] = meta
			x.pending = append(x.pending, meta)
		}
		x.ndirs++
	case tar.TypeReg, tar.TypeGNUSparse:
		if err := x.file(ctx, tr, name, meta); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if h.Linkname == "" {
			return fmt.Errorf("refusing the archive: symlink %q has no target", h.Name)
		}
		if err := x.root.Symlink(h.Linkname, name); err != nil {
			return err
		}
		if x.chown {
			if err := x.root.Lchown(name, h.Uid, h.Gid); err != nil {
				return err
			}
		}
		if err := x.setTimes(name, meta.mtime); err != nil {
			return err
		}
		x.symlinks++
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil || target == "." {
			return fmt.Errorf("refusing the archive: hard link %q to %q: target outside the archive", h.Name, h.Linkname)
		}
		if err := x.parents(target, false); err != nil {
			return err
		}
		fi, err := x.root.Lstat(target)
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("refusing the archive: hard link %q to %q: the target is not a file extracted before it", h.Name, h.Linkname)
		}
		if err := x.root.Link(target, name); err != nil {
			return err
		}
		x.links++
	}
	return nil
}

// tarModeBits converts tar's setuid/setgid/sticky bits to fs.FileMode.
func tarModeBits(m int64) fs.FileMode {
	var fm fs.FileMode
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// parents makes sure every parent of name is a real directory, not a
// symlink: directories missing from the archive are created (0755) when
// create is set.
func (x *extractor) parents(name string, create bool) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		p := name[:i]
		if x.dirs[p] {
			continue
		}
		fi, err := x.root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := x.root.Mkdir(p, 0o700); err != nil {
				return err
			}
			m := &dirMeta{name: p, mode: 0o755}
			x.byName[p] = m
			x.pending = append(x.pending, m)
		case err != nil:
			return fmt.Errorf("refusing the archive: entry %q: %w", name, err)
		case !fi.IsDir():
			return fmt.Errorf("refusing the archive: entry %q would be written through %q, which is a %s, not a directory",
				name, p, kindOf(fi.Mode()))
		}
		x.dirs[p] = true
	}
	return nil
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// clear makes room for an entry that appears a second time in the archive
// (tar semantics: the later one wins). A directory may be re-declared; any
// other existing entry, a symlink included, is removed, never written
// through. It reports whether a directory exists already.
func (x *extractor) clear(name string, isDir bool) (bool, error) {
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.IsDir() && isDir:
		return true, nil
	case fi.IsDir():
		return false, fmt.Errorf("refusing the archive: %q is both a directory and a non-directory", name)
	}
	delete(x.dirs, name)
	return false, x.root.Remove(name)
}

func (x *extractor) file(ctx context.Context, tr *tar.Reader, name string, m *dirMeta) error {
	// O_EXCL: never open an existing file (or a symlink's target).
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, tr)
	if err != nil {
		f.Close()
		return fmt.Errorf("extracting %s: %w", name, err)
	}
	if x.chown { // before chmod: chown clears setuid/setgid
		if err := f.Chown(m.uid, m.gid); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Chmod(m.mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("extracting %s: %w", name, err)
	}
	x.files++
	x.bytes += n
	return x.setTimes(name, m.mtime)
}

// applyDir sets a directory's owner, mode and mtime.
func (x *extractor) applyDir(m *dirMeta) error {
	if x.chown && m.owner {
		if err := x.root.Lchown(m.name, m.uid, m.gid); err != nil {
			return err
		}
	}
	if err := x.root.Chmod(m.name, m.mode); err != nil {
		return err
	}
	if !m.mtime.IsZero() {
		return x.setTimes(m.name, m.mtime)
	}
	return nil
}

// setTimes sets the mtime of name without following a symlink: os.Root has
// no Lchtimes, so it calls utimensat(AT_SYMLINK_NOFOLLOW) relative to the
// parent directory's descriptor, opened through the os.Root (its parents
// were checked to be real directories). The atime is left alone.
func (x *extractor) setTimes(name string, mtime time.Time) error {
	dir, base := path.Split(name)
	dir = path.Clean(dir + ".")
	if dir != x.cwd || x.cwdFile == nil {
		x.close()
		d, err := x.root.Open(dir)
		if err != nil {
			return err
		}
		x.cwd, x.cwdFile = dir, d
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(int(x.cwdFile.Fd()), base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

// extractInto extracts the tar stream r into the empty directory dir and
// reads r to its end: the SDK's reader returns io.EOF only after the
// source's successful trailer, so a nil error means the whole stream is
// good. The archive's root entry ("./") is applied to dir itself when
// applyRoot is set (else fallback is, if not nil); the root's metadata is
// returned either way.
func extractInto(ctx context.Context, dir string, r io.Reader, log logger, applyRoot bool, fallback *dirMeta) (*dirMeta, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	x := newExtractor(root, log)
	if err := x.run(ctx, r); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, ctxReader{ctx, r}); err != nil {
		return nil, fmt.Errorf("the stream did not end successfully: %w", err)
	}
	top := x.top
	if top == nil {
		top = fallback
	}
	if applyRoot && top != nil {
		m := *top
		m.name = "."
		if err := x.applyDir(&m); err != nil {
			return nil, err
		}
		x.close()
	}
	return top, nil
}
