// SPDX-License-Identifier: Apache-2.0
package host

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Root runs only root's code. Run as root, timetiles-backup starts a
// program — a plugin, restic, docker, pg_dump, the alert script, a restore
// hook — only when nobody but root can change which program that is:
//
//   - a plugin binary, and every directory on the way to it from /, must be
//     owned by root and not writable by its group or others (the rule of
//     sshd's StrictModes and sudo); a directory others may write is
//     accepted on the way only with the sticky bit (/tmp), where nobody may
//     rename or remove what root owns. The plugin directory itself must not
//     be writable by others at all;
//   - a variable naming a program or a command (ExecutableKeys, and every
//     key a plugin declares Executable) is taken from the env file only
//     when the env file passes the same rule; the process environment
//     (root's own) is always trusted;
//   - so is a variable naming a file or directory root writes to
//     (WrittenPathKeys): whoever could set it could have root overwrite
//     any file (a cron file, a systemd unit, /etc/shadow).
//
// Users other than root run what they can run anyway: nothing is checked.

// runningAsRoot reports whether the checks apply.
func runningAsRoot() bool { return os.Geteuid() == 0 }

// ExecutableKeys are the variables the host and the bundled plugins read
// that name a program, a directory of programs or a shell command run by
// this process or its plugins. (A third-party plugin marks its own with
// sdk.ConfigKey.Executable; a test keeps this list equal to what the
// bundled plugins declare.)
var ExecutableKeys = []string{
	EnvPluginDir, EnvSearchPath, EnvPreRestoreCommand, EnvPostRestoreCommand,
	"BACKUP_RESTIC_BIN", "BACKUP_DOCKER", "BACKUP_PG_BIN_DIR", "TIMETILES_ALERT_SCRIPT",
}

// WrittenPathKeys are the variables naming a file or a directory that
// root writes to: the job log, the metrics file, the cron file and systemd
// units of `backup auto`, the state directory (run locks, state file) and
// notify-alert's alert log. As root they are taken from the env file only
// when it is root's alone, like ExecutableKeys.
var WrittenPathKeys = []string{
	EnvLogFile, EnvMetricsFile, EnvCronFile, EnvSystemdDir, EnvStateDir, "BACKUP_ALERT_LOG",
}

// notRootOnly says who else could change a path and how to stop that.
type notRootOnly struct {
	// Path is the element at fault: the file, or a directory or symbolic
	// link on the way to it.
	Path   string
	Reason string
	Fix    string
}

func (u *notRootOnly) String() string {
	return u.Path + " " + u.Reason
}

// checkRootOnly walks path from / and returns the first element that a user
// other than root could change (see the package comment above), or nil.
// Symbolic links are followed, and each must be owned by root as well.
func checkRootOnly(path string) (*notRootOnly, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat("/")
	if err != nil {
		return nil, err
	}
	if u := rootOnlyElement("/", fi, abs == "/"); u != nil {
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
			if u := rootOnlyElement(next, fi, false); u != nil {
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
		if u := rootOnlyElement(next, fi, len(todo) == 0); u != nil {
			return u, nil
		}
		cur = next
	}
	return nil, nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// rootOnlyElement checks one element: owned by root; not writable by group
// or others, unless it is a sticky directory on the way (not the last
// element). Symbolic links' own modes mean nothing.
func rootOnlyElement(p string, fi os.FileInfo, last bool) *notRootOnly {
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
	return &notRootOnly{Path: p, Reason: strings.Join(reasons, " and "), Fix: strings.Join(fixes, " && ")}
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return "user " + u.Username + " (uid " + strconv.Itoa(int(uid)) + ")"
	}
	return "uid " + strconv.Itoa(int(uid))
}

// CheckPluginDir refuses, as root, a plugin directory that a user other
// than root could change. Other users: nil.
func CheckPluginDir(dir string) error {
	if !runningAsRoot() {
		return nil
	}
	u, err := checkRootOnly(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing is found there
	}
	if err != nil {
		return Configf("plugin directory %s cannot be checked: %v", dir, err)
	}
	if u != nil {
		return Configf("plugin directory %s: %s. Run as root, timetiles-backup starts only programs that nobody but root can change: run `%s`", dir, u, u.Fix)
	}
	return nil
}

// CheckPluginBinary refuses, as root, a plugin binary that a user other
// than root could change or replace. Other users: nil.
func CheckPluginBinary(c Candidate) error {
	if !runningAsRoot() {
		return nil
	}
	u, err := checkRootOnly(c.Path)
	if err != nil {
		return Configf("plugin %s at %s cannot be checked: %v", c.Name, c.Path, err)
	}
	if u != nil {
		return Configf("plugin %s at %s is refused: %s. Run as root, timetiles-backup starts only programs that nobody but root can change: run `%s`, or install the plugin in a directory only root may write", c.Name, c.Path, u, u.Fix)
	}
	return nil
}

// envFileProblem says, as root, why the env file is not root's alone, or
// nil (also for other users).
func envFileProblem(path string) *notRootOnly {
	if path == "" || !runningAsRoot() {
		return nil
	}
	u, err := checkRootOnly(path)
	if err != nil {
		return &notRootOnly{Path: path, Reason: "cannot be checked (" + err.Error() + ")", Fix: "chown root:root " + path + " && chmod 600 " + path}
	}
	return u
}

// CheckExecutable refuses the keys among keys that name a program or a
// command, are set in the env file (not overridden by the environment)
// and come from an env file that a user other than root could change,
// when this process runs as root. The error names the keys, the file, what
// is wrong with it and both fixes.
func (c *Config) CheckExecutable(keys []string) error {
	return c.checkFromRootOnlyFile(keys, "names a program or command that root would run", "name programs or commands that root would run", "takes programs and commands")
}

// CheckWrittenPaths is CheckExecutable for the keys naming a path root
// writes to (WrittenPathKeys).
func (c *Config) CheckWrittenPaths(keys []string) error {
	return c.checkFromRootOnlyFile(keys, "names a path that root would write to", "name paths that root would write to", "takes the paths it writes to")
}

// checkFromRootOnlyFile refuses, as root, the keys set in an env file that
// others could change; one and many say what such keys are, takes what
// root takes only from a file of its own.
func (c *Config) checkFromRootOnlyFile(keys []string, one, many, takes string) error {
	if c.EnvFile == "" || c.fileProblem == nil {
		return nil
	}
	var bad []string
	for _, k := range keys {
		if v := c.values[k]; v != "" && c.Origin(k) == "file "+c.EnvFile && !slices.Contains(bad, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	u := c.fileProblem
	names := strings.Join(bad, ", ")
	what := "which " + one
	if len(bad) > 1 {
		what = "which " + many
	}
	return Configf("env file %s sets %s, %s, but %s. Run as root, timetiles-backup %s only from an env file that nobody but root can change: run `%s` (and chmod 600 %s), or set %s in root's own environment instead (the cron job or systemd unit)",
		c.EnvFile, names, what, u, takes, u.Fix, c.EnvFile, names)
}
