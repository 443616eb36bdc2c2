// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/go-plugin"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

// eofWithData returns its last bytes together with io.EOF, as io.Reader
// allows: a framing loop that looks at the error first drops them.
type eofWithData struct {
	data []byte
	step int
}

func (r *eofWithData) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data[:min(len(r.data), r.step)])
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

type testSource struct {
	data    []byte
	step    int
	failAt  int
	panics  bool
	restore bytes.Buffer
}

func (s *testSource) Info() Info                              { return Info{Name: "source-test", Version: "1"} }
func (s *testSource) Configure(context.Context, Config) error { return nil }
func (s *testSource) Backup(ctx context.Context, req BackupRequest, out BackupStream) error {
	if s.panics {
		panic("boom")
	}
	w, err := out.Start(Header{FileName: "x.bin"})
	if err != nil {
		return err
	}
	if s.failAt > 0 {
		w.Write(s.data[:s.failAt])
		return errors.New("failed half-way")
	}
	_, err = io.Copy(w, &eofWithData{data: s.data, step: s.step})
	return err
}
func (s *testSource) Restore(ctx context.Context, req RestoreRequest, r io.Reader) error {
	_, err := io.Copy(&s.restore, r)
	return err
}

func inProcess(t *testing.T, impl Plugin, kind string) *wire.Client {
	t.Helper()
	rt := &pluginRuntime{root: context.Background()}
	client, _ := plugin.TestPluginGRPCConn(t, true, map[string]plugin.Plugin{kind: &grpcPlugin{kind: kind, impl: impl, rt: rt}})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*wire.Client)
}

func collect(t *testing.T, c *wire.Client, algo string) ([]byte, *pb.StreamTrailer) {
	t.Helper()
	bs, err := c.Source.Backup(context.Background(), &pb.BackupRequest{ChecksumAlgorithm: algo}, wire.CallOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	for {
		m, err := bs.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch v := m.GetMessage().GetMsg().(type) {
		case *pb.StreamMessage_Chunk:
			got.Write(v.Chunk)
		case *pb.StreamMessage_Trailer:
			return got.Bytes(), v.Trailer
		}
	}
}

func TestChunkStreamKeepsBytesReturnedWithEOF(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 200_001) // ~3.2 MB, not chunk-aligned
	for _, step := range []int{1 << 20, 7777, len(data)} {
		c := inProcess(t, &testSource{data: data, step: step}, KindSource)
		got, tr := collect(t, c, ChecksumSHA256)
		if !bytes.Equal(got, data) {
			t.Fatalf("step %d: got %d bytes, want %d", step, len(got), len(data))
		}
		sum := sha256.Sum256(data)
		if !tr.Success || tr.Size != uint64(len(data)) || !bytes.Equal(tr.Checksum, sum[:]) || tr.ChecksumAlgorithm != "sha256" {
			t.Fatalf("trailer %+v", tr)
		}
	}
}

func TestFailedSourceSendsFailedTrailer(t *testing.T) {
	c := inProcess(t, &testSource{data: make([]byte, 1000), failAt: 500}, KindSource)
	_, tr := collect(t, c, "")
	if tr.Success || tr.Error != "failed half-way" || tr.Size != 500 {
		t.Fatalf("trailer %+v", tr)
	}
}

func TestPanicBecomesError(t *testing.T) {
	c := inProcess(t, &testSource{panics: true}, KindSource)
	bs, err := c.Source.Backup(context.Background(), &pb.BackupRequest{})
	if err == nil {
		_, err = bs.Recv()
	}
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("panicked")) {
		t.Fatalf("err = %v, want a panic error", err)
	}
	// The plugin still serves.
	if _, err := c.Info(context.Background()); err != nil {
		t.Fatalf("after panic: %v", err)
	}
}

func chunkMsgs(chunks ...[]byte) []*pb.StreamMessage {
	var out []*pb.StreamMessage
	for _, c := range chunks {
		out = append(out, &pb.StreamMessage{Msg: &pb.StreamMessage_Chunk{Chunk: c}})
	}
	return out
}

func recvFrom(msgs []*pb.StreamMessage, tail error) func() (*pb.StreamMessage, error) {
	return func() (*pb.StreamMessage, error) {
		if len(msgs) == 0 {
			return nil, tail
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, nil
	}
}

func TestChunkReaderCommitsOnlyOnGoodTrailer(t *testing.T) {
	data := []byte("hello world")
	h, _ := NewChecksum(ChecksumXXH3)
	h.Write(data)
	good := &pb.StreamTrailer{Success: true, Size: uint64(len(data)), ChecksumAlgorithm: ChecksumXXH3, Checksum: h.Sum(nil)}
	trailer := func(t *pb.StreamTrailer) *pb.StreamMessage {
		return &pb.StreamMessage{Msg: &pb.StreamMessage_Trailer{Trailer: t}}
	}
	cases := map[string]struct {
		msgs    []*pb.StreamMessage
		wantEOF bool
	}{
		"good":          {append(chunkMsgs(data[:5], data[5:]), trailer(good)), true},
		"cut short":     {chunkMsgs(data[:5]), false},
		"failed":        {append(chunkMsgs(data), trailer(&pb.StreamTrailer{Success: false, Error: "pg_dump died"})), false},
		"size mismatch": {append(chunkMsgs(data[:5]), trailer(good)), false},
		"bad checksum":  {append(chunkMsgs([]byte("hellO world")), trailer(good)), false},
	}
	for name, tc := range cases {
		r := newChunkReader(recvFrom(tc.msgs, errors.New("stream broke")), ChecksumXXH3)
		_, err := io.ReadAll(r) // ReadAll returns nil on io.EOF
		if tc.wantEOF && err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !tc.wantEOF && !errors.Is(err, ErrAborted) {
			t.Errorf("%s: err = %v, want ErrAborted", name, err)
		}
	}
}
