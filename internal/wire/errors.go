// SPDX-License-Identifier: Apache-2.0

// Package wire is the protocol plumbing the host and the SDK share but a
// plugin author does not need: the error kinds and their gRPC codes, the
// stream trailer's meaning, the fd channel (SCM_RIGHTS), the gRPC options
// and the go-plugin handshake, and the raw client of a plugin's services.
// It imports neither the SDK nor the host: package sdk re-exports what an
// author uses (the sentinel errors, ChunkSize, the kinds).
package wire

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
)

// Sentinel errors that keep their meaning across the plugin boundary; package
// sdk re-exports them (sdk.ErrNotFound is ErrNotFound), where they are
// documented for plugin authors.
var (
	// ErrPermissionDenied: the credentials may not do this (e.g. a
	// write-only offsite key asked to delete). Never alerted on.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNotFound: a snapshot or repository does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAborted: the stream was cut short or failed; nothing was stored.
	ErrAborted = errors.New("stream aborted")
	// ErrInvalidConfig: configuration is missing or wrong (exit code 2).
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrUnavailable: a server could not be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrLocked: the repository is locked by another process.
	ErrLocked = errors.New("locked")
	// ErrUnauthenticated: wrong password or credentials.
	ErrUnauthenticated = errors.New("wrong password or credentials")
	// ErrUnimplemented: the plugin does not support this call.
	ErrUnimplemented = errors.New("not implemented")
)

var codeOf = []struct {
	err  error
	code codes.Code
}{
	{ErrPermissionDenied, codes.PermissionDenied},
	{ErrNotFound, codes.NotFound},
	{ErrAborted, codes.Aborted},
	{ErrInvalidConfig, codes.InvalidArgument},
	{ErrUnavailable, codes.Unavailable},
	{ErrLocked, codes.ResourceExhausted},
	{ErrUnauthenticated, codes.Unauthenticated},
	{ErrUnimplemented, codes.Unimplemented},
}

// ToStatus turns a plugin error into a gRPC status error, keeping its kind.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, c := range codeOf {
		if errors.Is(err, c.err) {
			return status.Error(c.code, err.Error())
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// remoteError is an error that came over the wire; it unwraps to the
// sentinel matching its gRPC code.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// FromStatus turns a gRPC error back into an error that matches the
// sentinels with errors.Is.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrPluginDied) { // already explained (DeathOptions)
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Canceled:
		return &remoteError{msg: st.Message(), kind: errors.Join(ErrAborted, errCanceled)}
	case codes.DeadlineExceeded:
		return &remoteError{msg: st.Message(), kind: ErrUnavailable}
	}
	for _, c := range codeOf {
		if st.Code() == c.code {
			return &remoteError{msg: st.Message(), kind: c.err}
		}
	}
	if st.Code() == codes.Unavailable || st.Code() == codes.Internal {
		return &remoteError{msg: "plugin failed: " + st.Message(), kind: ErrUnavailable}
	}
	return &remoteError{msg: st.Message()}
}

var errCanceled = errors.New("canceled")

// TrailerError explains a failed trailer.
func TrailerError(t *pb.StreamTrailer) error {
	if t == nil {
		return fmt.Errorf("stream ended without a trailer: %w", ErrAborted)
	}
	if !t.Success {
		if t.Error == "" {
			return fmt.Errorf("source reported failure: %w", ErrAborted)
		}
		// The sender's own words are the cause: the error is an abort
		// (errors.Is ErrAborted) without saying "stream aborted" after it,
		// which the operator would read once per hop the trailer crossed.
		return &remoteError{msg: t.Error, kind: ErrAborted}
	}
	return nil
}
