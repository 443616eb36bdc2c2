// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"

	"github.com/timetiles/timetiles-backup/host/config"
)

// envModeWarned keeps the env file warning to once per process.
var envModeWarned bool

// LoadConfig reads the effective configuration (env file + environment) and
// warns, on every command, when the env file may be read by other users.
func (m *Meta) LoadConfig() (*config.Config, error) {
	cfg, err := config.LoadConfig(m.envFile, os.Environ())
	if err != nil {
		return nil, err
	}
	if w := config.EnvFileModeWarning(cfg.EnvFile); w != "" && !envModeWarned {
		envModeWarned = true
		m.UI.Warn("Warning: " + w)
	}
	return cfg, nil
}
