// SPDX-License-Identifier: Apache-2.0

// Package rootonly tells whether nobody but root can change a path: a
// plugin binary, a plugin directory, the env file that names programs.
// Run as root, timetiles-backup starts a program only when nobody but root
// can change which program that is (the rule of sshd's StrictModes and
// sudo):
//
//   - the path, and every directory on the way to it from /, must be owned
//     by root and not writable by its group or others; a directory others
//     may write is accepted on the way only with the sticky bit (/tmp),
//     where nobody may rename or remove what root owns;
//   - symbolic links are followed, and each must be owned by root as well.
//
// host/config applies it to the env file, host/plugin/trust.go to plugins.
package rootonly

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Applies reports whether the checks apply: this process runs as root.
// Users other than root run what they can run anyway: nothing is checked.
func Applies() bool { return os.Geteuid() == 0 }

// Problem says who else could change a path and how to stop that.
type Problem struct {
	// Path is the element at fault: the file, or a directory or symbolic
	// link on the way to it.
	Path   string
	Reason string
	Fix    string
}

func (u *Problem) String() string {
	return u.Path + " " + u.Reason
}

// Check walks path from / and returns the first element that a user
// other than root could change (see the package comment), or nil.
// Symbolic links are followed, and each must be owned by root as well.
func Check(path string) (*Problem, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat("/")
	if err != nil {
		return nil, err
	}
	if u := element("/", fi, abs == "/"); u != nil {
		return u, nil
	}
	cur, todo, links := "/", splitPath(abs), 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // cur has no symbolic links: this is the real parent
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if u := element(next, fi, false); u != nil {
				return u, nil
			}
			if links++; links > 40 {
				return nil, fmt.Errorf("%s: too many levels of symbolic links", path)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return nil, err
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		if u := element(next, fi, len(todo) == 0); u != nil {
			return u, nil
		}
		cur = next
	}
	return nil, nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// element checks one element: owned by root; not writable by group
// or others, unless it is a sticky directory on the way (not the last
// element). Symbolic links' own modes mean nothing.
func element(p string, fi os.FileInfo, last bool) *Problem {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	var reasons, fixes []string
	if st.Uid != 0 {
		reasons = append(reasons, "is owned by "+userName(st.Uid)+", not root")
		fixes = append(fixes, "chown root:root "+p)
	}
	perm := fi.Mode().Perm()
	sticky := fi.IsDir() && fi.Mode()&os.ModeSticky != 0
	if fi.Mode()&os.ModeSymlink == 0 && perm&0o022 != 0 && (last || !sticky) {
		who := "others"
		switch {
		case perm&0o020 != 0 && perm&0o002 != 0:
			who = "its group and others"
		case perm&0o020 != 0:
			who = "its group"
		}
		reasons = append(reasons, fmt.Sprintf("is writable by %s (mode %04o)", who, perm))
		fixes = append(fixes, "chmod go-w "+p)
	}
	if len(reasons) == 0 {
		return nil
	}
	return &Problem{Path: p, Reason: strings.Join(reasons, " and "), Fix: strings.Join(fixes, " && ")}
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return "user " + u.Username + " (uid " + strconv.Itoa(int(uid)) + ")"
	}
	return "uid " + strconv.Itoa(int(uid))
}
