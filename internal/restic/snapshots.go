// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Snapshot is one entry of `snapshots --json`.
type Snapshot struct {
	ID             string    `json:"id"`
	ShortID        string    `json:"short_id"`
	Time           time.Time `json:"time"`
	Parent         string    `json:"parent,omitempty"`
	Tree           string    `json:"tree"`
	Paths          []string  `json:"paths"`
	Hostname       string    `json:"hostname"`
	Username       string    `json:"username,omitempty"`
	Tags           []string  `json:"tags,omitempty"`
	Excludes       []string  `json:"excludes,omitempty"`
	ProgramVersion string    `json:"program_version,omitempty"`
	// Original is the ID of the snapshot this one was copied from (restic
	// copy sets it; a copy of a copy keeps the first original).
	Original string           `json:"original,omitempty"`
	Summary  *SnapshotSummary `json:"summary,omitempty"` // restic ≥ 0.17 only
}

// SnapshotSummary is the backup statistics restic ≥ 0.17 stores in snapshots.
type SnapshotSummary struct {
	BackupStart         time.Time `json:"backup_start"`
	BackupEnd           time.Time `json:"backup_end"`
	FilesNew            uint64    `json:"files_new"`
	FilesChanged        uint64    `json:"files_changed"`
	FilesUnmodified     uint64    `json:"files_unmodified"`
	DirsNew             uint64    `json:"dirs_new"`
	DirsChanged         uint64    `json:"dirs_changed"`
	DirsUnmodified      uint64    `json:"dirs_unmodified"`
	DataBlobs           int64     `json:"data_blobs"`
	TreeBlobs           int64     `json:"tree_blobs"`
	DataAdded           uint64    `json:"data_added"`
	DataAddedPacked     uint64    `json:"data_added_packed"`
	TotalFilesProcessed uint64    `json:"total_files_processed"`
	TotalBytesProcessed uint64    `json:"total_bytes_processed"`
}

// EmptyDirectory reports whether the snapshot was made by BackupPaths of an
// empty directory (see emptyDirMarker).
func (s Snapshot) EmptyDirectory() bool {
	return len(s.Paths) == 1 && slices.Contains(s.Excludes, emptyDirMarker)
}

// contentRoot is the path inside the snapshot that holds the backed-up
// directory's content: "/" for BackupPaths snapshots, "/<base>" for the
// empty-directory layout, and the snapshot's single absolute path for a
// directory snapshot made by plain `restic backup /dir` (TimeTiles' shell
// tool), so that all three restore into a target the same way.
func (s Snapshot) contentRoot() string {
	switch {
	case s.EmptyDirectory():
		return "/" + filepath.Base(s.Paths[0])
	case slices.Contains(s.Excludes, contentRootMarker):
		return "/"
	case len(s.Paths) == 1 && path.IsAbs(s.Paths[0]):
		return s.Paths[0]
	}
	return "/"
}

// SnapshotFilter selects snapshots. Empty fields do not filter.
type SnapshotFilter struct {
	// Tags: snapshots having all of these tags (restic --tag a,b).
	Tags []string
	Host string
}

func (f SnapshotFilter) args() ([]string, error) {
	var a []string
	if f.Host != "" {
		a = append(a, "--host", f.Host)
	}
	if len(f.Tags) > 0 {
		for _, t := range f.Tags {
			if t == "" || strings.Contains(t, ",") {
				return nil, fmt.Errorf("restic: invalid tag %q in filter", t)
			}
		}
		a = append(a, "--tag", strings.Join(f.Tags, ","))
	}
	return a, nil
}

// Snapshots lists snapshots, oldest first (restic's order). It runs with
// --no-lock: listing needs no lock, and this way it works while another
// process holds an exclusive lock and on repositories without delete
// permission (where every lock file would stay behind).
func (r *Repo) Snapshots(ctx context.Context, f SnapshotFilter) ([]Snapshot, error) {
	fa, err := f.args()
	if err != nil {
		return nil, err
	}
	return r.snapshots(ctx, append([]string{"snapshots"}, fa...))
}

func (r *Repo) snapshots(ctx context.Context, args []string) ([]Snapshot, error) {
	res, err := r.run(ctx, invocation{op: "snapshots", args: args, json: true, noLock: true})
	if err != nil {
		return nil, err
	}
	var list []Snapshot
	if err := decodeJSONLine(res.stdout, '[', &list); err != nil {
		return nil, &Error{Op: "snapshots", Message: "cannot parse output: " + err.Error()}
	}
	return list, nil
}

// Snapshot returns one snapshot by ID (or unique ID prefix, or "latest").
// A missing snapshot is an error of KindNotFound.
func (r *Repo) Snapshot(ctx context.Context, id string) (*Snapshot, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	// restic prints `Ignoring "x": no matching ID found for prefix "x"` and
	// exits 0 with an empty list for an unknown ID.
	list, err := r.snapshots(ctx, []string{"snapshots", "--", id})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, &Error{Op: "snapshots", Kind: KindNotFound, Message: fmt.Sprintf("snapshot %q not found", id)}
	}
	return &list[len(list)-1], nil
}

func checkID(id string) error {
	if id == "" || strings.HasPrefix(id, "-") || strings.ContainsAny(id, ": \t\n") {
		return fmt.Errorf("restic: invalid snapshot ID %q", id)
	}
	return nil
}

// Reads of a snapshot (Dump, Restore) run with --no-lock: they only read,
// and a restore that fails or is interrupted — restic killed with its
// plugin before it removed its lock — must leave no lock behind. What a
// repository lock would keep away, a concurrent prune, timetiles-backup's
// run lock already does for every run of this host (one backup, prune,
// restore or verify per repository at a time); a prune by another machine
// sharing the repository could make a running restore fail (restic checks
// every blob it reads), never restore wrong bytes.

// Dump streams the file at path (inside the snapshot) to w, e.g.
// Dump(ctx, id, "/database.sql", w) for a stdin snapshot. A directory is
// written as a tar archive (restic's behaviour). Paths are used as they are:
// for an empty-directory snapshot of BackupPaths there is nothing to dump.
// If w is an *os.File, restic writes into it directly.
func (r *Repo) Dump(ctx context.Context, snapshotID, filePath string, w io.Writer) error {
	if err := checkID(snapshotID); err != nil {
		return err
	}
	if w == nil {
		return errors.New("restic: Dump needs a writer")
	}
	if !strings.HasPrefix(filePath, "/") {
		filePath = "/" + filePath
	}
	_, err := r.run(ctx, invocation{op: "dump", args: []string{"dump", "--", snapshotID, filePath}, json: true, noLock: true, stdout: w})
	return err
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Delete removes files from targetDir that are not in the snapshot, so
	// targetDir ends up holding exactly the snapshot's content.
	Delete bool
}

// Restore writes the content of a snapshot made by BackupPaths (or the
// subdirectory subdir of that content; "" for all) into targetDir, which is
// created if needed. It looks the snapshot up first (one extra restic run)
// to find where the content lives, then uses restic's
// `<snapshot>:<subfolder>` syntax (restic ≥ 0.16.0), so the content lands
// directly in targetDir and not under the original absolute path.
//
// Delete uses `restore --delete` on restic ≥ 0.17. restic 0.16 has no such
// flag; there Restore restores into a fresh staging directory inside
// targetDir and, only once that succeeded, removes targetDir's old entries
// and moves the restored ones in (a failed restore leaves targetDir as it
// was).
func (r *Repo) Restore(ctx context.Context, snapshotID, subdir, targetDir string, opts RestoreOptions) error {
	if targetDir == "" {
		return errors.New("restic: Restore needs a target directory")
	}
	sn, err := r.Snapshot(ctx, snapshotID)
	if err != nil {
		return err
	}
	src := path.Join(sn.contentRoot(), path.Clean("/"+filepath.ToSlash(subdir)))
	arg := sn.ID
	if src != "/" {
		arg += ":" + src
	}
	target, err := filepath.Abs(targetDir)
	if err != nil {
		return fmt.Errorf("restic: %w", err)
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return fmt.Errorf("restic: restore target: %w", err)
	}
	if opts.Delete {
		v, err := r.Version(ctx)
		if err != nil {
			return err
		}
		if !v.HasRestoreDelete() {
			return r.restoreReplacing(ctx, arg, target)
		}
		sum, err := r.restore(ctx, arg, target, "--delete")
		if err != nil {
			return err
		}
		if sum.TotalFiles == 0 {
			// restic 0.18.1 `restore --delete` of an empty (sub)tree deletes
			// nothing (its delete pass walks the snapshot's entries); the
			// content is empty, so empty the target ourselves.
			return clearDir(target, "")
		}
		return nil
	}
	_, err = r.restore(ctx, arg, target)
	return err
}

// restoreSummary is the `summary` line of `restore --json`.
type restoreSummary struct {
	TotalFiles    uint64 `json:"total_files"`
	FilesRestored uint64 `json:"files_restored"`
	FilesDeleted  uint64 `json:"files_deleted"`
	TotalBytes    uint64 `json:"total_bytes"`
}

func (r *Repo) restore(ctx context.Context, arg, target string, extra ...string) (*restoreSummary, error) {
	args := append([]string{"restore", "--target", target}, extra...)
	args = append(args, "--", arg)
	res, err := r.run(ctx, invocation{op: "restore", args: args, json: true, noLock: true})
	if err != nil {
		return nil, err
	}
	sum := &restoreSummary{}
	for _, line := range bytes.Split(res.stdout, []byte("\n")) {
		var m struct {
			MessageType string `json:"message_type"`
		}
		if json.Unmarshal(line, &m) == nil && m.MessageType == "summary" {
			_ = json.Unmarshal(line, sum)
		}
	}
	return sum, nil
}

// clearDir removes every entry of dir except keep.
func clearDir(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("restic: %w", err)
	}
	for _, e := range entries {
		if e.Name() == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("restic: removing old content: %w", err)
		}
	}
	return nil
}

// restoreReplacing emulates `restore --delete` for restic 0.16.
func (r *Repo) restoreReplacing(ctx context.Context, arg, target string) error {
	staging, err := os.MkdirTemp(target, ".restic-restore-")
	if err != nil {
		return fmt.Errorf("restic: restore staging directory: %w", err)
	}
	if _, err := r.restore(ctx, arg, staging); err != nil {
		_ = os.RemoveAll(staging)
		return err
	}
	if err := clearDir(target, filepath.Base(staging)); err != nil {
		return err
	}
	restored, err := os.ReadDir(staging)
	if err != nil {
		return fmt.Errorf("restic: %w", err)
	}
	for _, e := range restored {
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(target, e.Name())); err != nil {
			return fmt.Errorf("restic: moving restored content: %w", err)
		}
	}
	return os.Remove(staging)
}

// Node is one entry of `ls --json`.
type Node struct {
	Name  string      `json:"name"`
	Type  string      `json:"type"` // "file", "dir", "symlink", …
	Path  string      `json:"path"`
	Size  uint64      `json:"size"`
	Mode  os.FileMode `json:"mode"`
	MTime time.Time   `json:"mtime"`
}

// Ls lists all entries of a snapshot (paths as stored; see BackupPaths for
// the layout).
func (r *Repo) Ls(ctx context.Context, snapshotID string) ([]Node, error) {
	if err := checkID(snapshotID); err != nil {
		return nil, err
	}
	res, err := r.run(ctx, invocation{op: "ls", args: []string{"ls", "--", snapshotID}, json: true, noLock: true})
	if err != nil {
		return nil, err
	}
	var nodes []Node
	sc := bufio.NewScanner(bytes.NewReader(res.stdout))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var t struct {
			StructType  string `json:"struct_type"`  // 0.16
			MessageType string `json:"message_type"` // 0.17+
		}
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &t) != nil {
			continue
		}
		if t.StructType != "node" && t.MessageType != "node" {
			continue
		}
		var n Node
		if err := json.Unmarshal(line, &n); err != nil {
			return nil, &Error{Op: "ls", Message: "cannot parse output: " + err.Error()}
		}
		nodes = append(nodes, n)
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{Op: "ls", Message: "cannot read output: " + err.Error()}
	}
	return nodes, nil
}

// decodeJSONLine decodes the first stdout line that starts with start ('['
// or '{'); restic sometimes prints other lines (e.g. prune's report) around it.
func decodeJSONLine(out []byte, start byte, v any) error {
	for _, line := range bytes.Split(out, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] == start {
			return json.Unmarshal(line, v)
		}
	}
	return fmt.Errorf("no JSON %q line in %d bytes of output", start, len(out))
}
