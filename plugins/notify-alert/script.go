// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/sdk"
)

// scriptChannel is TimeTiles' send_alert: SCRIPT "Subject" "Body".
type scriptChannel struct {
	path    string
	argv    []string // argv before subject and body
	timeout time.Duration
	log     hclog.Logger
}

// maxScriptOutput bounds the script output kept for errors and logs.
const maxScriptOutput = 2048

// scriptEnvKeep are the variables of the plugin's own environment the script
// inherits. Nothing else is passed on, so that no credential in the host's
// environment (database or repository passwords, SMTP password) reaches it.
var scriptEnvKeep = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR"}

func newScriptChannel(cfg sdk.Config, log hclog.Logger) (channel, error) {
	path := strings.TrimSpace(cfg.Get(keyScript))
	if path == "" {
		// The default script counts only when it is installed.
		if fi, err := os.Stat(defaultScript); err != nil || fi.IsDir() {
			return nil, nil
		}
		path = defaultScript
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyScript, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s: %s is a directory", keyScript, path)
	}
	timeout, err := parseDuration(cfg, keyScriptTimeout, defaultScriptTimeout)
	if err != nil {
		return nil, err
	}
	c := &scriptChannel{path: path, argv: []string{path}, timeout: timeout, log: log}
	if fi.Mode()&0o111 == 0 {
		// An alert script that lost its executable bit still alerts.
		log.Warn("alert script is not executable: running it with /bin/sh (chmod +x it to use its own interpreter)", "script", path)
		c.argv = []string{"/bin/sh", path}
	}
	return c, nil
}

func (c *scriptChannel) name() string { return chScript }

func (c *scriptChannel) deliver(ctx context.Context, a alert) error {
	runCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	cmd := exec.CommandContext(runCtx, c.argv[0], append(c.argv[1:], a.Subject, a.Body)...)
	cmd.Env = scriptEnv(a)
	// Its own process group, so that a timeout kills what the script
	// started too (curl, mail, sleep); Pdeathsig kills it with the plugin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A background child that keeps stdout or stderr open must not hold
	// Notify past the script's own exit.
	cmd.WaitDelay = 2 * time.Second
	stdout, stderr := &tailBuffer{max: maxScriptOutput}, &tailBuffer{max: maxScriptOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		// Leave nothing of a failed or timed-out script behind.
		if err != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	if err == nil || (errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success()) {
		c.log.Debug("alert script succeeded", "script", c.path, "took", time.Since(start).Round(time.Millisecond),
			"stdout", stdout.String(), "stderr", stderr.String())
		return nil
	}

	detail := stderr.String()
	if detail == "" {
		detail = "no output on stderr"
	} else {
		detail = "stderr: " + detail
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: stopped: %v (%s)", c.path, context.Cause(ctx), detail)
	case runCtx.Err() != nil:
		return fmt.Errorf("%s: timed out after %s and was killed (%s)", c.path, c.timeout, detail)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("%s: killed by signal %s (%s)", c.path, ws.Signal(), detail)
		}
		return fmt.Errorf("%s: exit status %d (%s)", c.path, exitErr.ExitCode(), detail)
	}
	return fmt.Errorf("%s: %v (%s)", c.path, err, detail)
}

// scriptEnv is a minimal environment plus the alert's ALERT_* fields.
func scriptEnv(a alert) []string {
	var env []string
	for _, k := range scriptEnvKeep {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "PATH" {
			env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
		}
	}
	return append(env, a.env()...)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max   int
	buf   []byte
	total int64
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.total += int64(len(p))
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// String is the kept output, trimmed, marked when earlier output was cut.
func (t *tailBuffer) String() string {
	b := t.buf
	// Do not start in the middle of a UTF-8 sequence.
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if t.total > int64(len(t.buf)) {
		s = fmt.Sprintf("[…%d earlier bytes cut] %s", t.total-int64(len(t.buf)), s)
	}
	return s
}
