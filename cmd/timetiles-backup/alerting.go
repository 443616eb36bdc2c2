// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
)

// Alerting rules, the same for every command that alerts (backup, restore,
// verify, prune):
//
//   - Every failure alerts, early ones included: a configuration error, a
//     missing password, a plugin that will not start. When the
//     configuration itself cannot be read (a broken env file), the alert
//     goes through the notifiers the process environment configures
//     (default notify-alert: the alert script when installed, else its log
//     file) — a notifier that can be loaded is used.
//   - Usage errors (a wrong flag, a missing argument, restore without
//     --yes off a terminal) do not alert: nothing was attempted, and the
//     exit code 2 and the message reach whoever typed it.
//   - A lock conflict (another run holds the run lock) alerts once per
//     holder: a hung run is heard of, an hourly cron job does not make an
//     alert storm (host.Runner.LockAlertDue).
//   - Expected permission denials of write-only offsite keys never alert;
//     the callers leave those out.
//   - A notifier failure is logged and never changes the exit code or hides
//     the original error.

// alertFailure raises the event kind for a failed command. r may be nil
// when the configuration could not be loaded.
func (m *Meta) alertFailure(r *host.Runner, kind, component, runID string, err error) {
	if err == nil {
		return
	}
	var ue *usageErr
	if errors.As(err, &ue) {
		return
	}
	if r == nil {
		r = m.fallbackRunner()
		defer r.Close()
	}
	if !r.LockAlertDue(err) {
		return
	}
	_, _ = r.Notify(m.Ctx, r.NewEvent(kind, component, runID, err))
}

// interrupted says in err (what the operator and the alert read) that a
// signal stopped the command, when one did.
func (m *Meta) interrupted(err error) error {
	if err == nil || m.Ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("interrupted by a signal (SIGINT/SIGTERM), nothing of this run was committed: %w", err)
}

// configOrEnvironment is the full configuration, or the process
// environment alone when the env file cannot be read: what alerts and
// health check pings still go by when a command cannot start.
func (m *Meta) configOrEnvironment() *config.Config {
	cfg, err := config.LoadConfig(m.envFile, os.Environ())
	if err != nil {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		cfg = config.NewConfig(env)
	}
	return cfg
}

// fallbackRunner is a runner for alerting when Meta.Runner failed: the full
// configuration when only a later check failed (e.g. the log level),
// otherwise the process environment alone (the env file is unreadable).
func (m *Meta) fallbackRunner() *host.Runner {
	cfg := m.configOrEnvironment()
	log := hclog.New(&hclog.LoggerOptions{Name: "timetiles-backup", Output: m.Stderr, Level: hclog.Info, Exclude: plugin.QuietLifecycle})
	return host.NewRunner(cfg, log, m.pluginDir)
}
