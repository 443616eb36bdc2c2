// SPDX-License-Identifier: Apache-2.0

package config

import (
	"slices"
	"strings"

	"github.com/timetiles/timetiles-backup/internal/rootonly"
)

// ExecutableKeys are the variables the host and the bundled plugins read
// that name a program, a directory of programs or a shell command run by
// this process or its plugins. (A third-party plugin marks its own with
// sdk.ConfigKey.Executable; a test keeps this list equal to what the
// bundled plugins declare.) Run as root, such a variable is taken from the
// env file only when nobody but root can change that file
// (CheckExecutable); the process environment (root's own) is always
// trusted.
var ExecutableKeys = []string{
	EnvPluginDir, EnvSearchPath, EnvPreRestoreCommand, EnvPostRestoreCommand,
	"BACKUP_RESTIC_BIN", "BACKUP_DOCKER", "BACKUP_PG_BIN_DIR", "TIMETILES_ALERT_SCRIPT",
}

// envFileProblem says, as root, why the env file is not root's alone, or
// nil (also for other users).
func envFileProblem(path string) *rootonly.Problem {
	if path == "" || !rootonly.Applies() {
		return nil
	}
	u, err := rootonly.Check(path)
	if err != nil {
		return &rootonly.Problem{Path: path, Reason: "cannot be checked (" + err.Error() + ")", Fix: "chown root:root " + path + " && chmod 600 " + path}
	}
	return u
}

// CheckExecutable refuses the keys among keys that name a program or a
// command, are set in the env file (not overridden by the environment)
// and come from an env file that a user other than root could change,
// when this process runs as root. The error names the keys, the file, what
// is wrong with it and both fixes.
func (c *Config) CheckExecutable(keys []string) error {
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
	what := "which names a program or command"
	if len(bad) > 1 {
		what = "which name programs or commands"
	}
	return Configf("env file %s sets %s, %s that root would run, but %s. Run as root, timetiles-backup takes programs and commands only from an env file that nobody but root can change: run `%s` (and chmod 600 %s), or set %s in root's own environment instead (the cron job or systemd unit)",
		c.EnvFile, names, what, u, u.Fix, c.EnvFile, names)
}
