// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/sdk"
)

// TestExitCodeFromErrors: the one mapping from a command's error to the
// exit code (docs/failures.md), with and without a signal having
// cancelled the work.
func TestExitCodeFromErrors(t *testing.T) {
	live := context.Background()
	signalled, cancel := context.WithCancel(context.Background())
	cancel()
	plain := errors.New("restic failed")
	for _, c := range []struct {
		name       string
		err        error
		live, sign int
	}{
		{"success", nil, 0, 0},
		{"usage error", usageError("unknown flag"), 2, 2},
		{"usage error, wrapped and reported", reported(fmt.Errorf("x: %w", usageError("bad"))), 2, 2},
		{"configuration error", config.Configf("bad value"), 2, 2},
		{"configuration refused by a plugin", fmt.Errorf("plugin: %w", sdk.ErrInvalidConfig), 2, 2},
		{"failure", plain, 1, 130},
		{"failure, reported", reported(plain), 1, 130},
		{"failure the command printed", errFailed, 1, 1},
		{"prompt cancelled by the operator", errCancelled, 1, 130},
	} {
		if got := exitCode(live, c.err); got != c.live {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.live)
		}
		if got := exitCode(signalled, c.err); got != c.sign {
			t.Errorf("%s after SIGINT/SIGTERM: exit %d, want %d", c.name, got, c.sign)
		}
	}
}
