// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Op is an operation a TargetFixture's Denied configuration may not do.
type Op string

// Operations for TargetFixture.Denied.
const (
	// OpWrite: storing a stream is refused.
	OpWrite Op = "write"
	// OpList: listing snapshots is refused.
	OpList Op = "list"
	// OpPrune: removing snapshots is refused (a write-only offsite key).
	// The kit first stores two streams a day apart, so that a retention
	// policy of one daily snapshot removes one.
	OpPrune Op = "prune"
)

// TargetFixture describes a Target plugin under test. Set exactly one of
// Binary and New.
type TargetFixture struct {
	// Binary is a built plugin, named timetiles-backup-target-<name>.
	Binary string
	// New returns a fresh in-process implementation.
	New func() sdk.Target

	// Config returns the configuration of a working, empty repository
	// (it need not exist yet: Init creates it). It is called once per
	// subtest; return a fresh repository each time.
	Config func(t *testing.T) map[string]string
	// Denied (optional) returns a configuration whose credentials may not
	// do op, e.g. an append-only key for OpPrune. Init must work with it.
	Denied func(t *testing.T) (map[string]string, Op)
	// StreamSize is the size of the test streams; default 3 MiB + 12345
	// bytes (more than one gRPC chunk, not a multiple of it).
	StreamSize int
	// SkipEmptyStream, when set, explains why the target cannot store an
	// empty stream; the EmptyStream check is then skipped with it.
	SkipEmptyStream string
}

// RunTarget runs the Target checks as subtests of t.
func RunTarget(t *testing.T, f TargetFixture) {
	t.Helper()
	subj := subject{kind: sdk.KindTarget, binary: f.Binary}
	if f.New != nil {
		subj.newFn = func() sdk.Plugin { return &watchedTarget{Target: f.New()} }
	}
	subj.validate(t)
	if f.Config == nil {
		t.Fatal("conformance: TargetFixture needs Config")
	}
	size := f.StreamSize
	if size == 0 {
		size = 3<<20 + 12345
	}
	data := randomBytes(size)
	start := func(t *testing.T, transport string, cfg map[string]string) *instance {
		t.Helper()
		in := subj.start(t, transport, "local", cfg)
		if _, err := in.c.Target.Init(ctxTimeout(t), &pb.InitRequest{}); err != nil {
			t.Fatalf("Init: %v", wire.FromStatus(err))
		}
		return in
	}

	t.Run("Info", func(t *testing.T) {
		in := subj.launch(t, Pipe)
		checkInfo(t, in)
		checkDeclared(t, in.info, f.Config(t))
	})

	t.Run("Check", func(t *testing.T) {
		in := subj.start(t, Pipe, "local", f.Config(t))
		if fs, ok := runCheck(t, in); ok && hasError(fs) {
			t.Errorf("contract: under the fixture's working Config, Check reports an error")
		}
	})

	t.Run("Init", func(t *testing.T) {
		in := subj.start(t, Pipe, "local", f.Config(t))
		if _, err := in.c.Target.Init(ctxTimeout(t), &pb.InitRequest{}); err != nil {
			t.Fatalf("Init: %v", wire.FromStatus(err))
		}
		resp, err := in.c.Target.Init(ctxTimeout(t), &pb.InitRequest{})
		if err != nil || resp.Created {
			t.Errorf("a second Init must find the repository and leave it alone: created=%v, err=%v", resp.GetCreated(), wire.FromStatus(err))
		}
		resp, err = in.c.Target.Init(ctxTimeout(t), &pb.InitRequest{OpensNext: true})
		if err != nil || resp.Created {
			t.Errorf("Init before a backup (opens_next) must find the repository and leave it alone: created=%v, err=%v", resp.GetCreated(), wire.FromStatus(err))
		}
		if snaps := list(t, in); len(snaps) != 0 {
			t.Errorf("a new repository lists %d snapshots, want none", len(snaps))
		}
	})

	for _, tr := range transports {
		fd := tr == Pipe
		t.Run("WriteRead/"+tr, func(t *testing.T) {
			in := start(t, tr, f.Config(t))
			for i, d := range [][]byte{data, data[:1]} {
				h := testHeader(fmt.Sprintf("%s-%d", tr, i), time.Now().Add(-time.Duration(i)*time.Hour))
				before := list(t, in)
				resp, err, _ := write(in, sendStream{header: h, data: d, fd: fd, end: endSuccess})
				if err != nil {
					t.Fatalf("Write of %d bytes: %v", len(d), err)
				}
				id := resp.GetSnapshot().GetId()
				if id == "" {
					t.Fatalf("Write returned no snapshot ID")
				}
				after := list(t, in)
				if added := newIDs(before, after); !slices.Equal(added, []string{id}) {
					t.Fatalf("after one Write, List shows new snapshots %v, want exactly [%s]", added, id)
				}
				checkListed(t, after[id], h)
				s, err := read(in, id, fd)
				if err != nil {
					t.Fatalf("Read %s: %v", id, err)
				}
				reportFraming(t, s)
				if s.header == nil || s.trailer == nil {
					t.Fatal("Read's stream is not header, bytes, trailer")
				}
				if err := checkTrailer(s); err != nil {
					t.Errorf("Read %s: %v", id, err)
				}
				if !bytes.Equal(s.data, d) {
					t.Errorf("contract: Read must return what was written byte for byte: %d bytes back, %d written (first difference at %d)", len(s.data), len(d), firstDiff(s.data, d))
				}
				if s.header.FileName != h.FileName {
					t.Errorf("Read's header names file %q, the stream was written as %q", s.header.FileName, h.FileName)
				}
			}
		})
	}

	for _, tr := range transports {
		fd := tr == Pipe
		t.Run("Abort/"+tr, func(t *testing.T) {
			in := start(t, tr, f.Config(t))
			ends := []string{endFailed, endCancel}
			if !fd {
				// On the pipe path the SDK hands the target the source's
				// own pipe: the checksum is the source SDK's business.
				ends = append(ends, endBadChecksum)
			}
			before := list(t, in)
			for _, end := range ends {
				_, err, stuck := write(in, sendStream{header: testHeader("abort", time.Now()), data: data, fd: fd, end: end, cut: len(data) / 2})
				if stuck != nil {
					t.Errorf("contract: a cancelled Write must stop: %s after the cancel it still ran (it held the stream pipe, had not returned, or left a child process)", stopTimeout)
				}
				if err == nil {
					t.Errorf("contract: a Write whose stream ends with a %s must fail; it reported success", end)
				}
				// The Write has ended (for a cancel: the plugin let go of the
				// pipe and its children), so nothing can be committed later.
				if added := newIDs(before, list(t, in)); len(added) > 0 {
					t.Fatalf("contract: nothing may be committed without a successful trailer; after a %s, List shows new snapshots %v", end, added)
				}
			}
			// The aborts left the repository usable (no stale lock).
			if _, err, _ := write(in, sendStream{header: testHeader("after-abort", time.Now()), data: data[:1000], fd: fd, end: endSuccess}); err != nil {
				t.Errorf("a Write after aborted ones failed: %v", err)
			}
		})
	}

	t.Run("EmptyStream", func(t *testing.T) {
		if f.SkipEmptyStream != "" {
			t.Skip(f.SkipEmptyStream)
		}
		in := start(t, GRPC, f.Config(t))
		before := list(t, in)
		resp, err, _ := write(in, sendStream{header: testHeader("empty", time.Now()), data: nil, end: endSuccess})
		added := newIDs(before, list(t, in))
		if err != nil {
			if len(added) > 0 {
				t.Fatalf("contract: a Write that fails must store nothing; the empty stream's Write failed (%v) but List shows new snapshots %v", err, added)
			}
			t.Fatalf("an empty stream must be stored (a source may produce one): %v", err)
		}
		s, err := read(in, resp.GetSnapshot().GetId(), false)
		if err != nil {
			t.Fatalf("reading the empty stream back: %v", err)
		}
		reportFraming(t, s)
		if err := checkTrailer(s); err != nil || len(s.data) != 0 {
			t.Fatalf("reading the empty stream back: %d bytes, %v", len(s.data), err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		in := start(t, GRPC, f.Config(t))
		_, err := read(in, "00000000deadbeef00000000deadbeef00000000deadbeef00000000deadbeef", false)
		if !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("Read of a snapshot that does not exist must fail with sdk.ErrNotFound (the host then lists the available ones); got %v", err)
		}
	})

	t.Run("Directory", func(t *testing.T) {
		in := start(t, Pipe, f.Config(t))
		if !in.has(sdk.CapPath) {
			t.Skipf("the target does not declare %q", sdk.CapPath)
		}
		checkDirectory(t, in)
	})

	t.Run("PermissionDenied", func(t *testing.T) {
		if f.Denied == nil {
			t.Skip("the fixture has no Denied configuration")
		}
		cfg, op := f.Denied(t)
		in := start(t, GRPC, cfg)
		var err error
		switch op {
		case OpWrite:
			_, err, _ = write(in, sendStream{header: testHeader("denied", time.Now()), data: data[:1000], end: endSuccess})
		case OpList:
			_, err = in.c.Target.List(ctxTimeout(t), &pb.ListRequest{})
			err = wire.FromStatus(err)
		case OpPrune:
			for i, day := range []int{-2, -1} {
				h := testHeader("prune", time.Now().AddDate(0, 0, day))
				if _, err, _ := write(in, sendStream{header: h, data: data[:1000+i], end: endSuccess}); err != nil {
					t.Fatalf("Write with the Denied configuration (needed before pruning): %v", err)
				}
			}
			_, err = in.c.Target.Prune(ctxTimeout(t), &pb.PruneRequest{Keep: &pb.KeepPolicy{Daily: 1}, Host: "conformance-host"})
			err = wire.FromStatus(err)
		default:
			t.Fatalf("conformance: unknown Op %q", op)
		}
		if !errors.Is(err, sdk.ErrPermissionDenied) {
			t.Errorf("contract: a denied %s must be reported as sdk.ErrPermissionDenied (the host never alerts on those: a write-only key is expected to be refused); got %v", op, err)
		} else {
			t.Logf("%s denied: %v", op, err)
		}
	})
}

func testHeader(name string, when time.Time) *pb.StreamHeader {
	run := "conformance-" + name
	return &pb.StreamHeader{
		Component: "conformance", FileName: "conformance-" + name + ".bin", MediaType: "application/octet-stream",
		RunId: run, Tags: []string{"timetiles-backup", "conformance", "run:" + run},
		Host: "conformance-host", TimeUnix: when.Unix(),
	}
}

// checkListed checks what the host reads back from List: runs are grouped
// by tags and ordered by time; retention groups by host.
func checkListed(t *testing.T, s sdk.Snapshot, h *pb.StreamHeader) {
	t.Helper()
	for _, tag := range h.Tags {
		if !slices.Contains(s.Tags, tag) {
			t.Errorf("List shows snapshot %s with tags %v, missing %q written with it (the host finds runs by tags)", s.ID, s.Tags, tag)
		}
	}
	if s.Host != h.Host {
		t.Errorf("List shows snapshot %s with host %q, written with %q", s.ID, s.Host, h.Host)
	}
	if d := s.Time.Sub(time.Unix(h.TimeUnix, 0)); d < -time.Second || d > time.Second {
		t.Errorf("List shows snapshot %s taken at %s, written with time %s (the host orders runs by it)", s.ID, s.Time, time.Unix(h.TimeUnix, 0))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(b)
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkDirectory stores a directory natively (CapPath) and restores it.
func checkDirectory(t *testing.T, in *instance) {
	src := t.TempDir()
	files := map[string][]byte{"a.txt": []byte("alpha\n"), "sub/b.bin": randomBytes(70000), "sub/deeper/c": {}}
	for p, b := range files {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeDir := func(success bool) (*pb.WriteResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		ws, err := in.c.Target.Write(ctx)
		if err != nil {
			return nil, wire.FromStatus(err)
		}
		h := testHeader("dir", time.Now())
		h.LocalPath = src
		tr := &pb.StreamTrailer{Success: success, Files: uint64(len(files))}
		if !success {
			tr.Error = "conformance: the source failed"
		}
		for _, m := range []*pb.StreamMessage{{Msg: &pb.StreamMessage_Header{Header: h}}, {Msg: &pb.StreamMessage_Trailer{Trailer: tr}}} {
			if err := ws.Send(&pb.WriteRequest{Message: m}); err != nil {
				break
			}
		}
		resp, err := ws.CloseAndRecv()
		return resp, wire.FromStatus(err)
	}
	before := list(t, in)
	if _, err := writeDir(false); err == nil {
		t.Errorf("contract: a directory stream with a failed trailer must not be stored; Write succeeded")
	}
	if added := newIDs(before, list(t, in)); len(added) > 0 {
		t.Fatalf("contract: nothing may be committed without a successful trailer; List shows %v", added)
	}
	resp, err := writeDir(true)
	if err != nil {
		t.Fatalf("Write of a directory: %v", err)
	}
	id := resp.GetSnapshot().GetId()
	if added := newIDs(before, list(t, in)); !slices.Equal(added, []string{id}) {
		t.Fatalf("after one directory Write, List shows new snapshots %v, want [%s]", added, id)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	rs, err := in.c.Target.Read(ctx, &pb.ReadRequest{SnapshotId: id, LocalPath: dest})
	if err != nil {
		t.Fatal(wire.FromStatus(err))
	}
	s, err := collect(func() (*pb.StreamMessage, error) { m, err := rs.Recv(); return m.GetMessage(), err }, false)
	if err != nil {
		t.Fatalf("Read into %s: %v", dest, err)
	}
	reportFraming(t, s)
	if err := wire.TrailerError(s.trailer); err != nil {
		t.Fatalf("Read into %s: %v", dest, err)
	}
	got := map[string][]byte{}
	_ = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dest, p)
			got[rel], _ = os.ReadFile(p)
		}
		return nil
	})
	for p, b := range files {
		if !bytes.Equal(got[p], b) {
			t.Errorf("restored directory: %s has %d bytes, want %d (restored files: %v)", p, len(got[p]), len(b), keys(got))
		}
	}
	if len(got) != len(files) {
		t.Errorf("restored directory holds %v, want %v", keys(got), keys(files))
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
