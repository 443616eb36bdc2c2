// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

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
