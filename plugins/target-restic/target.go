// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

// DefaultRepository is TimeTiles' local repository.
const DefaultRepository = "/opt/timetiles/backups/restic-repo"

// Target is the restic target plugin. One process serves one repository:
// the host starts it once as instance "local" (RESTIC_REPOSITORY) and, for
// offsite work, once as instance "offsite" (RESTIC_OFFSITE_REPOSITORY).
type Target struct {
	repo     *restic.Repo
	version  restic.Version
	instance string
	cfg      sdk.Config
	known    knownSnapshots
}

// Info describes the plugin and every variable it reads.
func (t *Target) Info() sdk.Info {
	return sdk.Info{
		Name:         "target-restic",
		Version:      version.Version, // the release it ships with (internal/version)
		Description:  "restic repositories: local, S3-compatible (offsite), rest-server",
		Capabilities: []string{sdk.CapPath},
		ConfigKeys: []sdk.ConfigKey{
			{Name: "RESTIC_REPOSITORY", Default: DefaultRepository, Description: "local repository"},
			{Name: "RESTIC_OFFSITE_REPOSITORY", Description: "offsite repository, e.g. s3:s3.amazonaws.com/bucket/timetiles or rest:https://host/repo"},
			{Name: "RESTIC_PASSWORD", Secret: true, Description: "encrypts both repositories"},
			{Name: "RESTIC_PASSWORD_FILE", Description: "file holding the password (instead of RESTIC_PASSWORD)"},
			{Name: "AWS_ACCESS_KEY_ID", Description: "S3 access key"},
			{Name: "AWS_SECRET_ACCESS_KEY", Secret: true, Description: "S3 secret key"},
			{Name: "AWS_ENDPOINT_URL", Description: "endpoint of a non-AWS S3 provider (B2, Wasabi, MinIO)"},
			{Name: "AWS_DEFAULT_REGION", Description: "S3 region"},
			{Name: "RESTIC_REST_USERNAME", Description: "rest-server user"},
			{Name: "RESTIC_REST_PASSWORD", Secret: true, Description: "rest-server password"},
			{Name: "RESTIC_CACHE_DIR", Description: "restic's cache directory"},
			{Name: "BACKUP_RESTIC_BIN", Default: "restic", Description: "restic executable", Executable: true},
			{Name: "BACKUP_RESTIC_RETRY_LOCK", Default: "2m", Description: "how long restic waits for a locked repository"},
			{Name: "BACKUP_RESTIC_COMPRESSION", Default: "auto", Description: "auto, off or max"},
		},
	}
}

// Configure picks the repository of the instance and checks restic.
func (t *Target) Configure(ctx context.Context, c sdk.Config) error {
	t.instance = c.Instance
	if c.Instance == "offsite" && c.Get("RESTIC_OFFSITE_REPOSITORY") == "" {
		return fmt.Errorf("RESTIC_OFFSITE_REPOSITORY is not set: set it (e.g. s3:s3.amazonaws.com/bucket/timetiles) to use --offsite: %w", sdk.ErrInvalidConfig)
	}
	repo, err := repoOf(c, c.Instance)
	if err != nil {
		return err
	}
	t.repo = repo
	t.cfg = c
	v, err := t.repo.Version(ctx)
	if err != nil {
		return fmt.Errorf("cannot run restic (%s): %v: install restic ≥ 0.16 or set BACKUP_RESTIC_BIN: %w", t.repo.Binary, err, sdk.ErrInvalidConfig)
	}
	if err := restic.CheckSupported(v); err != nil {
		return fmt.Errorf("%s: %v: install restic ≥ %s (Ubuntu: apt install restic) or set BACKUP_RESTIC_BIN: %w", t.repo.Binary, err, restic.MinVersion, sdk.ErrInvalidConfig)
	}
	t.version = v
	return nil
}

// repoOf is the repository of an instance: "offsite" is
// RESTIC_OFFSITE_REPOSITORY, any other RESTIC_REPOSITORY. Every instance
// is configured with all the keys, so the offsite instance can also reach
// the local repository (Copy, Init's params_from).
func repoOf(c sdk.Config, instance string) (*restic.Repo, error) {
	var repoURL string
	switch instance {
	case "offsite":
		repoURL = c.Get("RESTIC_OFFSITE_REPOSITORY")
		if repoURL == "" {
			return nil, fmt.Errorf("RESTIC_OFFSITE_REPOSITORY is not set: %w", sdk.ErrInvalidConfig)
		}
	default:
		repoURL = c.GetDefault("RESTIC_REPOSITORY", DefaultRepository)
	}
	var env []string
	if strings.HasPrefix(repoURL, "s3:") {
		if ep := c.Get("AWS_ENDPOINT_URL"); ep != "" {
			u, err := restic.S3Repository(repoURL, ep)
			if err != nil {
				return nil, fmt.Errorf("%v: fix AWS_ENDPOINT_URL or the repository URL: %w", err, sdk.ErrInvalidConfig)
			}
			repoURL = u
		}
		if c.Get("AWS_ACCESS_KEY_ID") == "" || c.Get("AWS_SECRET_ACCESS_KEY") == "" {
			return nil, fmt.Errorf("repository %s is on S3 but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is empty: set both: %w", redactURL(repoURL), sdk.ErrInvalidConfig)
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "RESTIC_REST_USERNAME", "RESTIC_REST_PASSWORD", "RESTIC_CACHE_DIR"} {
		if v := c.Get(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	pw, pwFile := c.Get("RESTIC_PASSWORD"), c.Get("RESTIC_PASSWORD_FILE")
	if pw == "" && pwFile == "" {
		return nil, fmt.Errorf("RESTIC_PASSWORD is empty: set it in the env file (`timetiles-backup init` generates one) and keep a copy away from this server: %w", sdk.ErrInvalidConfig)
	}
	retry, err := time.ParseDuration(c.GetDefault("BACKUP_RESTIC_RETRY_LOCK", "2m"))
	if err != nil {
		return nil, fmt.Errorf("BACKUP_RESTIC_RETRY_LOCK=%q is not a duration (e.g. 2m): %w", c.Get("BACKUP_RESTIC_RETRY_LOCK"), sdk.ErrInvalidConfig)
	}
	return &restic.Repo{
		Binary:       c.GetDefault("BACKUP_RESTIC_BIN", "restic"),
		Repository:   repoURL,
		Password:     pw,
		PasswordFile: pwFile,
		Env:          env,
		Logger:       sdk.Logger,
		RetryLock:    retry,
	}, nil
}

// peer is the repository of another instance (Copy's source, Init's
// params_from).
func (t *Target) peer(instance string) (*restic.Repo, error) {
	if instance == t.instance {
		return nil, fmt.Errorf("cannot copy the %s repository into itself: %w", instance, sdk.ErrInvalidConfig)
	}
	return repoOf(t.cfg, instance)
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// Write stores a stream (restic backup --stdin, committed only at the
// reader's end of file) or a directory (native restic backup).
func (t *Target) Write(ctx context.Context, h sdk.Header, r io.Reader) (sdk.WriteResult, error) {
	opts := restic.BackupOptions{Filename: h.FileName, Tags: h.Tags, Host: h.Host, Time: h.Time,
		// restic's --json status lines go to the host (bytes, rate, ETA).
		Progress: func(st restic.Status) {
			sdk.ReportProgress(sdk.Progress{Component: h.Component, RunID: h.RunID, BytesDone: st.BytesDone, TotalBytes: st.TotalBytes,
				FilesDone: st.FilesDone, TotalFiles: st.TotalFiles, Elapsed: time.Duration(st.SecondsElapsed) * time.Second})
		}}
	var sum *restic.Summary
	var err error
	if h.LocalPath != "" {
		sum, err = t.repo.BackupPaths(ctx, opts, h.LocalPath)
	} else {
		if opts.Filename == "" {
			opts.Filename = h.Component
		}
		sum, err = t.repo.BackupStdin(ctx, opts, r)
		if err != nil && restic.IsIncomplete(err) && sum != nil && sum.SnapshotID != "" && sum.TotalBytesProcessed == 0 && ctx.Err() == nil {
			// An empty stream (a source may produce one): restic reads no
			// data, says "no data read" (exit 3) and stores a snapshot
			// without the file. That snapshot is the empty stream; Read
			// gives it back as zero bytes.
			err = nil
		}
	}
	if err != nil {
		return sdk.WriteResult{}, t.sdkErr(withUnreadable(err, sum))
	}
	for _, w := range sum.Warnings {
		sdk.Logger.Warn("restic", "warning", w)
	}
	added := sum.DataAddedPacked
	if added == 0 {
		added = sum.DataAdded
	}
	return sdk.WriteResult{
		Snapshot:   sdk.Snapshot{ID: sum.SnapshotID, Time: h.Time, Host: h.Host, Tags: h.Tags, Component: h.Component, RunID: h.RunID, Size: sum.TotalBytesProcessed, FileName: h.FileName},
		BytesAdded: added,
	}, nil
}

// List returns the repository's snapshots.
func (t *Target) List(ctx context.Context, tags []string) ([]sdk.Snapshot, error) {
	snaps, err := t.repo.Snapshots(ctx, restic.SnapshotFilter{Tags: tags})
	if err != nil {
		return nil, t.sdkErr(err)
	}
	t.known.remember(snaps)
	out := make([]sdk.Snapshot, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, toSDK(s))
	}
	return out, nil
}

func toSDK(s restic.Snapshot) sdk.Snapshot {
	sn := sdk.Snapshot{ID: s.ID, Time: s.Time, Host: s.Hostname, Tags: s.Tags, Paths: s.Paths}
	if len(s.Paths) == 1 {
		sn.FileName = path.Base(s.Paths[0])
	}
	if s.Summary != nil {
		sn.Size = s.Summary.TotalBytesProcessed
		// As the backup reported it (WriteResult.BytesAdded): packed
		// (compressed) bytes where restic records them.
		sn.BytesAdded = s.Summary.DataAddedPacked
		if sn.BytesAdded == 0 {
			sn.BytesAdded = s.Summary.DataAdded
		}
	}
	return sn
}

// Read streams a stdin snapshot's file back (restic dump), or restores a
// directory snapshot natively into req.LocalPath.
func (t *Target) Read(ctx context.Context, req sdk.ReadRequest, out sdk.ReadStream) error {
	if req.LocalPath != "" {
		return t.sdkErr(t.repo.Restore(ctx, req.SnapshotID, "", req.LocalPath, restic.RestoreOptions{Delete: true}))
	}
	sn, ok := t.known.get(req.SnapshotID)
	if !ok {
		s, err := t.repo.Snapshot(ctx, req.SnapshotID)
		if err != nil {
			return t.sdkErr(err)
		}
		sn = *s
	}
	// A stream snapshot holds one file, /<file name> (restic --stdin).
	if len(sn.Paths) != 1 || path.Dir(sn.Paths[0]) != "/" {
		return fmt.Errorf("snapshot %s holds %v, not one streamed file: restore it as a directory: %w", req.SnapshotID, sn.Paths, sdk.ErrInvalidConfig)
	}
	file := sn.Paths[0]
	w, err := out.Start(sdk.Header{FileName: path.Base(file), Tags: sn.Tags, Host: sn.Hostname, Time: sn.Time})
	if err != nil {
		return err
	}
	err = t.repo.Dump(ctx, sn.ID, file, w)
	if err != nil && restic.IsNotFound(err) && emptyStream(&sn) {
		return nil // an empty stream (see Write): zero bytes
	}
	return t.sdkErr(err)
}

// emptyStream reports whether a stream snapshot holds no file: what restic
// stores for an empty stdin stream (0.16 records no summary; its Dump then
// fails the same way for a missing file, which only an empty stream lacks).
func emptyStream(sn *restic.Snapshot) bool {
	return sn.Summary == nil || (sn.Summary.TotalFilesProcessed == 0 && sn.Summary.TotalBytesProcessed == 0)
}
