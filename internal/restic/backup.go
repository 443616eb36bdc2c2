// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/timetiles/timetiles-backup/internal/pipes"
)

// BackupOptions configure BackupStdin and BackupPaths.
type BackupOptions struct {
	// Filename is the name of the single file a stdin snapshot contains
	// (--stdin-filename; default "stdin"). Ignored by BackupPaths.
	Filename string
	// Tags are added to the snapshot (one --tag each; no commas allowed).
	Tags []string
	// Host overrides Repo.Host for this snapshot.
	Host string
	// Time is the snapshot time (--time, second precision, interpreted by
	// restic in the local time zone, which the child shares with us). Zero
	// means now.
	Time time.Time
	// Parent is the parent snapshot ID (--parent); empty lets restic choose.
	Parent string
	// Compression is --compression (auto, off, max); empty: restic's default.
	Compression string
	// ExtraArgs are appended to the backup command line before the source.
	ExtraArgs []string
	// Progress, if set, receives restic's status lines (about once a second).
	Progress func(Status)
}

// Status is one `backup --json` status line.
type Status struct {
	PercentDone      float64  `json:"percent_done"` // 0…1; stays 0 for stdin (size unknown)
	SecondsElapsed   uint64   `json:"seconds_elapsed"`
	SecondsRemaining uint64   `json:"seconds_remaining"`
	TotalFiles       uint64   `json:"total_files"`
	FilesDone        uint64   `json:"files_done"`
	TotalBytes       uint64   `json:"total_bytes"`
	BytesDone        uint64   `json:"bytes_done"`
	ErrorCount       uint64   `json:"error_count"`
	CurrentFiles     []string `json:"current_files"`
}

// Summary is the `summary` line of `backup --json`.
type Summary struct {
	SnapshotID          string
	FilesNew            uint64
	FilesChanged        uint64
	FilesUnmodified     uint64
	DirsNew             uint64
	DirsChanged         uint64
	DirsUnmodified      uint64
	DataBlobs           int64
	TreeBlobs           int64
	DataAdded           uint64 // bytes added before compression
	DataAddedPacked     uint64 // after compression (restic ≥ 0.17; 0 before)
	TotalFilesProcessed uint64
	TotalBytesProcessed uint64
	TotalDuration       time.Duration
	// Warnings are restic's stderr lines of a successful run, e.g.
	// "Remove(<lock/…>) failed: Access Denied" on a bucket without delete
	// permission (the backup is fine but its lock file stays behind).
	Warnings []string
}

type summaryJSON struct {
	MessageType         string  `json:"message_type"`
	FilesNew            uint64  `json:"files_new"`
	FilesChanged        uint64  `json:"files_changed"`
	FilesUnmodified     uint64  `json:"files_unmodified"`
	DirsNew             uint64  `json:"dirs_new"`
	DirsChanged         uint64  `json:"dirs_changed"`
	DirsUnmodified      uint64  `json:"dirs_unmodified"`
	DataBlobs           int64   `json:"data_blobs"`
	TreeBlobs           int64   `json:"tree_blobs"`
	DataAdded           uint64  `json:"data_added"`
	DataAddedPacked     uint64  `json:"data_added_packed"`
	TotalFilesProcessed uint64  `json:"total_files_processed"`
	TotalBytesProcessed uint64  `json:"total_bytes_processed"`
	TotalDuration       float64 `json:"total_duration"`
	SnapshotID          string  `json:"snapshot_id"`
}

// emptyDirMarker is stored as the (never matching) --exclude pattern of a
// snapshot of an empty directory. restic refuses to write a snapshot whose
// root tree has no entries ("snapshot is empty", 0.16.4 and 0.18.1 alike), so
// an empty directory D is backed up from its parent as the single entry
// base(D); the snapshot's paths stay [D] as for the normal layout, and this
// marker in the snapshot's "excludes" tells Restore that the content root is
// /base(D) rather than /. The pattern is anchored at the file system root,
// outside D, so it excludes nothing.
const emptyDirMarker = "/.timetiles-backup-empty-directory-marker"

// contentRootMarker is stored the same way in every snapshot BackupPaths
// makes of a non-empty directory (run inside it, source "."), whose content
// sits at the root of the tree. A directory snapshot without either marker
// was made the usual way (`restic backup /abs/dir`, as TimeTiles' shell tool
// did): its content sits under its absolute path.
const contentRootMarker = "/.timetiles-backup-content-at-root-marker"

func (r *Repo) backupArgs(opts BackupOptions) ([]string, error) {
	args := []string{"backup"}
	host := opts.Host
	if host == "" {
		host = r.Host
	}
	if host != "" {
		args = append(args, "--host", host)
	}
	for _, t := range opts.Tags {
		if t == "" || strings.Contains(t, ",") {
			return nil, fmt.Errorf("restic: invalid tag %q (empty or containing a comma)", t)
		}
		args = append(args, "--tag", t)
	}
	if !opts.Time.IsZero() {
		args = append(args, "--time", formatTime(opts.Time))
	}
	if opts.Parent != "" {
		args = append(args, "--parent", opts.Parent)
	}
	if opts.Compression != "" {
		args = append(args, "--compression", opts.Compression)
	}
	args = append(args, opts.ExtraArgs...)
	return args, nil
}

// formatTime renders t the way restic's --time parses it: "2006-01-02
// 15:04:05" in the local zone (the child inherits our TZ), with the
// fraction of the second (Go's time.Parse, which restic uses, takes a
// fraction after the seconds whatever the layout). Without it two runs
// started in the same second would have equal times and no order: which
// is the latest, which one retention keeps.
func formatTime(t time.Time) string {
	return t.In(time.Local).Format("2006-01-02 15:04:05.999999999")
}

// progressEnv limits restic's status lines: in --json mode it prints 60 a
// second unless RESTIC_PROGRESS_FPS says otherwise.
func (r *Repo) progressEnv(progress func(Status)) []string {
	if hasKey(r.Env, "RESTIC_PROGRESS_FPS") {
		return nil
	}
	if progress != nil {
		return []string{"RESTIC_PROGRESS_FPS=1"}
	}
	return []string{"RESTIC_PROGRESS_FPS=0.1"}
}

// StdinKillGrace is the time an interrupted stdin backup gets between
// SIGINT and SIGKILL (Repo.KillGrace when that is shorter).
const StdinKillGrace = 500 * time.Millisecond

// BackupStdin stores everything read from stdin as the single file
// opts.Filename of a new snapshot.
//
// restic commits whatever it has read once its stdin reaches end-of-file; it
// cannot tell a complete stream from a truncated one. Therefore:
//
//   - If stdin is an *os.File it is handed to restic as its stdin (no copy).
//     The caller must make sure it reaches EOF only when the source
//     succeeded; to abort, cancel ctx while keeping the write end open.
//   - Otherwise BackupStdin creates restic's stdin pipe and copies into it.
//     If the reader fails (any error but io.EOF) or ctx is cancelled, restic
//     is interrupted (SIGINT, SIGKILL after StdinKillGrace) and waited for
//     BEFORE its stdin is closed, so no snapshot is written, and an error of
//     KindInterrupted wrapping the reader's error (or ctx's) is returned.
//     exec.Cmd.Stdin is never given a non-file reader: exec would close the
//     pipe when the reader fails, and restic would commit a truncated file.
//     If the reader blocks forever, its goroutine stays blocked after
//     BackupStdin returns; readers should honour ctx.
//
// An interrupted restic ≥ 0.17 blocked reading stdin only exits when killed;
// a killed restic leaves a stale lock behind (removed by Unlock(ctx, false)).
func (r *Repo) BackupStdin(ctx context.Context, opts BackupOptions, stdin io.Reader) (*Summary, error) {
	if stdin == nil {
		return nil, errors.New("restic: BackupStdin needs a reader")
	}
	name := opts.Filename
	if name == "" {
		name = "stdin"
	}
	args, err := r.backupArgs(opts)
	if err != nil {
		return nil, err
	}
	args = append(args, "--stdin", "--stdin-filename", name)
	out := newBackupOutput(opts.Progress)
	// restic ≥ 0.17 blocked reading stdin ignores SIGINT until its read
	// returns, and stdin must stay open (EOF commits): it is killed after a
	// short grace, so that an interrupted run ends within a second. A
	// killed restic writes no snapshot; its stale lock is removed by the
	// next run (Unlock).
	inv := invocation{op: "backup", args: args, json: true, lock: true, stdout: out, env: r.progressEnv(opts.Progress),
		killGrace: StdinKillGrace}

	if f, ok := stdin.(*os.File); ok && f != nil {
		inv.stdin = f
		p, err := r.start(ctx, inv)
		if err != nil {
			return nil, err
		}
		res, err := p.wait()
		return out.result(res, markAborted(err))
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("restic: stdin pipe: %w", err)
	}
	pipes.GrowFile(pw)
	inv.stdin = pr
	p, err := r.start(ctx, inv)
	pr.Close() // the child has its copy
	if err != nil {
		pw.Close()
		return nil, err
	}

	type copyResult struct{ readErr, writeErr error }
	copied := make(chan copyResult, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			n, rerr := stdin.Read(buf)
			if n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					copied <- copyResult{writeErr: werr}
					return
				}
			}
			switch {
			case rerr == io.EOF:
				copied <- copyResult{}
				return
			case rerr != nil:
				copied <- copyResult{readErr: rerr}
				return
			}
		}
	}()

	var (
		res  *result
		werr error
	)
	exited := make(chan struct{})
	go func() {
		res, werr = p.wait()
		close(exited)
	}()

	// abort stops restic and only then closes its stdin.
	abort := func(cause error) (*Summary, error) {
		select {
		case <-exited:
			// restic had already failed on its own: keep its own error.
			pw.Close()
			if werr == nil {
				return nil, &Error{Op: "backup", Message: "restic exited before the end of its stdin", Err: cause}
			}
			return out.result(res, markAborted(werr))
		default:
		}
		p.interrupt(cause)
		<-exited
		pw.Close()
		if werr == nil {
			// restic finished before the interrupt took effect, which needs
			// EOF on its stdin; it cannot have happened. Be loud anyway.
			return nil, &Error{Op: "backup", ExitCode: 0, Kind: KindOther, Err: cause,
				Message: "restic exited successfully although the backup was aborted"}
		}
		return out.result(res, markAborted(werr))
	}

	select {
	case c := <-copied:
		switch {
		case c.readErr != nil:
			return abort(&SourceError{Err: c.readErr})
		case c.writeErr != nil:
			// restic stopped reading: it has failed (or is failing) on its
			// own; its exit explains why.
			<-exited
			pw.Close()
			if werr == nil {
				return nil, &Error{Op: "backup", Message: "restic stopped reading stdin before its end", Err: c.writeErr}
			}
			return out.result(res, werr)
		case ctx.Err() != nil:
			return abort(ctx.Err())
		default:
			// The source ended successfully: commit by closing stdin.
			pw.Close()
			<-exited
			return out.result(res, werr)
		}
	case <-ctx.Done():
		// exec.Cmd already sent SIGINT (its context derives from ctx).
		return abort(ctx.Err())
	case <-exited:
		// restic failed before the source ended (no repository, locked, …).
		pw.Close()
		if werr == nil {
			return nil, &Error{Op: "backup", Message: "restic exited before the end of its stdin"}
		}
		return out.result(res, markAborted(werr))
	}
}

// SourceError wraps the error of a BackupStdin reader; it is the cause
// (Error.Err) of the KindInterrupted error BackupStdin then returns.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return "stdin source failed: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

func markAborted(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Kind == KindInterrupted {
		e.Message = "backup aborted before commit, no snapshot written"
	}
	return err
}

// BackupPaths backs up the directory dir so that the snapshot's root holds
// dir's content: restic runs in dir with the source ".". In both restic
// 0.16.4 and 0.18.1 the snapshot's paths are then [absolute dir] and its tree
// has dir's entries at the top (/a, /b/…), so `restore <id> --target T` puts
// dir's content directly into T.
//
// An empty directory is backed up from its parent as the single (empty)
// entry base(dir), marked with emptyDirMarker (see there); Restore knows.
//
// Exit code 3 (some files unreadable) returns the summary and an error of
// KindIncomplete whose SnapshotID names the written snapshot.
func (r *Repo) BackupPaths(ctx context.Context, opts BackupOptions, dir string) (*Summary, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("restic: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("restic: backup source: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("restic: backup source %s is not a directory", abs)
	}
	empty, err := isEmptyDir(abs)
	if err != nil {
		return nil, fmt.Errorf("restic: backup source: %w", err)
	}
	if !empty {
		sum, err := r.backupDir(ctx, opts, abs, ".", []string{"--exclude", contentRootMarker})
		if err == nil || !isSnapshotEmpty(err) {
			return sum, err
		}
		// It became empty meanwhile: use the empty layout.
	}
	if abs == "/" {
		return nil, errors.New("restic: cannot back up an empty /")
	}
	return r.backupDir(ctx, opts, filepath.Dir(abs), filepath.Base(abs), []string{"--exclude", emptyDirMarker})
}

func (r *Repo) backupDir(ctx context.Context, opts BackupOptions, cwd, source string, extra []string) (*Summary, error) {
	args, err := r.backupArgs(opts)
	if err != nil {
		return nil, err
	}
	args = append(args, extra...)
	args = append(args, "--", source)
	out := newBackupOutput(opts.Progress)
	res, err := r.run(ctx, invocation{op: "backup", args: args, json: true, lock: true, dir: cwd,
		stdout: out, env: r.progressEnv(opts.Progress)})
	return out.result(res, err)
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return len(names) == 0, err
}

func isSnapshotEmpty(err error) bool {
	var e *Error
	return errors.As(err, &e) && strings.Contains(e.Message, textSnapshotEmpty)
}

// processAlive reports whether pid exists on this machine.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A zombie (killed, not yet reaped — orphans in containers whose init
	// does not reap) answers kill(0) but holds nothing: it is dead.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	return true
}
