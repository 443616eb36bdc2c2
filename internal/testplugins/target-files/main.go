// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-target-files stores each stream as a file in a
// directory (TARGET_DIR, or TARGET_DIR_<INSTANCE> per instance), committed
// by rename only at a successful end of stream; TARGET_DISCARD=1 reads and
// drops the bytes (transport benchmarks). TARGET_STALL=1 never reads.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

type files struct {
	dir     string
	discard bool
	stall   bool
}

type meta struct {
	sdk.Snapshot
	Header sdk.Header
}

func (f *files) Info() sdk.Info {
	return sdk.Info{Name: "target-files", Version: "0.0.1", ConfigKeys: []sdk.ConfigKey{
		{Name: "TARGET_DIR"}, {Name: "TARGET_DIR_LOCAL"}, {Name: "TARGET_DIR_OFFSITE"},
		{Name: "TARGET_DISCARD"}, {Name: "TARGET_STALL_OFFSITE"}, {Name: "TARGET_STALL_LOCAL"},
	}}
}

func (f *files) Configure(_ context.Context, c sdk.Config) error {
	inst := strings.ToUpper(c.Instance)
	f.dir = c.GetDefault("TARGET_DIR_"+inst, c.Get("TARGET_DIR"))
	f.discard = c.Get("TARGET_DISCARD") == "1"
	f.stall = c.Get("TARGET_STALL_"+inst) == "1"
	if f.dir == "" && !f.discard {
		return fmt.Errorf("TARGET_DIR is not set: %w", sdk.ErrInvalidConfig)
	}
	return nil
}

func (f *files) Init(context.Context) (bool, error) {
	if f.discard {
		return false, nil
	}
	_, err := os.Stat(f.dir)
	if err == nil {
		return false, nil
	}
	return true, os.MkdirAll(f.dir, 0o700)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *files) Write(ctx context.Context, h sdk.Header, r io.Reader) (sdk.WriteResult, error) {
	id := newID()
	if f.stall {
		<-ctx.Done()
		return sdk.WriteResult{}, ctx.Err()
	}
	if f.discard {
		n, err := discard(r)
		if err != nil {
			return sdk.WriteResult{}, err
		}
		return sdk.WriteResult{Snapshot: sdk.Snapshot{ID: id, Size: uint64(n)}}, nil
	}
	tmp, err := os.CreateTemp(f.dir, ".part-")
	if err != nil {
		return sdk.WriteResult{}, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r) // io.EOF only after the source's successful trailer
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err != nil {
		return sdk.WriteResult{}, err
	}
	t := h.Time
	if t.IsZero() {
		t = time.Now()
	}
	m := meta{Snapshot: sdk.Snapshot{ID: id, Time: t, Host: h.Host, Tags: h.Tags, Component: h.Component,
		RunID: h.RunID, Size: uint64(n), FileName: h.FileName}, Header: h}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(f.dir, id+".json"), b, 0o600); err != nil {
		return sdk.WriteResult{}, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(f.dir, id+".bin")); err != nil {
		return sdk.WriteResult{}, err
	}
	return sdk.WriteResult{Snapshot: m.Snapshot, BytesAdded: uint64(n)}, nil
}

// discard reads r to its end in ChunkSize reads, as restic reads its stdin,
// and drops the bytes. Not io.Copy(io.Discard, r): io.Discard reads in
// 8 KiB pieces, 128 read calls a MiB, which a transport benchmark would
// charge to the transport.
func discard(r io.Reader) (int64, error) {
	buf := make([]byte, sdk.ChunkSize)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (f *files) List(ctx context.Context, tags []string) ([]sdk.Snapshot, error) {
	ms, err := filepath.Glob(filepath.Join(f.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []sdk.Snapshot
	for _, p := range ms {
		if _, err := os.Stat(strings.TrimSuffix(p, ".json") + ".bin"); err != nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var m meta
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		out = append(out, m.Snapshot)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func (f *files) Read(ctx context.Context, req sdk.ReadRequest, out sdk.ReadStream) error {
	b, err := os.ReadFile(filepath.Join(f.dir, req.SnapshotID+".json"))
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", req.SnapshotID, sdk.ErrNotFound)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	src, err := os.Open(filepath.Join(f.dir, req.SnapshotID+".bin"))
	if err != nil {
		return err
	}
	defer src.Close()
	w, err := out.Start(m.Header)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, src)
	return err
}

func (f *files) Prune(context.Context, sdk.PruneRequest) (sdk.PruneResult, error) {
	return sdk.PruneResult{}, fmt.Errorf("target-files does not prune: %w", sdk.ErrUnimplemented)
}

func (f *files) Verify(context.Context, sdk.VerifyRequest) (string, error) { return "ok", nil }

func main() { sdk.ServeTarget(&files{}) }
