// SPDX-License-Identifier: Apache-2.0

// Package stream moves the bytes of one stream between plugins: a source's
// backup into one or more targets, a stored snapshot back into a source's
// restore, a whole small stream (the run manifest) written or read by the
// host, a snapshot read into a writer or a directory.
//
// Every stream is a header, the bytes and a trailer (docs/architecture.md,
// "The stream contract"). The bytes take one of the transports (transport.go):
// a local directory, one OS pipe between the two plugins, an OS pipe per
// target fed from the source's pipe (fan-out), or gRPC chunks; which one is
// decided in one place (choose) from what the parties declare. Whatever the
// transport, nothing is committed unless the writer's trailer is successful,
// and the one reader (streamReader, reader.go) returns io.EOF only after such a trailer.
//
// The package knows a running plugin only as an Endpoint: it imports neither
// package host nor host/plugin.
package stream

import (
	"crypto/rand"
	"encoding/hex"
	"os"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/pipes"
)

// FDSender passes OS files to a plugin under a token (the plugin's fd
// channel, SCM_RIGHTS). The caller keeps and closes its own descriptors.
type FDSender interface {
	Send(token string, files ...*os.File) error
}

// Endpoint is what moving bytes needs from a running plugin.
type Endpoint struct {
	// Name of the plugin, for messages ("source-postgres").
	Name string
	// Path: the plugin declared the path capability (it hands over, or
	// reads, a local directory instead of bytes).
	Path bool
	// Source is the plugin's source client (nil for a target), Target its
	// target client (nil for a source).
	Source pb.SourceServiceClient
	Target pb.TargetServiceClient
	// FD is the plugin's fd channel; nil when its bytes go as gRPC chunks.
	// (Leave the interface nil, not a typed nil pointer.)
	FD FDSender
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newPipe returns an OS pipe with a 1 MiB buffer: the data moves in large
// batches, with fewer wake-ups.
func newPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	pipes.GrowFile(w)
	return r, w, nil
}
