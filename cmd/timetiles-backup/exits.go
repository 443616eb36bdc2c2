// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Exit codes, the same for every command (docs/failures.md).
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Every command returns an error; exitCode alone turns it into the exit
// code, as restic's cmd/restic/main.go does. The kinds of error:
//
//   - nil: success, 0;
//   - a usage error (usageError: a wrong flag or argument) or a
//     configuration error (config.ErrConfig, sdk.ErrInvalidConfig): 2;
//   - errFailed (the command printed why it failed): 1;
//   - any other error once SIGINT/SIGTERM cancelled the work: 130;
//   - any other error, including errCancelled (the operator left a prompt
//     or answered no: nothing was done): 1.
func exitCode(ctx context.Context, err error) int {
	var ue *usageErr
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue), errors.Is(err, config.ErrConfig), errors.Is(err, sdk.ErrInvalidConfig):
		return ExitUsage
	case errors.Is(err, errFailed):
		return ExitFailure
	case ctx.Err() != nil:
		return ExitInterrupted
	}
	return ExitFailure
}

// ExitCode is exitCode for this process's context.
func (m *Meta) ExitCode(err error) int { return exitCode(m.Ctx, err) }

type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}

// reportedErr is an error the operator has already been told about: exit
// prints nothing more and takes the exit code from the error it wraps.
type reportedErr struct{ err error }

func (e *reportedErr) Error() string { return e.err.Error() }
func (e *reportedErr) Unwrap() error { return e.err }

func reported(err error) error {
	if err == nil {
		return nil
	}
	return &reportedErr{err: err}
}

var (
	// errFailed: the command printed why it failed (exit 1).
	errFailed = reported(errors.New("failed (reported above)"))
	// errCancelled: the operator left a prompt or answered no; the command
	// said that nothing was changed. Not an interruption: 130 is for
	// SIGINT/SIGTERM (exit 1, or 130 when a signal ended the prompt).
	errCancelled = reported(errors.New("cancelled by the operator"))
)

// fail prints err (and, for a usage error, help) where it happened and
// returns it as reported: what the operator reads stays in the order the
// command did things.
func (m *Meta) fail(err error, help string) error {
	m.print(err, help)
	return reported(err)
}

// exit is what every command's Run returns: it prints an error not yet
// reported and maps it to the exit code.
func (m *Meta) exit(err error, help string) int {
	var re *reportedErr
	if err != nil && !errors.As(err, &re) {
		m.print(err, help)
	}
	return exitCode(m.Ctx, err)
}

func (m *Meta) print(err error, help string) {
	code := exitCode(m.Ctx, err)
	msg := err.Error()
	if errors.Is(err, sdk.ErrInvalidConfig) {
		// A plugin's refusal ends in the sentinel's words ("…: invalid
		// configuration"), which say again what the message said.
		msg = strings.TrimSuffix(msg, ": "+sdk.ErrInvalidConfig.Error())
	}
	m.UI.Error("Error: " + msg)
	if code == ExitUsage {
		var ue *usageErr
		if errors.As(err, &ue) && help != "" {
			m.UI.Error("\n" + strings.TrimSpace(help))
		}
	}
	if code == ExitInterrupted {
		m.UI.Error("Interrupted: nothing was committed for the interrupted work.")
	}
}
