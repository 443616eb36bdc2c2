// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
)

// The dead-man's switch (BACKUP_HEALTHCHECK_URL, host.Healthcheck): backup,
// prune and verify ping URL/start when they start and URL or URL/fail when
// they end, with what the command printed as the body. Usage errors (a
// wrong flag) and dry runs ping nothing: nothing ran.

// pinged runs job between the health check's start and end pings.
func (m *Meta) pinged(job string, run func() error) error {
	hc := m.healthcheck()
	if hc == nil {
		return run()
	}
	hc.Start(m.Ctx, job)
	rec := &recordingUI{Ui: m.UI}
	m.UI = rec
	err := run()
	code := m.ExitCode(err)
	m.UI = rec.Ui
	status := map[int]string{ExitOK: "ok", ExitFailure: "failed", ExitUsage: "configuration error", ExitInterrupted: "interrupted"}[code]
	hc.Done(m.Ctx, code == ExitOK, fmt.Sprintf("timetiles-backup %s: exit %d (%s)\n\n%s", job, code, status, rec.text()))
	return err
}

// healthcheck reads BACKUP_HEALTHCHECK_URL from the configuration (the
// process environment alone when the env file cannot be read, as for
// alerts). A URL that is not one is a warning, never a reason not to back
// up: the check then misses its pings and alerts.
func (m *Meta) healthcheck() *host.Healthcheck {
	cfg := m.configOrEnvironment()
	log := hclog.New(&hclog.LoggerOptions{Name: "timetiles-backup", Output: m.Stderr, Level: hclog.Info})
	secrets := cfg.Secrets(func(k string) bool {
		return config.IsSecretKey(k) || k == config.EnvHealthcheckURL || k == "AWS_SECRET_ACCESS_KEY"
	})
	hc, err := host.NewHealthcheck(cfg, log, func(s string) string { return config.Scrub(s, secrets) })
	if err != nil {
		m.UI.Warn("Warning: " + err.Error() + "; no health check ping is sent")
		return nil
	}
	return hc
}

// recordingUI passes everything on and keeps a copy: the summary the
// health check's end ping carries.
type recordingUI struct {
	cli.Ui
	mu sync.Mutex
	b  strings.Builder
}

func (u *recordingUI) keep(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.b.Len() < 2*host.HealthcheckMaxBody {
		u.b.WriteString(s)
		u.b.WriteByte('\n')
	}
}

func (u *recordingUI) text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.b.String()
}

func (u *recordingUI) Output(s string) { u.keep(s); u.Ui.Output(s) }
func (u *recordingUI) Info(s string)   { u.keep(s); u.Ui.Info(s) }
func (u *recordingUI) Warn(s string)   { u.keep(s); u.Ui.Warn(s) }
func (u *recordingUI) Error(s string)  { u.keep(s); u.Ui.Error(s) }
