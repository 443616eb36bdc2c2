// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// volumeInfo is the part of `docker volume inspect` output the plugin reads.
type volumeInfo struct {
	Name       string
	Driver     string
	Mountpoint string
}

// inspectVolume resolves a Docker named volume to its mountpoint on the host
// with `docker volume inspect NAME` (JSON array output).
func inspectVolume(ctx context.Context, docker, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker, "volume", "inspect", name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	var exitErr *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exitErr) && ctx.Err() == nil: // docker could not be started
		return "", fmt.Errorf("%w: %s=%s needs the docker CLI: %v (set %s to its path)", sdk.ErrInvalidConfig, keyVolume, name, err, keyDocker)
	case ctx.Err() != nil:
		return "", fmt.Errorf("docker volume inspect %s: %w", name, ctx.Err())
	case err != nil:
		low := strings.ToLower(msg)
		kind := error(nil)
		hint := ""
		switch {
		case strings.Contains(low, "no such volume"):
			kind = sdk.ErrInvalidConfig
			hint = fmt.Sprintf(" (Compose prefixes volume names with the project name, e.g. timetiles_%s: see `docker volume ls`)", name)
		case strings.Contains(low, "cannot connect to the docker daemon"), strings.Contains(low, "is the docker daemon running"):
			kind = sdk.ErrUnavailable
		case strings.Contains(low, "permission denied"):
			kind = sdk.ErrPermissionDenied
		}
		if kind != nil {
			return "", fmt.Errorf("%w: %s=%s: docker volume inspect failed (%v): %s%s", kind, keyVolume, name, err, msg, hint)
		}
		return "", fmt.Errorf("%s=%s: docker volume inspect failed (%v): %s", keyVolume, name, err, msg)
	}
	var vols []volumeInfo
	if err := json.Unmarshal(stdout.Bytes(), &vols); err != nil {
		return "", fmt.Errorf("%s=%s: cannot read `docker volume inspect` output: %v", keyVolume, name, err)
	}
	if len(vols) != 1 {
		return "", fmt.Errorf("%w: %s=%s: docker volume inspect returned %d volumes", sdk.ErrInvalidConfig, keyVolume, name, len(vols))
	}
	mp := vols[0].Mountpoint
	if mp == "" || !strings.HasPrefix(mp, "/") {
		return "", fmt.Errorf("%w: %s=%s: the volume (driver %q) has no local mountpoint (%q) to back up", sdk.ErrInvalidConfig, keyVolume, name, vols[0].Driver, mp)
	}
	return mp, nil
}
