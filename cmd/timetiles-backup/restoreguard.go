// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
)

// A restore with --to writes beside production, never over anything: the
// directory must be new or empty, and it may not be, contain or lie inside
// a directory the tool or TimeTiles keeps data in. restic restore --delete
// (directory snapshots) and the tar extraction replace what they restore
// into, so these checks are what keeps a scratch restore from deleting.

// protectedDir is a directory a --to restore must stay out of.
type protectedDir struct {
	path string // absolute, symlinks resolved
	what string // e.g. "the uploads directory (UPLOAD_HOST_DIR)"
	// uploads: a --to naming it is an in-place restore by another name.
	uploads bool
}

// resolvePath makes p absolute and resolves the symlinks of its longest
// existing prefix, so that a path through a symlink compares equal to its
// target whether or not the last elements exist yet.
func resolvePath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	cur := abs
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether p is dir or lies inside it (both resolved).
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// remoteRepo matches restic repository locations that are not local paths
// ("s3:…", "rest:…", "sftp:…", "b2:…", "rclone:…", …); "local:" is a path.
var remoteRepo = regexp.MustCompile(`^[a-z0-9]+:`)

// localRepoPath returns the directory of a local restic repository, or "".
func localRepoPath(repo string) string {
	if strings.HasPrefix(repo, "local:") {
		return strings.TrimPrefix(repo, "local:")
	}
	if repo == "" || remoteRepo.MatchString(repo) {
		return ""
	}
	return repo
}

// uploadsDir resolves the production uploads directory as source-volume
// does (UPLOAD_HOST_DIR, default ./uploads against TIMETILES_DIR, or the
// mountpoint of BACKUP_UPLOADS_VOLUME); "" when it cannot be told.
func uploadsDir(ctx context.Context, cfg *config.Config) (string, string) {
	if vol := cfg.Get("BACKUP_UPLOADS_VOLUME"); vol != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, cfg.GetDefault("BACKUP_DOCKER", "docker"), "volume", "inspect", "--format", "{{.Mountpoint}}", "--", vol).Output()
		if err != nil {
			return "", ""
		}
		return strings.TrimSpace(string(out)), "BACKUP_UPLOADS_VOLUME=" + vol
	}
	dir := cfg.GetDefault("UPLOAD_HOST_DIR", "./uploads")
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cfg.GetDefault("TIMETILES_DIR", "/opt/timetiles"), dir)
	}
	return dir, "UPLOAD_HOST_DIR"
}

// protectedDirs lists what a --to restore must stay out of.
func protectedDirs(ctx context.Context, cfg *config.Config) []protectedDir {
	var out []protectedDir
	add := func(p, what string, uploads bool) {
		if p != "" {
			out = append(out, protectedDir{path: resolvePath(p), what: what, uploads: uploads})
		}
	}
	if dir, from := uploadsDir(ctx, cfg); dir != "" {
		add(dir, "the production uploads directory ("+from+")", true)
	}
	add(localRepoPath(cfg.Get("RESTIC_REPOSITORY")), "the local restic repository (RESTIC_REPOSITORY)", false)
	add(localRepoPath(cfg.Get("RESTIC_OFFSITE_REPOSITORY")), "the offsite restic repository (RESTIC_OFFSITE_REPOSITORY)", false)
	add(cfg.GetDefault(config.EnvStateDir, config.DefaultStateDir), "the state directory ("+config.EnvStateDir+")", false)
	if cfg.EnvFile != "" {
		add(filepath.Dir(cfg.EnvFile), "the directory of the env file "+cfg.EnvFile, false)
	}
	return out
}

// checkRestoreDir refuses a --to that could destroy anything: one that
// exists and is not an empty directory, or that is, contains or lies
// inside a protected directory. The error is a usage error (exit 2) naming
// the fix.
func checkRestoreDir(ctx context.Context, cfg *config.Config, to, selector string) error {
	if selector == "" {
		selector = "RUN-ID"
	}
	p := resolvePath(to)
	for _, d := range protectedDirs(ctx, cfg) {
		switch {
		case p == d.path && d.uploads:
			return usageError("--to %s is %s: --to restores beside production into a new directory; to restore the uploads in place (with confirmation, hooks and a safety backup) leave --to out: timetiles-backup restore %s --component uploads", to, d.what, selector)
		case p == d.path:
			return usageError("--to %s is %s: a restore there could overwrite or delete its data; choose a new directory outside it, e.g. --to /var/tmp/uploads-restore", to, d.what)
		case within(p, d.path):
			return usageError("--to %s lies inside %s (%s): a restore there could overwrite or delete its data; choose a new directory outside it, e.g. --to /var/tmp/uploads-restore", to, d.what, d.path)
		case within(d.path, p):
			return usageError("--to %s contains %s (%s): a restore there could overwrite or delete its data; choose a new directory outside it, e.g. --to /var/tmp/uploads-restore", to, d.what, d.path)
		}
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return usageError("--to %s: %v: choose a new directory, e.g. --to /var/tmp/uploads-restore", to, err)
	case !fi.IsDir():
		return usageError("--to %s exists and is not a directory: --to takes a new or empty directory; choose another path, e.g. --to /var/tmp/uploads-restore", to)
	}
	f, err := os.Open(p)
	if err != nil {
		return usageError("--to %s: %v: choose a new directory, e.g. --to /var/tmp/uploads-restore", to, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return usageError("--to %s: %v: choose a new directory, e.g. --to /var/tmp/uploads-restore", to, err)
	}
	if len(names) > 0 {
		return usageError("--to %s is not empty: a restore there would replace what it holds; restore into a new or empty directory (e.g. --to %s), or move its contents away first", to, strings.TrimSuffix(to, "/")+"-restore")
	}
	return nil
}
