// SPDX-License-Identifier: Apache-2.0

package sdk

import "github.com/timetiles/timetiles-backup/internal/wire"

// Sentinel errors that keep their meaning across the plugin boundary: wrap
// them (fmt.Errorf("...: %w", sdk.ErrPermissionDenied)) in a plugin and test
// with errors.Is in the host. Each travels as its own gRPC status code.
var (
	// ErrPermissionDenied: the credentials may not do this (e.g. a
	// write-only offsite key asked to delete). Never alerted on.
	ErrPermissionDenied = wire.ErrPermissionDenied
	// ErrNotFound: a snapshot or repository does not exist.
	ErrNotFound = wire.ErrNotFound
	// ErrAborted: the stream was cut short or failed; nothing was stored.
	ErrAborted = wire.ErrAborted
	// ErrInvalidConfig: configuration is missing or wrong (exit code 2).
	ErrInvalidConfig = wire.ErrInvalidConfig
	// ErrUnavailable: a server could not be reached.
	ErrUnavailable = wire.ErrUnavailable
	// ErrLocked: the repository is locked by another process.
	ErrLocked = wire.ErrLocked
	// ErrUnauthenticated: wrong password or credentials.
	ErrUnauthenticated = wire.ErrUnauthenticated
	// ErrUnimplemented: the plugin does not support this call.
	ErrUnimplemented = wire.ErrUnimplemented
)
