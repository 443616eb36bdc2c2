// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// customMagic starts every pg_dump custom-format archive.
var customMagic = []byte("PGDMP")

// The plain-SQL transaction is framed by the plugin rather than by psql's
// --single-transaction, which COMMITs at the end of its input whatever that
// input was. Here COMMIT is written only after the stream ended cleanly (the
// SDK's reader returned io.EOF after a good trailer). If psql's input ends
// any earlier — the plugin killed psql, or in container mode the killed
// `docker exec` client made the daemon close psql's stdin inside the
// container — psql exits inside an open transaction and the server rolls it
// back. The ";" ends a last statement that lacks one; inside an unfinished
// COPY block the lines are data, COMMIT never runs and the check on psql's
// output (the last command tag must be COMMIT) reports the failure.
const (
	plainPrefix = "BEGIN;\n"
	plainSuffix = "\n;\nCOMMIT;\n"
)

// Restore replaces the database (or req.ToDatabase) with exactly the
// stream's contents, all or nothing: if anything fails — the stream, the
// tool, the context — the database is left exactly as it was (see
// restoreReplacing).
func (s *Source) Restore(ctx context.Context, req sdk.RestoreRequest, r io.Reader) (err error) {
	if err := checkComponent(req.Component); err != nil {
		return err
	}
	if req.Scratch {
		return s.restoreTest(ctx, req, r)
	}
	db := s.database
	if req.ToDatabase != "" {
		if err := checkDBName(req.ToDatabase); err != nil {
			return fmt.Errorf("restore target database: %v: %w", err, sdk.ErrInvalidConfig)
		}
		if err := s.checkRestoreTarget(ctx, req.ToDatabase, req.ReplaceDatabase); err != nil { // guard.go
			return err
		}
		db = req.ToDatabase
	}

	br := bufio.NewReaderSize(r, 64<<10)
	magic, perr := br.Peek(len(customMagic))
	if perr != nil && perr != io.EOF {
		return fmt.Errorf("reading the backup stream: %w", perr)
	}
	if len(magic) == 0 {
		return fmt.Errorf("the backup stream is empty, not a database dump: %w", sdk.ErrAborted)
	}
	format := FormatPlain
	if bytes.Equal(magic, customMagic) {
		format = FormatCustom
	}
	if hf := req.Header.Metadata["format"]; hf != "" && hf != format {
		sdk.Logger.Warn("stream header names another format than its bytes; using the bytes", "header", hf, "detected", format)
	}

	// A database that does not exist yet is created and restored into
	// directly (dropped again if that fails); an existing one — the
	// configured database, in place — is replaced all-or-nothing with
	// exactly the dump's contents (swapdb.go).
	created, cerr := s.ensureDatabase(ctx, db)
	if cerr != nil {
		return cerr
	}
	if !created {
		return s.restoreReplacing(ctx, db, br, format)
	}
	defer func() {
		if err != nil {
			s.dropCreated(ctx, db)
		}
	}()
	sdk.Logger.Info("restoring database", "database", db, "format", format)
	return s.restoreInto(ctx, db, br, format)
}

// checkCommitted verifies from psql's output that the final COMMIT ran.
func checkCommitted(stdout string) error {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "COMMIT" {
		return fmt.Errorf("psql did not commit the restore (its last output was %q): the SQL stream is incomplete or not a dump; nothing was changed", last)
	}
	return nil
}

type copyResult struct {
	n                 int64
	readErr, writeErr error
}

// copyStream writes prefix and then r into w, telling read errors (the
// backup stream failed) from write errors (the child stopped reading).
func copyStream(w io.Writer, r io.Reader, prefix string) copyResult {
	var res copyResult
	if prefix != "" {
		if _, err := io.WriteString(w, prefix); err != nil {
			res.writeErr = err
			return res
		}
	}
	buf := make([]byte, sdk.ChunkSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				res.writeErr = werr
				return res
			}
			res.n += int64(n)
		}
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.readErr = err
			return res
		}
	}
}

// feed runs a restoring tool and feeds it the stream on stdin. The plugin
// writes the child's stdin itself (not cmd.Stdin = r) because of one rule:
// the child's stdin is closed — which is what makes it finish and commit —
// only after the stream ended cleanly. On a stream error or a cancelled
// context the child is killed, and waited for, before its stdin is closed.
// check, if set, inspects the tail of the child's stdout after a clean exit;
// out, if set, receives the child's stdout instead.
func (s *Source) feed(ctx context.Context, tool string, args []string, r io.Reader, prefix, suffix string, check func(stdout string) error, out io.Writer) error {
	p, err := s.startPiped(ctx, tool, args, out)
	if err != nil {
		return err
	}
	cmd, pw, stdout, stderr, waited := p.cmd, p.stdin, p.stdout, p.stderr, p.waited
	copied := make(chan copyResult, 1)
	go func() { copied <- copyStream(pw, r, prefix) }()

	// killAndWait is the only way to stop the child before the stream ended:
	// its stdin stays open until it is dead.
	killAndWait := func() {
		_ = cmd.Process.Kill()
		<-waited
		pw.Close()
	}
	what := s.where(tool)

	var res copyResult
	select {
	case <-ctx.Done():
		killAndWait()
		return fmt.Errorf("restore interrupted, %s killed before the end of its input, nothing committed: %w", what, ctx.Err())

	case werr := <-waited:
		// The child exited before the stream ended.
		pw.Close()
		if werr != nil {
			return s.childError(tool, werr, stderr)
		}
		// It exited cleanly without needing the rest (pg_restore may stop
		// after the last data block): the stream must still prove complete.
		select {
		case res = <-copied:
		case <-ctx.Done():
			return fmt.Errorf("restore interrupted after %s finished: %w", what, ctx.Err())
		}
		if res.writeErr != nil {
			_, res.readErr = io.Copy(io.Discard, r)
		}
		if res.readErr != nil {
			return fmt.Errorf("the backup stream failed after %s had finished (the restore may be incomplete): %w", what, res.readErr)
		}
		return s.checkOutput(check, stdout)

	case res = <-copied:
	}

	if res.readErr != nil {
		killAndWait()
		return fmt.Errorf("reading the backup stream after %d bytes: %w; %s was killed before the end of its input, nothing committed", res.n, res.readErr, what)
	}
	if res.writeErr == nil && suffix != "" {
		_, res.writeErr = io.WriteString(pw, suffix)
	}
	if res.writeErr != nil {
		// The child stopped reading: it failed (or finished early).
		werr := waitOrKill(ctx, cmd, waited)
		pw.Close()
		if werr != nil {
			return s.childError(tool, werr, stderr)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("restore interrupted: %w", ctx.Err())
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("the backup stream failed after %s had finished (the restore may be incomplete): %w", what, err)
		}
		return s.checkOutput(check, stdout)
	}

	if ctx.Err() != nil {
		killAndWait()
		return fmt.Errorf("restore interrupted, %s killed before the end of its input, nothing committed: %w", what, ctx.Err())
	}
	// The whole stream arrived intact: closing stdin lets the child commit.
	pw.Close()
	werr := waitOrKill(ctx, cmd, waited)
	if ctx.Err() != nil {
		return fmt.Errorf("restore interrupted while %s finished: %w", what, ctx.Err())
	}
	if werr != nil {
		return s.childError(tool, werr, stderr)
	}
	if err := s.checkOutput(check, stdout); err != nil {
		return err
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		sdk.Logger.Warn(tool+" succeeded with messages", "stderr", s.redact(msg))
	}
	sdk.Logger.Info("database restored", "bytes", res.n)
	return nil
}

// piped is a restoring child started by startPiped.
type piped struct {
	cmd *exec.Cmd
	// stdin is the write end of the child's stdin pipe: the caller writes
	// it and closes it only when the child may finish (feed's rule).
	stdin          *os.File
	stdout, stderr *tail
	// waited receives the child's exit status, once.
	waited chan error
}

// startPiped starts tool with its stdin on a pipe the caller writes, its
// stdout into out (or, when out is nil, a tail kept for checkOutput) and
// its stderr into a tail kept for the error; a goroutine waits for it. The
// one set-up of feed and restoreOneTransaction's psql.
func (s *Source) startPiped(ctx context.Context, tool string, args []string, out io.Writer) (*piped, error) {
	cmd, err := s.command(ctx, tool, args...)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &piped{cmd: cmd, stdin: pw, stdout: newTail(stderrTail), stderr: newTail(stderrTail), waited: make(chan error, 1)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, p.stdout, p.stderr
	if out != nil {
		cmd.Stdout = out
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("starting %s: %w", s.where(tool), err)
	}
	pr.Close()
	go func() { p.waited <- cmd.Wait() }()
	return p, nil
}

func (s *Source) checkOutput(check func(string) error, stdout *tail) error {
	if check == nil {
		return nil
	}
	if err := check(s.redact(stdout.String())); err != nil {
		return fmt.Errorf("%w: %w", err, sdk.ErrAborted)
	}
	return nil
}

// waitOrKill waits for the child; a cancelled ctx kills it (CommandContext
// does that) and the wait still completes.
func waitOrKill(ctx context.Context, cmd *exec.Cmd, waited <-chan error) error {
	select {
	case err := <-waited:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return <-waited
	}
}

// createDBSQL creates database :db unless it exists (psql interpolates and
// quotes :'db'; \gexec runs the generated statement).
const createDBSQL = `SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = :'db') \gexec
`

// ensureDatabase creates db through the maintenance database when it does not
// exist, and reports whether it did.
func (s *Source) ensureDatabase(ctx context.Context, db string) (bool, error) {
	out, err := s.psqlMaintenance(ctx, db, createDBSQL)
	if err != nil {
		return false, fmt.Errorf("creating restore target database %s: %w", db, err)
	}
	created := strings.Contains(out, "CREATE DATABASE")
	if created {
		sdk.Logger.Info("created restore target database", "database", db)
	}
	return created, nil
}

// dropCreated removes a database this restore created, after a failure.
func (s *Source) dropCreated(ctx context.Context, db string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := s.psqlMaintenance(ctx, db, `DROP DATABASE IF EXISTS :"db" WITH (FORCE);`+"\n"); err != nil {
		sdk.Logger.Warn("could not drop the database created for the failed restore", "database", db, "error", err)
	}
}

func (s *Source) psqlMaintenance(ctx context.Context, db, sql string) (string, error) {
	return s.psqlOn(ctx, maintenanceDB, sql, "db="+db)
}
