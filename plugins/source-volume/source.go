// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Configuration keys.
const (
	keyHostDir     = "UPLOAD_HOST_DIR"
	keyTimeTiles   = "TIMETILES_DIR"
	keyVolume      = "BACKUP_UPLOADS_VOLUME"
	keyDocker      = "BACKUP_DOCKER"
	defaultHostDir = "./uploads"
	defaultTTDir   = "/opt/timetiles"
	defaultDocker  = "docker"
)

// Stream description.
const (
	component     = "uploads"
	tarFileName   = "uploads.tar"
	tarMediaType  = "application/x-tar"
	pathFileName  = "uploads"
	pathMediaType = "inode/directory"
)

// logger is the part of sdk.Logger (an hclog.Logger) the plugin uses; tests
// record what is logged through it.
type logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

// volumeSource backs up and restores TimeTiles' uploads directory.
type volumeSource struct {
	log logger

	// Exactly one of hostDir (absolute) and volume is set after Configure.
	hostDir string
	volume  string
	docker  string

	mu     sync.Mutex
	stages map[string]*stage // native restores in progress, by staging directory

	// beforeRead, when set (tests only), is called with the slash-separated
	// path of every regular file and directory just before the backup opens
	// it, so that a test can change the tree mid-walk.
	beforeRead func(rel string)
}

func newSource() *volumeSource { return &volumeSource{log: sdk.Logger} }

func (s *volumeSource) Info() sdk.Info {
	return sdk.Info{
		Name:        "source-volume",
		Version:     version.Version, // the release it ships with (internal/version)
		Description: "TimeTiles uploads: a host directory (bind mount) or a Docker named volume, as a directory snapshot or a tar stream",
		Components:  []string{component},
		// A directory (--to applies), snapshotted after the components
		// declared BackupFirst (the database whose rows refer to it).
		ComponentSpecs: []sdk.ComponentSpec{{Name: component, Restore: sdk.RestoreDirectory}},
		// The SDK adds CapFD itself.
		Capabilities: []string{sdk.CapPath},
		ConfigKeys: []sdk.ConfigKey{
			{Name: keyHostDir, Default: defaultHostDir, Description: "uploads directory on the host (TimeTiles' bind mount); a relative path is resolved against " + keyTimeTiles + ". Used unless " + keyVolume + " is set; setting both is an error"},
			{Name: keyTimeTiles, Default: defaultTTDir, Description: "TimeTiles installation directory, against which a relative " + keyHostDir + " is resolved"},
			{Name: keyVolume, Description: "Docker named volume holding the uploads instead of a host directory (older deployments), e.g. timetiles_uploads_data; resolved to its mountpoint with `docker volume inspect`"},
			{Name: keyDocker, Default: defaultDocker, Description: "docker CLI used to resolve " + keyVolume, Executable: true},
		},
	}
}

// volumeName is what Docker accepts as a volume name
// (github.com/moby/moby volume/local: [a-zA-Z0-9][a-zA-Z0-9_.-]+). Checking
// it also keeps a value such as "--help" from being read as a docker flag.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (s *volumeSource) Configure(_ context.Context, c sdk.Config) error {
	host, vol := c.Get(keyHostDir), c.Get(keyVolume)
	s.docker = c.GetDefault(keyDocker, defaultDocker)
	switch {
	case host != "" && vol != "":
		return fmt.Errorf("%w: both %s (%q) and %s (%q) are set: set %s for a bind-mounted uploads directory or %s for a Docker named volume, not both",
			sdk.ErrInvalidConfig, keyHostDir, host, keyVolume, vol, keyHostDir, keyVolume)
	case vol != "":
		if !volumeName.MatchString(vol) {
			return fmt.Errorf("%w: %s=%q is not a Docker volume name (letters, digits, '_', '.', '-'; see `docker volume ls`)", sdk.ErrInvalidConfig, keyVolume, vol)
		}
		s.volume, s.hostDir = vol, ""
		return nil
	}
	// Like TimeTiles' compose file: UPLOAD_HOST_DIR defaults to ./uploads,
	// relative to the installation directory.
	if host == "" {
		host = defaultHostDir
	}
	if !filepath.IsAbs(host) {
		host = filepath.Join(c.GetDefault(keyTimeTiles, defaultTTDir), host)
	}
	abs, err := filepath.Abs(host) // a relative TIMETILES_DIR: against the working directory
	if err != nil {
		return fmt.Errorf("%w: %s: %v", sdk.ErrInvalidConfig, keyHostDir, err)
	}
	s.hostDir, s.volume = abs, ""
	return nil
}

// location is the resolved uploads directory.
type location struct {
	dir string
	// what names the setting it came from, for messages, e.g.
	// "UPLOAD_HOST_DIR" or "BACKUP_UPLOADS_VOLUME=uploads_data".
	what string
	// volume: dir is a Docker volume's mountpoint, which cannot be renamed.
	volume bool
}

// locate resolves the configured directory (running docker for a volume).
func (s *volumeSource) locate(ctx context.Context) (location, error) {
	if s.volume != "" {
		dir, err := inspectVolume(ctx, s.docker, s.volume)
		if err != nil {
			return location{}, err
		}
		return location{dir: dir, what: keyVolume + "=" + s.volume, volume: true}, nil
	}
	if s.hostDir == "" {
		return location{}, fmt.Errorf("%w: the plugin was not configured", sdk.ErrInvalidConfig)
	}
	return location{dir: s.hostDir, what: keyHostDir}, nil
}

// existingDir checks that the uploads directory exists.
func existingDir(loc location) error {
	fi, err := os.Stat(loc.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: uploads directory %s (from %s) does not exist: set %s to TimeTiles' uploads directory, or %s to its Docker volume",
			sdk.ErrInvalidConfig, loc.dir, loc.what, keyHostDir, keyVolume)
	case err != nil:
		return fmt.Errorf("uploads directory %s (from %s): %w", loc.dir, loc.what, err)
	case !fi.IsDir():
		return fmt.Errorf("%w: uploads directory %s (from %s) is not a directory", sdk.ErrInvalidConfig, loc.dir, loc.what)
	}
	return nil
}

// Backup hands the directory to the target when it snapshots directories
// natively (incremental, per-file dedup), and streams a tar otherwise.
func (s *volumeSource) Backup(ctx context.Context, req sdk.BackupRequest, out sdk.BackupStream) error {
	if req.Component != "" && req.Component != component {
		return fmt.Errorf("%w: component %q: this plugin produces only %q", sdk.ErrInvalidConfig, req.Component, component)
	}
	loc, err := s.locate(ctx)
	if err != nil {
		return err
	}
	// A restore interrupted here (even by SIGKILL) is rolled back or
	// completed first: a backup never stores half-swapped uploads.
	if err := recoverLeftovers(loc.dir, s.log); err != nil {
		return err
	}
	if err := existingDir(loc); err != nil {
		return err
	}
	meta := map[string]string{"path": loc.dir}
	if s.volume != "" {
		meta["volume"] = s.volume
	}
	if out.AcceptsPath() {
		s.log.Info("handing the uploads directory to the target", "path", loc.dir)
		return out.SendPath(sdk.Header{Component: component, FileName: pathFileName, MediaType: pathMediaType, Metadata: meta}, loc.dir)
	}
	w, err := out.Start(sdk.Header{Component: component, FileName: tarFileName, MediaType: tarMediaType, Metadata: meta})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	st, err := writeTar(ctx, loc.dir, bw, s.log, s.beforeRead)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	s.log.Info("uploads archived", "path", loc.dir, "files", st.files, "dirs", st.dirs, "symlinks", st.symlinks, "bytes", st.bytes, "skipped", st.skipped)
	return nil
}

// RestorePath names the directory a target restores a directory snapshot
// into, for hosts that predate FinishRestorePath: req.ToDirectory when set,
// else the configured uploads directory, created (0755) when missing. The
// target restores in place there, not staged (the swap needs the second
// call); current hosts call StageRestorePath instead.
func (s *volumeSource) RestorePath(ctx context.Context, req sdk.RestoreRequest) (string, error) {
	dir, _, err := s.restoreDest(ctx, req)
	if err != nil {
		return "", err
	}
	if err := recoverLeftovers(dir, s.log); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating restore directory: %w", err)
	}
	return dir, nil
}

// restoreDest is where a restore goes: req.ToDirectory, else the configured
// directory (inPlace: a Docker volume's mountpoint).
func (s *volumeSource) restoreDest(ctx context.Context, req sdk.RestoreRequest) (dir string, inPlace bool, err error) {
	dir = req.ToDirectory
	if dir == "" {
		loc, err := s.locate(ctx)
		if err != nil {
			return "", false, err
		}
		dir, inPlace = loc.dir, loc.volume
	}
	dir, err = filepath.Abs(dir)
	return dir, inPlace, err
}

// StageRestorePath prepares the stage a target restores a directory
// snapshot into (see stage): the same staging and swap as a tar stream's
// restore, so that the destination holds its old contents or the complete
// new ones. FinishRestorePath swaps it in or removes it.
func (s *volumeSource) StageRestorePath(ctx context.Context, req sdk.RestoreRequest) (string, error) {
	dir, inPlace, err := s.restoreDest(ctx, req)
	if err != nil {
		return "", err
	}
	st, err := prepareStage(dir, inPlace, s.log)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.stages == nil {
		s.stages = map[string]*stage{}
	}
	s.stages[st.dir] = st
	s.mu.Unlock()
	s.log.Info("restoring into a staging directory", "destination", st.dest, "staging", st.dir, "swap_entries", st.inPlace)
	return st.dir, nil
}

// FinishRestorePath swaps the stage at path in (commit) or removes it.
func (s *volumeSource) FinishRestorePath(_ context.Context, _ sdk.RestoreRequest, path string, commit bool) error {
	s.mu.Lock()
	st, ok := s.stages[path]
	delete(s.stages, path)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s is not a staging directory of this plugin", sdk.ErrInvalidConfig, path)
	}
	if !commit {
		st.abort()
		s.log.Info("restore not completed: staging directory removed, the uploads were not changed", "destination", st.dest)
		return nil
	}
	if err := st.commit(nil); err != nil {
		return err
	}
	s.log.Info("uploads restored: staging directory swapped in", "destination", st.dest)
	return nil
}

// Restore extracts the tar stream r into req.ToDirectory, or the configured
// directory, atomically: see restoreAtomically.
func (s *volumeSource) Restore(ctx context.Context, req sdk.RestoreRequest, r io.Reader) error {
	if req.Component != "" && req.Component != component {
		return fmt.Errorf("%w: component %q: this plugin restores only %q", sdk.ErrInvalidConfig, req.Component, component)
	}
	if mt := req.Header.MediaType; mt == pathMediaType {
		return fmt.Errorf("%w: stream %q has media type %q; this plugin restores %s streams (directory snapshots are restored by the target into RestorePath)",
			sdk.ErrInvalidConfig, req.Header.FileName, mt, tarMediaType)
	}
	dest, inPlace, err := s.restoreDest(ctx, req)
	if err != nil {
		return err
	}
	return restoreAtomically(ctx, dest, inPlace, r, s.log)
}
