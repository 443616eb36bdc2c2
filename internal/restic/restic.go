// SPDX-License-Identifier: Apache-2.0

// Package restic drives the restic command-line program.
//
// Every method runs one (sometimes two) restic processes. The rules it keeps:
//
//   - Secrets only travel in the child's environment (RESTIC_PASSWORD or
//     RESTIC_PASSWORD_FILE, Repo.Env for AWS_* and the like), never in argv.
//     The repository location is passed as RESTIC_REPOSITORY too, because
//     rest: URLs may carry credentials.
//   - The child environment is built from scratch: PATH, HOME, TMPDIR,
//     XDG_CACHE_HOME and TZ from this process (when set), then Repo.Env, then
//     the repository and password. Nothing else of the parent leaks through.
//   - Children run in their own process group with Pdeathsig=SIGKILL (they die
//     with this process); on context cancellation the group gets SIGINT
//     (restic then removes its lock and, for a backup, writes no snapshot)
//     and the process gets SIGKILL after Repo.KillGrace.
//   - stderr is captured (bounded), secrets are replaced by "[redacted]" line
//     by line before anything is stored, logged or put into an error, and the
//     failure is classified into a Kind (see classify).
//
// Each restic command costs about 0.8 s of key derivation before it does any
// work; methods avoid extra invocations where they can.
//
// restic 0.16.4 (the supported floor, Ubuntu 24.04) and 0.18.1 differ in
// ways this package hides (all verified by the tests against both):
//
//   - Exit codes: 0.16 exits 1 for a missing repository, a lock conflict and
//     a wrong password; 0.17 added 10 and 11, 0.17.1 added 12. The texts
//     (see errors.go) are recognised on every version.
//   - With --json, 0.18 ends a failure with {"message_type":"exit_error",…}
//     on stderr; 0.16 prints plain text (with Go stack traces for some
//     backend errors).
//   - SIGINT: 0.16 exits 130 promptly even while reading stdin; 0.18 blocked
//     in read(stdin) only notices when the read returns, so it needs SIGKILL
//     (and then leaves a stale lock).
//   - Directory backups (cwd = dir, source "."): identical in both — paths
//     [abs dir], content at the tree's root. Both refuse an empty directory
//     with "snapshot is empty" (see emptyDirMarker).
//   - `<snapshot>:<subfolder>` works in both; `restore --delete` only in
//     ≥ 0.17 (emulated for 0.16, see Restore).
package restic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Repo is one restic repository and the way to reach it.
type Repo struct {
	// Binary is the restic executable (default "restic", looked up in PATH).
	Binary string
	// Repository is restic's repository location (path, "s3:…", "rest:…", …).
	Repository string
	// Password or PasswordFile opens the repository. Exactly one should be
	// set (Password wins); they reach restic only through its environment.
	Password     string
	PasswordFile string
	// Env is extra child environment ("AWS_ACCESS_KEY_ID=…",
	// "AWS_SECRET_ACCESS_KEY=…", "RESTIC_CACHE_DIR=…"). Its values are
	// treated as secrets: never logged and scrubbed from errors.
	Env []string
	// Host is the default --host for backups. Filters (Snapshots, Forget)
	// use only the host given in their options.
	Host string
	// Logger receives debug logs of every invocation (may be nil).
	Logger hclog.Logger
	// RetryLock, if > 0, is passed as --retry-lock to commands that lock
	// the repository: restic then waits that long for a conflicting lock.
	RetryLock time.Duration
	// KillGrace is how long a cancelled restic gets between SIGINT and
	// SIGKILL (default 5 s). restic ≥ 0.17 reading stdin does not react to
	// SIGINT until its read returns, so BackupStdin uses the shorter
	// StdinKillGrace.
	KillGrace time.Duration

	// startHook, if set (tests), is called with every command once started.
	startHook func(*exec.Cmd)
}

const defaultKillGrace = 5 * time.Second

func (r *Repo) binary() string {
	if r.Binary == "" {
		return "restic"
	}
	return r.Binary
}

func (r *Repo) log() hclog.Logger {
	if r.Logger == nil {
		return hclog.NewNullLogger()
	}
	return r.Logger
}

func (r *Repo) killGrace() time.Duration {
	if r.KillGrace > 0 {
		return r.KillGrace
	}
	return defaultKillGrace
}

var lookPath = exec.LookPath

// invocation describes one restic run.
type invocation struct {
	op     string   // sub-command name for errors and logs
	args   []string // sub-command and its arguments
	json   bool     // add the global --json flag
	lock   bool     // the command locks the repository: add --retry-lock
	noLock bool     // add --no-lock (read-only commands that need no lock)
	noRepo bool     // no repository / password needed (version)
	// noPassword: the repository but no password (Probe); restic then
	// asks stdin (/dev/null) for one only after it found the repository.
	noPassword bool
	secrets    []string // more values to scrub (e.g. the source repository's password)
	// giveUpOnRetry stops restic (ErrRetrying) at its giveUpAfterRetries-th
	// "returned error, retrying" line: for a quick check that would rather not wait
	// out restic's backend retries (up to 15 minutes, e.g. for a wrong S3
	// secret key, which restic does not treat as permanent).
	giveUpOnRetry bool
	dir           string
	stdin         *os.File  // nil: /dev/null
	stdout        io.Writer // nil: captured into result.stdout
	env           []string  // extra environment
	// killGrace, when > 0 and shorter than Repo's, is this command's time
	// between SIGINT and SIGKILL.
	killGrace time.Duration
}

type result struct {
	exitCode int
	stdout   []byte
	stderr   *stderrCapture
}

// childEnv builds the minimal environment of a child.
func (r *Repo) childEnv(inv invocation) ([]string, error) {
	env := make([]string, 0, 8+len(r.Env))
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "XDG_CACHE_HOME", "TZ"} {
		// TZ: restic interprets --time and forget's day/week/month buckets in
		// its local time zone; keep it identical to ours.
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("PATH"); !ok {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	passwordSet := false
	for _, kv := range r.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			// Do not echo kv: it may be a secret.
			return nil, fmt.Errorf("restic: Repo.Env entry without KEY=: %q", redact(kv))
		}
		switch k {
		case "RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE":
			if r.Repository != "" {
				continue // the field wins
			}
		case "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND":
			if r.Password != "" || r.PasswordFile != "" || inv.noPassword {
				continue // the field wins
			}
			passwordSet = true
		}
		env = append(env, kv)
	}
	env = append(env, inv.env...)
	if inv.noRepo {
		return env, nil
	}
	if r.Repository == "" && !hasKey(r.Env, "RESTIC_REPOSITORY") && !hasKey(r.Env, "RESTIC_REPOSITORY_FILE") {
		return nil, errors.New("restic: no repository configured")
	}
	if r.Repository != "" {
		env = append(env, "RESTIC_REPOSITORY="+r.Repository)
	}
	switch {
	case inv.noPassword:
	case r.Password != "":
		env = append(env, "RESTIC_PASSWORD="+r.Password)
	case r.PasswordFile != "":
		env = append(env, "RESTIC_PASSWORD_FILE="+r.PasswordFile)
	case !passwordSet:
		// Without a password restic would read one from stdin.
		return nil, errors.New("restic: no password configured (Repo.Password or Repo.PasswordFile)")
	}
	return env, nil
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

func redact(kv string) string {
	if k, _, ok := strings.Cut(kv, "="); ok {
		return k + "=[redacted]"
	}
	return "[redacted]"
}

func (r *Repo) globalArgs(inv invocation) []string {
	var a []string
	if inv.json {
		a = append(a, "--json")
	}
	if inv.noLock {
		a = append(a, "--no-lock")
	} else if inv.lock && r.RetryLock > 0 {
		a = append(a, "--retry-lock", r.RetryLock.String())
	}
	return a
}

// process is a started restic.
type process struct {
	r       *Repo
	inv     invocation
	cmd     *exec.Cmd
	ctx     context.Context // cancelled ⇒ restic gets SIGINT, then SIGKILL
	cancel  context.CancelCauseFunc
	stdout  *bytes.Buffer
	stderr  *stderrCapture
	scrub   *scrubber
	started time.Time
}

func (r *Repo) start(ctx context.Context, inv invocation) (*process, error) {
	env, err := r.childEnv(inv)
	if err != nil {
		return nil, &Error{Op: inv.op, ExitCode: -1, Message: err.Error()}
	}
	sc := r.scrubber()
	for _, v := range inv.secrets {
		sc.add(v, 1)
	}
	args := append(r.globalArgs(inv), inv.args...)

	cctx, cancel := context.WithCancelCause(ctx)
	cmd := exec.CommandContext(cctx, r.binary(), args...)
	cmd.Env = env
	cmd.Dir = inv.dir
	// Own process group: a terminal's Ctrl-C does not reach restic directly
	// (we decide when to interrupt it), and we can signal the whole group.
	// Pdeathsig: restic dies with us (the signal is tied to the forking OS
	// thread, which the Go runtime keeps alive).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		// SIGINT: restic cancels its context, removes its lock and exits
		// 130 (or 1 with "context canceled"); a backup writes no snapshot.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	// After WaitDelay exec sends SIGKILL and closes the I/O pipes.
	cmd.WaitDelay = r.killGrace()
	if inv.killGrace > 0 && inv.killGrace < cmd.WaitDelay {
		cmd.WaitDelay = inv.killGrace
	}
	if inv.stdin != nil {
		cmd.Stdin = inv.stdin // an *os.File is handed to the child as is
	}
	p := &process{r: r, inv: inv, cmd: cmd, ctx: cctx, cancel: cancel, scrub: sc}
	if inv.stdout != nil {
		cmd.Stdout = inv.stdout
	} else {
		p.stdout = &bytes.Buffer{}
		cmd.Stdout = p.stdout
	}
	p.stderr = newStderrCapture(sc, r.log().With("op", inv.op))
	if inv.giveUpOnRetry {
		retries := 0
		p.stderr.onLine = func(line string) {
			// A passing fault (a server starting, a key not yet known
			// to it) clears within restic's first retries (0.5 s, 1.5 s,
			// 5 s, 7 s apart): give up only when it persists.
			if retryRE.MatchString(line) {
				if retries++; retries >= giveUpAfterRetries {
					p.interrupt(fmt.Errorf("%w: %s", ErrRetrying, line))
				}
			}
		}
	}
	cmd.Stderr = p.stderr

	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		cancel(nil)
		return nil, &Error{Op: inv.op, ExitCode: -1, Message: sc.scrub(err.Error()), Err: err}
	}
	if r.startHook != nil {
		r.startHook(cmd)
	}
	r.log().Debug("restic started", "op", inv.op, "args", sc.scrubAll(args), "dir", inv.dir, "pid", cmd.Process.Pid)
	return p, nil
}

// interrupt asks restic to stop (SIGINT now, SIGKILL after KillGrace).
func (p *process) interrupt(cause error) { p.cancel(cause) }

// wait waits for restic and turns its exit into a result or an *Error.
func (p *process) wait() (*result, error) {
	werr := p.cmd.Wait()
	defer p.cancel(nil)
	p.stderr.flush()
	res := &result{exitCode: -1, stderr: p.stderr}
	if p.stdout != nil {
		res.stdout = p.stdout.Bytes()
	}
	st := p.cmd.ProcessState
	signaled := false
	if st != nil {
		res.exitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			signaled = true
		}
	}
	log := p.r.log()
	log.Debug("restic exited", "op", p.inv.op, "exit_code", res.exitCode, "signaled", signaled,
		"duration", time.Since(p.started).Round(time.Millisecond))
	if res.exitCode == 0 && werr != nil && p.ctx.Err() != nil && errors.Is(werr, p.ctx.Err()) {
		// restic completed before our interrupt took effect: its work
		// (e.g. a committed snapshot) stands.
		werr = nil
	}
	if res.exitCode == 0 && werr == nil {
		if w := p.stderr.warnings(); len(w) > 0 {
			log.Warn("restic succeeded with messages on stderr", "op", p.inv.op, "messages", strings.Join(limitLines(w, 10), "\n"))
		}
		return res, nil
	}
	e := &Error{Op: p.inv.op, ExitCode: res.exitCode, Message: p.stderr.message()}
	switch {
	case res.exitCode == 0:
		// restic succeeded but copying its output failed (e.g. Dump's writer).
		e.Message = p.scrub.scrub(werr.Error())
		e.Err = werr
	case p.ctx.Err() != nil:
		if signaled {
			log.Debug("restic did not stop on SIGINT: killed (SIGKILL) after the grace", "op", p.inv.op, "kill_grace", p.cmd.WaitDelay.String())
		}
		// We interrupted it (context cancelled or stdin source failed):
		// whatever restic said (0.16: exit 130; 0.18 reading stdin: exit 1
		// "context canceled", or SIGKILL), nothing was committed.
		e.Kind = KindInterrupted
		e.Err = context.Cause(p.ctx)
	case signaled:
		e.Kind = KindInterrupted
		if e.Message == "" {
			e.Message = st.String()
		}
	default:
		e.Kind = classify(res.exitCode, p.stderr.text())
	}
	if e.Message == "" && e.Err == nil {
		e.Message = "no error message"
	}
	return res, e
}

// run starts restic and waits for it.
func (r *Repo) run(ctx context.Context, inv invocation) (*result, error) {
	p, err := r.start(ctx, inv)
	if err != nil {
		return nil, err
	}
	return p.wait()
}

// ---------------------------------------------------------------------------
// secrets

// scrubber replaces secrets (and their URL/JSON-escaped forms) by "[redacted]".
type scrubber struct{ secrets []string }

const redacted = "[redacted]"

var secretKeyRE = regexp.MustCompile(`(?i)SECRET|PASSW|TOKEN|KEY|CREDENTIAL|SESSION|AUTH`)

// add scrubs v (and its escaped forms) when it is at least minLen long.
func (s *scrubber) add(v string, minLen int) {
	if len(v) < minLen {
		return
	}
	s.secrets = append(s.secrets, v)
	for _, alt := range []string{url.QueryEscape(v), url.PathEscape(v), jsonEscape(v)} {
		if alt != v {
			s.secrets = append(s.secrets, alt)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
}

func (r *Repo) scrubber() *scrubber {
	s := &scrubber{}
	add := s.add
	add(r.Password, 1)
	if r.PasswordFile != "" {
		if b, err := os.ReadFile(r.PasswordFile); err == nil {
			add(strings.TrimRight(string(b), "\r\n"), 1)
		}
	}
	for _, kv := range r.Env {
		k, v, _ := strings.Cut(kv, "=")
		if secretKeyRE.MatchString(k) {
			add(v, 1)
		} else {
			add(v, 4) // short non-secret values ("1", "off") would garble messages
		}
	}
	if u, err := url.Parse(strings.TrimPrefix(strings.TrimPrefix(r.Repository, "rest:"), "s3:")); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw, 1)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
	return s
}

func jsonEscape(v string) string {
	b, _ := json.Marshal(v)
	return string(b[1 : len(b)-1])
}

func (s *scrubber) scrub(str string) string {
	for _, sec := range s.secrets {
		if strings.Contains(str, sec) {
			str = strings.ReplaceAll(str, sec, redacted)
		}
	}
	return str
}

func (s *scrubber) scrubAll(a []string) []string {
	out := make([]string, len(a))
	for i, v := range a {
		out[i] = s.scrub(v)
	}
	return out
}

// ---------------------------------------------------------------------------
// stderr

const maxStderr = 256 << 10 // bytes of stderr lines kept (the tail)

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// stderrCapture collects restic's stderr: scrubbed lines (bounded, the tail
// is kept), the exit_error message of restic ≥ 0.18 (`{"message_type":
// "exit_error","code":N,"message":…}`) and backup's per-item error messages
// (`{"message_type":"error","error":{"message":…},"during":…,"item":…}`).
type stderrCapture struct {
	mu        sync.Mutex
	sc        *scrubber
	log       hclog.Logger
	partial   []byte
	lines     []string
	size      int
	dropped   int
	exitError string
	items     []string
	onLine    func(line string) // called with every scrubbed line (giveUpOnRetry)
}

// ErrRetrying: a command run with giveUpOnRetry was stopped when restic
// began retrying a failing request to the repository.
var ErrRetrying = errors.New("restic began retrying a failing request to the repository")

var retryRE = regexp.MustCompile(`returned error, retrying after`)

// giveUpAfterRetries: the retry line of restic's that stops a
// giveUpOnRetry command (about 15 s after the first failure).
const giveUpAfterRetries = 4

func newStderrCapture(sc *scrubber, log hclog.Logger) *stderrCapture {
	return &stderrCapture{sc: sc, log: log}
}

func (c *stderrCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.handle(string(c.partial[:i]))
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) > 64<<10 { // a very long line: handle it in pieces
		c.handle(string(c.partial))
		c.partial = nil
	}
	return len(p), nil
}

func (c *stderrCapture) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.handle(string(c.partial))
		c.partial = nil
	}
}

func (c *stderrCapture) handle(line string) {
	line = ansiRE.ReplaceAllString(strings.TrimRight(line, "\r"), "")
	line = c.sc.scrub(line)
	if strings.TrimSpace(line) == "" {
		return
	}
	if c.onLine != nil {
		c.onLine(line)
	}
	if strings.HasPrefix(line, "{") {
		var m struct {
			MessageType string          `json:"message_type"`
			Message     string          `json:"message"`
			Error       json.RawMessage `json:"error"`
			During      string          `json:"during"`
			Item        string          `json:"item"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.MessageType != "" {
			switch m.MessageType {
			case "exit_error":
				// Scrub again: JSON escapes could have hidden a secret.
				c.exitError = c.sc.scrub(strings.TrimSpace(m.Message))
				return
			case "error":
				var eo struct {
					Message string `json:"message"`
				}
				_ = json.Unmarshal(m.Error, &eo) // 0.16 marshals the error as {}
				msg := c.sc.scrub(strings.TrimSpace(fmt.Sprintf("%s %s: %s", m.During, m.Item, eo.Message)))
				c.log.Warn("restic reported an error", "message", msg)
				if len(c.items) < 100 {
					c.items = append(c.items, msg)
				}
				return
			}
		}
	}
	c.log.Debug("restic stderr", "line", line)
	c.lines = append(c.lines, line)
	c.size += len(line)
	for c.size > maxStderr && len(c.lines) > 1 {
		c.size -= len(c.lines[0])
		c.lines = c.lines[1:]
		c.dropped++
	}
}

// text is everything kept, for classification.
func (c *stderrCapture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := append([]string{}, c.lines...)
	parts = append(parts, c.items...)
	if c.exitError != "" {
		parts = append(parts, c.exitError)
	}
	return strings.Join(parts, "\n")
}

var (
	// Go stack frames of 0.16's "%+v" error output: a symbol line followed
	// by a tab-indented file:line.
	frameFileRE = regexp.MustCompile(`^\t`)
	// Noise that precedes the real message.
	noiseRE = regexp.MustCompile(`returned error, retrying after|^signal \S+ received, cleaning up|repo already locked, waiting up to|^using temporary cache in|^(created|create) (new cache|exclusive lock)`)
)

// meaningful returns the stderr lines without stack frames and noise.
func (c *stderrCapture) meaningful() []string {
	var out []string
	for i := 0; i < len(c.lines); i++ {
		l := c.lines[i]
		if frameFileRE.MatchString(l) {
			continue
		}
		if i+1 < len(c.lines) && frameFileRE.MatchString(c.lines[i+1]) && !strings.Contains(l, " ") {
			continue // symbol line of a stack frame
		}
		if noiseRE.MatchString(l) {
			continue
		}
		if len(out) > 0 && out[len(out)-1] == l {
			continue
		}
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// message is restic's explanation of its failure, one line.
func (c *stderrCapture) message() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exitError != "" {
		return oneLine(c.exitError)
	}
	lines := c.meaningful()
	if len(lines) == 0 && len(c.items) > 0 {
		lines = c.items
	}
	lines = limitLines(lines, 12)
	return truncate(oneLine(strings.Join(lines, "\n")), 4000)
}

// warnings are the meaningful stderr lines of a successful run (e.g.
// "Remove(<lock/…>) failed: Access Denied" on a write-only bucket).
func (c *stderrCapture) warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append(c.meaningful(), c.items...)
}

func limitLines(lines []string, n int) []string {
	if len(lines) > n {
		return append([]string{fmt.Sprintf("(%d earlier lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return lines
}

func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
