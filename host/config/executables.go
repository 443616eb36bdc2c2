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

// WrittenPathKeys are the variables naming a file or a directory that
// root writes to: the job log, the metrics file, the cron file and systemd
// units of `backup auto`, the state directory (run locks, state file) and
// notify-alert's alert log. Whoever could set one could have root
// overwrite any file (a cron file, a systemd unit), so as root they are
// taken from the env file only when it is root's alone, like
// ExecutableKeys (CheckWrittenPaths). A third-party plugin marks its own
// with sdk.ConfigKey.WrittenPath; a test keeps this list equal to what the
// host and the bundled plugins declare.
var WrittenPathKeys = []string{
	EnvLogFile, EnvMetricsFile, EnvCronFile, EnvSystemdDir, EnvStateDir, "BACKUP_ALERT_LOG",
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
