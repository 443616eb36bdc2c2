// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/timetiles/timetiles-backup/sdk"
)

// Check is what `timetiles-backup init` shows for the uploads (sdk.Checker):
// the directory, or the Docker volume and its mountpoint, exists, is a
// directory and can be read. It changes nothing.
func (s *volumeSource) Check(ctx context.Context) ([]sdk.Finding, error) {
	const name = "uploads directory"
	if s.volume != "" {
		if _, err := exec.LookPath(s.docker); err != nil {
			return []sdk.Finding{sdk.Problem("docker volume", fmt.Sprintf("%s=%s needs the docker CLI: %q not found", keyVolume, s.volume, s.docker),
				fmt.Sprintf("install Docker or set %s to its path, or use %s", keyDocker, keyHostDir))}, nil
		}
	}
	loc, err := s.locate(ctx)
	if err != nil {
		msg := err.Error()
		for _, kind := range []error{sdk.ErrInvalidConfig, sdk.ErrUnavailable, sdk.ErrPermissionDenied} {
			msg = strings.TrimPrefix(msg, kind.Error()+": ")
		}
		return []sdk.Finding{sdk.Problem("docker volume", msg,
			fmt.Sprintf("set %s to an existing volume (docker volume ls) or use %s", keyVolume, keyHostDir))}, nil
	}
	what := loc.dir
	if loc.volume {
		what = "docker volume " + s.volume + " at " + loc.dir
	}
	fix := fmt.Sprintf("set %s (or %s) to TimeTiles' uploads directory, or %s to its Docker volume", keyHostDir, keyTimeTiles, keyVolume)
	fi, err := os.Stat(loc.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return []sdk.Finding{sdk.Problem(name, fmt.Sprintf("uploads directory %s (from %s) does not exist", loc.dir, loc.what), fix)}, nil
	case err != nil:
		return []sdk.Finding{sdk.Problem(name, fmt.Sprintf("uploads directory %s (from %s): %v", loc.dir, loc.what, err), fix)}, nil
	case !fi.IsDir():
		return []sdk.Finding{sdk.Problem(name, fmt.Sprintf("uploads directory %s (from %s) is not a directory", loc.dir, loc.what), fix)}, nil
	}
	d, err := os.Open(loc.dir)
	if err == nil {
		_, err = d.Readdirnames(1)
		d.Close()
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		return []sdk.Finding{sdk.Problem(name, fmt.Sprintf("uploads directory %s cannot be read: %v", loc.dir, err),
			"run timetiles-backup as root (or as a user that may read the uploads)")}, nil
	}
	return []sdk.Finding{sdk.Verified(name, what+" (readable)")}, nil
}
