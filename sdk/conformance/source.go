// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// SourceFixture describes a Source plugin under test and how to configure
// it. Set exactly one of Binary and New.
type SourceFixture struct {
	// Binary is a built plugin, named timetiles-backup-source-<name>
	// (see Build).
	Binary string
	// New returns a fresh in-process implementation.
	New func() sdk.Source

	// Component to back up; default: the first of Info.Components.
	Component string
	// Config returns the configuration of a working source (only keys the
	// plugin declares in Info.ConfigKeys). Its stream must be bigger than
	// 256 KiB, so that a receiver that stops reading stalls the producer
	// mid-stream. It is called once per subtest.
	Config func(t *testing.T) map[string]string
	// FailingConfig returns a configuration that Configure accepts but
	// under which Backup fails: a database that does not exist, a
	// directory that cannot be read.
	FailingConfig func(t *testing.T) map[string]string
	// RestoreTo (optional) says where restores go: RestoreRequest's
	// ToDatabase or ToDirectory. Default: where Config points.
	RestoreTo func(t *testing.T) sdk.RestoreRequest
	// Disturb (optional) changes or removes the data Config's backup
	// holds — delete rows, overwrite files — after the kit backed it up,
	// so that CheckRestored shows the restore brought it back.
	Disturb func(t *testing.T)
	// CheckRestored (optional) checks that the data at req's destination
	// equals what Config's backup held. It runs after a restore, and again
	// after aborted restores, which must leave that data as it was.
	CheckRestored func(t *testing.T, req sdk.RestoreRequest)
	// Children (optional) names the child processes Backup runs, e.g.
	// "pg_dump". The kit checks that they run while the receiver stalls
	// the stream and that none is left once the call is cancelled (every
	// child is checked for leftovers whether named or not).
	Children []string
}

// RunSource runs the Source checks as subtests of t.
func RunSource(t *testing.T, f SourceFixture) {
	t.Helper()
	subj := subject{kind: sdk.KindSource, binary: f.Binary}
	if f.New != nil {
		subj.newFn = func() sdk.Plugin { return watchSource(f.New()) }
	}
	subj.validate(t)
	if f.Config == nil || f.FailingConfig == nil {
		t.Fatal("conformance: SourceFixture needs Config and FailingConfig")
	}
	component := func(t *testing.T, in *instance) string {
		t.Helper()
		if f.Component != "" {
			if !slices.Contains(in.info.Components, f.Component) {
				t.Errorf("Info.Components %v does not list the fixture's component %q", in.info.Components, f.Component)
			}
			return f.Component
		}
		if len(in.info.Components) == 0 {
			t.Fatal("a source must list the components it produces in Info.Components")
		}
		return in.info.Components[0]
	}
	// start launches and configures the source as the host does: the
	// instance name of a source is its component.
	start := func(t *testing.T, transport string, cfg map[string]string) (*instance, string) {
		t.Helper()
		in := subj.launch(t, transport)
		c := component(t, in)
		in.configure(c, cfg)
		return in, c
	}

	t.Run("Info", func(t *testing.T) {
		in := subj.launch(t, Pipe)
		checkInfo(t, in)
		component(t, in)
		checkComponentSpecs(t, in.info)
		checkDeclared(t, in.info, f.Config(t))
		checkDeclared(t, in.info, f.FailingConfig(t))
	})

	t.Run("Check", func(t *testing.T) {
		in, _ := start(t, Pipe, f.Config(t))
		if fs, ok := runCheck(t, in); ok && hasError(fs) {
			t.Errorf("contract: under the fixture's working Config, Check reports an error")
		}
		in, _ = start(t, Pipe, f.FailingConfig(t))
		if fs, ok := runCheck(t, in); ok && !hasError(fs) {
			t.Errorf("contract: under FailingConfig (Backup fails), Check must report the problem as an error finding; it found none")
		}
	})

	for _, tr := range transports {
		fd := tr == Pipe
		t.Run("Backup/"+tr, func(t *testing.T) {
			in, c := start(t, tr, f.Config(t))
			s := mustBackup(t, in, c, fd)
			if err := checkTrailer(s); err != nil {
				t.Errorf("contract: the trailer must describe the bytes exactly: %v", err)
			}
			if s.header.LocalPath != "" {
				t.Errorf("the header hands a directory (%s) although the request did not accept one", s.header.LocalPath)
			}
			t.Logf("%s: %d bytes, file %q, media type %q", tr, len(s.data), s.header.FileName, s.header.MediaType)
		})
	}

	t.Run("Backup/path", func(t *testing.T) {
		in, c := start(t, Pipe, f.Config(t))
		if !in.has(sdk.CapPath) {
			t.Skipf("the source does not declare %q", sdk.CapPath)
		}
		s, err := backup(ctxTimeout(t), in, c, true, true)
		if err != nil {
			t.Fatalf("Backup: %v", err)
		}
		reportFraming(t, s)
		if s.trailer == nil || !s.trailer.Success {
			t.Fatalf("the backup failed: %v", wire.TrailerError(s.trailer))
		}
		if s.header.LocalPath != "" {
			if fi, err := os.Stat(s.header.LocalPath); err != nil || !fi.IsDir() || !filepath.IsAbs(s.header.LocalPath) {
				t.Errorf("the header hands %q, which is not an absolute directory path (%v)", s.header.LocalPath, err)
			}
			if len(s.data) != 0 {
				t.Errorf("%d bytes came with a directory stream", len(s.data))
			}
		} else if err := checkTrailer(s); err != nil {
			t.Errorf("contract: the trailer must describe the bytes exactly: %v", err)
		}
	})

	for _, tr := range transports {
		fd := tr == Pipe
		t.Run("Failure/"+tr, func(t *testing.T) {
			in, c := start(t, tr, f.FailingConfig(t))
			s, err := backup(ctxTimeout(t), in, c, fd, false)
			if err != nil {
				t.Fatalf("contract: a failing backup reports its failure in the trailer and the call itself ends normally; the call failed: %v", err)
			}
			reportFraming(t, s)
			if s.trailer == nil {
				t.Fatal("no trailer")
			}
			if s.trailer.Success {
				t.Fatalf("contract: a failing producer must report failure in the trailer; the backup with FailingConfig reported success (%d bytes)", len(s.data))
			}
			if s.trailer.Error == "" {
				t.Errorf("a failed trailer must say why (Trailer.Error is empty)")
			}
			if s.header != nil && s.trailer.Size != uint64(len(s.data)) {
				t.Errorf("the failed trailer says %d bytes, %d arrived", s.trailer.Size, len(s.data))
			}
			t.Logf("failure reported: %s", s.trailer.Error)
			if _, err := in.c.Info(ctxTimeout(t)); err != nil {
				t.Errorf("the plugin must keep serving after a failed backup: %v", err)
			}
		})
	}

	for _, tr := range transports {
		t.Run("Cancel/"+tr, func(t *testing.T) {
			in, c := start(t, tr, f.Config(t))
			checkCancel(t, in, c, f.Children)
		})
	}

	for _, tr := range transports {
		fd := tr == Pipe
		t.Run("Restore/"+tr, func(t *testing.T) {
			src, c := start(t, tr, f.Config(t))
			s := mustBackup(t, src, c, fd)
			if err := checkTrailer(s); err != nil {
				t.Fatalf("the backup to restore from is broken: %v", err)
			}
			src.close()
			if f.Disturb != nil {
				f.Disturb(t)
			}
			// A restore runs in a fresh plugin process, as the host does.
			in, _ := start(t, tr, f.Config(t))
			req := sdk.RestoreRequest{}
			if f.RestoreTo != nil {
				req = f.RestoreTo(t)
			}
			req.Component = c
			opts := &pb.RestoreOptions{Component: c, ToDatabase: req.ToDatabase, ToDirectory: req.ToDirectory}
			hdr := proto.Clone(s.header).(*pb.StreamHeader)
			hdr.Component, hdr.FdToken = c, ""
			req.Header = convert.HeaderFromPB(hdr)
			if err, _ := restore(in, opts, sendStream{header: hdr, data: s.data, fd: fd, end: endSuccess}); err != nil {
				t.Fatalf("contract: restore must accept what backup produced (%d bytes): %v", len(s.data), err)
			}
			if f.CheckRestored != nil {
				t.Run("Restored", func(t *testing.T) { f.CheckRestored(t, req) })
			}
			for _, end := range []string{endFailed, endCancel} {
				err, stuck := restore(in, opts, sendStream{header: hdr, data: s.data, fd: fd, end: end, cut: len(s.data) / 2})
				if stuck != nil {
					t.Errorf("contract: a cancelled restore must stop: %s after the cancel it still ran (it held the stream pipe, had not returned, or left a child process)", stopTimeout)
				}
				if err == nil {
					t.Errorf("contract: a restore whose stream is aborted (%s after %d of %d bytes) must fail; it reported success", end, len(s.data)/2, len(s.data))
				}
				if f.CheckRestored != nil {
					t.Run("IntactAfter/"+end, func(t *testing.T) { f.CheckRestored(t, req) })
				}
			}
		})
	}
}

// mustBackup backs up a component and fails the test unless the stream
// is well-framed and successful.
func mustBackup(t *testing.T, in *instance, component string, fd bool) *stream {
	t.Helper()
	s, err := backup(ctxTimeout(t), in, component, fd, false)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	reportFraming(t, s)
	if s.header == nil || s.trailer == nil {
		t.Fatalf("the stream is not header, bytes, trailer")
	}
	if !s.trailer.Success {
		t.Fatalf("the backup with Config failed: %s", s.trailer.Error)
	}
	return s
}

func reportFraming(t *testing.T, s *stream) {
	t.Helper()
	for _, v := range s.framing {
		t.Errorf("contract: a stream is one header, bytes, one trailer: %s", v)
	}
	if len(s.framing) > 0 {
		t.FailNow()
	}
}

// stopTimeout is how long a producer and its children may take to stop
// after a cancellation.
const stopTimeout = 10 * time.Second

// checkCancel starts a backup, stops reading it as a failed target would,
// cancels the call, and checks that the producer and its children stop
// and that the plugin still works afterwards.
func checkCancel(t *testing.T, in *instance, component string, children []string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := &pb.BackupRequest{Component: component, ChecksumAlgorithm: sdk.ChecksumSHA256}
	var r *os.File
	if in.fd {
		var err error
		if req.FdToken, r, err = givePipe(in); err != nil {
			t.Fatal(err)
		}
		defer r.Close()
	}
	before := descendants(in.pid)
	bs, err := in.c.Source.Backup(ctx, req)
	if err != nil {
		t.Fatalf("Backup: %v", wire.FromStatus(err))
	}
	m, err := bs.Recv()
	if err != nil {
		t.Fatalf("Backup: %v", wire.FromStatus(err))
	}
	if m.GetMessage().GetHeader() == nil {
		t.Fatalf("the backup with Config did not start with a header: %v", wire.TrailerError(m.GetMessage().GetTrailer()))
	}
	if in.fd {
		// The kit never reads the pipe: once it is full the producer is
		// stalled, as behind a target that stopped reading.
		full := pipeCapacity(r)
		waitUntil(stopTimeout, func() bool { return pipeFill(r) >= full || writersGone(r) })
		if writersGone(r) {
			t.Fatalf("the whole stream (%d bytes) fit in the pipe before the kit could cancel it: make Config's backup bigger than 256 KiB so that cancellation catches the producer mid-stream", pipeFill(r))
		}
	} else {
		time.Sleep(200 * time.Millisecond) // let it fill the flow-control window
	}
	running := newSince(before, descendants(in.pid))
	if in.fd {
		for _, want := range children {
			if !slices.Contains(mapValues(running), want) {
				t.Errorf("Children names %q, but it was not running while the stream was stalled (running: %s)", want, describeProcs(running))
			}
		}
	}
	t.Logf("children while the stream was stalled: %s", describeProcs(running))

	cancel()
	if in.fd && !waitUntil(stopTimeout, func() bool { return writersGone(r) }) {
		t.Errorf("contract: cancelling a backup must stop the producer: %s after the cancel, the stream pipe is still held open by the plugin or a child (the receiver had stopped reading, as a failed target does)", stopTimeout)
	}
	var left map[int]string
	if !waitUntil(stopTimeout, func() bool { left = newSince(before, descendants(in.pid)); return len(left) == 0 }) {
		t.Errorf("contract: cancelling a backup must stop the children the producer started: still running %s after the cancel: %s", stopTimeout, describeProcs(left))
	}
	if w, ok := in.impl.(watched); ok && !waitUntil(stopTimeout, func() bool { return w.inFlight() == 0 }) {
		t.Errorf("contract: cancelling a backup must stop the producer: Backup did not return within %s of the cancel", stopTimeout)
	}
	for {
		if _, err := bs.Recv(); err != nil {
			break
		}
	}
	// The plugin must still work: no stale lock, no wedged state.
	s := mustBackup(t, in, component, in.fd)
	if err := checkTrailer(s); err != nil {
		t.Errorf("a backup after the cancelled one: %v", err)
	}
}

// pipeCapacity is the size of a pipe's buffer (64 KiB by default; one
// page when the user's pipe buffers exceed /proc/sys/fs/pipe-user-pages-soft).
func pipeCapacity(r *os.File) int {
	rc, err := r.SyscallConn()
	if err != nil {
		return 64 << 10
	}
	n := 64 << 10
	_ = rc.Control(func(fd uintptr) {
		if c, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && c > 0 {
			n = c
		}
	})
	return n
}

// pipeFill is how many bytes wait in a pipe.
func pipeFill(r *os.File) int {
	rc, err := r.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	// TIOCINQ is FIONREAD: the bytes waiting in the pipe.
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
	return n
}

func mapValues(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// checkComponentSpecs: what a source declares about its components
// (Info.ComponentSpecs) names components it lists, each once, with a
// restore kind this SDK knows.
func checkComponentSpecs(t *testing.T, info *pb.PluginInfo) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range info.GetComponentSpecs() {
		if !slices.Contains(info.GetComponents(), c.GetName()) {
			t.Errorf("Info.ComponentSpecs declares %q, which Info.Components does not list (%v): declare the components the source produces", c.GetName(), info.GetComponents())
		}
		if seen[c.GetName()] {
			t.Errorf("Info.ComponentSpecs declares %q twice", c.GetName())
		}
		seen[c.GetName()] = true
		if _, ok := pb.RestoreKind_name[int32(c.GetRestoreKind())]; !ok {
			t.Errorf("Info.ComponentSpecs: %q has restore kind %d, which this SDK does not know", c.GetName(), c.GetRestoreKind())
		}
	}
}
