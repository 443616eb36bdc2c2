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
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
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
