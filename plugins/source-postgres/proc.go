// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// stderrTail is how much of a child's stderr (and psql's stdout) is kept.
const stderrTail = 4 << 10

// waitDelay bounds how long Wait waits for a child's output pipes after it
// exited (a grandchild could hold them open).
const waitDelay = 5 * time.Second

// managedEnv are the libpq variables the plugin sets itself for direct mode;
// inherited values are dropped so the configuration alone decides.
var managedEnv = []string{"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"}

// connArgs are the arguments that name user and database.
func (s *Source) connArgs(db string) []string {
	if s.url != nil {
		return []string{"-d", s.url.String(s.user, db)}
	}
	return []string{"-U", s.user, "-d", db}
}

// command builds a child running a PostgreSQL tool: the tool itself (direct
// mode) or `docker exec -i [-e PGPASSWORD] CONTAINER tool …` (container
// mode). The password travels only in the environment: in container mode
// docker's argv holds the variable's name, and docker copies its value from
// its own environment into the container.
func (s *Source) command(ctx context.Context, tool string, args ...string) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	if s.container != "" {
		docker, err := exec.LookPath(s.docker)
		if err != nil {
			return nil, fmt.Errorf("docker CLI %q not found: install Docker or set BACKUP_DOCKER to its path: %w", s.docker, sdk.ErrUnavailable)
		}
		dargs := []string{"exec", "-i"}
		if s.password != "" {
			dargs = append(dargs, "-e", "PGPASSWORD")
		}
		dargs = append(append(dargs, s.container, tool), args...)
		cmd = exec.CommandContext(ctx, docker, dargs...)
		cmd.Env = withoutEnv(os.Environ(), "PGPASSWORD")
		if s.password != "" {
			cmd.Env = append(cmd.Env, "PGPASSWORD="+s.password)
		}
	} else {
		path, err := s.toolPath(tool)
		if err != nil {
			return nil, err
		}
		cmd = exec.CommandContext(ctx, path, args...)
		cmd.Env = withoutEnv(os.Environ(), managedEnv...)
		if s.host != "" {
			cmd.Env = append(cmd.Env, "PGHOST="+s.host)
		}
		if s.port != "" {
			cmd.Env = append(cmd.Env, "PGPORT="+s.port)
		}
		if s.password != "" {
			cmd.Env = append(cmd.Env, "PGPASSWORD="+s.password)
		}
	}
	// The child dies with the plugin, and with ctx (CommandContext kills it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = waitDelay
	return cmd, nil
}

func (s *Source) toolPath(tool string) (string, error) {
	if s.binDir != "" {
		return filepath.Join(s.binDir, tool), nil
	}
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: install the PostgreSQL client tools matching the server's major version, or set BACKUP_PG_BIN_DIR to their directory: %w", tool, sdk.ErrUnavailable)
	}
	return p, nil
}

// where names where a tool runs, for messages.
func (s *Source) where(tool string) string {
	if s.container != "" {
		return fmt.Sprintf("%s (in container %s)", tool, s.container)
	}
	return tool
}

func withoutEnv(env []string, names ...string) []string {
	out := make([]string, 0, len(env)+len(names))
outer:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue outer
			}
		}
		out = append(out, kv)
	}
	return out
}

// redact removes the password (as is and percent-encoded) from text that
// reaches an error or a log.
func (s *Source) redact(text string) string {
	if s.password == "" {
		return text
	}
	for _, p := range []string{s.password, url.QueryEscape(s.password), url.PathEscape(s.password), escape(s.password)} {
		text = strings.ReplaceAll(text, p, "********")
	}
	return text
}

// childError explains a failed child: its exit status, the tail of its
// stderr (redacted) and, where the message says so, the kind of failure.
func (s *Source) childError(tool string, err error, stderr *tail) error {
	msg := s.redact(strings.TrimSpace(stderr.String()))
	if msg == "" {
		msg = "no error output"
	}
	text := fmt.Sprintf("%s failed (%v): %s", s.where(tool), err, msg)
	if s.container != "" && (strings.Contains(msg, "No such container") || strings.Contains(msg, "is not running")) {
		text += fmt.Sprintf("; check that the PostgreSQL container is running (docker ps) and set BACKUP_DB_CONTAINER or COMPOSE_PROJECT_NAME to its name (now %s)", s.container)
		if names, err := s.runningPostgresContainers(); err == nil {
			if len(names) == 0 {
				text += "; no PostgreSQL container is running"
			} else {
				text += "; running PostgreSQL containers: " + strings.Join(names, ", ")
			}
		}
	}
	if kind := classify(msg); kind != nil {
		return fmt.Errorf("%s: %w", text, kind)
	}
	return errors.New(text)
}

// runningPostgresContainers lists the running containers whose name or
// image mentions postgres or postgis (as "NAME (IMAGE)"), for the message
// that the configured container is missing: the right name is usually
// among them (another compose project name, a -1 suffix).
func (s *Source) runningPostgresContainers() ([]string, error) {
	docker, err := exec.LookPath(s.docker)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker, "ps", "--format", "{{.Names}}\t{{.Image}}")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = waitDelay
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, image, _ := strings.Cut(line, "\t")
		low := strings.ToLower(line)
		if name != "" && (strings.Contains(low, "postgres") || strings.Contains(low, "postgis")) {
			names = append(names, fmt.Sprintf("%s (%s)", name, image))
		}
	}
	sort.Strings(names)
	return names, nil
}

// classify maps well-known libpq and docker messages to SDK error kinds.
func classify(msg string) error {
	switch {
	case strings.Contains(msg, "password authentication failed"),
		strings.Contains(msg, "no password supplied"),
		strings.Contains(msg, "authentication failed for user"):
		return sdk.ErrUnauthenticated
	case strings.Contains(msg, "Connection refused"),
		strings.Contains(msg, "could not translate host name"),
		strings.Contains(msg, "timeout expired"),
		strings.Contains(msg, "No such container"),
		strings.Contains(msg, "is not running"),
		strings.Contains(msg, "Cannot connect to the Docker daemon"),
		strings.Contains(msg, "the database system is starting up"),
		strings.Contains(msg, "the database system is shutting down"):
		return sdk.ErrUnavailable
	}
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.truncated {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}
