// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-target-dir is an example third-party Target
// plugin: it stores every stream as a file in a directory. It depends on
// timetiles-backup only through the SDK (and the conformance kit in its
// tests), as a plugin outside the repository would.
//
// Layout of DIR_TARGET_PATH (DIR_TARGET_OFFSITE_PATH for the offsite
// instance):
//
//	timetiles-backup-target-dir   marker written by Init
//	data/<id>                     the stream's bytes
//	snapshots/<id>.json           its metadata; its presence commits the snapshot
//
// A Write streams into a temporary file and commits with two renames (data,
// then metadata) only when the reader reports io.EOF, which the SDK does
// only after the source's successful trailer. Any other outcome removes the
// temporary file: an aborted stream leaves nothing behind.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

const marker = "timetiles-backup-target-dir"

type dirTarget struct {
	dir string
}

// record is what snapshots/<id>.json holds.
type record struct {
	Snapshot sdk.Snapshot `json:"snapshot"`
	Header   sdk.Header   `json:"header"`
	SHA256   string       `json:"sha256"`
}

func (d *dirTarget) Info() sdk.Info {
	return sdk.Info{
		Name:        "target-dir",
		Version:     "1.0.0",
		Description: "example third-party target: streams as files in a directory",
		ConfigKeys: []sdk.ConfigKey{
			{Name: "DIR_TARGET_PATH", Description: "directory of the local repository"},
			{Name: "DIR_TARGET_OFFSITE_PATH", Description: "directory of the offsite repository (another disk or mount)"},
		},
	}
}

func (d *dirTarget) Configure(_ context.Context, c sdk.Config) error {
	key := "DIR_TARGET_PATH"
	if c.Instance == "offsite" {
		key = "DIR_TARGET_OFFSITE_PATH"
	}
	d.dir = c.Get(key)
	if d.dir == "" || !filepath.IsAbs(d.dir) {
		return fmt.Errorf("%s=%q: set it to an absolute directory path: %w", key, d.dir, sdk.ErrInvalidConfig)
	}
	return nil
}

// kind gives file-system errors the SDK's kinds, which survive the trip
// to the host.
func kind(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (%w)", err, sdk.ErrPermissionDenied)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (%w)", err, sdk.ErrNotFound)
	}
	return err
}

func (d *dirTarget) Init(context.Context) (bool, error) {
	if _, err := os.Stat(filepath.Join(d.dir, marker)); err == nil {
		return false, nil
	}
	for _, sub := range []string{"data", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			return false, kind(err)
		}
	}
	return true, kind(os.WriteFile(filepath.Join(d.dir, marker), []byte("1\n"), 0o600))
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *dirTarget) Write(ctx context.Context, h sdk.Header, r io.Reader) (sdk.WriteResult, error) {
	if h.LocalPath != "" {
		return sdk.WriteResult{}, fmt.Errorf("target-dir stores byte streams, not directories: %w", sdk.ErrUnimplemented)
	}
	tmp, err := os.CreateTemp(filepath.Join(d.dir, "data"), ".part-")
	if err != nil {
		return sdk.WriteResult{}, kind(err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), r) // nil (io.EOF) only after a successful trailer
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return sdk.WriteResult{}, kind(err)
	}
	id := newID()
	when := h.Time
	if when.IsZero() {
		when = time.Now()
	}
	rec := record{
		Snapshot: sdk.Snapshot{ID: id, Time: when, Host: h.Host, Tags: h.Tags, Component: h.Component,
			RunID: h.RunID, Size: uint64(n), FileName: h.FileName},
		Header: h,
		SHA256: hex.EncodeToString(sum.Sum(nil)),
	}
	meta, err := json.Marshal(rec)
	if err != nil {
		return sdk.WriteResult{}, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, "data", id)); err != nil {
		return sdk.WriteResult{}, kind(err)
	}
	if err := writeAtomically(filepath.Join(d.dir, "snapshots", id+".json"), meta); err != nil {
		os.Remove(filepath.Join(d.dir, "data", id))
		return sdk.WriteResult{}, kind(err)
	}
	return sdk.WriteResult{Snapshot: rec.Snapshot, BytesAdded: uint64(n)}, nil
}

// writeAtomically writes a small file by rename, so it is whole or absent.
func writeAtomically(path string, b []byte) error {
	tmp := path + ".part"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func (d *dirTarget) records() ([]record, error) {
	paths, err := filepath.Glob(filepath.Join(d.dir, "snapshots", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []record
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, kind(err)
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Snapshot.Time.Before(out[j].Snapshot.Time) })
	return out, nil
}

func (d *dirTarget) List(_ context.Context, tags []string) ([]sdk.Snapshot, error) {
	if _, err := os.Stat(filepath.Join(d.dir, marker)); err != nil {
		return nil, fmt.Errorf("no target-dir repository at %s: %w", d.dir, sdk.ErrNotFound)
	}
	recs, err := d.records()
	if err != nil {
		return nil, err
	}
	var out []sdk.Snapshot
	for _, rec := range recs {
		if !slices.ContainsFunc(tags, func(t string) bool { return !slices.Contains(rec.Snapshot.Tags, t) }) {
			out = append(out, rec.Snapshot)
		}
	}
	return out, nil
}

func (d *dirTarget) record(id string) (record, error) {
	var rec record
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return rec, fmt.Errorf("snapshot %q: %w", id, sdk.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(d.dir, "snapshots", id+".json"))
	if err != nil {
		return rec, fmt.Errorf("snapshot %s: %w", id, kind(err))
	}
	return rec, json.Unmarshal(b, &rec)
}

func (d *dirTarget) Read(_ context.Context, req sdk.ReadRequest, out sdk.ReadStream) error {
	if req.LocalPath != "" {
		return fmt.Errorf("target-dir stores byte streams, not directories: %w", sdk.ErrUnimplemented)
	}
	rec, err := d.record(req.SnapshotID)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(d.dir, "data", rec.Snapshot.ID))
	if err != nil {
		return kind(err)
	}
	defer f.Close()
	w, err := out.Start(rec.Header)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// Prune removes the snapshots the host chose (req.Forget): metadata first,
// so a snapshot disappears whole, then its data.
func (d *dirTarget) Prune(_ context.Context, req sdk.PruneRequest) (sdk.PruneResult, error) {
	if len(req.Forget) == 0 {
		return sdk.PruneResult{}, fmt.Errorf("target-dir removes only the snapshots the host names: %w", sdk.ErrUnimplemented)
	}
	var res sdk.PruneResult
	for _, id := range req.Forget {
		rec, err := d.record(id)
		if err != nil {
			return res, err
		}
		if !req.DryRun {
			if err := os.Remove(filepath.Join(d.dir, "snapshots", id+".json")); err != nil {
				return res, kind(err)
			}
			if err := os.Remove(filepath.Join(d.dir, "data", id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, kind(err)
			}
		}
		res.Removed = append(res.Removed, rec.Snapshot)
	}
	return res, nil
}

// Verify re-reads every snapshot and compares its size and SHA-256 with
// what Write recorded.
func (d *dirTarget) Verify(ctx context.Context, _ sdk.VerifyRequest) (string, error) {
	recs, err := d.records()
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		f, err := os.Open(filepath.Join(d.dir, "data", rec.Snapshot.ID))
		if err != nil {
			return "", fmt.Errorf("snapshot %s: %w", rec.Snapshot.ID, kind(err))
		}
		sum := sha256.New()
		n, err := io.Copy(sum, f)
		f.Close()
		if err != nil {
			return "", err
		}
		want, _ := hex.DecodeString(rec.SHA256)
		if uint64(n) != rec.Snapshot.Size || !bytes.Equal(sum.Sum(nil), want) {
			return "", fmt.Errorf("snapshot %s is damaged: %d bytes, sha256 %x; recorded %d bytes, %s",
				rec.Snapshot.ID, n, sum.Sum(nil), rec.Snapshot.Size, rec.SHA256)
		}
	}
	return fmt.Sprintf("%d snapshots verified", len(recs)), nil
}

func main() { sdk.ServeTarget(&dirTarget{}) }
