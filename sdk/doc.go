// SPDX-License-Identifier: Apache-2.0

// Package sdk is everything a timetiles-backup plugin author needs.
//
// A plugin is a separate executable that the timetiles-backup host starts
// with hashicorp/go-plugin and talks to over gRPC. Authors never touch
// protobuf or go-plugin: they implement one of three Go interfaces —
// [Source] (produces and restores the bytes of a component such as a
// database), [Target] (stores streams as snapshots, e.g. in a restic
// repository) or [Notifier] (delivers events such as "Backup Failed") — and
// call [ServeSource], [ServeTarget] or [ServeNotifier] from main.
//
// # Streams
//
// Every backup stream is a header, the bytes, and a trailer with the byte
// count, a checksum and a success flag. The SDK writes the trailer from the
// error a Source returns, and it gives a Target a reader that returns io.EOF
// only after a successful trailer: a Target must treat EOF as "commit" and
// any other error, or a cancelled context, as "abort, store nothing". Where
// the bytes travel (an OS pipe handed to both plugins, or gRPC chunks as the
// portable fallback) is decided by the host and hidden by the SDK.
//
// # Logging
//
// Stdout carries the go-plugin handshake: log with [Logger] (hclog on
// stderr, forwarded to the host's log), never with fmt.Print.
//
// # A complete source plugin
//
// It backs up one file and restores it atomically; docs/plugins.md has the
// same plugin and the rest of the contract (discovery, lifecycle,
// configuration, versioning) and sdk/conformance checks a plugin against
// it.
//
//	// Command timetiles-backup-source-file backs up one file (FILE_PATH) as the
//	// component "file".
//	package main
//
//	import (
//		"context"
//		"errors"
//		"io"
//		"os"
//
//		"github.com/timetiles/timetiles-backup/sdk"
//	)
//
//	type src struct{ sdk.Config } // Configure keeps the configuration here
//
//	func (s *src) Info() sdk.Info {
//		return sdk.Info{Name: "source-file", Version: "1.0.0", Components: []string{"file"},
//			ConfigKeys: []sdk.ConfigKey{{Name: "FILE_PATH", Description: "the file to back up"}}}
//	}
//
//	func (s *src) Configure(_ context.Context, c sdk.Config) error { s.Config = c; return nil }
//
//	// Backup streams the file. An error marks the stream failed in its
//	// trailer, and no target stores it.
//	func (s *src) Backup(_ context.Context, _ sdk.BackupRequest, out sdk.BackupStream) error {
//		f, err := os.Open(s.Get("FILE_PATH"))
//		if err != nil {
//			return err
//		}
//		w, err := out.Start(sdk.Header{FileName: "file.bin", MediaType: "application/octet-stream"})
//		if err == nil {
//			_, err = io.Copy(w, f)
//		}
//		return errors.Join(err, f.Close())
//	}
//
//	// Restore writes beside the file and renames into place only when r ends
//	// with io.EOF, which it does only after the source's successful trailer.
//	func (s *src) Restore(_ context.Context, _ sdk.RestoreRequest, r io.Reader) error {
//		path := s.Get("FILE_PATH")
//		f, err := os.Create(path + ".part")
//		if err != nil {
//			return err
//		}
//		defer os.Remove(f.Name()) // nothing is left behind by an aborted restore
//		_, err = io.Copy(f, r)
//		if err = errors.Join(err, f.Close()); err != nil {
//			return err // aborted: the file is untouched
//		}
//		return os.Rename(f.Name(), path)
//	}
//
//	func main() { sdk.ServeSource(&src{}) }
package sdk
