// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/timetiles/timetiles-backup/sdk"
)

func checkComponent(c string) error {
	if c != "" && c != Component {
		return fmt.Errorf("source-postgres has no component %q (only %q): %w", c, Component, sdk.ErrInvalidConfig)
	}
	return nil
}

// dumpArgs are pg_dump's arguments after the connection arguments.
func dumpArgs(format string) []string {
	if format == FormatPlain {
		// What TimeTiles' shell tool wrote: a restore drops and recreates.
		return []string{"--clean", "--if-exists"}
	}
	// Custom format, uncompressed: restic compresses and deduplicates.
	return []string{"-Fc", "-Z0"}
}

// Backup streams pg_dump's output. pg_dump's exit status decides: the bytes
// already sent are worthless if it fails, and the returned error marks the
// stream failed so no target commits it. No temporary files.
func (s *Source) Backup(ctx context.Context, req sdk.BackupRequest, out sdk.BackupStream) error {
	if err := checkComponent(req.Component); err != nil {
		return err
	}
	version, err := s.dumpVersion(ctx)
	if err != nil {
		return err
	}

	cmd, err := s.command(ctx, "pg_dump", append(s.connArgs(s.database), dumpArgs(s.format)...)...)
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := newTail(stderrTail)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.where("pg_dump"), err)
	}
	abort := func(cause error) error {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return cause
	}

	w, err := out.Start(sdk.Header{
		Component: Component,
		FileName:  fileNames[s.format],
		MediaType: mediaTypes[s.format],
		Metadata: map[string]string{
			"format":          s.format,
			"pg_dump_version": version,
			"database":        s.database,
		},
	})
	if err != nil {
		return abort(fmt.Errorf("starting the stream: %w", err))
	}
	// The SDK's writer implements io.ReaderFrom: it reads pg_dump's pipe
	// straight into its 1 MiB chunk buffer (or the host's pipe).
	var n int64
	var cerr error
	if rf, ok := w.(io.ReaderFrom); ok {
		n, cerr = rf.ReadFrom(stdout)
	} else {
		n, cerr = io.CopyBuffer(w, stdout, make([]byte, sdk.ChunkSize))
	}
	if cerr != nil {
		return abort(fmt.Errorf("sending the dump after %d bytes: %w", n, cerr))
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("%s interrupted after %d bytes: %w", s.where("pg_dump"), n, ctx.Err())
	}
	if werr != nil {
		return s.childError("pg_dump", werr, stderr)
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		sdk.Logger.Warn("pg_dump succeeded with messages", "stderr", s.redact(msg))
	}
	sdk.Logger.Info("database dumped", "database", s.database, "format", s.format, "bytes", n)
	// The restored state is dumped now: the undo database an in-place
	// restore kept (swapdb.go) has served its purpose, and a staging
	// database an interrupted restore left is garbage.
	s.dropStamped(ctx, s.database, map[string]string{undoInfix: whatUndo, stagingInfix: whatStaging})
	return nil
}

// dumpVersion returns `pg_dump --version`, e.g. "pg_dump (PostgreSQL) 17.2".
func (s *Source) dumpVersion(ctx context.Context) (string, error) {
	cmd, err := s.command(ctx, "pg_dump", "--version")
	if err != nil {
		return "", err
	}
	var stdout strings.Builder
	stderr := newTail(stderrTail)
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", s.childError("pg_dump --version", err, stderr)
	}
	v, _, _ := strings.Cut(strings.TrimSpace(stdout.String()), "\n")
	if len(v) > 200 {
		v = v[:200]
	}
	return v, nil
}
