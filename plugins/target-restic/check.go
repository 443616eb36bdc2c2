// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Check is what `timetiles-backup init` shows for a repository
// (sdk.Checker): the restic it runs (Configure refused one too old) and
// that the repository is reachable and opens with the password, or is not
// created yet. It creates nothing and takes no lock.
func (t *Target) Check(ctx context.Context) ([]sdk.Finding, error) {
	path, err := exec.LookPath(t.repo.Binary)
	if err != nil {
		path = t.repo.Binary
	}
	fs := []sdk.Finding{sdk.Verified("restic", fmt.Sprintf("restic %s (%s)", t.version, path))}
	loc, repoVar, backupCmd := t.describeRepo()
	// Within the host's deadline: an unreachable backend makes restic
	// retry for minutes; the probe gives up after a few retries.
	ctx, cancel := context.WithTimeout(ctx, 25*time.Second)
	defer cancel()
	exists, err := t.repo.Probe(ctx)
	if err == nil && exists {
		_, err = t.repo.Exists(ctx) // the password opens it (a key derivation)
	}
	if errors.Is(err, restic.ErrRetrying) || ctx.Err() != nil {
		fs = append(fs, sdk.Problem("repository", fmt.Sprintf("%s keeps failing with an error restic retries (a wrong key, an unreachable or failing server): %v", loc, err),
			fmt.Sprintf("check %s, the credentials of its backend (AWS_*, RESTIC_REST_*) and that its server answers", repoVar)))
		return fs, nil
	}
	err = t.sdkErr(err)
	switch {
	case err == nil && exists:
		fs = append(fs, sdk.Verified("repository", loc+" exists and opens with the password"))
	case err == nil:
		fs = append(fs, sdk.Verified("repository", fmt.Sprintf("%s is reachable; no repository there yet: `timetiles-backup init` or the first `%s` creates it", loc, backupCmd)))
	case t.instance == "offsite" && errors.Is(err, sdk.ErrPermissionDenied):
		fs = append(fs, sdk.Warning("repository", fmt.Sprintf("could not check %s (the offsite key may not read: write-only?)", loc),
			"nothing, if the key is write-only on purpose: the first `"+backupCmd+"` creates the repository"))
	case errors.Is(err, sdk.ErrUnauthenticated):
		fs = append(fs, sdk.Problem("repository", err.Error(), "set the password this repository was created with (RESTIC_PASSWORD or RESTIC_PASSWORD_FILE)"))
	default:
		fs = append(fs, sdk.Problem("repository", err.Error(),
			fmt.Sprintf("check %s and the credentials of its backend (AWS_*, RESTIC_REST_*), and that the server answers", repoVar)))
	}
	return fs, nil
}
