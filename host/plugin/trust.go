// SPDX-License-Identifier: Apache-2.0
package plugin

import (
	"errors"
	"os"

	"github.com/timetiles/timetiles-backup/internal/configerr"
	"github.com/timetiles/timetiles-backup/internal/rootonly"
)

// Root runs only root's code. Run as root, timetiles-backup starts a
// program — a plugin, restic, docker, pg_dump, the alert script, a restore
// hook — only when nobody but root can change which program that is:
//
//   - a plugin binary, and every directory on the way to it from /, must be
//     owned by root and not writable by its group or others (the rule of
//     sshd's StrictModes and sudo; internal/rootonly walks the path); a
//     directory others may write is accepted on the way only with the
//     sticky bit (/tmp), where nobody may rename or remove what root owns.
//     The plugin directory itself must not be writable by others at all;
//   - a variable naming a program or a command (config.ExecutableKeys, and
//     every key a plugin declares Executable) is taken from the env file
//     only when the env file passes the same rule; the process environment
//     (root's own) is always trusted (host/config/executables.go).
//
// Users other than root run what they can run anyway: nothing is checked.

// CheckPluginDir refuses, as root, a plugin directory that a user other
// than root could change. Other users: nil.
func CheckPluginDir(dir string) error {
	if !rootonly.Applies() {
		return nil
	}
	u, err := rootonly.Check(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing is found there
	}
	if err != nil {
		return configerr.Errorf("plugin directory %s cannot be checked: %v", dir, err)
	}
	if u != nil {
		return configerr.Errorf("plugin directory %s: %s. Run as root, timetiles-backup starts only programs that nobody but root can change: run `%s`", dir, u, u.Fix)
	}
	return nil
}

// CheckPluginBinary refuses, as root, a plugin binary that a user other
// than root could change or replace. Other users: nil.
func CheckPluginBinary(c Candidate) error {
	if !rootonly.Applies() {
		return nil
	}
	u, err := rootonly.Check(c.Path)
	if err != nil {
		return configerr.Errorf("plugin %s at %s cannot be checked: %v", c.Name, c.Path, err)
	}
	if u != nil {
		return configerr.Errorf("plugin %s at %s is refused: %s. Run as root, timetiles-backup starts only programs that nobody but root can change: run `%s`, or install the plugin in a directory only root may write", c.Name, c.Path, u, u.Fix)
	}
	return nil
}
