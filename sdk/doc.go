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
//	package main
//
//	import (
//		"context"
//		"io"
//		"os"
//
//		"github.com/timetiles/timetiles-backup/sdk"
//	)
//
//	type fileSource struct{ path string }
//
//	func (s *fileSource) Info() sdk.Info {
//		return sdk.Info{Name: "source-file", Version: "1.0.0", Components: []string{"file"},
//			ConfigKeys: []sdk.ConfigKey{{Name: "FILE_SOURCE_PATH", Description: "file to back up"}}}
//	}
//
//	func (s *fileSource) Configure(_ context.Context, c sdk.Config) error {
//		s.path = c.Get("FILE_SOURCE_PATH")
//		return nil
//	}
//
//	func (s *fileSource) Backup(ctx context.Context, req sdk.BackupRequest, out sdk.BackupStream) error {
//		f, err := os.Open(s.path)
//		if err != nil {
//			return err
//		}
//		defer f.Close()
//		w, err := out.Start(sdk.Header{FileName: "data.bin"})
//		if err != nil {
//			return err
//		}
//		_, err = io.Copy(w, f)
//		return err
//	}
//
//	func (s *fileSource) Restore(ctx context.Context, req sdk.RestoreRequest, r io.Reader) error {
//		f, err := os.CreateTemp(".", "restore-")
//		if err != nil {
//			return err
//		}
//		defer os.Remove(f.Name())
//		if _, err := io.Copy(f, r); err != nil { // io.EOF only after a good trailer
//			f.Close()
//			return err
//		}
//		if err := f.Close(); err != nil {
//			return err
//		}
//		return os.Rename(f.Name(), s.path)
//	}
//
//	func main() { sdk.ServeSource(&fileSource{}) }
package sdk
